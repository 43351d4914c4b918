"""诉求: raised privately, sent to the counselor, assigned, started, closed with a note the
student sees, reopened within the configured days; the staff list, the digest (a zero one
too) and the escalation to the college office after the configured hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.matters import MATTER
from storage.models import Request, Role
from tests.conftest import TZ, row_counts
from tests.handlers.people import add_staff, audit_trail, private_to, requests_of

DAY = date(2026, 11, 23)


def at(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ)


async def move(app: App, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    assert app.scheduler is not None
    await app.scheduler.run_due()


def recipients(sent: list[Sent]) -> set[str]:
    return {s.to.chat_id for s in sent}


def matter(app: App, number: int = 1) -> Request:
    [row] = [r for r in requests_of(app, MATTER) if r.number == number]
    return row


async def raise_one(bot: TestAdapter, text: str = "宿舍热水器坏了三天") -> list[Sent]:
    return await bot.say("2020001", f"反映 {text}")


async def test_a_matter_goes_to_the_counselor_at_once_and_the_student_gets_its_id(
    app: App, bot: TestAdapter
) -> None:
    sent = await raise_one(bot)
    assert recipients(sent) == {"2020001", "T001"}
    [reply] = private_to(sent, "2020001")
    assert "Q1" in reply.text
    [notice] = private_to(sent, "T001")
    assert "宿舍热水器坏了三天" in notice.text and "2020001" in notice.text
    assert matter(app).status == "open"


async def test_in_a_group_it_asks_for_a_private_message_and_stores_nothing(
    app: App, bot: TestAdapter
) -> None:
    before = row_counts(app)
    sent = await bot.say("2020001", "反映", group="护理172")
    assert "私聊" in sent[0].text
    # Chat that starts with the word is chat: no reply, nothing of it echoed.
    assert await bot.say("2020001", "反映 宿舍热水器坏了", group="护理172") == []
    assert row_counts(app) == before


async def test_empty_matter_is_refused_with_the_form(app: App, bot: TestAdapter) -> None:
    before = row_counts(app)
    [reply] = await bot.say("2020001", "反映")
    assert "请写上你要反映的内容" in reply.text and "格式：反映" in reply.text
    assert row_counts(app) == before


async def test_assign_moves_it_in_progress_and_tells_the_assignee_and_the_student(
    app: App, bot: TestAdapter
) -> None:
    await raise_one(bot)
    sent = await bot.say("T001", "指派 Q1 T002")
    assert recipients(sent) == {"T001", "T002", "2020001"}
    [told] = private_to(sent, "T002")
    assert "宿舍热水器坏了三天" in told.text
    row = matter(app)
    assert row.status == "working" and row.assignee_id is not None
    # The assignee, a head teacher, may close it.
    sent = await bot.say("T002", "办结 Q1 已联系后勤，明天修好")
    assert recipients(sent) == {"T002", "2020001"}
    [student] = private_to(sent, "2020001")
    assert "已联系后勤，明天修好" in student.text and "重开 Q1" in student.text
    assert matter(app).status == "closed"
    assert [a for a, _, _ in audit_trail(app, "Q1")] == [
        "matter.submit",
        "matter.assign",
        "matter.start",
        "matter.close",
    ]


async def test_assign_outside_scope_or_to_no_one_is_refused(app: App, bot: TestAdapter) -> None:
    await raise_one(bot)
    add_staff(app, "T007", "外班老师", Role.COUNSELOR, ("检验172",))
    before = row_counts(app)
    [reply] = await bot.say("T001", "指派 Q1 T007")
    assert "无权" in reply.text
    [reply] = await bot.say("T001", "指派 Q1 X404")
    assert "X404" in reply.text
    [reply] = await bot.say("T001", "指派 Q1")
    assert "工号" in reply.text
    [reply] = await bot.say("T002", "指派 Q1 T001")
    assert "没有权限" in reply.text
    assert row_counts(app) == before


async def test_take_then_close_needs_a_note(app: App, bot: TestAdapter) -> None:
    await raise_one(bot)
    sent = await bot.say("T001", "受理 Q1")
    assert recipients(sent) == {"T001", "2020001"}
    assert matter(app).status == "working"
    [reply] = await bot.say("T001", "办结")
    assert "Q5" in reply.text
    # Without a note, the note is asked for; the next message is the note.
    [reply] = await bot.say("T001", "办结 Q1")
    assert "办结说明" in reply.text and matter(app).status == "working"
    sent = await bot.say("T001", "已联系后勤维修")
    assert recipients(sent) == {"T001", "2020001"}
    assert "已联系后勤维修" in private_to(sent, "2020001")[0].text
    assert matter(app).status == "closed"
    # A matter that cannot be closed is refused at once, not after the note.
    [reply] = await bot.say("T001", "办结 Q1")
    assert "已办结" in reply.text
    [reply] = await bot.say("T002", "办结 Q1")
    assert "无权" in reply.text


@pytest.mark.parametrize("who", ["2020002", "T003", "T009"])
async def test_only_class_staff_or_the_assignee_act(app: App, bot: TestAdapter, who: str) -> None:
    await raise_one(bot)
    reply = (await bot.say(who, "办结 Q1 好了"))[0]
    if who == "T003":
        # The college office covers every class of the college.
        assert matter(app).status == "closed"
    else:
        assert matter(app).status == "open", reply.text


async def test_reopen_within_the_days_and_not_after(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await raise_one(bot)
    await bot.say("T001", "办结 Q1 已处理")
    clock.advance(timedelta(days=6))
    sent = await bot.say("2020001", "重开 Q1")
    assert recipients(sent) == {"2020001", "T001"}
    assert matter(app).status == "open"
    await bot.say("T001", "办结 Q1 再次处理")
    clock.advance(timedelta(days=7, minutes=1))
    [reply] = await bot.say("2020001", "重开 Q1")
    assert "7 天" in reply.text and matter(app).status == "closed"
    # Someone else's matter is simply not found.
    [reply] = await bot.say("2020003", "重开 Q1")
    assert "找不到" in reply.text


async def test_staff_list_their_open_items_and_mine_shows_the_students_own(
    app: App, bot: TestAdapter
) -> None:
    await raise_one(bot)
    await bot.say("2020031", "反映 检验班的事")
    [reply] = await bot.say("T001", "诉求")
    assert "Q1" in reply.text and "Q2" in reply.text
    [reply] = await bot.say("T002", "诉求")
    assert "Q1" in reply.text and "Q2" not in reply.text
    add_staff(app, "T007", "外班老师", Role.COUNSELOR, ())
    [reply] = await bot.say("T007", "诉求")
    assert "没有待办" in reply.text
    add_staff(app, "T008", "检验老师", Role.HEAD_TEACHER, ("检验172",))
    await bot.say("T001", "指派 Q2 T008")
    [reply] = await bot.say("T008", "诉求")
    assert "Q2" in reply.text and "Q1" not in reply.text
    mine = "\n".join(s.text for s in await bot.say("2020001", "我的"))
    assert "Q1 待处理" in mine and "Q2" not in mine


async def test_escalation_after_the_configured_hours_goes_to_the_college_admin_once(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(9, 5))
    await raise_one(bot)
    bot.clear()
    await move(app, clock, at(9, 0, DAY + timedelta(days=1)))
    assert matter(app).status == "open"
    assert [s for s in bot.sent if "超过" in s.text] == []
    await move(app, clock, at(10, 0, DAY + timedelta(days=1)))
    assert matter(app).status == "escalated"
    escalations = [s for s in bot.sent if "超过 24 小时" in s.text]
    assert recipients(escalations) == {"T003"} and len(escalations) == 1
    await move(app, clock, at(11, 0, DAY + timedelta(days=1)))
    await move(app, clock, at(10, 0, DAY + timedelta(days=2)))
    assert len([s for s in bot.sent if "超过 24 小时" in s.text]) == 1
    # The college office takes it over.
    await bot.say("T003", "受理 Q1")
    assert matter(app).status == "working"


async def test_the_daily_digest_goes_to_counselors_and_college_admins_zero_too(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(17, 0))
    bot.clear()
    await move(app, clock, at(18, 0))
    digests = [s for s in bot.sent if "诉求" in s.text]
    assert recipients(digests) == {"T001", "T003"}
    assert all("今日无新诉求" in s.text and "未办结 0" in s.text for s in digests)
    await raise_one(bot)
    bot.clear()
    await move(app, clock, at(18, 0, DAY + timedelta(days=1)))
    [t001] = [s for s in private_to(bot.sent, "T001") if "诉求" in s.text]
    assert "今日无新诉求" in t001.text and "未办结 1" in t001.text
    await move(app, clock, at(9, 0, DAY + timedelta(days=2)))
    await raise_one(bot, "新的事")
    bot.clear()
    await move(app, clock, at(18, 0, DAY + timedelta(days=2)))
    [t001] = [s for s in private_to(bot.sent, "T001") if "诉求" in s.text]
    assert "新增 1" in t001.text and "未办结 2" in t001.text and "超时 1：Q1" in t001.text


async def test_the_rollup_shows_the_weeks_closure_rate(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(9, 0))
    await raise_one(bot)
    await bot.say("2020031", "反映 检验班的事")
    await bot.say("T001", "办结 Q1 已处理")
    bot.clear()
    await move(app, clock, at(12, 0))
    lines = {s.to.chat_id: s.text for s in bot.sent if "汇总" in s.text}
    assert "本周诉求办结率 50%（1/2）" in lines["T001"]
    assert "本周诉求办结率 50%（1/2）" in lines["T003"]
    assert "本周诉求办结率 50%（1/2）" in lines["T009"]
    # A head teacher's roll-up carries no matters.
    assert "诉求" not in lines["T002"]
