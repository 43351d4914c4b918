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
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from bot.dates import day_label
from bot.texts import Catalogue, Text
from storage import attendance, campaigns, charts, reports, requests, xlsx
from storage.campaigns import CampaignTexts
from storage.checkins import format_temp
from storage.models import CheckIn, CheckInRevision, College, Person, Request, SchoolClass
from storage.requests import LedgerRow, RequestKind
from storage.workflows import WORKFLOWS

XLSX_MAX_CELL = 32_767
# Characters Excel cannot store in a cell.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class LedgerTexts(Catalogue):
    """The ledger workbook's own words: sheet titles, headers, state labels, chart titles.
    What students and staff typed (names, classes, free text) stays as typed."""

    checkins_sheet = Text("打卡", "Check-ins")
    missing_sheet = Text("未打卡", "Missing")
    abnormal_sheet = Text("异常", "Abnormal")
    attendance_sheet = Text("考勤", "Attendance")
    chart_sheet = Text("统计图", "Charts")
    college = Text("学院", "College")
    class_ = Text("班级", "Class")
    number = Text("学号", "Student no.")
    name = Text("姓名", "Name")
    phone = Text("电话", "Phone")
    state = Text("状态", "State")
    checked_in_at = Text("打卡时间", "Checked in at")
    temperature = Text("体温(℃)", "Temperature (℃)")
    symptoms = Text("症状", "Symptoms")
    city = Text("城市", "City")
    note = Text("备注", "Note")
    late = Text("迟交", "Late")
    abnormal = Text("异常", "Abnormal")
    correction = Text("更正", "Correction")
    ref = Text("编号", "Id")
    course = Text("课程", "Course")
    period = Text("节次", "Period")
    situation = Text("情况", "Status")
    expected = Text("应到", "Expected")
    posted_by = Text("登记人", "Recorded by")
    posted_at = Text("登记时间", "Recorded at")
    done = Text("已打卡", "Checked in")
    due = Text("应打卡", "Due")
    rate = Text("完成率", "Completion")
    date = Text("日期", "Date")
    abnormal_count = Text("异常人数", "Abnormal")
    checked_in = Text("已打卡", "checked in")
    missing = Text("未打卡", "missing")
    on_leave = Text("请假", "on leave")
    no_symptoms = Text("无", "none")
    yes = Text("是", "yes")
    no = Text("否", "no")
    corrected = Text(
        "已更正：{time} 体温 {temp}，无症状", "Corrected: {time} temperature {temp}, no symptoms"
    )
    bars_by_college = Text("各学院打卡完成率", "Check-in completion by college")
    bars_by_class = Text("各班级打卡完成率", "Check-in completion by class")
    trend = Text("近 {days} 天完成率与异常人数", "Completion and abnormal, last {days} days")
    filename = Text("台账-{label}-{day}.xlsx", "ledger-{label}-{day}.xlsx")
    school = Text("全校", "school")


T = LedgerTexts
# A 未打卡 row of class_rows: the four names, the state and the phone (a 请假 row has no
# phone, a checked-in row has the reading's eight cells).
_MISSING_ROW = 6


@dataclass(frozen=True)
class LedgerScope:
    """Whose ledger: a label for the file name, the classes (None = the whole school)."""

    label: str
    class_ids: frozenset[int] | None
    # Sheets of restricted kinds (补助): college admins and above only.
    include_restricted: bool = False


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


def _yes(flag: bool, lang: str = "zh") -> str:
    return T.yes(lang) if flag else T.no(lang)


# One row of the 打卡 sheet; safe for a cell already (see safe_text).
Row = tuple[Any, ...]


def class_rows(
    session: Session,
    day: date,
    tz: ZoneInfo,
    class_ids: Collection[int] | None,
    lang: str = "zh",
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
    checked_in, missing, on_leave = T.checked_in(lang), T.missing(lang), T.on_leave(lang)
    no_symptoms = T.no_symptoms(lang)
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
                out[cid].append((*head, on_leave))
            else:
                # The phone rides along for the 未打卡 sheet only (see _build).
                out[cid].append((*head, missing, safe_text(phone) if phone else ""))
            continue
        out[cid].append(
            (
                *head,
                checked_in,
                _local(submitted_at, tz),
                float(format_temp(temp_tenths)),
                safe_text(symptoms) if symptoms else no_symptoms,
                safe_text(city) if city else "",
                safe_text(note) if note else "",
                _yes(late, lang),
                _yes(abnormal, lang),
            )
        )
    return out


def abnormal_readings(
    session: Session,
    day: date,
    tz: ZoneInfo,
    classes: dict[int, tuple[str, str]],
    lang: str = "zh",
) -> list[Row]:
    """Every abnormal reading of the day, with its time; one that a later normal reading
    replaced is marked 已更正 beside it, never dropped."""
    current = aliased(CheckIn)
    stmt = (
        select(
            current.class_id,
            Person.number,
            Person.name,
            CheckInRevision.submitted_at,
            CheckInRevision.temp_tenths,
            CheckInRevision.symptoms,
            CheckInRevision.city,
            CheckInRevision.note,
            current.abnormal,
            current.submitted_at,
            current.temp_tenths,
        )
        .select_from(current)
        .join(Person, Person.id == current.student_id)
        .join(
            CheckInRevision,
            and_(
                CheckInRevision.student_id == current.student_id,
                CheckInRevision.day == current.day,
                CheckInRevision.abnormal.is_(True),
            ),
        )
        .where(
            current.day == day,
            current.abnormal_today.is_(True),
            current.class_id.in_(list(classes)),
            Person.active.is_(True),
        )
        .order_by(current.class_id, Person.number, CheckInRevision.revision)
    )
    out: list[Row] = []
    for (
        cid,
        number,
        name,
        at,
        temp,
        symptoms,
        city,
        note,
        still_abnormal,
        last_at,
        last_temp,
    ) in session.execute(stmt):
        code, college = classes[cid]
        corrected = (
            ""
            if still_abnormal
            else T.corrected(
                lang, time=f"{last_at.astimezone(tz):%H:%M}", temp=format_temp(last_temp)
            )
        )
        out.append(
            (
                safe_text(college),
                safe_text(code),
                safe_text(number),
                safe_text(name),
                _local(at, tz),
                float(format_temp(temp)),
                safe_text(symptoms) if symptoms else T.no_symptoms(lang),
                safe_text(city) if city else "",
                safe_text(note) if note else "",
                corrected,
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
    lang: str = "zh",
) -> Ledger:
    """The ledger for one day and scope, its sheet titles, headers and labels in `lang`.

    `rows_by_class` (from class_rows, in the same language) may hold the 打卡 rows of a wider
    scope, read once for many ledgers; without it they are read here. `chart` is what the
    统计图 sheet shows, likewise computed here when not given.
    """
    wb = xlsx.Workbook()
    try:
        return _build(wb, session, day, scope, tz, rows_by_class, chart, lang)
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
    lang: str,
) -> Ledger:
    class_ids = scope.class_ids
    classes = {
        cid: (code, college) for cid, code, college in reports.classes_in_scope(session, class_ids)
    }
    if rows_by_class is None or not set(classes) <= set(rows_by_class):
        rows_by_class = class_rows(session, day, tz, class_ids, lang)
    rows = 0
    names = [T.college(lang), T.class_(lang), T.number(lang), T.name(lang)]

    # 打卡: every student in scope, checked in or not.
    checkin_sheet = _Sheet(
        wb,
        T.checkins_sheet(lang),
        [
            *names,
            T.state(lang),
            T.checked_in_at(lang),
            T.temperature(lang),
            T.symptoms(lang),
            T.city(lang),
            T.note(lang),
            T.late(lang),
            T.abnormal(lang),
        ],
        [12, 12, 12, 10, 8, 17, 9, 16, 10, 24, 6, 6],
    )
    missing_rows: list[Row] = []
    append = checkin_sheet.ws.append
    for cid in sorted(classes):
        for row in rows_by_class.get(cid, ()):
            if len(row) == _MISSING_ROW:
                append(row[:5])
                missing_rows.append((*row[:4], row[5]))
                continue
            append(row)
    rows += checkin_sheet.rows

    # Ledgers go to staff only: the phone is there for the counselor who calls the last few.
    sheet = _Sheet(wb, T.missing_sheet(lang), [*names, T.phone(lang)], [12, 12, 12, 10, 14])
    for r in missing_rows:
        sheet.append(r)
    rows += sheet.rows

    sheet = _Sheet(
        wb,
        T.abnormal_sheet(lang),
        [
            *names,
            T.checked_in_at(lang),
            T.temperature(lang),
            T.symptoms(lang),
            T.city(lang),
            T.note(lang),
            T.correction(lang),
        ],
        [12, 12, 12, 10, 17, 9, 16, 10, 24, 26],
    )
    for r in abnormal_readings(session, day, tz, classes, lang):
        sheet.append(r)
    rows += sheet.rows

    kinds = [k for k in WORKFLOWS if scope.include_restricted or not k.restricted]
    # The ordinary kinds' sheets (请假) come before 考勤, the restricted ones (补助) last.
    for kind in (k for k in kinds if not k.restricted):
        rows += _request_sheet(wb, session, kind, day, class_ids, classes, tz, lang)
    rows += _attendance_sheet(wb, session, day, class_ids, classes, tz, lang)
    for kind in (k for k in kinds if k.restricted):
        rows += _request_sheet(wb, session, kind, day, class_ids, classes, tz, lang)
    _chart_sheet(wb, chart or chart_for(session, day, scope), lang)

    content = wb.save()
    label = T.school(lang) if scope == SCHOOL else scope.label
    filename = T.filename(lang, label=label, day=f"{day:%Y-%m-%d}")
    return Ledger(filename, content, rows)


def _request_sheet(
    wb: xlsx.Workbook,
    session: Session,
    kind: RequestKind[Any],
    day: date,
    class_ids: Collection[int] | None,
    classes: dict[int, tuple[str, str]],
    tz: ZoneInfo,
    lang: str,
) -> int:
    """A kind's sheet: requests whose days cover `day`, still open, or submitted or changed
    that day."""
    declared = kind.ledger
    sheet = _Sheet(
        wb,
        requests.label_of(declared.title, lang),
        [
            T.ref(lang),
            T.college(lang),
            T.class_(lang),
            T.number(lang),
            T.name(lang),
            *(requests.label_of(c.header, lang) for c in declared.columns),
        ],
        [7, 12, 12, 12, 10, *(c.width for c in declared.columns)],
    )
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day, datetime.max.time(), tzinfo=tz)
    stmt = (
        select(Request, Person.number, Person.name)
        .join(Person, Person.id == Request.student_id)
        .where(
            Request.kind == kind.name,
            or_(
                and_(Request.starts_on <= day, Request.ends_on >= day),
                Request.status.in_(kind.open_states),
                and_(
                    Request.created_at <= end,
                    or_(Request.created_at >= start, Request.changed_at >= start),
                ),
            ),
        )
        .order_by(Request.number)
    )
    if class_ids is not None:
        stmt = stmt.where(Request.class_id.in_(list(class_ids)))
    found = list(session.execute(stmt))
    if not found:
        # Most classes have no request on most days: a counselor's ledger costs no more.
        return sheet.rows
    trail = requests.events(session, [r[0].id for r in found])
    actor_ids = {e.actor_id for es in trail.values() for e in es if e.actor_id is not None}
    names: dict[int, str] = {}
    ids = list(actor_ids)
    for i in range(0, len(ids), 500):
        chunk = select(Person.id, Person.name).where(Person.id.in_(ids[i : i + 500]))
        names.update({pid: name for pid, name in session.execute(chunk)})

    def to_local(value: datetime | None) -> datetime | None:
        return _local(value, tz)

    for request, number, name in found:
        code, college = classes.get(request.class_id, ("", ""))
        row = LedgerRow(
            request=request,
            payload=request.payload,
            student_number=number,
            student_name=name,
            class_code=code,
            college=college,
            events=[
                (e, names.get(e.actor_id) if e.actor_id is not None else None)
                for e in trail[request.id]
            ],
            kind=kind,
            lang=lang,
        )
        sheet.append(
            [
                kind.ref(request.number),
                college,
                code,
                number,
                name,
                *(c.value(row, to_local) for c in declared.columns),
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
    lang: str,
) -> int:
    sheet = _Sheet(
        wb,
        T.attendance_sheet(lang),
        [
            T.college(lang),
            T.class_(lang),
            T.course(lang),
            T.period(lang),
            T.number(lang),
            T.name(lang),
            T.situation(lang),
            T.expected(lang),
            T.posted_by(lang),
            T.posted_at(lang),
        ],
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
                attendance.status_label(row.status, lang),
                row.roster_size,
                row.posted_by or "",
                _local(row.posted_at, tz),
            ]
        )
    return sheet.rows


def _chart_sheet(wb: xlsx.Workbook, data: charts.ChartData, lang: str = "zh") -> None:
    """统计图: the charts' numbers, and native Excel charts drawn from them."""
    who = T.college(lang) if data.by_college else T.class_(lang)
    sheet = wb.add_sheet(
        T.chart_sheet(lang),
        [
            who,
            T.done(lang),
            T.due(lang),
            T.rate(lang),
            "",
            T.date(lang),
            T.rate(lang),
            T.abnormal_count(lang),
        ],
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
            row[5:] = [day_label(p.day, lang), xlsx.Percent(p.rate), p.abnormal]
        sheet.append(row)
    bar_rows = max(len(bars), 1) + 1
    bar_end = max(18, 4 + len(bars))
    sheet.add_chart(
        xlsx.Chart(
            T.bars_by_college(lang) if data.by_college else T.bars_by_class(lang),
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
            T.trend(lang, days=len(trend)),
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
    return LedgerScope(name, ids, include_restricted=True)


SCHOOL = LedgerScope("全校", None, include_restricted=True)


# -- a campaign's sheet ------------------------------------------------------------------


def _answer_cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return _yes(value)
    if isinstance(value, list | tuple):
        return safe_text("、".join(str(v) for v in value))
    if isinstance(value, int | float):
        return value
    return safe_text(str(value))


def campaign_book(
    session: Session,
    campaign: campaigns.Instance,
    key: str,
    tz: ZoneInfo,
    scope: LedgerScope,
    *,
    include_sensitive: bool = False,
    lang: str = "zh",
) -> Ledger:
    """A campaign's answers as one sheet: every student of the audience in scope, answered or
    not, one column per question. A sensitive answer is shown only with `include_sensitive`
    (whoever may read it); the text people typed is always a text cell, never a formula."""
    t = CampaignTexts
    fields = campaign.form.fields
    headers = [
        t.sheet_college(lang),
        t.sheet_class(lang),
        t.sheet_number(lang),
        t.sheet_name(lang),
        t.sheet_status(lang),
        t.sheet_time(lang),
        *((f.label_en if lang == "en" else f.label) for f in fields),
    ]
    widths = [14, 14, 14, 10, 8, 18, *(max(10, min(40, len(f.label) * 3)) for f in fields)]
    hidden = t.sheet_hidden(lang)
    title = campaign.kind.sheet_title(lang)
    wb = xlsx.Workbook()
    try:
        sheet = _Sheet(wb, title, headers, widths)
        rows = campaigns.sheet_rows(session, campaign, key, scope.class_ids)
        for r in rows:
            answered = r.answered_at is not None
            values: list[Any] = [
                r.college,
                r.class_code,
                r.number,
                r.name,
                t.sheet_done(lang) if answered else t.sheet_missing(lang),
                _local(r.answered_at, tz),
            ]
            for f in fields:
                value = r.answers.get(f.key)
                if f.sensitive and not include_sensitive and value is not None:
                    values.append(hidden)
                else:
                    values.append(_answer_cell(value))
            sheet.append(values)
        content = wb.save()
    finally:
        wb.close()
    filename = f"{campaign.ref}-{scope.label}.xlsx"
    return Ledger(filename, content, len(rows))
