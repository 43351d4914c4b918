"""台账: the day's ledger as an .xlsx, for a class, a counselor's classes, a college or the school.

One builder serves the 12:00 roll-up, /export and `classbot export`. Sheets: 打卡, 未打卡,
异常, 请假, 考勤 and, for college admins and above only, 补助. Headers are Chinese, the header
row is frozen, times are real Excel dates, and text a user typed is always a text cell (never
a formula). Written by storage/xlsx.py, a streaming writer: openpyxl's write-only mode
cost about 110 µs a row whatever it was fed, which alone put the 12:00 roll-up of a
67,000-student school past its 10 s budget (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from bot.dates import day_label
from storage import attendance, charts, reports, xlsx
from storage.checkins import format_temp
from storage.models import (
    CheckIn,
    College,
    LeaveFollowUp,
    LeaveRequest,
    Person,
    SchoolClass,
    SubsidyApplication,
)

XLSX_MAX_CELL = 32_767
# Characters Excel cannot store in a cell.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

STATUS_ZH = {
    "pending": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
    "cancelled": "已撤销",
    "ended": "已销假",
    "pending_counselor": "待辅导员审批",
    "pending_college": "待学院审批",
}
KIND_ZH = {"sick": "病假", "personal": "事假"}

# Built once: an alias costs about a millisecond to make, and a roll-up builds 400+ ledgers.
_DECIDER = aliased(Person, name="decider")


@dataclass(frozen=True)
class LedgerScope:
    """Whose ledger: a label for the file name, the classes (None = the whole school)."""

    label: str
    class_ids: frozenset[int] | None
    include_subsidy: bool = False


@dataclass(frozen=True)
class Ledger:
    filename: str
    content: bytes
    rows: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def safe_text(value: str) -> str:
    """Text Excel can hold: no control characters, at most 32,767 characters."""
    if len(value) <= XLSX_MAX_CELL and value.isprintable():
        # Most text: nothing to replace (printable excludes every control character).
        return value
    value = _ILLEGAL.sub("\ufffd", value)
    if len(value) > XLSX_MAX_CELL:
        value = value[: XLSX_MAX_CELL - 1] + "…"
    return value


class _Sheet:
    def __init__(
        self, wb: xlsx.Workbook, title: str, headers: Sequence[str], widths: Sequence[int]
    ) -> None:
        self.ws = wb.add_sheet(title, headers, widths)

    @property
    def rows(self) -> int:
        return self.ws.rows

    def append(self, values: Iterable[Any]) -> None:
        # Text a user typed may hold anything; the writer styles formula-looking text as text.
        self.ws.append([safe_text(v) if isinstance(v, str) else v for v in values])


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    # Excel has no time zones: write the local wall-clock time.
    return value.astimezone(tz).replace(tzinfo=None) if value is not None else None


def _yes(flag: bool) -> str:
    return "是" if flag else "否"


# One row of the 打卡 sheet; safe for a cell already (see safe_text).
Row = tuple[Any, ...]
MISSING = "未打卡"
ON_LEAVE = "请假"


def class_rows(
    session: Session, day: date, tz: ZoneInfo, class_ids: Collection[int] | None
) -> dict[int, list[Row]]:
    """The 打卡 rows of every student in scope, by class id, students in number order.

    One read serves every ledger of a roll-up: the counselor, college and school ledgers
    then show the same moment, and the school's 67,000 rows are read once, not three times.
    """
    classes = {
        cid: (code, college) for cid, code, college in reports.classes_in_scope(session, class_ids)
    }
    start_of_day = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    leave = reports.on_leave(session, day, class_ids, ended_before=start_of_day)
    stmt = (
        select(
            Person.class_id,
            Person.number,
            Person.name,
            Person.id,
            CheckIn.id,
            CheckIn.submitted_at,
            CheckIn.temp_tenths,
            CheckIn.symptoms,
            CheckIn.city,
            CheckIn.note,
            CheckIn.late,
            CheckIn.abnormal,
            Person.role,
            Person.phone,
        )
        .outerjoin(CheckIn, and_(CheckIn.student_id == Person.id, CheckIn.day == day))
        .where(Person.active.is_(True))
        .order_by(Person.class_id, Person.number)
    )
    if class_ids is not None:
        # Students are told apart in Python: given the role too, SQLite (without ANALYZE)
        # walks the role index over every student of the school, for every counselor.
        stmt = stmt.where(Person.class_id.in_(list(class_ids)))
    else:
        stmt = stmt.where(Person.role.in_(reports.STUDENT_ROLES))
    out: dict[int, list[Row]] = {cid: [] for cid in classes}
    for (
        cid,
        number,
        name,
        pid,
        checkin_id,
        submitted_at,
        temp_tenths,
        symptoms,
        city,
        note,
        late,
        abnormal,
        role,
        phone,
    ) in session.execute(stmt):
        if cid not in classes or role not in reports.STUDENT_ROLES:
            continue
        code, college = classes[cid]
        head = (safe_text(college), safe_text(code), safe_text(number), safe_text(name))
        if checkin_id is None:
            if pid in leave:
                out[cid].append((*head, ON_LEAVE))
            else:
                # The phone rides along for the 未打卡 sheet only (see _build).
                out[cid].append((*head, MISSING, safe_text(phone) if phone else ""))
            continue
        out[cid].append(
            (
                *head,
                "已打卡",
                _local(submitted_at, tz),
                float(format_temp(temp_tenths)),
                safe_text(symptoms) if symptoms else "无",
                safe_text(city) if city else "",
                safe_text(note) if note else "",
                _yes(late),
                _yes(abnormal),
            )
        )
    return out


def build(
    session: Session,
    day: date,
    scope: LedgerScope,
    tz: ZoneInfo,
    *,
    rows_by_class: dict[int, list[Row]] | None = None,
    chart: charts.ChartData | None = None,
) -> Ledger:
    """The ledger for one day and scope.

    `rows_by_class` (from class_rows) may hold the 打卡 rows of a wider scope, read once for
    many ledgers; without it they are read here. `chart` is what the 统计图 sheet shows,
    likewise computed here when not given.
    """
    wb = xlsx.Workbook()
    try:
        return _build(wb, session, day, scope, tz, rows_by_class, chart)
    finally:
        wb.close()


def chart_for(session: Session, day: date, scope: LedgerScope) -> charts.ChartData:
    """The 统计图 data of one scope: today's completion by class (by college for the school)
    and the trend of the days before."""
    first = day - timedelta(days=reports.TREND_DAYS - 1)
    summaries = reports.summaries(session, day, scope.class_ids)
    counts = reports.daily_counts(session, first, day, scope.class_ids)
    return charts.chart_data(summaries, counts, day, by_college=scope.class_ids is None)


def _build(
    wb: xlsx.Workbook,
    session: Session,
    day: date,
    scope: LedgerScope,
    tz: ZoneInfo,
    rows_by_class: dict[int, list[Row]] | None,
    chart: charts.ChartData | None,
) -> Ledger:
    class_ids = scope.class_ids
    classes = {
        cid: (code, college) for cid, code, college in reports.classes_in_scope(session, class_ids)
    }
    if rows_by_class is None or not set(classes) <= set(rows_by_class):
        rows_by_class = class_rows(session, day, tz, class_ids)
    rows = 0

    # 打卡: every student in scope, checked in or not.
    checkin_sheet = _Sheet(
        wb,
        "打卡",
        [
            "学院",
            "班级",
            "学号",
            "姓名",
            "状态",
            "打卡时间",
            "体温(℃)",
            "症状",
            "城市",
            "备注",
            "迟交",
            "异常",
        ],
        [12, 12, 12, 10, 8, 17, 9, 16, 10, 24, 6, 6],
    )
    missing_rows: list[Row] = []
    abnormal_rows: list[Row] = []
    append = checkin_sheet.ws.append
    for cid in sorted(classes):
        for row in rows_by_class.get(cid, ()):
            if row[4] == MISSING:
                append(row[:5])
                missing_rows.append((*row[:4], row[5]))
                continue
            append(row)
            if row[4] != ON_LEAVE and row[11] == "是":
                abnormal_rows.append(row[:4] + row[5:10])
    rows += checkin_sheet.rows

    # Ledgers go to staff only: the phone is there for the counselor who calls the last few.
    sheet = _Sheet(wb, "未打卡", ["学院", "班级", "学号", "姓名", "电话"], [12, 12, 12, 10, 14])
    for r in missing_rows:
        sheet.append(r)
    rows += sheet.rows

    sheet = _Sheet(
        wb,
        "异常",
        ["学院", "班级", "学号", "姓名", "打卡时间", "体温(℃)", "症状", "城市", "备注"],
        [12, 12, 12, 10, 17, 9, 16, 10, 24],
    )
    for r in abnormal_rows:
        sheet.append(r)
    rows += sheet.rows

    rows += _leave_sheet(wb, session, day, class_ids, classes, tz)
    rows += _attendance_sheet(wb, session, day, class_ids, classes, tz)
    if scope.include_subsidy:
        rows += _subsidy_sheet(wb, session, day, class_ids, classes, tz)
    _chart_sheet(wb, chart or chart_for(session, day, scope))

    content = wb.save()
    filename = f"台账-{scope.label}-{day:%Y-%m-%d}.xlsx"
    return Ledger(filename, content, rows)


def _leave_sheet(
    wb: xlsx.Workbook,
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    classes: dict[int, tuple[str, str]],
    tz: ZoneInfo,
) -> int:
    sheet = _Sheet(
        wb,
        "请假",
        [
            "编号",
            "学院",
            "班级",
            "学号",
            "姓名",
            "类型",
            "开始",
            "结束",
            "状态",
            "理由",
            "申请时间",
            "审批人",
            "审批时间",
            "审批意见",
            "跟进记录",
        ],
        [7, 12, 12, 12, 10, 6, 11, 11, 8, 24, 17, 10, 17, 16, 30],
    )
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day, datetime.max.time(), tzinfo=tz)
    stmt = (
        select(LeaveRequest, Person.number, Person.name, _DECIDER.name)
        .join(Person, Person.id == LeaveRequest.student_id)
        .outerjoin(_DECIDER, _DECIDER.id == LeaveRequest.decided_by)
        .where(
            or_(
                and_(LeaveRequest.start_date <= day, LeaveRequest.end_date >= day),
                LeaveRequest.status == "pending",
                and_(LeaveRequest.created_at >= start, LeaveRequest.created_at <= end),
            )
        )
        .order_by(LeaveRequest.id)
    )
    if class_ids is not None:
        stmt = stmt.where(LeaveRequest.class_id.in_(list(class_ids)))
    found = list(session.execute(stmt))
    notes: dict[int, list[str]] = defaultdict(list)
    ids = [r[0].id for r in found]
    for i in range(0, len(ids), 500):
        for f in session.scalars(
            select(LeaveFollowUp)
            .where(LeaveFollowUp.leave_id.in_(ids[i : i + 500]))
            .order_by(LeaveFollowUp.id)
        ):
            local = f.created_at.astimezone(tz)
            when = f"{day_label(local.date())} {local:%H:%M}"
            notes[f.leave_id].append(f"{when} {f.note}")
    for leave, number, name, decider_name in found:
        code, college = classes.get(leave.class_id, ("", ""))
        sheet.append(
            [
                f"L{leave.id}",
                college,
                code,
                number,
                name,
                KIND_ZH.get(leave.kind, leave.kind),
                leave.start_date,
                leave.end_date,
                STATUS_ZH.get(leave.status, leave.status),
                leave.reason,
                _local(leave.created_at, tz),
                decider_name or "",
                _local(leave.decided_at, tz),
                leave.decision_note or "",
                "\n".join(notes.get(leave.id, [])),
            ]
        )
    return sheet.rows


def _attendance_sheet(
    wb: xlsx.Workbook,
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    classes: dict[int, tuple[str, str]],
    tz: ZoneInfo,
) -> int:
    sheet = _Sheet(
        wb,
        "考勤",
        ["学院", "班级", "课程", "节次", "学号", "姓名", "情况", "应到", "登记人", "登记时间"],
        [12, 12, 16, 8, 12, 10, 8, 6, 10, 17],
    )
    college_of = dict(classes.values())
    for row in attendance.records_for_day(session, class_ids, day):
        sheet.append(
            [
                college_of.get(row.class_code, ""),
                row.class_code,
                row.course,
                row.session,
                row.student_number or "",
                row.student_name or "",
                attendance.status_label(row.status, "zh"),
                row.roster_size,
                row.posted_by or "",
                _local(row.posted_at, tz),
            ]
        )
    return sheet.rows


def _subsidy_sheet(
    wb: xlsx.Workbook,
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    classes: dict[int, tuple[str, str]],
    tz: ZoneInfo,
) -> int:
    sheet = _Sheet(
        wb,
        "补助",
        [
            "编号",
            "学院",
            "班级",
            "学号",
            "姓名",
            "申请金额(元)",
            "核定金额(元)",
            "理由",
            "状态",
            "申请时间",
            "辅导员审批时间",
            "学院审批时间",
            "驳回理由",
        ],
        [7, 12, 12, 12, 10, 12, 12, 30, 12, 17, 17, 17, 20],
    )
    end = datetime.combine(day, datetime.max.time(), tzinfo=tz)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    stmt = (
        select(SubsidyApplication, Person.number, Person.name)
        .join(Person, Person.id == SubsidyApplication.student_id)
        .where(
            SubsidyApplication.created_at <= end,
            or_(
                SubsidyApplication.status.in_(reports.PENDING_SUBSIDY),
                SubsidyApplication.created_at >= start,
                SubsidyApplication.counselor_at >= start,
                SubsidyApplication.college_at >= start,
            ),
        )
        .order_by(SubsidyApplication.id)
    )
    if class_ids is not None:
        stmt = stmt.where(SubsidyApplication.class_id.in_(list(class_ids)))
    for app, number, name in session.execute(stmt):
        code, college = classes.get(app.class_id, ("", ""))
        sheet.append(
            [
                f"S{app.id}",
                college,
                code,
                number,
                name,
                app.amount_cents / 100,
                app.approved_cents / 100 if app.approved_cents is not None else None,
                app.reason,
                STATUS_ZH.get(app.status, app.status),
                _local(app.created_at, tz),
                _local(app.counselor_at, tz),
                _local(app.college_at, tz),
                app.reject_reason or "",
            ]
        )
    return sheet.rows


CHART_SHEET = "统计图"


def _chart_sheet(wb: xlsx.Workbook, data: charts.ChartData) -> None:
    """统计图: the charts' numbers, and native Excel charts drawn from them."""
    who = "学院" if data.by_college else "班级"
    sheet = wb.add_sheet(
        CHART_SHEET,
        [who, "已打卡", "应打卡", "完成率", "", "日期", "完成率", "异常人数"],
        [12, 8, 8, 8, 3, 10, 8, 9],
    )
    bars, trend = list(data.bars), list(data.trend)
    for i in range(max(len(bars), len(trend))):
        row: list[Any] = [None] * 8
        if i < len(bars):
            b = bars[i]
            row[:4] = [safe_text(b.label), b.done, b.expected, xlsx.Percent(b.rate)]
        if i < len(trend):
            p = trend[i]
            row[5:] = [day_label(p.day), xlsx.Percent(p.rate), p.abnormal]
        sheet.append(row)
    bar_rows = max(len(bars), 1) + 1
    bar_end = max(18, 4 + len(bars))
    sheet.add_chart(
        xlsx.Chart(
            f"各{who}打卡完成率",
            f"A2:A{bar_rows}",
            (xlsx.Series("D1", f"D2:D{bar_rows}"),),
            anchor=(9, 0, 19, bar_end),
            horizontal=True,
            percent=True,
        )
    )
    trend_rows = max(len(trend), 1) + 1
    sheet.add_chart(
        xlsx.Chart(
            f"近 {len(trend)} 天完成率与异常人数",
            f"F2:F{trend_rows}",
            (
                xlsx.Series("H1", f"H2:H{trend_rows}"),
                xlsx.Series("G1", f"G2:G{trend_rows}", line=True),
            ),
            anchor=(9, bar_end + 1, 19, bar_end + 20),
        )
    )


def scope_for_class(session: Session, code: str) -> LedgerScope | None:
    cls = session.scalar(select(SchoolClass).where(SchoolClass.code == code))
    return LedgerScope(code, frozenset({cls.id})) if cls else None


def scope_for_college(session: Session, name: str) -> LedgerScope | None:
    college = session.scalar(select(College).where(College.name == name))
    if college is None:
        return None
    ids = frozenset(
        session.scalars(select(SchoolClass.id).where(SchoolClass.college_id == college.id))
    )
    return LedgerScope(name, ids, include_subsidy=True)


SCHOOL = LedgerScope("全校", None, include_subsidy=True)
