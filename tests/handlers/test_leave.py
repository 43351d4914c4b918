"""请假 through the real router (SPEC §4 "Leave and subsidy workflows").

The clock starts on Monday 2026-11-23 08:00 (Asia/Shanghai).
"""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from bot.messages import Button
from storage.models import AuditEntry, Role
from tests.conftest import make_config, start_app
from tests.handlers.people import (
    LeaveRow,
    add_staff,
    audit_trail,
    in_groups,
    leave_rows,
    notes_of,
    private_to,
    rows,
)

REASON = "发烧去校医院"


async def ask(bot: TestAdapter, text: str = f"请假 明天 病假 {REASON}", who: str = "2020001"):
    return await bot.say(who, text, group="护理172")


def leave(app: App) -> LeaveRow:
    [row] = leave_rows(app)
    return row


# -- asking ------------------------------------------------------------------------------


async def test_group_leave_is_acknowledged_without_reason_and_counselor_gets_buttons(
    app: App, bot: TestAdapter
) -> None:
    sent = await ask(bot)
    [group] = in_groups(sent)
    assert group.text == "✓ 张晓明 已提交请假 L1，等待辅导员审批；详情已私信发给你。"
    [student] = private_to(sent, "2020001")
    assert "病假 11月24日（1 天）" in student.text and REASON in student.text
    [counselor] = private_to(sent, "T001")
    assert "张晓明（2020001，护理172）" in counselor.text
    assert REASON in counselor.text
    assert "批准请发送：批准 L1" in counselor.text and "驳回 L1 <理由>" in counselor.text
    assert counselor.message.buttons == (
        Button("批准", "/approve L1"),
        Button("驳回", "/reject L1"),
    )
    # The head teacher may read reports but does not decide, so is not asked to.
    assert private_to(sent, "T002") == []
    row = leave(app)
    assert (row.kind, row.start_date, row.end_date, row.status, row.reason) == (
        "sick",
        date(2026, 11, 24),
        date(2026, 11, 24),
        "pending",
        REASON,
    )


async def test_private_leave_replies_with_the_details(app: App, bot: TestAdapter) -> None:
    sent = await bot.say("2020001", "请假 11-24 11-26 事假 回家办理证件")
    [reply] = private_to(sent, "2020001")
    assert reply.text.startswith("请假 L1 已提交：事假 11月24日 至 11月26日（3 天）")
    assert leave(app).kind == "personal"


@pytest.mark.parametrize(
    ("typed", "start"),
    [
        ("2026-11-25", date(2026, 11, 25)),
        ("11-25", date(2026, 11, 25)),
        ("11月25日", date(2026, 11, 25)),
        ("１１－２５", date(2026, 11, 25)),
        ("今天", date(2026, 11, 23)),
        ("明天", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
    ],
)
async def test_accepted_date_forms(app: App, bot: TestAdapter, typed: str, start: date) -> None:
    await ask(bot, f"请假 {typed} 病假 {REASON}")
    assert leave(app).start_date == start


async def test_english_keywords_and_kind_words_work(app: App, bot: TestAdapter) -> None:
    await bot.say("2020001", "/leave tomorrow 11-26 personal family matters")
    row = leave(app)
    assert (row.kind, row.start_date, row.end_date) == (
        "personal",
        date(2026, 11, 24),
        date(2026, 11, 26),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"请假 11-26 11-25 病假 {REASON}", "结束日期早于开始日期"),
        (f"请假 12-08 病假 {REASON}", "最多提前 14 天"),
        (f"请假 11-24 12-24 事假 {REASON}", "最长 30 天"),
        (f"请假 昨天 事假 {REASON}", "事假不能从过去的日期开始"),
        (f"请假 11-19 病假 {REASON}", "最多补请 3 天前"),
        (f"请假 明天 {REASON}", "病假还是事假"),
        ("请假 明天 病假", "请写上请假理由"),
        (f"请假 下周 病假 {REASON}", "日期「下周」看不懂"),
        (f"请假 02-30 病假 {REASON}", "没有「02-30」这一天"),
        ("请假", "请写上请假日期"),
        ("请假 明天 病假 " + "很" * 201, "最多 200 个字"),
    ],
)
async def test_malformed_or_out_of_bounds_leave_is_refused_with_the_form(
    app: App, bot: TestAdapter, text: str, expected: str
) -> None:
    [reply] = await ask(bot, text)
    assert expected in reply.text
    assert "格式：请假 <开始> [结束|天数] <病假|事假> <理由>" in reply.text
    assert leave_rows(app) == []


async def test_limits_are_inclusive(app: App, bot: TestAdapter) -> None:
    await ask(bot, f"请假 12-07 病假 {REASON}")  # exactly 14 days ahead
    await ask(bot, f"请假 11-20 病假 {REASON}")  # a sick leave reported 3 days late
    await ask(bot, f"请假 11-24 12-23 事假 {REASON}", who="2020003")  # 30 days
    assert [r.status for r in leave_rows(app)] == ["pending"] * 3


async def test_overlap_with_a_pending_leave_is_refused(app: App, bot: TestAdapter) -> None:
    await ask(bot, f"请假 11-24 11-26 病假 {REASON}")
    [reply] = await ask(bot, "请假 11-26 11-27 事假 回家")
    assert reply.text == "与已有的请假 L1（11月24日 至 11月26日，待审批）时间重叠，请先撤销或销假。"
    assert len(leave_rows(app)) == 1


async def test_overlap_with_an_approved_leave_is_refused(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    [reply] = await ask(bot, "请假 11-23 11-24 事假 回家")
    assert "L1" in reply.text and "已批准" in reply.text
    assert len(leave_rows(app)) == 1


async def test_rejected_or_cancelled_leave_frees_its_days(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "驳回 L1 请补充病历")
    await ask(bot)
    await bot.say("2020001", "撤销 L2")
    [reply] = in_groups(await ask(bot))
    assert "L3" in reply.text
    assert [r.status for r in leave_rows(app)] == ["rejected", "cancelled", "pending"]


# -- deciding -----------------------------------------------------------------------------


async def test_approve_notifies_the_student_and_is_audited(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    sent = await bot.say("T001", "批准 L1")
    [reply] = private_to(sent, "T001")
    assert reply.text == "✓ 已批准请假 L1（张晓明，11月24日），已通知学生。"
    [told] = private_to(sent, "2020001")
    assert "你的请假 L1（病假 11月24日）已批准" in told.text and "销假 L1" in told.text
    row = leave(app)
    assert row.status == "approved" and row.decided_by is not None and row.decided_at
    assert audit_trail(app, "L1") == [
        ("leave.submit", None, "pending"),
        ("leave.approve", "pending", "approved"),
    ]


@pytest.mark.parametrize("typed", ["l1", "Ｌ1", "L1", "Ｌ１"])
async def test_ids_are_read_case_and_width_insensitively(
    app: App, bot: TestAdapter, typed: str
) -> None:
    await ask(bot)
    await bot.say("T001", f"批准 {typed}")
    assert leave(app).status == "approved"


async def test_reject_without_reason_asks_for_it_and_the_next_message_is_the_reason(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    [reply] = await bot.say("T001", "/reject L1")
    assert reply.text == "驳回 L1 的理由？请直接发送（发送「取消」放弃）。"
    assert leave(app).status == "pending"
    sent = await bot.say("T001", "请补充校医院证明")
    [told] = private_to(sent, "2020001")
    assert "被驳回" in told.text and "请补充校医院证明" in told.text
    row = leave(app)
    assert (row.status, row.decision_note) == ("rejected", "请补充校医院证明")


async def test_reject_without_reason_can_be_cancelled(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "驳回 L1")
    [reply] = await bot.say("T001", "取消")
    assert reply.text.startswith("已取消")
    assert leave(app).status == "pending"
    [hint] = await bot.say("T001", "请补充校医院证明")
    assert "帮助" in hint.text
    assert leave(app).status == "pending"


async def test_reject_without_reason_asks_nothing_for_what_cannot_be_rejected(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    [reply] = await bot.say("T001", "驳回 L1")
    assert reply.text == "L1 当前状态是「已批准」，不能再驳回。"
    [hint] = await bot.say("T001", "请补充校医院证明")
    assert "帮助" in hint.text


async def test_the_reason_prompt_ends_when_someone_else_decides_first(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    await bot.say("T001", "驳回 L1")
    await bot.say("T003", "批准 L1")
    assert leave(app).status == "approved"
    [reply] = await bot.say("T001", "家长未同意")
    assert reply.text == "L1 当前状态是「已批准」，不能再驳回。"
    [hint] = await bot.say("T001", "家长未同意")
    assert "帮助" in hint.text
    assert leave(app).status == "approved"


async def test_reject_with_reason_tells_the_student_why(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    sent = await bot.say("T001", "驳回 L1 请补充校医院证明")
    [told] = private_to(sent, "2020001")
    assert "被驳回" in told.text and "请补充校医院证明" in told.text
    row = leave(app)
    assert (row.status, row.decision_note) == ("rejected", "请补充校医院证明")
    assert audit_trail(app, "L1")[-1] == ("leave.reject", "pending", "rejected")


async def test_button_press_is_answered_on_the_pressed_message(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    sent = await bot.say("T001", "/approve L1", callback=True)
    assert "✓ 已批准请假 L1" in private_to(sent, "T001")[0].text
    assert leave(app).status == "approved"


async def test_second_approval_is_refused_with_the_current_state(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    sent = await bot.say("T001", "批准 L1")
    assert [s.text for s in sent] == ["L1 当前状态是「已批准」，不能再批准。"]
    [reply] = await bot.say("T003", "驳回 L1 太晚了")
    assert reply.text == "L1 当前状态是「已批准」，不能再驳回。"
    assert [a for a, _, _ in audit_trail(app, "L1")] == ["leave.submit", "leave.approve"]


async def test_approve_after_cancel_is_refused(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("2020001", "撤销 L1")
    [reply] = await bot.say("T001", "批准 L1")
    assert reply.text == "L1 当前状态是「已撤销」，不能再批准。"
    assert leave(app).status == "cancelled"


@pytest.mark.parametrize("who", ["T002", "T009", "2020002", "2020003"])
async def test_wrong_role_cannot_decide(app: App, bot: TestAdapter, who: str) -> None:
    await ask(bot)
    [reply] = await bot.say(who, "批准 L1")
    assert "没有权限" in reply.text
    assert leave(app).status == "pending"


async def test_counselor_of_another_class_cannot_decide(app: App, bot: TestAdapter) -> None:
    add_staff(app, "T010", "孙丽", Role.COUNSELOR, ("检验172",))
    await ask(bot)
    [reply] = await bot.say("T010", "批准 L1")
    assert reply.text == "你无权处理请假 L1。"
    assert leave(app).status == "pending"
    with app.uow(readonly=True) as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert [r.detail["reason"] for r in refused if r.detail] == ["OutOfScope"]


async def test_counselor_of_the_class_is_asked_and_may_decide(app: App, bot: TestAdapter) -> None:
    add_staff(app, "T010", "孙丽", Role.COUNSELOR, ("检验172",))
    sent = await bot.say("2020031", f"请假 明天 病假 {REASON}", group="检验172")
    assert {s.to.chat_id for s in sent if not s.to.is_group} == {"2020031", "T001", "T010"}
    await bot.say("T010", "批准 L1")
    assert leave(app).status == "approved"


async def test_college_admin_may_decide_a_leave(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T003", "批准 L1")
    assert leave(app).status == "approved"


async def test_unknown_or_malformed_id_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "批准 L99")
    assert reply.text == "找不到请假 L99。"
    [reply] = await bot.say("T001", "批准 37")
    assert "请写上编号" in reply.text and "格式：批准 <编号>" in reply.text


# -- cancelling and coming back ---------------------------------------------------------------


async def test_student_cancels_own_pending_leave_and_counselor_is_told(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    sent = await bot.say("2020001", "撤销 L1", group="护理172")
    assert [s.text for s in in_groups(sent)] == ["✓ 已撤销请假 L1。"]
    [told] = private_to(sent, "T001")
    assert "撤销了请假 L1" in told.text
    assert audit_trail(app, "L1")[-1] == ("leave.cancel", "pending", "cancelled")


async def test_student_cannot_cancel_someone_elses_leave(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    [reply] = await bot.say("2020003", "撤销 L1")
    assert reply.text == "找不到你的请假 L1。"
    assert leave(app).status == "pending"


async def test_cancel_of_an_approved_leave_before_it_begins_withdraws_it(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    await bot.say("2020001", "撤销 L1")
    assert leave(app).status == "cancelled"
    assert audit_trail(app, "L1")[-1] == ("leave.cancel", "approved", "cancelled")


async def test_cancel_of_a_leave_already_begun_is_refused(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    clock.advance(timedelta(days=2))
    [reply] = await bot.say("2020001", "撤销 L1")
    assert reply.text == "L1 当前状态是「已批准」，不能再撤销。"


async def test_back_ends_an_approved_leave_early(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await ask(bot, f"请假 今天 11-27 病假 {REASON}")
    await bot.say("T001", "批准 L1")
    clock.advance(timedelta(days=2))  # Wednesday 11-25
    sent = await bot.say("2020001", "销假 L1")
    assert private_to(sent, "2020001")[0].text == "✓ 已销假 L1，欢迎回来。"
    assert "已销假 L1" in private_to(sent, "T001")[0].text
    row = leave(app)
    assert (row.status, row.end_date) == ("ended", date(2026, 11, 24))
    assert row.ended_at == clock.now()
    assert audit_trail(app, "L1")[-1] == ("leave.back", "approved", "ended")


async def test_back_before_the_leave_begins_withdraws_it(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    sent = await bot.say("2020001", "销假 L1")
    assert "还没开始，已撤销" in private_to(sent, "2020001")[0].text
    assert "撤销了已批准、尚未开始的请假 L1" in private_to(sent, "T001")[0].text
    assert leave(app).status == "cancelled"


async def test_back_on_a_pending_leave_is_refused(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    [reply] = await bot.say("2020001", "/back l1")
    assert reply.text == "L1 当前状态是「待审批」，不能再销假。"


# -- follow-up ---------------------------------------------------------------------------


async def test_counselor_records_follow_ups_on_a_sick_leave(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    [reply] = await bot.say("T001", "跟进 L1 已就医，诊断为普通感冒")
    assert reply.text == "✓ 已记录 L1 的跟进（共 1 条）。"
    [reply] = await bot.say("T001", "/followup L1 已退烧")
    assert "共 2 条" in reply.text
    assert [f.note for f in notes_of(app, "followup")] == ["已就医，诊断为普通感冒", "已退烧"]
    assert audit_trail(app, "L1")[-1] == ("leave.followup", None, None)


async def test_follow_up_refusals(app: App, bot: TestAdapter) -> None:
    add_staff(app, "T010", "孙丽", Role.COUNSELOR, ("检验172",))
    await ask(bot)
    await ask(bot, "请假 12-01 事假 回家", who="2020003")
    [reply] = await bot.say("T001", "跟进 L1 已就医", group="护理172")
    assert "请私聊我" in reply.text
    [reply] = await bot.say("T001", "跟进 L2 已就医")
    assert "只有病假需要跟进" in reply.text
    [reply] = await bot.say("T002", "跟进 L1 已就医")
    assert "没有权限" in reply.text
    [reply] = await bot.say("T010", "跟进 L1 已就医")
    assert "无权处理" in reply.text
    [reply] = await bot.say("T001", "跟进 L1")
    assert "请写上跟进记录" in reply.text
    assert notes_of(app, "followup") == []


# -- /mine and the audit log -------------------------------------------------------------


async def test_mine_lists_leaves_with_their_states(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "批准 L1")
    await ask(bot, "请假 12-01 事假 回家")
    sent = await bot.say("2020001", "我的", group="护理172")
    [private] = private_to(sent, "2020001")
    assert "L2 事假 12月1日 待审批" in private.text
    assert "L1 病假 11月24日 已批准" in private.text
    assert "补助：没有申请。" in private.text


async def test_audit_log_never_holds_the_reason(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("T001", "驳回 L1 证明材料不全")
    entries = rows(app, AuditEntry)
    assert [e.action for e in entries] == ["leave.submit", "leave.reject"]
    for entry in entries:
        text = f"{entry.actor} {entry.action} {entry.target} {entry.detail}"
        assert REASON not in text and "证明材料不全" not in text


# -- English and help --------------------------------------------------------------------


async def test_leave_round_trip_in_english(database_url: str, clock: ManualClock) -> None:
    cfg = make_config(database_url, bot={"language": "en"})
    app, bot = await start_app(cfg, clock)
    try:
        sent = await bot.say("2020001", f"/leave tomorrow sick {REASON}", group="护理172")
        assert in_groups(sent)[0].text == (
            "✓ 张晓明: leave L1 submitted, waiting for the counselor; details sent privately."
        )
        [notice] = private_to(sent, "T001")
        assert "To approve: /approve L1" in notice.text
        assert notice.message.buttons == (
            Button("Approve", "/approve L1"),
            Button("Reject", "/reject L1"),
        )
        [reply] = await bot.say("T001", "/reject L1")
        assert reply.text == (
            "The reason for rejecting L1? Send it as your next message (or /cancel)."
        )
        await bot.say("T001", "/cancel")
        await bot.say("T001", "/approve L1")
        [reply] = await bot.say("T001", "/approve L1")
        assert reply.text == "L1 is approved; it cannot be approved now."
    finally:
        await app.stop()
        app.engine.dispose()


async def test_help_lists_the_workflow_commands_by_role(bot: TestAdapter) -> None:
    [student] = await bot.say("2020001", "帮助")
    [counselor] = await bot.say("T001", "帮助")
    [head_teacher] = await bot.say("T002", "帮助")
    for usage in ("请假 <开始>", "撤销 <编号>", "销假 <编号>", "补助 <金额>"):
        assert usage in student.text and usage not in counselor.text
    for usage in ("批准 <编号>", "驳回 <编号>", "跟进 <编号>"):
        assert usage in counselor.text and usage not in student.text
        assert usage not in head_teacher.text


# -- dates as students write them, and the verbs that name the kind --------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "kind"),
    [
        ("请假 周五 事假 回家办证", date(2026, 11, 27), date(2026, 11, 27), "personal"),
        ("请假 下周一 事假 回家办证", date(2026, 11, 30), date(2026, 11, 30), "personal"),
        ("请假 星期三 下周二 事假 回家", date(2026, 11, 25), date(2026, 12, 1), "personal"),
        ("请假 明天 3天 病假 住院", date(2026, 11, 24), date(2026, 11, 26), "sick"),
        ("请假 明天到后天 病假 住院", date(2026, 11, 24), date(2026, 11, 25), "sick"),
        ("请假 明天-后天 病假 住院", date(2026, 11, 24), date(2026, 11, 25), "sick"),
        ("请假 明天 到 后天 病假 住院", date(2026, 11, 24), date(2026, 11, 25), "sick"),
        ("请假 11-24-11-26 事假 回家", date(2026, 11, 24), date(2026, 11, 26), "personal"),
        ("请病假 明天 发烧", date(2026, 11, 24), date(2026, 11, 24), "sick"),
        ("请事假 周五 2天 回家", date(2026, 11, 27), date(2026, 11, 28), "personal"),
        ("申请请假 明天 病假 发烧", date(2026, 11, 24), date(2026, 11, 24), "sick"),
    ],
)
async def test_leave_dates_by_weekday_length_and_range(
    app: App, bot: TestAdapter, text: str, start: date, end: date, kind: str
) -> None:
    sent = await ask(bot, text)
    [group] = in_groups(sent)
    assert group.text.startswith("✓ 张晓明 已提交请假 L1")
    row = leave(app)
    assert (row.start_date, row.end_date, row.kind) == (start, end, kind)


async def test_a_weekday_already_past_this_week_is_next_week(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=3))  # Thursday 11-26
    await ask(bot, "请假 周一 事假 回家")
    assert leave(app).start_date == date(2026, 11, 30)


async def test_the_date_error_shows_examples_that_are_not_in_the_past(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=40))  # 2027-01-02
    [reply] = await ask(bot, "请假 大后天 病假 发烧")
    assert "日期「大后天」看不懂，可以写 2027-01-05、1-5、1月5日、今天、明天" in reply.text
    assert "2026" not in reply.text.split("\n")[0]
    assert leave_rows(app) == []


async def test_a_zero_day_leave_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await ask(bot, "请假 明天 0天 病假 发烧")
    assert "请假天数至少 1 天" in reply.text and leave_rows(app) == []


async def test_alias_words_that_begin_chat_are_not_answered_in_a_group(bot: TestAdapter) -> None:
    for text in ("请病假要开什么证明呀", "申请补助的材料交给谁", "请事假的同学记得销假"):
        assert await bot.say("2020001", text, group="护理172") == []


async def test_back_on_the_first_day_ends_the_leave_and_keeps_it_in_the_ledger(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await ask(bot, f"请假 明天 3天 病假 {REASON}")
    await bot.say("T001", "批准 L1")
    clock.advance(timedelta(days=1))  # Tuesday 11-24, the leave's first day
    sent = await bot.say("2020001", "销假 L1")
    assert private_to(sent, "2020001")[0].text == "✓ 已销假 L1，欢迎回来。"
    assert "已销假 L1" in private_to(sent, "T001")[0].text
    row = leave(app)
    assert (row.status, row.start_date, row.end_date) == (
        "ended",
        date(2026, 11, 24),
        date(2026, 11, 24),
    )
    [export] = await bot.say("T001", "导出")
    assert export.message.attachment is not None
    wb = load_workbook(BytesIO(export.message.attachment.content))
    [leave_row] = list(wb["请假"].iter_rows(min_row=2, values_only=True))
    assert leave_row[0] == "L1" and leave_row[8] == "已结束"


async def test_cancel_request_verb_withdraws_a_pending_leave(app: App, bot: TestAdapter) -> None:
    await ask(bot)
    await bot.say("2020001", "撤销申请 L1")
    assert leave(app).status == "cancelled"


async def test_follow_up_notes_in_the_ledger_use_the_one_date_style(
    app: App, bot: TestAdapter
) -> None:
    await ask(bot)
    await bot.say("T001", "跟进 L1 已就医")
    [export] = await bot.say("T001", "导出")
    assert export.message.attachment is not None
    wb = load_workbook(BytesIO(export.message.attachment.content))
    [row] = list(wb["请假"].iter_rows(min_row=2, values_only=True))
    assert row[14] == "11月23日 06:00 已就医"
