"""临时困难补助 through the real router (SPEC §4 "Leave and subsidy workflows")."""

from __future__ import annotations

import pytest

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import Button
from storage.models import AuditEntry, InboundMessage, Role
from tests.conftest import BOOKKEEPING
from tests.handlers.people import (
    SubsidyRow,
    add_staff,
    audit_trail,
    database_text,
    in_groups,
    private_to,
    rows,
    subsidy_rows,
    unassign,
)

REASON = "父亲住院急需医药费"


async def apply(bot: TestAdapter, text: str = f"补助 800 {REASON}", who: str = "2020001"):
    return await bot.say(who, text)


def application(app: App) -> SubsidyRow:
    [row] = subsidy_rows(app)
    return row


# -- applying -----------------------------------------------------------------------------


async def test_subsidy_in_a_group_asks_for_private_chat_and_stores_nothing(
    app: App, bot: TestAdapter
) -> None:
    before = database_text(app, skip=BOOKKEEPING)
    sent = await bot.say("2020001", f"补助 800 {REASON}", group="护理172")
    assert [s.text for s in sent] == ["这件事请私聊我办理，群里不会保存你发的内容。"]
    assert sent[0].to.is_group
    assert subsidy_rows(app) == []
    assert REASON not in database_text(app)
    assert database_text(app, skip=BOOKKEEPING) == before
    # What is kept is that the message was answered (its id, not its text), and the answer.
    [handled] = rows(app, InboundMessage)
    assert handled.payload is None


async def test_subsidy_is_stored_and_the_counselor_is_asked_privately(
    app: App, bot: TestAdapter
) -> None:
    sent = await apply(bot)
    [reply] = private_to(sent, "2020001")
    assert reply.text.startswith("✓ 已提交补助申请 S1：¥800\n理由：" + REASON)
    [counselor] = private_to(sent, "T001")
    assert "张晓明（2020001，护理172）申请 ¥800" in counselor.text and REASON in counselor.text
    assert "批准 S1 [金额]" in counselor.text
    assert counselor.message.buttons == (
        Button("批准", "/approve S1"),
        Button("驳回", "/reject S1"),
    )
    # Subsidy data goes to the counselor only: not the head teacher, not the office yet.
    assert {s.to.chat_id for s in sent} == {"2020001", "T001"}
    row = application(app)
    assert (row.amount_cents, row.status, row.reason, row.approved_cents) == (
        80000,
        "pending_counselor",
        REASON,
        None,
    )
    assert audit_trail(app, "S1") == [("subsidy.submit", None, "pending_counselor")]


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("800", 80000),
        ("800.5", 80050),
        ("800.55", 80055),
        ("¥800", 80000),
        ("￥800", 80000),
        ("800元", 80000),
        ("８００", 80000),
        ("１２００．５元", 120050),
        ("1", 100),
        ("3000", 300000),
    ],
)
async def test_accepted_amount_forms(app: App, bot: TestAdapter, typed: str, cents: int) -> None:
    await apply(bot, f"补助 {typed} {REASON}")
    assert application(app).amount_cents == cents


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0", "金额应在 1–3000 元 之间"),
        ("0.99", "金额应在 1–3000 元 之间"),
        ("-5", "金额应在 1–3000 元 之间"),
        ("-800", "金额应在 1–3000 元 之间"),
        ("3000.01", "金额应在 1–3000 元 之间"),
        ("3001", "金额应在 1–3000 元 之间"),
        ("八百", "金额看不懂"),
        ("abc", "金额看不懂"),
        ("800.555", "金额看不懂"),
        ("1e3", "金额看不懂"),
    ],
)
async def test_bad_amount_is_refused_with_the_range(
    app: App, bot: TestAdapter, typed: str, expected: str
) -> None:
    [reply] = await apply(bot, f"补助 {typed} {REASON}")
    assert expected in reply.text
    assert "格式：补助 <金额> <理由>" in reply.text
    assert subsidy_rows(app) == []


async def test_missing_reason_or_overlong_reason_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await apply(bot, "补助 800")
    assert "请写上申请理由" in reply.text
    [reply] = await apply(bot, "补助 800 " + "难" * 201)
    assert "最多 200 个字" in reply.text
    assert subsidy_rows(app) == []


async def test_second_open_application_is_refused(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    [reply] = await apply(bot, "补助 500 学费")
    assert reply.text.startswith("你已有一份正在审核的补助申请 S1")
    await bot.say("T001", "批准 S1")
    [reply] = await apply(bot, "补助 500 学费")
    assert "S1" in reply.text
    assert len(subsidy_rows(app)) == 1


async def test_a_closed_application_allows_a_new_one(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    await bot.say("T001", "驳回 S1 请补充困难证明")
    sent = await apply(bot, "补助 500 学费")
    assert "S2" in private_to(sent, "2020001")[0].text
    assert [r.status for r in subsidy_rows(app)] == ["rejected", "pending_counselor"]


# -- the two review steps -----------------------------------------------------------------


async def test_lowered_amount_is_carried_to_the_college_step(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    sent = await bot.say("T001", "批准 S1 500")
    assert private_to(sent, "T001")[0].text == (
        "✓ S1（张晓明）已通过辅导员审核，金额 ¥500，已转学工办审批。"
    )
    [student] = private_to(sent, "2020001")
    assert "已通过辅导员审核（金额 ¥500，申请 ¥800）" in student.text
    [office] = private_to(sent, "T003")
    assert "申请 ¥800，辅导员审核金额 ¥500" in office.text and REASON in office.text
    assert office.message.buttons == (Button("批准", "/approve S1"), Button("驳回", "/reject S1"))
    row = application(app)
    assert (row.status, row.approved_cents, row.amount_cents) == ("pending_college", 50000, 80000)

    sent = await bot.say("T003", "批准 S1")
    assert "金额 ¥500" in private_to(sent, "T003")[0].text
    assert "已由学工办批准，核定金额 ¥500，申请 ¥800" in private_to(sent, "2020001")[0].text
    assert "已由学工办批准，金额 ¥500" in private_to(sent, "T001")[0].text
    row = application(app)
    assert (row.status, row.approved_cents) == ("approved", 50000)
    assert row.counselor_id is not None and row.college_admin_id is not None
    assert audit_trail(app, "S1") == [
        ("subsidy.submit", None, "pending_counselor"),
        ("subsidy.approve", "pending_counselor", "pending_college"),
        ("subsidy.approve", "pending_college", "approved"),
    ]


async def test_approval_can_never_raise_the_amount(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    [reply] = await bot.say("T001", "批准 S1 900")
    assert reply.text == "批准金额不能高于当前金额 ¥800。"
    await bot.say("T001", "批准 S1 500")
    [reply] = await bot.say("T003", "批准 S1 600")
    assert reply.text == "批准金额不能高于当前金额 ¥500。"
    await bot.say("T003", "批准 S1 450.5")
    row = application(app)
    assert (row.status, row.approved_cents) == ("approved", 45050)


async def test_approval_amount_must_be_valid(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    [reply] = await bot.say("T001", "批准 S1 0")
    assert "金额应在" in reply.text
    [reply] = await bot.say("T001", "批准 S1 很多")
    assert "金额看不懂" in reply.text
    assert application(app).status == "pending_counselor"


async def test_college_office_cannot_take_the_counselor_step(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    [reply] = await bot.say("T003", "批准 S1")
    assert reply.text == "S1 当前状态是「待辅导员审核」，这一步应由辅导员处理。"
    assert application(app).status == "pending_counselor"


async def test_counselor_cannot_take_the_college_step(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    await bot.say("T001", "批准 S1")
    [reply] = await bot.say("T001", "批准 S1")
    assert reply.text == "S1 当前状态是「待学工办审批」，这一步应由学工办处理。"
    assert application(app).status == "pending_college"


async def test_class_without_counselor_goes_to_the_college_office_first(
    app: App, bot: TestAdapter
) -> None:
    unassign(app, "T001", "检验172")
    sent = await apply(bot, f"补助 800 {REASON}", who="2020031")
    assert {s.to.chat_id for s in sent} == {"2020031", "T003"}
    await bot.say("T003", "批准 S1")
    assert application(app).status == "pending_college"


async def test_rejection_at_the_counselor_step_tells_the_student_why(
    app: App, bot: TestAdapter
) -> None:
    await apply(bot)
    [reply] = await bot.say("T001", "驳回 S1")
    assert reply.text == "驳回 S1 的理由？请直接发送（发送「取消」放弃）。"
    sent = await bot.say("T001", "请补充困难证明")
    [told] = private_to(sent, "2020001")
    assert "未通过辅导员审核" in told.text and "请补充困难证明" in told.text
    row = application(app)
    assert (row.status, row.reject_reason) == ("rejected", "请补充困难证明")
    assert audit_trail(app, "S1")[-1] == ("subsidy.reject", "pending_counselor", "rejected")


async def test_rejection_at_the_college_step_tells_student_and_counselor(
    app: App, bot: TestAdapter
) -> None:
    await apply(bot)
    await bot.say("T001", "批准 S1")
    sent = await bot.say("T003", "驳回 S1 本月额度已用完")
    assert "未通过学工办审批" in private_to(sent, "2020001")[0].text
    assert "被学工办驳回" in private_to(sent, "T001")[0].text
    assert audit_trail(app, "S1")[-1] == ("subsidy.reject", "pending_college", "rejected")


async def test_decision_on_a_closed_application_is_refused(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    await bot.say("T001", "批准 S1")
    await bot.say("T003", "批准 S1")
    [reply] = await bot.say("T003", "批准 S1")
    assert reply.text == "S1 当前状态是「已批准」，不能再批准。"
    [reply] = await bot.say("T001", "驳回 S1 重新考虑")
    assert reply.text == "S1 当前状态是「已批准」，不能再驳回。"


@pytest.mark.parametrize("who", ["T002", "T009", "2020002"])
async def test_wrong_role_cannot_decide(app: App, bot: TestAdapter, who: str) -> None:
    await apply(bot)
    [reply] = await bot.say(who, "批准 S1")
    assert "没有权限" in reply.text
    assert application(app).status == "pending_counselor"


async def test_counselor_of_another_class_cannot_decide(app: App, bot: TestAdapter) -> None:
    add_staff(app, "T010", "孙丽", Role.COUNSELOR, ("检验172",))
    await apply(bot)
    [reply] = await bot.say("T010", "批准 S1")
    assert reply.text == "你无权处理补助申请 S1。"
    assert application(app).status == "pending_counselor"


async def test_decision_in_a_group_is_refused_and_changes_nothing(
    app: App, bot: TestAdapter
) -> None:
    await apply(bot)
    sent = await bot.say("T001", "批准 S1 500", group="护理172")
    assert [s.text for s in sent] == ["这件事请私聊我办理，群里不会保存你发的内容。"]
    row = application(app)
    assert (row.status, row.approved_cents) == ("pending_counselor", None)


# -- withdrawing and /mine ------------------------------------------------------------------


async def test_student_withdraws_an_open_application(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    await bot.say("T001", "批准 S1")
    [reply] = await bot.say("2020001", "撤销 S1", group="护理172")
    assert "请私聊我" in reply.text
    sent = await bot.say("2020001", "撤销 S1")
    assert private_to(sent, "2020001")[0].text == "✓ 已撤销补助申请 S1。"
    assert "撤销了补助申请 S1" in private_to(sent, "T003")[0].text
    assert application(app).status == "cancelled"
    [reply] = await bot.say("T003", "批准 S1")
    assert reply.text == "S1 当前状态是「已撤销」，不能再批准。"
    [reply] = await bot.say("2020003", "撤销 S1")
    assert reply.text == "找不到你的补助申请 S1。"


async def test_mine_shows_the_application_privately_only(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    await bot.say("T001", "批准 S1 500")
    sent = await bot.say("2020001", "我的", group="护理172")
    assert [s.text for s in in_groups(sent)] == ["已私信发给你。"]
    [private] = private_to(sent, "2020001")
    assert "S1 ¥800（核定 ¥500） 待学工办审批" in private.text


async def test_audit_log_never_holds_amounts_or_reasons(app: App, bot: TestAdapter) -> None:
    await apply(bot)
    await bot.say("T001", "批准 S1 500")
    await bot.say("T003", "驳回 S1 额度不足")
    entries = rows(app, AuditEntry)
    assert [e.action for e in entries] == ["subsidy.submit", "subsidy.approve", "subsidy.reject"]
    for entry in entries:
        text = f"{entry.actor} {entry.action} {entry.target} {entry.detail}"
        for secret in (REASON, "额度不足", "800", "500"):
            assert secret not in text


@pytest.mark.parametrize("verb", ["申请补助", "补助申请"])
async def test_the_common_verbs_apply_for_a_subsidy_too(
    app: App, bot: TestAdapter, verb: str
) -> None:
    [reply] = [
        s for s in await bot.say("2020005", f"{verb} 800 父亲住院") if s.to.chat_id == "2020005"
    ]
    assert reply.text.startswith("✓ 已提交补助申请 S1：")
    [row] = subsidy_rows(app)
    assert row.amount_cents == 80_000


async def test_a_subsidy_verb_in_a_group_still_asks_for_private_chat(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("2020005", "申请补助 800 父亲住院", group="护理172")
    assert reply.text.startswith("这件事请私聊我办理")
    assert subsidy_rows(app) == []
