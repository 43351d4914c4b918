"""台账: the day's ledger as an .xlsx, for a class, a counselor's classes, a college or the school.

One builder serves the 12:00 roll-up, /export and `classbot export`. Sheets: 打卡, 未打卡,
异常, 请假, 考勤 and, for college admins and above only, 补助. Headers are Chinese, the header
row is frozen, times are real Excel dates, and text a user typed is always a text cell (never
a formula). Written in openpyxl's write-only mode so a whole-school ledger stays small.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from storage import reports
from storage.checkins import format_temp
from storage.models import (
    AttendanceEntry,
    AttendanceRecord,
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
# Text that a spreadsheet would take for a formula: = + - @ (also full-width), tab, CR.
_FORMULA_START = tuple("=+-@＝＋－＠\t\r")

DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_FONT = Font(bold=True)

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
ATTENDANCE_ZH = {"absent": "缺勤", "late": "迟到", "leave": "请假"}


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
    value = _ILLEGAL.sub("\ufffd", value)
    if len(value) > XLSX_MAX_CELL:
        value = value[: XLSX_MAX_CELL - 1] + "…"
    return value


class _Sheet:
    def __init__(
        self, wb: Workbook, title: str, headers: Sequence[str], widths: Sequence[int]
    ) -> None:
        self.ws: WriteOnlyWorksheet = wb.create_sheet(title)
        self.ws.freeze_panes = "A2"
        for i, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        header = []
        for h in headers:
            cell = WriteOnlyCell(self.ws, value=h)
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(horizontal="center")
            header.append(cell)
        self.ws.append(header)
        self.rows = 0

    def cell(self, value: Any) -> Any:
        if isinstance(value, str):
            value = safe_text(value)
            if value.startswith(_FORMULA_START):
                # openpyxl would write this as a formula; force a text cell, shown as typed.
                c = WriteOnlyCell(self.ws, value=value)
                c.data_type = "s"
                c.quotePrefix = True
                return c
            return value
        if isinstance(value, datetime):
            c = WriteOnlyCell(self.ws, value=value)
            c.number_format = TIME_FORMAT
            return c
        if isinstance(value, date):
            c = WriteOnlyCell(self.ws, value=value)
            c.number_format = DATE_FORMAT
            return c
        return value

    def append(self, values: Iterable[Any]) -> None:
        self.ws.append([self.cell(v) for v in values])
        self.rows += 1


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    # Excel has no time zones: write the local wall-clock time.
    return value.astimezone(tz).replace(tzinfo=None) if value is not None else None


def _yes(flag: bool) -> str:
    return "是" if flag else "否"


def build(session: Session, day: date, scope: LedgerScope, tz: ZoneInfo) -> Ledger:
    """The ledger for one day and scope."""
    wb = Workbook(write_only=True)
    class_ids = scope.class_ids
    classes = {
        cid: (code, college) for cid, code, college in reports.classes_in_scope(session, class_ids)
    }
    start_of_day = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    leave = reports.on_leave(session, day, class_ids, ended_before=start_of_day)
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
    missing_rows: list[tuple[Any, ...]] = []
    abnormal_rows: list[tuple[Any, ...]] = []
    stmt = (
        select(Person.class_id, Person.number, Person.name, Person.id, CheckIn)
        .outerjoin(CheckIn, and_(CheckIn.student_id == Person.id, CheckIn.day == day))
        .where(Person.role.in_(reports.STUDENT_ROLES), Person.active.is_(True))
        .order_by(Person.class_id, Person.number)
    )
    if class_ids is not None:
        stmt = stmt.where(Person.class_id.in_(list(class_ids)))
    for cid, number, name, pid, c in session.execute(stmt):
        if cid not in classes:
            continue
        code, college = classes[cid]
        if c is None:
            status = "请假" if pid in leave else "未打卡"
            checkin_sheet.append(
                [college, code, number, name, status, None, None, None, None, None, None, None]
            )
            if pid not in leave:
                missing_rows.append((college, code, number, name))
            continue
        values = [
            college,
            code,
            number,
            name,
            "已打卡",
            _local(c.submitted_at, tz),
            float(format_temp(c.temp_tenths)),
            c.symptoms or "无",
            c.city or "",
            c.note or "",
            _yes(c.late),
            _yes(c.abnormal),
        ]
        checkin_sheet.append(values)
        if c.abnormal:
            abnormal_rows.append(tuple(values[:4] + values[5:10]))
    rows += checkin_sheet.rows

    sheet = _Sheet(wb, "未打卡", ["学院", "班级", "学号", "姓名"], [12, 12, 12, 10])
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

    buf = io.BytesIO()
    wb.save(buf)
    filename = f"台账-{scope.label}-{day:%Y-%m-%d}.xlsx"
    return Ledger(filename, buf.getvalue(), rows)


def _leave_sheet(
    wb: Workbook,
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
    decider = aliased(Person)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day, datetime.max.time(), tzinfo=tz)
    stmt = (
        select(LeaveRequest, Person.number, Person.name, decider.name)
        .join(Person, Person.id == LeaveRequest.student_id)
        .outerjoin(decider, decider.id == LeaveRequest.decided_by)
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
            when = f.created_at.astimezone(tz).strftime("%m-%d %H:%M")
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
    wb: Workbook,
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
    poster = aliased(Person)
    stmt = (
        select(AttendanceRecord, poster.name)
        .outerjoin(poster, poster.id == AttendanceRecord.posted_by)
        .where(AttendanceRecord.day == day)
        .order_by(AttendanceRecord.class_id, AttendanceRecord.course, AttendanceRecord.session)
    )
    if class_ids is not None:
        stmt = stmt.where(AttendanceRecord.class_id.in_(list(class_ids)))
    records = list(session.execute(stmt))
    entries: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    ids = [r.id for r, _ in records]
    for i in range(0, len(ids), 500):
        for record_id, number, name, status in session.execute(
            select(AttendanceEntry.record_id, Person.number, Person.name, AttendanceEntry.status)
            .join(Person, Person.id == AttendanceEntry.student_id)
            .where(AttendanceEntry.record_id.in_(ids[i : i + 500]))
            .order_by(Person.number)
        ):
            entries[record_id].append((number, name, status))
    for record, poster_name in records:
        code, college = classes.get(record.class_id, ("", ""))
        base = [college, code, record.course, record.session]
        tail = [record.roster_size, poster_name or "", _local(record.posted_at, tz)]
        if not entries.get(record.id):
            sheet.append([*base, "", "", "全勤", *tail])
        for number, name, status in entries.get(record.id, []):
            sheet.append([*base, number, name, ATTENDANCE_ZH.get(status, status), *tail])
    return sheet.rows


def _subsidy_sheet(
    wb: Workbook,
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
