"""The burst: a whole class checking in at once in one Telegram group, while people in other
chats ask the bot something privately. Real python-telegram-bot, the fake Bot API on
loopback, the outbox sender with Telegram's real limits and the real acknowledgement
windows, on the real clock. Figures, not assertions."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bot.app import App, build_app
from bot.clock import SystemClock
from bot.config import load_config
from storage import db, demo
from storage.models import ChatAccount, GroupChat, Person, SchoolClass

GROUP = -100_777
# Telegram's per-group limit: the floor for one acknowledgement message per check-in.
GROUP_PER_MINUTE = 20


@dataclass
class Burst:
    students: int
    others: int
    spread_s: float
    group_messages: int
    ack_p50_s: float
    ack_p99_s: float
    # The same class acknowledged one message per check-in at 20 a minute per group.
    floor_p50_s: float
    floor_p99_s: float
    reply_p50_s: float
    reply_p99_s: float
    all_named: bool


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def individual_floor(n: int, spread_s: float) -> list[float]:
    """Latency of each of n acknowledgements sent one by one at Telegram's group limit: the
    k-th may go once the one 20 before it is a minute old."""
    sent: list[float] = []
    out = []
    for k in range(n):
        arrived = spread_s * k / max(n - 1, 1)
        at = arrived if k < GROUP_PER_MINUTE else max(arrived, sent[k - GROUP_PER_MINUTE] + 60.0)
        sent.append(at)
        out.append(at - arrived)
    return out


async def run_burst(
    directory: Path,
    *,
    students: int = 40,
    others: int = 5,
    spread_s: float = 10.0,
    ack_wait: float = 5.0,
    ack_interval: float = 20.0,
    within: float = 120.0,
) -> Burst:
    """`students` check in within `spread_s` seconds; `others` write 帮助 privately meanwhile."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    from bot.adapters.telegram import TelegramAdapter
    from tests.fakes.telegram_api import TOKEN, FakeBotApi

    url = f"sqlite:///{directory / 'burst.db'}"
    db.upgrade(url)
    api = FakeBotApi()
    await api.start()
    config = load_config(
        None,
        database={"url": url},
        telegram={"token": TOKEN, "base_url": api.base_url, "base_file_url": api.base_file_url},
        outbox={
            "ack_wait": ack_wait,
            "ack_interval": ack_interval,
            "poll": 0.05,
            "files_dir": str(directory / "burst-files"),
        },
    )
    app = build_app(config, SystemClock(), scheduler=False)
    kid_names, staff_names = _seed(app, students, others)
    names = {**kid_names, **staff_names}
    try:
        await app.attach(TelegramAdapter(poll_timeout=1))
        pushed: dict[int, float] = {}
        kids, staff = list(kid_names), list(staff_names)
        group = api.group(GROUP, "burst")
        start = time.monotonic()
        for i, number in enumerate(kids):
            user = api.user(int(number), names[number])
            api.send_text(group, user, "打卡 36.5")
            pushed[int(number)] = time.monotonic()
            # The private questions come while the burst is on.
            if i == len(kids) // 2:
                for other in staff:
                    user = api.user(int(other), names[other])
                    api.send_text(api.private(user), user, "帮助")
                    pushed[int(other)] = time.monotonic()
            await asyncio.sleep(spread_s / max(len(kids) - 1, 1))
        named: dict[int, float] = {}
        replied: dict[int, float] = {}
        while time.monotonic() - start < within and (
            len(named) < len(kids) or len(replied) < len(staff)
        ):
            for request in api.calls("sendMessage"):
                text = str(request.params.get("text", ""))
                if request.chat_id == GROUP:
                    for number in kids:
                        if int(number) not in named and names[number] in text:
                            named[int(number)] = request.at
                elif request.chat_id is not None and request.chat_id not in replied:
                    replied[request.chat_id] = request.at
            await asyncio.sleep(0.05)
        acks = [named[k] - pushed[k] for k in named]
        replies = [replied[k] - pushed[k] for k in replied if k in pushed]
        floor = individual_floor(len(kids), spread_s)
        return Burst(
            students=len(kids),
            others=len(staff),
            spread_s=spread_s,
            group_messages=len(api.calls("sendMessage", GROUP)),
            ack_p50_s=statistics.median(acks) if acks else 0.0,
            ack_p99_s=_percentile(acks, 0.99),
            floor_p50_s=statistics.median(floor),
            floor_p99_s=_percentile(floor, 0.99),
            reply_p50_s=statistics.median(replies) if replies else 0.0,
            reply_p99_s=_percentile(replies, 0.99),
            all_named=len(named) == len(kids),
        )
    finally:
        await app.stop()
        app.engine.dispose()
        await api.stop()


def _seed(app: App, students: int, others: int) -> tuple[dict[str, str], dict[str, str]]:
    """One class of `students` bound to one Telegram group, and `others` staff on Telegram;
    returns (students, staff) as Telegram user id → name."""
    kids: dict[str, str] = {}
    staff_names: dict[str, str] = {}
    with app.uow() as s:
        now = app.clock.now()
        demo.seed(s, now, platforms=(), consent_version=app.config.privacy.notice_version)
        cls = s.scalars(select(SchoolClass).where(SchoolClass.code == "护理172")).one()
        people = list(
            s.scalars(select(Person).where(Person.class_id == cls.id).order_by(Person.number))
        )
        for i in range(students - len(people)):
            person = Person(
                number=f"20209{i:02d}",
                name=f"同学{i:02d}",
                role="student",
                class_id=cls.id,
                consent_version=app.config.privacy.notice_version,
                consent_at=now,
                created_at=now,
                updated_at=now,
            )
            s.add(person)
            people.append(person)
        staff = list(
            s.scalars(
                select(Person).where(Person.number.like("T%")).order_by(Person.number).limit(others)
            )
        )
        s.flush()
        for index, person in enumerate([*people[:students], *staff]):
            is_staff = index >= students
            user_id = str(9_000 + index) if is_staff else str(person.number)
            (staff_names if is_staff else kids)[user_id] = person.name
            s.add(
                ChatAccount(
                    platform="telegram",
                    platform_user_id=user_id,
                    person_id=person.id,
                    display_name=person.name,
                    bound_at=now,
                )
            )
        s.add(
            GroupChat(
                platform="telegram",
                chat_id=str(GROUP),
                class_id=cls.id,
                title="burst",
                bound_at=now,
            )
        )
    return kids, staff_names
