"""台账 .xlsx: sheets, counts against a hand-made day, text that is never a formula."""

from __future__ import annotations

from datetime import date, datetime, time
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage import ledger, reports
from storage.leave import LEAVE
from storage.models import CheckIn, Person, SchoolClass
from tests.conftest import TZ
from tests.handlers.people import add_request

DAY = date(2026, 11, 23)


def at(hh: int, mm: int = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm), tzinfo=TZ)


def build(app: App, scope: ledger.LedgerScope | None = None) -> ledger.Ledger:
    with app.uow(readonly=True) as s:
        return ledger.build(s, DAY, scope or ledger.SCHOOL, app.config.tz)


def sheet_rows(book: ledger.Ledger, name: str) -> list[tuple[object, ...]]:
    ws = load_workbook(BytesIO(book.content))[name]
    return [tuple(r) for r in ws.iter_rows(min_row=2, values_only=True)]


async def test_ledger_counts_match_a_hand_computed_day(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "打卡 36.5", group="护理172")
    await bot.say("2020003", "打卡 37.5", group="护理172")  # abnormal
    await bot.say("2020004", "打卡 36.8 咳嗽 @武汉", group="护理172")  # abnormal
    clock.set(at(11, 20))
    await bot.say("2020031", "打卡 36.6", group="检验172")  # late
    with app.uow() as s:
        student = s.scalar(select(Person).where(Person.number == "2020005"))
        assert student is not None and student.class_id is not None
        add_request(
            s,
            LEAVE,
            student_id=student.id,
            class_id=student.class_id,
            payload={"type": "sick", "reason": "发烧就医"},
            starts_on=DAY,
            ends_on=DAY,
            status="approved",
            created_at=at(7),
        )
    book = build(app)
    checkins = sheet_rows(book, "打卡")
    assert len(checkins) == 60
    by_status: dict[object, int] = {}
    for row in checkins:
        by_status[row[4]] = by_status.get(row[4], 0) + 1
    assert by_status == {"已打卡": 4, "未打卡": 55, "请假": 1}
    assert len(sheet_rows(book, "未打卡")) == 55
    abnormal = sheet_rows(book, "异常")
    assert sorted(str(r[2]) for r in abnormal) == ["2020003", "2020004"]
    late = [r for r in checkins if r[10] == "是"]
    assert [r[2] for r in late] == ["2020031"]
    row = next(r for r in checkins if r[2] == "2020004")
    assert row[6] == 36.8 and row[7] == "咳嗽" and row[8] == "武汉"
    assert isinstance(row[5], datetime) and row[5] == datetime(2026, 11, 23, 8, 0)
    [leave] = sheet_rows(book, "请假")
    assert str(leave[0]).startswith("L") and leave[5] == "病假" and leave[9] == "发烧就医"
    assert leave[6] == datetime(2026, 11, 23, 0, 0)


async def test_formula_looking_note_is_stored_verbatim_and_is_text_in_the_ledger(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    note = '=HYPERLINK("http://x","y")'
    await bot.say("2020001", f"打卡 36.5 {note}")
    await bot.say("2020003", "打卡 36.5 ＝1+1")
    await bot.say("2020004", "打卡 36.5 @-2+3")
    with app.uow(readonly=True) as s:
        assert (
            s.scalar(
                select(CheckIn.note).where(
                    CheckIn.student_id
                    == select(Person.id).where(Person.number == "2020001").scalar_subquery()
                )
            )
            == note
        )
    book = build(app)
    wb = load_workbook(BytesIO(book.content))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
    notes = {r[2]: r[9] for r in sheet_rows(book, "打卡")}
    assert notes["2020001"] == note
    assert notes["2020003"] == "＝1+1"
    cities = {r[2]: r[8] for r in sheet_rows(book, "打卡")}
    assert cities["2020004"] == "-2+3"


async def test_sheets_have_frozen_chinese_headers(app: App) -> None:
    wb = load_workbook(BytesIO(build(app).content))
    assert wb.sheetnames == ["打卡", "未打卡", "异常", "请假", "考勤", "补助", "诉求", "统计图"]
    ws = wb["打卡"]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]][:5] == ["学院", "班级", "学号", "姓名", "状态"]
    assert ws.column_dimensions["B"].width >= 10


async def test_subsidy_sheet_only_for_college_admins_and_above(app: App) -> None:
    with app.uow(readonly=True) as s:
        cls = s.scalar(select(SchoolClass).where(SchoolClass.code == "护理172"))
        assert cls is not None
        class_scope = ledger.scope_for_class(s, "护理172")
        college_scope = ledger.scope_for_college(s, "医学院")
    assert class_scope is not None and college_scope is not None
    assert "补助" not in load_workbook(BytesIO(build(app, class_scope).content)).sheetnames
    assert "补助" in load_workbook(BytesIO(build(app, college_scope).content)).sheetnames
    assert len(sheet_rows(build(app, class_scope), "打卡")) == 30


def test_control_characters_and_huge_text_do_not_break_a_cell() -> None:
    assert ledger.safe_text("a\x00b\x07c") == "a\ufffdb\ufffdc"
    huge = ledger.safe_text("字" * 40_000)
    assert len(huge) == ledger.XLSX_MAX_CELL


async def test_ledger_with_control_characters_and_long_text_opens(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    with app.uow() as s:
        student = s.scalar(select(Person).where(Person.number == "2020001"))
        assert student is not None and student.class_id is not None
        add_request(
            s,
            LEAVE,
            student_id=student.id,
            class_id=student.class_id,
            payload={"type": "personal", "reason": "x\x01y" + "长" * 40_000},
            starts_on=DAY,
            ends_on=DAY,
            status="pending",
            created_at=at(7),
        )
    [leave] = sheet_rows(build(app), "请假")
    assert str(leave[9]).startswith("x\ufffdy")


async def test_rows_read_once_for_the_school_give_each_scope_the_same_ledger(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "打卡 36.5", group="护理172")
    await bot.say("2020004", "打卡 37.8 咳嗽 @武汉 =HYPERLINK(1)", group="护理172")
    await bot.say("2020031", "打卡 36.6", group="检验172")
    with app.uow(readonly=True) as s:
        class_scope = ledger.scope_for_class(s, "护理172")
        college_scope = ledger.scope_for_college(s, "医学院")
        shared = ledger.class_rows(s, DAY, app.config.tz, None)
    for scope in (class_scope, college_scope, ledger.SCHOOL):
        assert scope is not None
        with app.uow(readonly=True) as s:
            alone = ledger.build(s, DAY, scope, app.config.tz)
            reused = ledger.build(s, DAY, scope, app.config.tz, rows_by_class=shared)
        for name in load_workbook(BytesIO(alone.content)).sheetnames:
            assert sheet_rows(reused, name) == sheet_rows(alone, name), name
        assert reused.rows == alone.rows


async def test_request_sheets_show_each_decision_and_the_chat_state_labels(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "请假 今天 病假 发烧就医", group="护理172")
    await bot.say("2020003", "请假 今天 事假 回家", group="护理172")
    clock.set(at(9))
    await bot.say("T001", "批准 L1")
    await bot.say("T001", "驳回 L2 请补充说明")
    await bot.say("T001", "跟进 L1 已就医")
    await bot.say("2020005", "补助 800 家庭困难")
    await bot.say("T001", "批准 S1 500")
    leave = sheet_rows(build(app), "请假")
    assert [r[0] for r in leave] == ["L1", "L2"]
    assert leave[0][5:9] == ("病假", datetime(2026, 11, 23), datetime(2026, 11, 23), "已批准")
    assert (leave[0][11], leave[0][12], leave[0][13]) == ("王芳", at(9).replace(tzinfo=None), None)
    assert leave[0][14] == "11月23日 09:00 已就医"
    assert (leave[1][8], leave[1][11], leave[1][13]) == ("已驳回", "王芳", "请补充说明")
    [subsidy] = sheet_rows(build(app), "补助")
    assert subsidy[:8] == ("S1", "医学院", "护理172", "2020005", "陈嘉怡", 800, 500, "家庭困难")
    # The same label /mine shows for an application waiting at the college step.
    assert subsidy[8] == "待学工办审批"
    assert subsidy[10] == at(9).replace(tzinfo=None) and subsidy[11] is None
    [mine] = [s for s in await bot.say("2020005", "我的") if s.to.chat_id == "2020005"]
    assert "待学工办审批" in mine.text


async def test_a_later_normal_reading_does_not_erase_the_abnormal_one(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "打卡 38.2 发热")
    await bot.say("2020003", "打卡 37.9")
    clock.set(at(9, 30))
    await bot.say("2020001", "打卡 36.5")
    clock.set(at(9, 40))
    await bot.say("2020001", "打卡 38.6 发热 咳嗽")
    clock.set(at(10))
    await bot.say("2020001", "打卡 36.6")
    abnormal = sheet_rows(build(app), "异常")
    assert [(r[2], r[4], r[5], r[6], r[9]) for r in abnormal] == [
        ("2020001", datetime(2026, 11, 23, 8, 0), 38.2, "发热", "已更正：10:00 体温 36.6，无症状"),
        (
            "2020001",
            datetime(2026, 11, 23, 9, 40),
            38.6,
            "发热、咳嗽",
            "已更正：10:00 体温 36.6，无症状",
        ),
        ("2020003", datetime(2026, 11, 23, 8, 0), 37.9, "无", None),
    ]
    with app.uow(readonly=True) as s:
        [nursing] = [c for c in reports.summaries(s, DAY, None) if c.code == "护理172"]
    assert nursing.abnormal == reports.AbnormalCount(students=2, corrected=1)
    assert f"异常 {nursing.abnormal}" == "异常 2（含已更正 1）"


async def test_the_rollup_counts_a_corrected_abnormal_reading(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    assert app.scheduler is not None
    clock.set(at(8))
    await bot.say("2020001", "打卡 38.2 发热")
    clock.set(at(9))
    await bot.say("2020001", "打卡 36.5")
    clock.set(at(12, 0).replace(second=5))
    await app.scheduler.run_due()
    [rollup] = [s for s in bot.to_chat("T001") if "打卡汇总" in s.text]
    assert "护理172：应打卡 30，已打卡 1（迟交 0），未打卡 29，异常 1（含已更正 1）" in rollup.text
    assert (
        "合计：2 个班，应打卡 60，已打卡 1（迟交 0），未打卡 59，异常 1（含已更正 1）"
        in rollup.text
    )


async def test_missing_sheet_carries_the_phone_and_the_checkin_sheet_does_not(app: App) -> None:
    with app.uow() as s:
        person = s.scalar(select(Person).where(Person.number == "2020003"))
        assert person is not None
        person.phone = "13800000003"
    book = build(app)
    wb = load_workbook(BytesIO(book.content))
    assert [c.value for c in wb["未打卡"][1]] == ["学院", "班级", "学号", "姓名", "电话"]
    missing = {r[2]: r for r in sheet_rows(book, "未打卡")}
    assert missing["2020003"][4] == "13800000003" and missing["2020004"][4] is None
    checkin = {r[2]: r for r in sheet_rows(book, "打卡")}
    assert checkin["2020003"][4:] == ("未打卡",) + (None,) * 7
    assert "13800000003" not in str(sheet_rows(book, "打卡"))


async def test_chart_sheet_holds_completion_and_the_trend_with_native_charts(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "打卡 36.5", group="护理172")
    await bot.say("2020002", "打卡 38.1", group="护理172")
    with app.uow(readonly=True) as s:
        [cls] = s.scalars(select(SchoolClass).where(SchoolClass.code == "护理172")).all()
        book = ledger.build(s, DAY, ledger.LedgerScope("护理172", frozenset({cls.id})), TZ)
    wb = load_workbook(BytesIO(book.content))
    ws = wb["统计图"]
    rows = [tuple(c.value for c in r) for r in ws.iter_rows()]
    assert rows[0] == ("班级", "已打卡", "应打卡", "完成率", None, "日期", "完成率", "异常人数")
    assert rows[1][:4] == ("护理172", 2, 30, 2 / 30)
    assert ws["D2"].number_format == "0%"
    trend = [r[5:] for r in rows[1:]]
    assert len(trend) == 14 and trend[0][0] == "11月10日"
    assert trend[-1] == ("11月23日", 2 / 30, 1)
    bar, columns = ws._charts
    assert bar.barDir == "bar" and columns.barDir == "col"
    assert bar.series[0].val.numRef.f == "'统计图'!$D$2:$D$2"
    assert columns.series[0].val.numRef.f == "'统计图'!$H$2:$H$15"


def test_the_school_chart_sheet_is_by_college() -> None:
    from datetime import timedelta

    from storage import charts, reports, xlsx

    summaries = [
        reports.ClassSummary(1, "护理172", "医学院", roster=30, checked_in=30),
        reports.ClassSummary(2, "药学181", "药学院", roster=10, checked_in=5, missing=5),
    ]
    counts = {(2, DAY - timedelta(days=1)): reports.DayCounts(9, 2)}
    data = charts.chart_data(summaries, counts, DAY, by_college=True)
    assert [(b.label, b.done, b.expected) for b in data.bars] == [
        ("医学院", 30, 30),
        ("药学院", 5, 10),
    ]
    assert data.trend[-2] == charts.TrendPoint(DAY - timedelta(days=1), 9, 40, 2)
    wb = xlsx.Workbook()
    ledger._chart_sheet(wb, data)
    sheet = load_workbook(BytesIO(wb.save()))["统计图"]
    assert sheet["A1"].value == "学院" and sheet["A3"].value == "药学院"
