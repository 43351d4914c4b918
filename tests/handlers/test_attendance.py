"""云考勤 through the real router (SPEC §4 "Attendance rules")."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.leave import LEAVE
from storage.models import AttendanceEntry, AttendanceRecord, Person, Role
from tests.handlers.people import add_request

MONDAY = date(2026, 11, 23)


def records(app: App) -> list[AttendanceRecord]:
    with app.uow(readonly=True) as s:
        return list(s.scalars(select(AttendanceRecord).order_by(AttendanceRecord.id)))


def entries(app: App) -> dict[str, str]:
    """学号 → status over every stored entry."""
    with app.uow(readonly=True) as s:
        rows = s.execute(
            select(Person.number, AttendanceEntry.status).join(
                Person, Person.id == AttendanceEntry.student_id
            )
        )
        return {number: status for number, status in rows}


def make_monitor(app: App, number: str) -> None:
    with app.uow() as s:
        person = s.scalars(select(Person).where(Person.number == number)).one()
        person.role = Role.MONITOR.value


def add_leave(
    app: App,
    number: str,
    start: date,
    end: date,
    status: str = "approved",
    ended_at: datetime | None = None,
) -> None:
    with app.uow() as s:
        person = s.scalars(select(Person).where(Person.number == number)).one()
        assert person.class_id is not None
        add_request(
            s,
            LEAVE,
            student_id=person.id,
            class_id=person.class_id,
            payload={"type": "sick", "reason": "发烧去医院"},
            starts_on=start,
            ends_on=end,
            status=status,
            created_at=app.clock.now(),
            closed_at=ended_at,
        )


async def test_monitor_posts_attendance_in_the_class_group(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say(
        "2020002", "考勤 高等数学 第2节 缺勤 2020003 2020017 迟到 2020021", group="护理172"
    )
    assert reply.to.is_group
    assert reply.text.splitlines() == [
        "✓ 已登记考勤：护理172 高等数学 第2节 11月23日（周一）",
        "应到 30：出勤 27，缺勤 2，迟到 1，请假 0",
        "缺勤：王雨桐、何欣然",
        "迟到：梁梦瑶",
    ]
    [r] = records(app)
    assert (r.course, r.session, r.day, r.revision, r.roster_size) == (
        "高等数学",
        "第2节",
        MONDAY,
        1,
        30,
    )
    assert entries(app) == {"2020003": "absent", "2020017": "absent", "2020021": "late"}


async def test_group_reply_shows_names_and_counts_but_no_ids(bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 高等数学 缺勤 2020003 迟到 2020021", group="护理172")
    assert "王雨桐" in reply.text and "2020003" not in reply.text


async def test_monitor_posts_privately_for_own_class_with_ids_shown(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("2020002", "考勤 大学英语 缺勤 03")
    assert not reply.to.is_group
    assert "护理172 大学英语" in reply.text and "王雨桐（2020003）" in reply.text
    assert entries(app) == {"2020003": "absent"}


async def test_student_cannot_post_attendance(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "考勤 高等数学 缺勤 2020003", group="护理172")
    assert "没有权限" in reply.text
    assert records(app) == []


async def test_monitor_of_another_class_is_refused(app: App, bot: TestAdapter) -> None:
    make_monitor(app, "2020031")
    [reply] = await bot.say("2020031", "考勤 高等数学 缺勤 2020003", group="护理172")
    assert "无权处理护理172 的考勤" in reply.text
    [reply] = await bot.say("2020031", "考勤 护理172 高等数学 缺勤 2020003")
    assert "无权处理护理172 的考勤" in reply.text
    assert records(app) == []
    # In their own class they may.
    [reply] = await bot.say("2020031", "考勤 高等数学 缺勤 2020040", group="检验172")
    assert reply.text.startswith("✓ 已登记考勤：检验172")
    assert entries(app) == {"2020040": "absent"}


async def test_unknown_ids_store_nothing_and_are_all_listed(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say(
        "2020002",
        "考勤 高等数学 缺勤 2020003 2020099 2020031 迟到 张伟 021",
        group="护理172",
    )
    assert "护理172 的花名册里没有：2020099、2020031、张伟。" in reply.text
    assert "没有保存" in reply.text
    assert records(app) == []


async def test_ids_by_suffix_and_by_name(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say(
        "2020002", "考勤 高等数学 缺勤 03 017 何欣然 迟到 梁梦瑶 24", group="护理172"
    )
    assert "缺勤 2，迟到 2" in reply.text
    assert entries(app) == {
        "2020003": "absent",
        "2020017": "absent",
        "2020021": "late",
        "2020024": "late",
    }


async def test_ambiguous_suffix_is_refused_with_the_candidates(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 高等数学 缺勤 3 017", group="护理172")
    assert "「3」对应多名同学：2020003 王雨桐、2020013 胡诗涵、2020023 郑雨萱" in reply.text
    assert records(app) == []


async def test_keywords_glued_to_ids_and_comma_lists(app: App, bot: TestAdapter) -> None:
    await bot.say("2020002", "考勤 高等数学 缺勤2020003，017、0１８ 迟到：021", group="护理172")
    assert entries(app) == {
        "2020003": "absent",
        "2020017": "absent",
        "2020018": "absent",
        "2020021": "late",
    }


async def test_english_command_words(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "/attendance Maths 2 absent 03 late 021", group="护理172")
    assert reply.text.startswith("✓")
    [r] = records(app)
    assert (r.course, r.session) == ("Maths", "第2节")
    assert entries(app) == {"2020003": "absent", "2020021": "late"}


async def test_reposting_replaces_the_record_and_keeps_the_history(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020002", "考勤 高等数学 第2节 缺勤 03 017", group="护理172")
    clock.advance(timedelta(minutes=20))
    [reply] = await bot.say("2020002", "考勤 高等数学 第2节 迟到 017", group="护理172")
    assert "已更新，第 2 版" in reply.text
    assert "出勤 29，缺勤 0，迟到 1" in reply.text
    [r] = records(app)
    assert r.revision == 2
    assert [(h["revision"], h["absent"], h["late"]) for h in r.history] == [
        (1, ["2020003", "2020017"], []),
        (2, [], ["2020017"]),
    ]
    assert entries(app) == {"2020017": "late"}
    # Another session of the same course is its own record.
    await bot.say("2020002", "考勤 高等数学 第3节 全勤", group="护理172")
    assert [(r.session, r.revision) for r in records(app)] == [("第2节", 2), ("第3节", 1)]


async def test_student_on_approved_leave_is_recorded_as_on_leave(
    app: App, bot: TestAdapter
) -> None:
    add_leave(app, "2020007", MONDAY, MONDAY + timedelta(days=2))
    add_leave(app, "2020008", MONDAY - timedelta(days=1), MONDAY)
    add_leave(app, "2020009", MONDAY, MONDAY, status="pending")
    add_leave(app, "2020010", MONDAY + timedelta(days=1), MONDAY + timedelta(days=3))
    [reply] = await bot.say(
        "2020002", "考勤 高等数学 缺勤 2020007 2020009 2020010", group="护理172"
    )
    lines = reply.text.splitlines()
    assert lines[1] == "应到 30：出勤 26，缺勤 2，迟到 0，请假 2"
    assert "缺勤：周佳琪、吴宇航" in lines
    assert "请假：赵欣怡、黄梓轩（当天有已批准的请假）" in lines
    assert "赵欣怡 当天已请假，按请假记录，不算缺勤。" in lines
    assert entries(app) == {
        "2020007": "leave",
        "2020008": "leave",
        "2020009": "absent",
        "2020010": "absent",
    }


async def test_leave_ended_early_before_the_day_does_not_count(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    add_leave(
        app,
        "2020007",
        MONDAY - timedelta(days=2),
        MONDAY + timedelta(days=2),
        status="ended",
        ended_at=clock.now() - timedelta(days=1),
    )
    await bot.say("2020002", "考勤 高等数学 缺勤 2020007", group="护理172")
    assert entries(app) == {"2020007": "absent"}


async def test_same_student_absent_and_late_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 高等数学 缺勤 03 迟到 2020003", group="护理172")
    assert "2020003 王雨桐 同时写在了「缺勤」和「迟到」里" in reply.text
    assert records(app) == []


async def test_posting_without_a_course_shows_the_form(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 缺勤 03", group="护理172")
    assert "请写上课程名" in reply.text and "格式：考勤" in reply.text
    assert records(app) == []


async def test_ids_before_a_keyword_are_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 高等数学 第2节 2020003", group="护理172")
    assert "学号或姓名要写在「缺勤」或「迟到」后面" in reply.text
    assert records(app) == []


async def test_posting_for_an_earlier_date(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 11月20日 高等数学 缺勤 03", group="护理172")
    assert "11月20日（周五）" in reply.text
    await bot.say("2020002", "考勤 昨天 高等数学 缺勤 03", group="护理172")
    assert sorted(r.day for r in records(app)) == [date(2026, 11, 20), date(2026, 11, 22)]


async def test_posting_for_a_future_date_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "考勤 明天 高等数学 缺勤 03", group="护理172")
    assert "还没到" in reply.text
    assert records(app) == []


async def test_staff_in_private_chat_name_the_class(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "考勤 高等数学 缺勤 03")
    assert "私聊提交请写上班级" in reply.text
    [reply] = await bot.say("T001", "考勤 护理172 高等数学 缺勤 03")
    assert reply.text.startswith("✓ 已登记考勤：护理172")
    [reply] = await bot.say("T001", "考勤 班级=检验172 高等数学 缺勤 2020040")
    assert reply.text.startswith("✓ 已登记考勤：检验172")
    assert entries(app) == {"2020003": "absent", "2020040": "absent"}


async def test_head_teacher_of_one_class_posts_for_it_and_no_other(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("T002", "考勤 高等数学 缺勤 03")
    assert reply.text.startswith("✓ 已登记考勤：护理172")
    [reply] = await bot.say("T002", "考勤 检验172 高等数学 缺勤 2020040")
    assert "无权处理检验172 的考勤" in reply.text
    assert len(records(app)) == 1


async def test_another_class_named_in_a_group_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "考勤 检验172 高等数学 缺勤 2020040", group="护理172")
    assert "本群是 护理172 的群" in reply.text
    assert records(app) == []


async def test_weekly_summary_on_demand_in_the_asker_scope(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020002", "考勤 高等数学 缺勤 03 迟到 021", group="护理172")
    clock.advance(timedelta(days=1))
    await bot.say("2020002", "考勤 高等数学 缺勤 03", group="护理172")
    clock.advance(timedelta(days=1))
    # Wednesday: Monday and Tuesday are over, so 检验172 missed two days.
    sent = await bot.say("2020002", "考勤 本周", group="护理172")
    [group] = [s for s in sent if s.to.is_group]
    [private] = [s for s in sent if not s.to.is_group]
    assert group.text == "考勤周报已私信发给你。"
    assert "【护理172】已登记 2 节课" in private.text
    assert "2020003 王雨桐：2 / 0 / 0" in private.text
    assert "检验172" not in private.text

    [reply] = await bot.say("T001", "考勤 周报")
    assert "【护理172】已登记 2 节课" in reply.text
    assert "【检验172】已登记 0 节课" in reply.text
    assert "未登记考勤的教学日：11月23日（周一）、11月24日（周二）" in reply.text


async def test_weekly_summary_of_a_class_outside_the_scope_is_refused(bot: TestAdapter) -> None:
    [reply] = await bot.say("T002", "考勤 本周 检验172")
    assert "无权处理检验172 的考勤" in reply.text


async def test_help_shows_attendance_to_monitors_not_students(bot: TestAdapter) -> None:
    [monitor] = await bot.say("2020002", "帮助")
    [student] = await bot.say("2020001", "帮助")
    assert "考勤 [班级] [日期] <课程>" in monitor.text
    assert "考勤 [班级]" not in student.text


async def test_mine_shows_own_attendance_this_week(bot: TestAdapter) -> None:
    await bot.say("2020002", "考勤 高等数学 缺勤 03", group="护理172")
    [reply] = await bot.say("2020003", "我的")
    assert "考勤（本周）：缺勤 1，迟到 0，请假 0" in reply.text


@pytest.mark.parametrize(
    "text",
    ["考勤 高等数学 全勤", "考勤 高等数学", "/attendance Maths all-present"],
)
async def test_a_session_with_nobody_missing(app: App, bot: TestAdapter, text: str) -> None:
    [reply] = await bot.say("2020002", text, group="护理172")
    assert "出勤 30，缺勤 0，迟到 0，请假 0" in reply.text
    assert len(records(app)) == 1 and entries(app) == {}


@pytest.mark.parametrize("text", ["考勤 高等数学 2020003", "考勤 高等数学 王雨桐"])
async def test_an_id_without_its_keyword_is_not_taken_for_a_session(
    app: App, bot: TestAdapter, text: str
) -> None:
    [reply] = await bot.say("2020002", text, group="护理172")
    assert "要写在「缺勤」或「迟到」后面" in reply.text
    assert records(app) == []


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("2", "第2节"),
        ("第2节", "第2节"),
        ("1-2", "第1-2节"),
        ("第三节", "第三节"),
        ("下午", "下午"),
    ],
)
async def test_session_forms(app: App, bot: TestAdapter, typed: str, stored: str) -> None:
    await bot.say("2020002", f"考勤 高等数学 {typed} 缺勤 03", group="护理172")
    [r] = records(app)
    assert r.session == stored


async def test_posted_attendance_appears_in_the_ledger(app: App, bot: TestAdapter) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from storage import ledger

    add_leave(app, "2020007", MONDAY, MONDAY)
    await bot.say("2020002", "考勤 高等数学 第2节 缺勤 03 迟到 021", group="护理172")
    await bot.say("T001", "考勤 检验172 大学英语 全勤")
    with app.uow(readonly=True) as s:
        book = ledger.build(s, MONDAY, ledger.SCHOOL, app.config.tz)
    sheet = load_workbook(BytesIO(book.content))["考勤"]
    rows = [tuple(c.value for c in row[:7]) for row in sheet.iter_rows(min_row=2)]
    # Within a session: absences first, then lates, then leave, as the counselor follows up.
    assert rows == [
        ("医学院", "护理172", "高等数学", "第2节", "2020003", "王雨桐", "缺勤"),
        ("医学院", "护理172", "高等数学", "第2节", "2020021", "梁梦瑶", "迟到"),
        ("医学院", "护理172", "高等数学", "第2节", "2020007", "赵欣怡", "请假"),
        ("医学院", "检验172", "大学英语", None, None, None, "全勤"),
    ]


async def test_english_replies_when_configured(database_url: str, clock: ManualClock) -> None:
    from tests.conftest import make_config, start_app

    app, bot = await start_app(make_config(database_url, bot={"language": "en"}), clock)
    try:
        [reply] = await bot.say("2020002", "/attendance Maths absent 03 3", group="护理172")
        assert "“3” matches several students" in reply.text and "Nothing was stored" in reply.text
        [reply] = await bot.say("2020002", "/attendance Maths absent 03 late 021")
        assert reply.text.splitlines() == [
            "✓ Attendance recorded: 护理172 Maths Mon 23 Nov",
            "Roster 30: present 28, absent 1, late 1, on leave 0",
            "Absent: 王雨桐 (2020003)",
            "Late: 梁梦瑶 (2020021)",
        ]
    finally:
        await app.stop()
        app.engine.dispose()
