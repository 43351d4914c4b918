"""云考勤 storage: the weekly summary from a fixture week, ledger rows, and id matching."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import App
from handlers.attendance import format_week
from storage import attendance, identity
from storage.attendance import Posting, Student, StudentWeek, match_student
from storage.leave import LEAVE
from storage.models import AttendanceRecord, Person, SchoolClass
from tests.conftest import pg_only
from tests.handlers.people import add_request

TZ = ZoneInfo("Asia/Shanghai")
MON = date(2026, 11, 23)
TUE, WED, THU, FRI, SAT = (MON + timedelta(days=i) for i in range(1, 6))
HOLIDAYS = [WED]


def class_id(session: Session, code: str) -> int:
    cls = identity.class_by_code(session, code)
    assert cls is not None
    return cls.id


def post(
    session: Session,
    code: str,
    day: date,
    course: str,
    absent: tuple[str, ...] = (),
    late: tuple[str, ...] = (),
    by: str = "T001",
) -> attendance.Posted:
    return attendance.post(
        session,
        Posting(
            class_id=class_id(session, code),
            class_code=code,
            course=course,
            day=day,
            session="",
            absent=absent,
            late=late,
            posted_at=datetime.combine(day, datetime.min.time(), tzinfo=TZ) + timedelta(hours=10),
        ),
        identity.actor_for_number(session, by),
        TZ,
    )


def fixture_week(app: App) -> None:
    """One week of postings; the hand counts are in `test_weekly_summary_of_a_fixture_week`."""
    with app.uow() as s:
        leaver = s.scalars(select(Person).where(Person.number == "2020007")).one()
        assert leaver.class_id is not None
        add_request(
            s,
            LEAVE,
            student_id=leaver.id,
            class_id=leaver.class_id,
            payload={"type": "personal", "reason": "家里有事"},
            starts_on=FRI,
            ends_on=FRI,
            status="approved",
            created_at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        # Outside the week on both sides: not counted.
        post(s, "护理172", MON - timedelta(days=3), "高等数学", absent=("03",))
        post(s, "护理172", MON + timedelta(days=7), "高等数学", absent=("03",))
        # Monday's maths posted twice: only the second posting counts.
        post(s, "护理172", MON, "高等数学", absent=("03", "17", "05"), late=("21",), by="2020002")
        post(s, "护理172", MON, "高等数学", absent=("03", "17"), late=("21",), by="2020002")
        post(s, "护理172", MON, "大学英语", absent=("03",), by="2020002")
        post(s, "护理172", TUE, "高等数学", absent=("03",), late=("17",), by="2020002")
        # Wednesday is a holiday; Thursday nothing was posted.
        post(s, "护理172", FRI, "高等数学", absent=("03", "17", "2020007"), by="2020002")
        # A Saturday make-up class counts as a session but Saturday is never "missing".
        post(s, "护理172", SAT, "补课", absent=("17",), by="2020002")
        post(s, "检验172", MON, "高等数学", absent=("2020040",))


def by_code(summary: attendance.WeekSummary) -> dict[str, attendance.ClassWeek]:
    return {c.class_code: c for c in summary.classes}


async def test_weekly_summary_of_a_fixture_week(app: App) -> None:
    fixture_week(app)
    with app.uow(readonly=True) as s:
        summary = attendance.weekly_summary(s, None, MON, HOLIDAYS, alert_absences=3)
    assert summary.week_end == date(2026, 11, 29)
    nursing, lab = by_code(summary)["护理172"], by_code(summary)["检验172"]

    # Hand counts: Mon maths + Mon English + Tue + Fri + Sat.
    assert nursing.sessions == 5
    assert nursing.students == [
        # 03: Mon maths, Mon English, Tue, Fri.
        StudentWeek("2020003", "王雨桐", absent=4),
        # 17: Mon maths, Fri, Sat absent; Tue late.
        StudentWeek("2020017", "何欣然", absent=3, late=1),
        StudentWeek("2020021", "梁梦瑶", late=1),
        # Listed absent on Friday while on approved leave.
        StudentWeek("2020007", "赵欣怡", leave=1),
    ]
    assert [s.number for s in nursing.flagged] == ["2020003", "2020017"]
    assert nursing.missing_days == [THU]

    assert lab.sessions == 1
    assert lab.students == [StudentWeek("2020040", "吕晨阳", absent=1)]
    assert lab.flagged == []
    assert lab.missing_days == [TUE, THU, FRI]


async def test_the_alert_threshold_comes_from_the_caller(app: App) -> None:
    fixture_week(app)
    with app.uow(readonly=True) as s:
        summary = attendance.weekly_summary(s, None, MON, HOLIDAYS, alert_absences=4)
    assert [s.number for s in by_code(summary)["护理172"].flagged] == ["2020003"]


async def test_missing_days_stop_at_through_and_skip_holidays(app: App) -> None:
    fixture_week(app)
    with app.uow(readonly=True) as s:
        summary = attendance.weekly_summary(s, None, MON, HOLIDAYS, through=TUE)
        no_holiday = attendance.weekly_summary(s, None, MON, [])
    assert by_code(summary)["护理172"].missing_days == []
    assert by_code(summary)["检验172"].missing_days == [TUE]
    assert by_code(no_holiday)["护理172"].missing_days == [WED, THU]


async def test_a_class_with_nothing_posted_is_listed_every_teaching_day(app: App) -> None:
    with app.uow(readonly=True) as s:
        summary = attendance.weekly_summary(s, None, MON, HOLIDAYS)
    for cls in summary.classes:
        assert cls.sessions == 0 and cls.students == []
        assert cls.missing_days == [MON, TUE, THU, FRI]


async def test_summary_in_a_scope_of_classes(app: App) -> None:
    fixture_week(app)
    with app.uow(readonly=True) as s:
        summary = attendance.weekly_summary(s, [class_id(s, "检验172")], MON, HOLIDAYS)
    assert [c.class_code for c in summary.classes] == ["检验172"]


async def test_weekly_summary_text(app: App) -> None:
    fixture_week(app)
    with app.uow(readonly=True) as s:
        summary = attendance.weekly_summary(s, None, MON, HOLIDAYS, alert_absences=3)
    text = format_week(summary, "zh")
    assert text.splitlines()[0] == "📋 考勤周报 11月23日（周一）–11月29日（周日）"
    assert "【护理172】已登记 5 节课" in text
    assert "  2020003 王雨桐：4 / 0 / 0 ⚠️" in text
    assert "  2020021 梁梦瑶：1 / 0 / 0" not in text and "  2020021 梁梦瑶：0 / 1 / 0" in text
    assert "⚠️ 本周缺勤 3 次及以上，请跟进：王雨桐（2020003）、何欣然（2020017）" in text
    assert "未登记考勤的教学日：11月26日（周四）" in text
    assert "未登记考勤的教学日：11月24日（周二）、11月26日（周四）、11月27日（周五）" in text
    english = format_week(summary, "en")
    assert "[护理172] 5 sessions recorded" in english
    assert "Teaching days with no attendance posted: Thu 26 Nov" in english


async def test_records_for_day_give_the_ledger_rows(app: App) -> None:
    fixture_week(app)
    with app.uow() as s:
        post(s, "检验172", TUE, "有机化学")
    with app.uow(readonly=True) as s:
        monday = attendance.records_for_day(s, None, MON)
        tuesday_lab = attendance.records_for_day(s, [class_id(s, "检验172")], TUE)
    assert [
        (r.class_code, r.course, r.student_number, r.student_name, r.status, r.posted_by)
        for r in monday
    ] == [
        ("护理172", "大学英语", "2020003", "王雨桐", "absent", "李思远"),
        ("护理172", "高等数学", "2020003", "王雨桐", "absent", "李思远"),
        ("护理172", "高等数学", "2020017", "何欣然", "absent", "李思远"),
        ("护理172", "高等数学", "2020021", "梁梦瑶", "late", "李思远"),
        ("检验172", "高等数学", "2020040", "吕晨阳", "absent", "王芳"),
    ]
    assert monday[0].posted_by_number == "2020002"
    assert monday[0].posted_at == datetime(2026, 11, 23, 10, tzinfo=TZ)
    [row] = tuesday_lab
    assert (row.course, row.student_number, row.status) == ("有机化学", None, "all_present")
    assert attendance.status_label(row.status, "zh") == "全勤"


async def test_reposting_keeps_every_version_in_the_history(app: App) -> None:
    with app.uow() as s:
        post(s, "护理172", MON, "高等数学", absent=("03",))
        again = post(s, "护理172", MON, "高等数学", late=("03",))
    assert again.revision == 2 and again.replaced
    with app.uow(readonly=True) as s:
        [record] = s.scalars(select(AttendanceRecord))
    assert [h["absent"] for h in record.history] == [["2020003"], []]
    assert [h["late"] for h in record.history] == [[], ["2020003"]]
    assert [h["posted_by"] for h in record.history] == ["T001", "T001"]


async def test_student_weekly_counts_for_mine(app: App) -> None:
    fixture_week(app)
    with app.uow(readonly=True) as s:
        person = s.scalars(select(Person).where(Person.number == "2020017")).one()
        counts = attendance.student_week(s, person.id, MON, SAT)
    assert counts == {"absent": 3, "late": 1}


async def test_counselors_get_their_classes(app: App) -> None:
    with app.uow(readonly=True) as s:
        recipients = attendance.counselor_classes(s)
        t001 = identity.actor_for_number(s, "T001")
        classes = set(s.scalars(select(SchoolClass.id)))
    assert list(recipients) == [t001.person_id]
    assert set(recipients[t001.person_id]) == classes


ROSTER = [
    Student(1, "2020003", "王雨桐"),
    Student(2, "2020013", "胡诗涵"),
    Student(3, "2020017", "何欣然"),
    Student(4, "2020117", "王 雨"),
]


@pytest.mark.parametrize(
    ("typed", "numbers"),
    [
        ("2020003", ["2020003"]),
        ("03", ["2020003"]),
        ("０３", ["2020003"]),
        ("3", ["2020003", "2020013"]),
        ("017", ["2020017"]),
        ("17", ["2020017", "2020117"]),
        ("何欣然", ["2020017"]),
        ("王雨", ["2020117"]),
        ("王雨桐", ["2020003"]),
        ("99", []),
        ("张三", []),
    ],
)
def test_match_student(typed: str, numbers: list[str]) -> None:
    assert [s.number for s in match_student(ROSTER, typed)] == numbers


@pg_only
async def test_two_postings_of_one_session_at_once_become_two_revisions(app: App) -> None:
    import threading

    first = app.sessions()
    try:
        post(first, "护理172", MON, "高等数学", absent=("03",))
        revisions: list[int] = []

        def second() -> None:
            with app.uow() as s:
                revisions.append(post(s, "护理172", MON, "高等数学", absent=("17",)).revision)

        thread = threading.Thread(target=second)
        thread.start()
        # The second posting waits on the first one's row lock instead of failing.
        thread.join(timeout=0.5)
        assert thread.is_alive()
        first.commit()
        thread.join(timeout=10)
    finally:
        first.close()
    assert revisions == [2]
    with app.uow(readonly=True) as s:
        [record] = s.scalars(select(AttendanceRecord))
    assert [h["absent"] for h in record.history] == [["2020003"], ["2020017"]]
