"""Crash safety: the real `classbot run --platform telegram`, against the fake Bot API on
loopback, killed with SIGKILL at each point between a commit and a recorded send, then
restarted. No private message is lost, no group acknowledgement is sent twice, and the
database is as if each update had been handled once.

The crash points are reached with no hooks in the bot: the fake platform holds its answer
(a send in flight), a chat already busy keeps a new row queued (committed, not claimed) or
claimed behind it, and the test holds a database lock while the bot tries to record a send
that the platform has carried out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text

from bot.clock import SystemClock
from storage import db, demo
from storage.models import ChatAccount, CheckIn, GroupChat, InboundMessage, OutboxMessage, Person
from tests.fakes.telegram_api import TOKEN, FakeBotApi

NURSING = -1001
STUDENTS = ["2020001", "2020004", "2020005"]


def tg_id(number: str) -> int:
    return 9000 + int(number[1:]) if number.startswith("T") else int(number)


T001, T002 = tg_id("T001"), tg_id("T002")


def seed(engine: Engine) -> dict[str, str]:
    """The demo school on Telegram: every person's account, each class's group."""
    sessions = db.make_sessionmaker(engine)
    names = {}
    with db.unit_of_work(sessions) as session:
        now = SystemClock().now()
        demo.seed(session, now, platforms=(), consent_version=1)
        for person in session.scalars(select(Person)):
            names[person.number] = person.name
            session.add(
                ChatAccount(
                    platform="telegram",
                    platform_user_id=str(tg_id(person.number)),
                    person_id=person.id,
                    display_name=person.name,
                    bound_at=now,
                )
            )
        from storage.models import SchoolClass

        for cls in session.scalars(select(SchoolClass)):
            session.add(
                GroupChat(
                    platform="telegram",
                    chat_id=str(NURSING if cls.code == "护理172" else -1002),
                    class_id=cls.id,
                    title=cls.code,
                    bound_at=now,
                )
            )
    return names


class Bot:
    """`classbot run --platform telegram` in a subprocess."""

    def __init__(self, config: Path, cwd: Path) -> None:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PTB_TIMEDELTA": "1"}
        env.pop("CLASSBOT_TEST_DATABASE_URL", None)
        self.log = (cwd / "bot.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--platform", "telegram", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            cwd=cwd,
            env=env,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


async def until(check: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


class Scene:
    def __init__(self, api: FakeBotApi, url: str, tmp: Path) -> None:
        self.api = api
        self.url = url
        self.tmp = tmp
        self.engine = db.make_engine(url)
        self.names = seed(self.engine)
        self.config = tmp / "config.toml"
        day = SystemClock().now().astimezone(ZoneInfo("Asia/Shanghai")).date()
        self.config.write_text(
            f'[database]\nurl = "{url}"\n'
            f'[telegram]\ntoken = "{TOKEN}"\nbase_url = "{api.base_url}"\n'
            f'base_file_url = "{api.base_file_url}"\n'
            # No scheduled job gets in the way of the scene (it runs on the real clock).
            f'[checkin]\nskip_dates = ["{day - timedelta(days=1)}", "{day}"]\n'
            '[schedule]\ngrace = "1m"\n'
            "[outbox]\nack_wait = 0\nack_interval = 0\nclaim_lease = 1.0\n"
            "first_retry = 0.2\npoll = 0.2\n"
            f'files_dir = "{tmp / "files"}"\n',
            encoding="utf-8",
        )
        self.bots: list[Bot] = []

    def start(self) -> Bot:
        bot = Bot(self.config, self.tmp)
        self.bots.append(bot)
        return bot

    def say(self, number: str, words: str, group: bool = False) -> int:
        user = self.api.user(tg_id(number), self.names[number])
        chat = self.api.group(NURSING, "护理172") if group else self.api.private(user)
        return self.api.send_text(chat, user, words)

    def handled(self, *update_ids: int) -> bool:
        keys = [f"update:{u}" for u in update_ids]
        with self.engine.connect() as conn:
            done = conn.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.key.in_(keys), InboundMessage.processed_at.is_not(None))
            )
        return done == len(keys)

    def outbox(self) -> Counter[str]:
        with self.engine.connect() as conn:
            return Counter(conn.scalars(select(OutboxMessage.status)))

    def settled(self) -> bool:
        left = self.outbox()
        return not (left["queued"] or left["claimed"] or left["sending"])

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("text") or "" for m in self.api.sent_to(chat_id)]

    def alerts_for(self, chat_id: int) -> Counter[str]:
        """Fever alerts that reached a staff chat, by the student they are about."""
        found: Counter[str] = Counter()
        for t in self.texts(chat_id):
            for number in STUDENTS:
                if t.startswith("⚠️ 异常打卡") and number in t:
                    found[number] += 1
        return found

    def checkins(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(CheckIn)) or 0)

    def close(self) -> None:
        for bot in self.bots:
            bot.close()
        self.engine.dispose()


@pytest.fixture
async def scene(database_url: str, tmp_path: Path) -> Any:
    api = FakeBotApi()
    await api.start()
    s = Scene(api, database_url, tmp_path)
    try:
        yield s
    finally:
        s.close()
        await api.stop()


@contextlib.contextmanager
def write_lock(scene: Scene) -> Iterator[None]:
    """Hold the database so the bot cannot record anything (SQLite: the write lock;
    PostgreSQL: the outbox rows)."""
    with scene.engine.connect() as conn:
        # On SQLite the engine begins every write transaction with BEGIN IMMEDIATE.
        conn.begin()
        if conn.dialect.name != "sqlite":
            conn.execute(text("SELECT id FROM outbox FOR UPDATE"))
        try:
            yield
        finally:
            conn.rollback()


@pytest.mark.parametrize("point", ["after_commit", "after_claim"])
async def test_killed_with_alerts_committed_claimed_and_in_flight_loses_none(
    scene: Scene, point: str
) -> None:
    api = scene.api
    # The counselor's chat is busy: the first alert's answer is held (a send in flight).
    first = api.inject("sendMessage", "hold", chat_id=T001)
    second = api.inject("sendMessage", "hold", chat_id=T001)
    bot = scene.start()
    fever = scene.say(STUDENTS[0], "打卡 37.8 咳嗽")
    await until(first.held.is_set, what="the first alert in flight")
    # Two more fever check-ins: their alerts to the counselor are committed; the chat is
    # held, so they are not claimed.
    later = [scene.say(n, "打卡 38.1") for n in STUDENTS[1:]]
    await until(lambda: scene.handled(fever, *later), what="the check-ins handled")
    await until(lambda: len(scene.alerts_for(T002)) == 3, what="the head teacher's alerts")
    if point == "after_claim":
        # The first send is answered: both queued alerts are claimed together, the first of
        # them is held in flight and the other waits behind it, claimed and not sent.
        first.release.set()
        await until(second.held.is_set, what="the second alert in flight")
        await until(lambda: scene.outbox()["claimed"] == 1, what="a claimed alert")
    else:
        assert scene.outbox()["queued"] == 2
    bot.kill()

    second.release.set()
    scene.start()
    await until(scene.settled, what="the outbox drained after the restart")
    # No private message is lost: every alert reached the counselor, the one in flight
    # perhaps twice (at least once); the ones never handed over exactly once.
    alerts = scene.alerts_for(T001)
    assert set(alerts) == set(STUDENTS)
    in_flight = STUDENTS[0] if point == "after_commit" else STUDENTS[1]
    assert 1 <= alerts[in_flight] <= 2
    assert all(alerts[n] == 1 for n in STUDENTS if n != in_flight)
    assert scene.alerts_for(T002) == dict.fromkeys(STUDENTS, 1)
    # Each student's own reply arrived, and the check-ins are stored once each.
    for number in STUDENTS:
        assert any(t.startswith("✓ 已打卡") for t in scene.texts(tg_id(number)))
    assert scene.checkins() == len(STUDENTS)
    assert scene.outbox()["expired"] == 0


async def test_killed_after_a_group_ack_went_out_but_before_it_was_recorded(
    scene: Scene,
) -> None:
    api = scene.api
    held = api.inject("sendMessage", "hold", chat_id=NURSING)
    bot = scene.start()
    update = scene.say("2020003", "打卡 36.6", group=True)
    await until(held.held.is_set, what="the acknowledgement in flight")
    # Telegram has the message; the bot gets its answer but cannot record it.
    assert len(scene.texts(NURSING)) == 1
    with write_lock(scene):
        held.release.set()
        await asyncio.sleep(0.5)
        bot.kill()
    scene.start()
    await until(lambda: scene.outbox()["expired"] == 1, what="the group row settled")
    await asyncio.sleep(1.0)
    # At most once in a group: it may have arrived (it did), so it is not sent again.
    [ack] = scene.texts(NURSING)
    assert scene.names["2020003"] in ack
    with scene.engine.connect() as conn:
        [(status, reason)] = conn.execute(
            select(OutboxMessage.status, OutboxMessage.reason).where(OutboxMessage.is_group)
        ).all()
    assert (status, reason) == ("expired", "maybe sent before the restart")
    assert scene.handled(update)
    assert scene.checkins() == 1


async def test_sigterm_finishes_the_send_in_flight_and_leaves_the_rest_queued(
    scene: Scene,
) -> None:
    api = scene.api
    held = api.inject("sendMessage", "hold", chat_id=T001)
    bot = scene.start()
    fever = scene.say(STUDENTS[0], "打卡 37.8 咳嗽")
    await until(held.held.is_set, what="the first alert in flight")
    later = scene.say(STUDENTS[1], "打卡 38.1")
    await until(lambda: scene.handled(fever, later), what="the check-ins handled")
    bot.proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    # Telegram answers within the stop grace: the send is recorded, nothing is cut short.
    held.release.set()
    await until(lambda: bot.proc.poll() is not None, what="the bot to stop")
    assert bot.proc.returncode == 0
    with scene.engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.chat_id, OutboxMessage.status, OutboxMessage.body)
            .where(OutboxMessage.chat_id == str(T001))
            .order_by(OutboxMessage.id)
        ).all()
    assert [(chat, status) for chat, status, _ in rows] == [
        (str(T001), "sent"),
        (str(T001), "queued"),
    ]
    assert scene.outbox()["claimed"] == 0 and scene.outbox()["sending"] == 0
    assert scene.alerts_for(T001) == {STUDENTS[0]: 1}
    # The next start sends what was left.
    scene.start()
    await until(scene.settled, what="the outbox drained after the restart")
    assert scene.alerts_for(T001) == dict.fromkeys(STUDENTS[:2], 1)
