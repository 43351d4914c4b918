"""The outbox against the real python-telegram-bot and the fake Bot API: a long outage, and a
burst of group check-ins under Telegram's real limits. Time on the bot's clock is moved by
the test; the rate limits run on real time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_app
from bot.clock import ManualClock
from bot.config import Config
from storage.models import ChatAccount, OutboxMessage, Person, SchoolClass
from tests.adapters.test_telegram import NURSING, Harness, tg_id
from tests.conftest import make_config, outbox_settled
from tests.fakes.telegram_api import FakeBotApi


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def harness(api: FakeBotApi, config: Config, clock: ManualClock) -> AsyncIterator[Harness]:
    tg = Harness(api, config, clock)
    yield tg
    await tg.stop()
    if tg.app is not None:
        tg.app.engine.dispose()


async def start(tg: Harness, **outbox: Any) -> None:
    url = tg.config.database.url
    tg.app = build_app(make_config(url, telegram=tg.settings(), outbox=outbox), tg.clock)
    tg.seed()
    await tg.start()


def at(clock: ManualClock, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return clock.now().replace(hour=hh, minute=mm, second=ss, microsecond=0)


async def run_clock(
    tg: Harness, seconds: float, step: float = 1.0, until: Callable[[], bool] | None = None
) -> None:
    """Move the bot's clock on by `seconds`, a step at a time, letting the sender work."""
    moved = 0.0
    while moved < seconds and not (until and until()):
        tg.clock.advance(timedelta(seconds=step))
        moved += step
        await asyncio.sleep(0.03)


def all_sent(tg: Harness) -> bool:
    assert tg.app is not None
    with tg.app.uow(readonly=True) as s:
        return set(s.scalars(select(OutboxMessage.status))) == {"sent"}


async def test_a_90_second_502_outage_loses_nothing_and_blames_no_one(
    harness: Harness, api: FakeBotApi
) -> None:
    tg = harness
    await start(tg, ack_wait=0, ack_interval=0, poll=0.05, first_retry=1.0, max_retry=10.0)
    assert tg.app is not None and tg.app.scheduler is not None
    tg.clock.set(at(tg.clock, 10, 58))
    tg.say("2020001", "打卡 36.5", tg.group())
    await tg.settle()
    assert len(tg.texts(NURSING)) == 1

    api.outage = 502
    tg.clock.set(at(tg.clock, 11, 0))
    await tg.app.scheduler.run_due()
    # During the outage: a late check-in in the group, and the counselor asks for help.
    tg.say("2020003", "打卡 36.6", tg.group())
    tg.say("T001", "帮助")
    # 90 s on the bot's clock, every send answered 502: far past the old 15 s retry budget.
    await run_clock(tg, 90, step=2)
    failed = len(api.calls("sendMessage"))
    assert failed >= 8
    with tg.app.uow(readonly=True) as s:
        statuses = set(s.scalars(select(OutboxMessage.status)))
        retried = s.scalar(select(func.count()).where(OutboxMessage.attempts >= 3))
    assert "expired" not in statuses and "unreachable" not in statuses
    assert retried

    api.outage = None
    await run_clock(tg, 120, step=1, until=lambda: all_sent(tg))
    # Every queued message arrived exactly once, in the order it was queued in each chat.
    group = tg.texts(NURSING)
    assert group[0].startswith("✓") and tg.names["2020001"] in group[0]
    assert group[1].startswith("⏰")
    assert tg.names["2020003"] in group[2]
    assert len(group) == 3
    # (Monday: the 09:00 weekly summary, still within its grace, is queued with the 11:00 list.)
    counselor = [t for t in tg.texts(tg_id("T001")) if not t.startswith("📋 考勤周报")]
    assert counselor[0].startswith("⏰") and counselor[1].startswith("你可以使用")
    assert len(counselor) == 2
    assert [t for t in tg.texts(tg_id("T002")) if t.startswith("⏰")] != []
    with tg.app.uow(readonly=True) as s:
        left = set(s.scalars(select(OutboxMessage.status)))
    assert left == {"sent"}

    # The 12:00 roll-ups blame no one for the outage.
    tg.clock.set(at(tg.clock, 12, 0))
    await tg.app.scheduler.run_due()
    await run_clock(tg, 10, step=2)
    await outbox_settled(tg.app)
    college = [t for t in tg.texts(tg_id("T003")) if "汇总" in t]
    assert college and all("未能送达" not in t for t in college)


async def test_the_roll_up_says_an_outage_is_an_outage(harness: Harness, api: FakeBotApi) -> None:
    """When the outage outlasts a message's deadline, the next level hears why, truthfully."""
    tg = harness
    await start(tg, poll=0.05, first_retry=1.0, max_retry=60.0)
    assert tg.app is not None and tg.app.scheduler is not None
    api.outage = 502
    tg.clock.set(at(tg.clock, 11, 0))
    await tg.app.scheduler.run_due()

    def expired() -> int:
        assert tg.app is not None
        with tg.app.uow(readonly=True) as s:
            return int(s.scalar(select(func.count()).where(OutboxMessage.status == "expired")) or 0)

    # Past the 11:00 lists' deadline (due + grace = 13:00) on the bot's clock, still down:
    # the two group reminders, both staff lists and the counselor's weekly summary expire.
    await run_clock(tg, 2 * 3600 + 50 * 60, step=60, until=lambda: expired() == 5)
    assert expired() == 5
    api.outage = None
    # The 12:00 roll-up, run late within its grace, names each one as an outage.
    await tg.app.scheduler.run_due()
    await run_clock(tg, 10, step=2)
    await outbox_settled(tg.app)
    [college] = [t for t in tg.texts(tg_id("T003")) if "汇总" in t]
    assert (
        f"{tg.names['T002']}（T002）：11:00 未打卡名单 — 平台故障，截止前未能送出（Bad Gateway）"
        in college
    )
    assert f"{tg.names['T001']}（T001）：11:00 未打卡名单 — 平台故障" in college
    assert "无法私信" not in college and "屏蔽" not in college


async def test_40_group_checkins_take_at_most_3_messages_and_a_private_reply_goes_first(
    harness: Harness, api: FakeBotApi
) -> None:
    tg = harness
    # The real windows (5 s, then at most one per 20 s) on the bot's clock; Telegram's real
    # limits on real time.
    await start(tg, poll=0.05)
    assert tg.app is not None
    extra = add_students(tg, 10)
    students = [f"20200{i:02d}" for i in range(1, 31)] + extra
    for i, number in enumerate(students):
        tg.say(number, f"打卡 36.{i % 9 + 1}", tg.group(), at=tg.clock.now())
        if i == 29:
            tg.say("T001", "帮助")
        # 40 in 10 s.
        tg.clock.advance(timedelta(seconds=0.25))
        await asyncio.sleep(0.01)
    await run_clock(
        tg, 60, until=lambda: sum(tg.names[n] in "".join(tg.texts(NURSING)) for n in students) == 40
    )
    group = tg.texts(NURSING)
    assert 1 <= len(group) <= 3
    said = "\n".join(group)
    assert all(tg.names[n] in said for n in students)
    assert "40/40" in group[-1]
    # The counselor's reply went out before the burst's later acknowledgements.
    requests = api.calls("sendMessage")
    order = [r.chat_id for r in requests]
    help_at = order.index(tg_id("T001"))
    last_ack_at = len(order) - 1 - order[::-1].index(NURSING)
    assert help_at < last_ack_at
    # Count-only: no temperature in the group.
    assert "36." not in said


def add_students(tg: Harness, n: int) -> list[str]:
    """`n` more students in 护理172, bound on Telegram, with consent."""
    assert tg.app is not None
    numbers = []
    with tg.app.uow() as s:
        now = tg.clock.now()
        cls = s.scalars(select(SchoolClass).where(SchoolClass.code == "护理172")).one()
        for i in range(n):
            number = f"20201{i:02d}"
            person = Person(
                number=number,
                name=f"新同学{i:02d}",
                role="student",
                class_id=cls.id,
                consent_version=1,
                consent_at=now,
                created_at=now,
                updated_at=now,
            )
            s.add(person)
            s.flush()
            s.add(
                ChatAccount(
                    platform="telegram",
                    platform_user_id=number,
                    person_id=person.id,
                    display_name=person.name,
                    bound_at=now,
                )
            )
            tg.names[number] = person.name
            numbers.append(number)
    return numbers
