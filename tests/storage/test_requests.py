"""The workflow engine itself: kinds declared once, typed ids from one prefix table, the
declared actions, assignment and timers, and the event trail. A 诉求-like kind declared
here shows what a kind beyond leave and subsidy needs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage import identity, requests
from storage.errors import BadArguments, NotFound, NotPending, OutOfScope, TooLate
from storage.leave import LEAVE
from storage.models import Person, Request, RequestEvent, Role
from storage.requests import (
    PREFIXES,
    Action,
    Column,
    LedgerSheet,
    Ref,
    Retention,
    Sensitivity,
    State,
    Timer,
    parse_ref,
)
from storage.subsidy import SUBSIDY
from storage.workflows import WORKFLOWS
from tests.handlers.people import audit_trail, private_to


class MatterPayload(BaseModel):
    text: str


STAFF_IN_SCOPE = frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN})

# 诉求: open → working → closed (with a note); reopened by the student within 7 days;
# open for 24 h goes to the college office by itself.
MATTER = requests.RequestKind(
    name="matter",
    noun=("诉求", "Matter"),
    payload=MatterPayload,
    states={
        "open": State("待处理", "open", open=True),
        "escalated": State("待学工办处理", "with the college office", open=True),
        "working": State("处理中", "in progress", open=True),
        "closed": State("已办结", "closed", final=True),
        "withdrawn": State("已撤回", "withdrawn", final=True),
    },
    initial="open",
    actions=(
        Action(
            "start",
            ("开始处理", "started"),
            ("open", "escalated"),
            "working",
            by=STAFF_IN_SCOPE,
            assignee=True,
        ),
        Action(
            "close",
            ("办结", "closed"),
            ("working",),
            "closed",
            by=STAFF_IN_SCOPE,
            assignee=True,
            note=True,
        ),
        Action(
            "reopen",
            ("重开", "reopened"),
            ("closed",),
            "open",
            student=True,
            within=timedelta(days=7),
        ),
    ),
    timers=(
        Timer(
            "open",
            "escalated",
            "escalate",
            lambda today, now: Request.changed_at <= now - timedelta(hours=24),
        ),
    ),
    cancellable={"open": lambda r, today: True},
    cancelled="withdrawn",
    sensitivity=Sensitivity.RESTRICTED,
    retention=Retention("health", text_fields=("text",)),
    ledger=LedgerSheet("诉求", (Column("内容", 30, lambda r, t: r.payload["text"]),)),
)


def actor(app: App, number: str) -> identity.Actor:
    with app.uow(readonly=True) as s:
        return identity.actor_for_number(s, number)


def raise_matter(app: App, number: str = "2020001", text: str = "宿舍热水坏了") -> int:
    with app.uow() as s:
        return requests.submit(
            s,
            MATTER,
            identity.actor_for_number(s, number),
            MatterPayload(text=text),
            now=app.clock.now(),
        ).number


def act(app: App, number: str, ref: int, name: str, note: str | None = None) -> Request:
    with app.uow() as s:
        return requests.act(
            s,
            MATTER,
            identity.actor_for_number(s, number),
            ref,
            name,
            now=app.clock.now(),
            note=note,
        )


def status(app: App, ref: int) -> str:
    with app.uow(readonly=True) as s:
        return requests.get(s, MATTER, ref).status


# -- declarations ----------------------------------------------------------------------------


def test_every_registered_kind_takes_its_prefix_from_the_one_table() -> None:
    assert [k.prefix for k in WORKFLOWS] == ["L", "S", "Q"]
    assert all(PREFIXES[k.prefix] == k.name for k in WORKFLOWS)
    assert MATTER.prefix == "Q" and MATTER.ref(5) == "Q5"
    assert set(PREFIXES) == {"L", "S", "C", "N", "Q", "P"}


def test_a_kind_without_a_reserved_prefix_cannot_be_declared() -> None:
    with pytest.raises(KeyError):
        requests.RequestKind(
            name="unreserved",
            noun=("x", "x"),
            payload=MatterPayload,
            states={"open": State("待处理", "open", open=True)},
            initial="open",
            sensitivity=Sensitivity.ORDINARY,
            retention=Retention("health"),
            ledger=LedgerSheet("x", ()),
        )


@pytest.mark.parametrize(
    ("typed", "ref"),
    [("C3", Ref("C", 3)), ("n12", Ref("N", 12)), ("Ｑ５", Ref("Q", 5)), ("X3", None)],
)
def test_ids_of_every_reserved_prefix_parse(typed: str, ref: Ref | None) -> None:
    assert parse_ref(typed) == ref


def test_every_state_of_every_kind_has_one_label_in_both_languages() -> None:
    for kind in (*WORKFLOWS, MATTER):
        for name, state in kind.states.items():
            assert state.zh and state.en, (kind.name, name)
            assert kind.label(name, "zh") == state.zh and kind.label(name, "en") == state.en
    # The label a pending subsidy shows in chat and in the ledger is the same one.
    assert SUBSIDY.label("pending_college", "zh") == "待学工办审批"


def test_the_app_wires_decisions_for_exactly_the_registered_kinds(app: App) -> None:
    decided = [k for k in WORKFLOWS if k.steps]
    assert set(app.dispatcher.workflows) == {k.name for k in decided}
    assert all(app.dispatcher.workflows[k.name].kind is k for k in decided)


def test_mine_sections_come_from_the_wiring_in_feature_order(app: App) -> None:
    from handlers import attendance, checkin, collect, leave, matters, notices, subsidy

    assert app.dispatcher.mine_sections == [
        checkin.mine_lines,
        leave.mine_lines,
        subsidy.mine_lines,
        attendance.mine_lines,
        matters.mine_lines,
        notices.mine_lines,
        collect.mine_lines,
    ]
    assert not hasattr(checkin, "MINE_SECTIONS")


async def test_an_id_of_a_reserved_but_unregistered_kind_is_refused_with_the_form(
    bot: TestAdapter,
) -> None:
    [reply] = private_to(await bot.say("T001", "批准 C3"), "T001")
    assert "请写上编号：请假如 L37，补助如 S12。" in reply.text
    assert "格式：批准 <编号>" in reply.text


# -- submit, numbers, events -----------------------------------------------------------------


async def test_each_kind_numbers_its_own_requests(app: App, bot: TestAdapter) -> None:
    assert raise_matter(app) == 1
    await bot.say("2020003", "请假 明天 事假 回家")
    assert raise_matter(app, "2020004") == 2
    with app.uow(readonly=True) as s:
        rows = s.execute(select(Request.kind, Request.number).order_by(Request.id)).all()
    assert [tuple(r) for r in rows] == [("matter", 1), ("leave", 1), ("matter", 2)]


async def test_events_are_the_trail_of_every_change_with_its_note(
    app: App, clock: ManualClock
) -> None:
    ref = raise_matter(app)
    act(app, "T001", ref, "start")
    act(app, "T001", ref, "close", note="已报修，当天修好")
    with app.uow(readonly=True) as s:
        request = requests.get(s, MATTER, ref)
        events = list(
            s.scalars(
                select(RequestEvent)
                .where(RequestEvent.request_id == request.id)
                .order_by(RequestEvent.id)
            )
        )
        t001 = s.scalar(select(Person.id).where(Person.number == "T001"))
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("submit", None, "open"),
        ("start", "open", "working"),
        ("close", "working", "closed"),
    ]
    assert events[2].note == "已报修，当天修好" and events[2].actor_id == t001
    assert request.closed_at == clock.now()
    # The audit log has the same steps, never the note.
    assert audit_trail(app, "Q1") == [
        ("matter.submit", None, "open"),
        ("matter.start", "open", "working"),
        ("matter.close", "working", "closed"),
    ]


# -- actions ---------------------------------------------------------------------------------


async def test_an_action_is_refused_outside_the_deciders_scope_and_changes_nothing(
    app: App,
) -> None:
    ref = raise_matter(app, "2020031")  # 检验172: T001 covers it, T002 (head teacher) does not
    with pytest.raises(OutOfScope):
        act(app, "T002", ref, "start")
    with pytest.raises(OutOfScope):
        act(app, "2020001", ref, "start")
    assert status(app, ref) == "open"
    act(app, "T001", ref, "start")
    assert status(app, ref) == "working"


async def test_closing_needs_a_note_and_a_closed_matter_cannot_be_closed_again(app: App) -> None:
    ref = raise_matter(app)
    with pytest.raises(NotPending) as not_started:
        act(app, "T001", ref, "close", note="好了")
    assert not_started.value.params["state"] == "待处理"
    act(app, "T001", ref, "start")
    with pytest.raises(BadArguments):
        act(app, "T001", ref, "close")
    assert status(app, ref) == "working"
    act(app, "T001", ref, "close", note="已处理")
    with pytest.raises(NotPending):
        act(app, "T001", ref, "close", note="再次")


async def test_the_student_reopens_within_the_declared_days_and_not_after(
    app: App, clock: ManualClock
) -> None:
    ref = raise_matter(app)
    act(app, "T001", ref, "start")
    act(app, "T001", ref, "close", note="已处理")
    with pytest.raises(NotFound):
        act(app, "2020003", ref, "reopen")  # someone else's matter
    clock.advance(timedelta(days=7))
    act(app, "2020001", ref, "reopen")
    assert status(app, ref) == "open"
    act(app, "T001", ref, "start")
    act(app, "T001", ref, "close", note="再次处理")
    clock.advance(timedelta(days=7, minutes=1))
    with pytest.raises(TooLate):
        act(app, "2020001", ref, "reopen")
    assert status(app, ref) == "closed"


async def test_an_assigned_person_may_take_the_actions_others_of_their_role_may_not(
    app: App,
) -> None:
    ref = raise_matter(app)
    with pytest.raises(OutOfScope):
        act(app, "T002", ref, "start")  # a head teacher: not a decider
    with app.uow() as s:
        head_teacher = s.scalars(select(Person).where(Person.number == "T002")).one()
        requests.assign(
            s, MATTER, identity.actor_for_number(s, "T001"), ref, head_teacher, now=app.clock.now()
        )
    act(app, "T002", ref, "start")
    act(app, "T002", ref, "close", note="已联系宿管")
    assert status(app, ref) == "closed"
    assert ("matter.assign", None, None) in audit_trail(app, "Q1")


async def test_assignment_is_only_to_staff_whose_scope_covers_the_class(app: App) -> None:
    ref = raise_matter(app, "2020031")  # 检验172: T002 is head teacher of 护理172 only
    with app.uow() as s:
        t002 = s.scalars(select(Person).where(Person.number == "T002")).one()
        student = s.scalars(select(Person).where(Person.number == "2020032")).one()
        by = identity.actor_for_number(s, "T001")
        with pytest.raises(OutOfScope):
            requests.assign(s, MATTER, by, ref, t002, now=app.clock.now())
        with pytest.raises(OutOfScope):
            requests.assign(s, MATTER, by, ref, student, now=app.clock.now())
    with app.uow(readonly=True) as s:
        assert requests.get(s, MATTER, ref).assignee_id is None


async def test_cancel_follows_the_declared_states(app: App) -> None:
    ref = raise_matter(app)
    act(app, "T001", ref, "start")
    with app.uow() as s, pytest.raises(NotPending):
        requests.cancel(
            s,
            MATTER,
            identity.actor_for_number(s, "2020001"),
            ref,
            today=app.clock.now().date(),
            now=app.clock.now(),
        )
    other = raise_matter(app)
    with app.uow() as s:
        withdrawn, was = requests.cancel(
            s,
            MATTER,
            identity.actor_for_number(s, "2020001"),
            other,
            today=app.clock.now().date(),
            now=app.clock.now(),
        )
    assert (withdrawn.status, was) == ("withdrawn", "open")


# -- timers ----------------------------------------------------------------------------------


async def test_a_matter_open_for_24_hours_escalates_by_itself_once(
    app: App, clock: ManualClock
) -> None:
    first = raise_matter(app)
    clock.advance(timedelta(hours=3))
    second = raise_matter(app, "2020003")
    clock.advance(timedelta(hours=21))

    def run() -> int:
        with app.uow() as s:
            return requests.run_timers(s, [MATTER], clock.now().date(), clock.now())

    assert run() == 1
    assert (status(app, first), status(app, second)) == ("escalated", "open")
    assert run() == 0
    clock.advance(timedelta(hours=3))
    assert run() == 1
    assert status(app, second) == "escalated"
    assert audit_trail(app, "Q1")[-1] == ("matter.escalate", "open", "escalated")
    with app.uow(readonly=True) as s:
        [entry] = [
            e
            for e in s.scalars(select(RequestEvent).where(RequestEvent.action == "escalate"))
            if e.request_id == requests.get(s, MATTER, first).id
        ]
    assert entry.actor_id is None


async def test_the_registered_timers_leave_other_kinds_alone(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    ref = raise_matter(app)
    await bot.say("2020003", "请假 今天 病假 发烧")
    await bot.say("T001", "批准 L1")
    clock.advance(timedelta(days=2))
    with app.uow() as s:
        assert requests.run_timers(s, WORKFLOWS, clock.now().date(), clock.now()) == 1
        assert requests.get(s, LEAVE, 1).status == "ended"
    assert status(app, ref) == "open"


CJK = re.compile(r"[\u4e00-\u9fff]")


async def test_the_engines_refusals_read_in_either_language(app: App) -> None:
    ref = raise_matter(app)
    act(app, "T001", ref, "start")
    with pytest.raises(BadArguments) as no_note:
        act(app, "T001", ref, "close")
    assert no_note.value.render("en").count("Please add a note.") == 1
    assert "请写上说明。" in no_note.value.render("zh")
    with pytest.raises(NotFound) as not_theirs:
        act(app, "2020003", ref, "reopen")
    assert f"Your matter {MATTER.ref(ref)}" in not_theirs.value.render("en")
    assert f"你的诉求 {MATTER.ref(ref)}" in not_theirs.value.render("zh")
    with app.uow() as s:
        student = s.scalars(select(Person).where(Person.number == "2020032")).one()
        by = identity.actor_for_number(s, "T001")
        with pytest.raises(OutOfScope) as outside:
            requests.assign(s, MATTER, by, ref, student, now=app.clock.now())
    assert f"{student.name}'s classes" in outside.value.render("en")
    for refusal in (no_note.value, not_theirs.value, outside.value):
        assert CJK.search(refusal.render("en").replace(student.name, "")) is None


def test_the_id_examples_name_every_kind_in_both_languages() -> None:
    zh, en = WORKFLOWS.example()
    assert "请假如 L37" in zh and "L37 for a leave" in en
    assert CJK.search(en) is None
