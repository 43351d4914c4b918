"""Leave and subsidy storage: ending leaves, how the workflows show in storage.reports (who is
on leave on a day, pending requests), and decisions that race each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from bot.adapters.testing import TestAdapter
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.router import Routed
from storage import identity, reports, requests
from storage import leave as leaves
from storage.errors import NotPending
from storage.requests import Ref, parse_ref
from storage.workflows import WORKFLOWS
from tests.conftest import pg_only
from tests.handlers.people import audit_trail, leave_rows, subsidy_rows

REASON = "发烧去校医院"


def class_id(app: App, code: str) -> int:
    with app.uow(readonly=True) as s:
        cls = identity.class_by_code(s, code)
        assert cls is not None
        return cls.id


def student_id(app: App, number: str) -> int:
    with app.uow(readonly=True) as s:
        person = identity.find_person(s, number)
        assert person is not None
        return person.id


@pytest.mark.parametrize(
    ("typed", "ref"),
    [
        ("L37", Ref("L", 37)),
        ("l37", Ref("L", 37)),
        ("Ｌ37", Ref("L", 37)),
        ("s１２", Ref("S", 12)),
        ("37", None),
        ("X37", None),
        ("L", None),
        ("L3.7", None),
    ],
)
def test_parse_ref(typed: str, ref: Ref | None) -> None:
    assert parse_ref(typed) == ref


async def test_leaves_on_lists_approved_leaves_covering_the_day(app: App, bot: TestAdapter) -> None:
    await bot.say("2020001", f"请假 11-24 11-26 病假 {REASON}")
    await bot.say("2020003", f"请假 11-25 病假 {REASON}")  # stays pending
    await bot.say("2020031", f"请假 11-25 事假 {REASON}")
    await bot.say("T001", "批准 L1")
    await bot.say("T001", "批准 L3")
    nursing, lab = class_id(app, "护理172"), class_id(app, "检验172")
    with app.uow(readonly=True) as s:
        assert reports.on_leave(s, date(2026, 11, 23), None) == {}
        on_25 = reports.on_leave(s, date(2026, 11, 25), None)
        assert {lv.id for lv in on_25.values()} == {1, 3}
        assert set(reports.on_leave(s, date(2026, 11, 25), [nursing])) == {
            student_id(app, "2020001")
        }
        assert set(reports.on_leave(s, date(2026, 11, 26), [lab])) == set()


async def test_leave_ended_early_still_covers_the_days_it_was_taken(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", f"请假 今天 11-27 病假 {REASON}")
    await bot.say("T001", "批准 L1")
    clock.advance(timedelta(days=2))
    await bot.say("2020001", "销假 L1")
    with app.uow(readonly=True) as s:
        assert set(reports.on_leave(s, date(2026, 11, 24), None)) == {student_id(app, "2020001")}
        assert reports.on_leave(s, date(2026, 11, 25), None) == {}


async def test_end_expired_leaves_ends_approved_leaves_past_their_end_date(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", f"请假 11-24 病假 {REASON}")
    await bot.say("2020003", f"请假 11-24 11-25 病假 {REASON}")
    await bot.say("2020004", f"请假 11-24 病假 {REASON}")  # still pending: left alone
    await bot.say("T001", "批准 L1")
    await bot.say("T001", "批准 L2")
    now = clock.now() + timedelta(days=2)
    with app.uow() as s:
        assert requests.run_timers(s, WORKFLOWS, date(2026, 11, 24), now) == 0
        assert requests.run_timers(s, WORKFLOWS, date(2026, 11, 25), now) == 1
        assert requests.run_timers(s, WORKFLOWS, date(2026, 11, 25), now) == 0
    assert [(r.status, r.ended_at) for r in leave_rows(app)] == [
        ("ended", now),
        ("approved", None),
        ("pending", None),
    ]
    assert audit_trail(app, "L1")[-1] == ("leave.expire", "approved", "ended")
    # An expired leave still counts on the day it covered (yesterday's ledger).
    with app.uow(readonly=True) as s:
        assert set(reports.on_leave(s, date(2026, 11, 24), None)) == {
            student_id(app, "2020001"),
            student_id(app, "2020003"),
        }


async def test_pending_requests_by_class_and_age(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    first = clock.now()
    await bot.say("2020001", f"请假 11-24 病假 {REASON}")
    clock.advance(timedelta(hours=2))
    await bot.say("2020031", "补助 800 家庭困难")
    clock.advance(timedelta(minutes=1))
    await bot.say("2020003", f"请假 11-25 病假 {REASON}")
    await bot.say("T001", "批准 L2")  # decided: no longer pending
    await bot.say("2020004", "补助 600 家庭困难")
    await bot.say("T001", "批准 S2")  # waits at the college step
    with app.uow(readonly=True) as s:
        everything = reports.pending_requests(s, None, None)
        assert [(r.ref, r.status) for r in everything] == [
            ("L1", "pending"),
            ("S1", "pending_counselor"),
            ("S2", "pending_college"),
        ]
        assert (everything[0].student, everything[0].created_at) == ("张晓明", first)
        lab = [class_id(app, "检验172")]
        assert [r.ref for r in reports.pending_requests(s, lab, None)] == ["S1"]
        old = reports.pending_requests(s, None, first + timedelta(hours=1))
        assert [r.ref for r in old] == ["L1"]


# -- racing deciders ------------------------------------------------------------------------


def race(apps: list[App], bot: TestAdapter, senders: list[str], texts: list[str]) -> list[str]:
    """Run one message per app at the same moment, each in its own thread and unit of work."""
    barrier = threading.Barrier(len(apps))
    results: list[Routed | None] = [None] * len(apps)
    messages = [bot.message(who, text) for who, text in zip(senders, texts, strict=True)]

    def run(i: int) -> None:
        barrier.wait()
        results[i] = apps[i].dispatcher.process(messages[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(apps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    out: list[str] = []
    for msg, r in zip(messages, results, strict=True):
        assert r is not None
        out.extend(e.message.text for e in r.envelopes if e.to == msg.chat)
    return out


@pytest.fixture
def second_app(app: App, clock: ManualClock) -> Iterator[App]:
    """Another bot process on the same database: its own engine and sessions."""
    other = build_app(app.config, clock)
    yield other
    other.engine.dispose()


async def test_two_processes_approving_at_once_approve_once(
    app: App, second_app: App, bot: TestAdapter
) -> None:
    await bot.say("2020001", f"请假 明天 病假 {REASON}")
    texts = race([app, second_app], bot, ["T001", "T003"], ["批准 L1", "批准 L1"])
    won = [t for t in texts if t.startswith("✓ 已批准请假 L1")]
    lost = [t for t in texts if t == "L1 当前状态是「已批准」，不能再批准。"]
    assert len(won) == 1 and len(lost) == 1
    assert [a for a, _, _ in audit_trail(app, "L1")] == ["leave.submit", "leave.approve"]


async def test_two_processes_deciding_a_subsidy_step_at_once_decide_once(
    app: App, second_app: App, bot: TestAdapter
) -> None:
    await bot.say("2020001", "补助 800 家庭困难")
    texts = race([app, second_app], bot, ["T001", "T001"], ["批准 S1 500", "驳回 S1 不符合"])
    decided = [t for t in texts if t.startswith("✓")]
    assert len(decided) == 1
    [row] = subsidy_rows(app)
    assert row.status in ("pending_college", "rejected")
    assert len(audit_trail(app, "S1")) == 2


async def test_two_applications_sent_at_once_open_only_one(
    app: App, second_app: App, bot: TestAdapter
) -> None:
    texts = race(
        [app, second_app], bot, ["2020001", "2020001"], ["补助 800 家庭困难", "补助 700 学费"]
    )
    assert len([t for t in texts if t.startswith("✓ 已提交补助申请")]) == 1
    assert len([t for t in texts if t.startswith("你已有一份正在审核的补助申请")]) == 1
    assert len(subsidy_rows(app)) == 1


async def test_two_overlapping_leaves_sent_at_once_store_only_one(
    app: App, second_app: App, bot: TestAdapter
) -> None:
    texts = race(
        [app, second_app],
        bot,
        ["2020001", "2020001"],
        [f"请假 明天 病假 {REASON}", "请假 明天 后天 事假 回家"],
    )
    assert len([t for t in texts if t.startswith("请假 L")]) == 1
    assert len([t for t in texts if "时间重叠" in t]) == 1
    assert len(leave_rows(app)) == 1


@pg_only
async def test_decision_blocked_behind_a_concurrent_one_is_refused_on_postgresql(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    """The second decider has already read the request as pending; its conditional update
    waits for the first one's row lock and then matches nothing."""
    await bot.say("2020001", f"请假 明天 病假 {REASON}")
    outcome: list[object] = []
    with app.sessions() as first, app.sessions() as second:
        counselor = identity.actor_for_number(first, "T001")
        office = identity.actor_for_number(second, "T003")
        assert leaves.get(second, 1).status == "pending"
        leaves.decide(first, counselor, 1, approve=True, note=None, now=clock.now())

        def decide_second() -> None:
            try:
                leaves.decide(second, office, 1, approve=False, note="不批", now=clock.now())
                outcome.append("won")
            except NotPending as e:
                outcome.append(e)

        thread = threading.Thread(target=decide_second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second update should wait for the first's row lock"
        first.commit()
        thread.join(10)
        second.rollback()
    [refused] = outcome
    assert isinstance(refused, NotPending)
    assert refused.params["state"] == "已批准"
    [row] = leave_rows(app)
    assert row.status == "approved"
