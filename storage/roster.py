"""花名册: the roster template, and an all-or-nothing import with a row-by-row error report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import College, Person, Role, SchoolClass, StaffAssignment

STUDENT_SHEET = "学生"
STAFF_SHEET = "教职工"
STUDENT_HEADERS = ["学号", "姓名", "学院", "班级", "角色", "手机"]
STAFF_HEADERS = ["工号", "姓名", "角色", "学院", "负责班级", "手机"]

ROLE_NAMES: dict[str, Role] = {
    "学生": Role.STUDENT,
    "班长": Role.MONITOR,
    "学习委员": Role.MONITOR,
    "辅导员": Role.COUNSELOR,
    "班主任": Role.HEAD_TEACHER,
    "学工办": Role.COLLEGE_ADMIN,
    "学工部": Role.SCHOOL_ADMIN,
    **{r.value: r for r in Role},
}
ROLE_LABELS = {
    Role.STUDENT: "学生",
    Role.MONITOR: "班长",
    Role.COUNSELOR: "辅导员",
    Role.HEAD_TEACHER: "班主任",
    Role.COLLEGE_ADMIN: "学工办",
    Role.SCHOOL_ADMIN: "学工部",
}


@dataclass(frozen=True)
class RowError:
    sheet: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.sheet} 第 {self.row} 行「{self.column}」：{self.message}"


class RosterInvalid(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


@dataclass(frozen=True)
class StudentRow:
    row: int
    number: str
    name: str
    college: str
    class_code: str
    role: str
    phone: str | None = None


@dataclass(frozen=True)
class StaffRow:
    row: int
    number: str
    name: str
    role: str
    college: str
    classes: tuple[str, ...]
    phone: str | None = None


@dataclass
class RosterData:
    students: list[StudentRow] = field(default_factory=list)
    staff: list[StaffRow] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    colleges: int
    classes: int


def first_imported_at(session: Session) -> datetime | None:
    """When the first person was put on the roster: before that, nothing was due to anyone."""
    return session.scalar(select(func.min(Person.created_at)))


def write_template(path: Path) -> None:
    """An .xlsx with both sheets, Chinese headers and an example row each."""
    wb = Workbook()
    ws = wb.active
    ws.title = STUDENT_SHEET
    ws.append(STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生", "13800000000"])
    ws.append(["2020002", "李四", "医学院", "护理172", "班长", ""])
    ws.append(["2020031", "王五", "医学院", "检验172", "学生", ""])
    staff = wb.create_sheet(STAFF_SHEET)
    staff.append(STAFF_HEADERS)
    staff.append(["T001", "王老师", "辅导员", "医学院", "护理172，检验172", ""])
    staff.append(["T003", "赵老师", "学工办", "医学院", "", ""])
    for sheet in (ws, staff):
        sheet.freeze_panes = "A2"
        for col in "ABCDEF":
            sheet.column_dimensions[col].width = 16
    notes = wb.create_sheet("说明")
    for line in (
        "角色：学生、班长、学习委员；辅导员、班主任、学工办（学院）、学工部（全校）。",
        "辅导员和班主任在「负责班级」填写班级，多个班级用逗号分隔。",
        "学工办填写「学院」；学工部两者都不填。",
        "重复导入会按学号/工号更新，不会重复建人。任何一行有错，整份名单都不会导入。",
    ):
        notes.append([line])
    wb.save(path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _rows(ws: Any, headers: list[str]) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    rows = ws.iter_rows(values_only=True)
    header = [_cell(v) for v in next(rows, ())]
    missing = [h for h in headers[:3] if h not in header]
    if missing:
        return [], [RowError(ws.title, 1, h, "缺少这一列") for h in missing]
    index = {h: header.index(h) for h in headers if h in header}
    out = []
    for n, values in enumerate(rows, start=2):
        cells = {h: _cell(values[i]) if i < len(values) else "" for h, i in index.items()}
        if any(cells.values()):
            out.append((n, cells))
    return out, []


def read_roster(path: Path) -> tuple[RosterData, list[RowError]]:
    """Read both sheets; errors here are about the file's shape, not its content."""
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        return RosterData(), [RowError(str(path), 0, "-", f"不是可读的 .xlsx 文件：{e}")]
    data = RosterData()
    errors: list[RowError] = []
    if STUDENT_SHEET not in wb.sheetnames and STAFF_SHEET not in wb.sheetnames:
        errors.append(
            RowError(str(path), 0, "-", f"找不到工作表「{STUDENT_SHEET}」或「{STAFF_SHEET}」")
        )
    if STUDENT_SHEET in wb.sheetnames:
        rows, errs = _rows(wb[STUDENT_SHEET], STUDENT_HEADERS)
        errors += errs
        for n, c in rows:
            data.students.append(
                StudentRow(
                    n,
                    c["学号"],
                    c["姓名"],
                    c["学院"],
                    c["班级"],
                    c.get("角色", ""),
                    c.get("手机") or None,
                )
            )
    if STAFF_SHEET in wb.sheetnames:
        rows, errs = _rows(wb[STAFF_SHEET], STAFF_HEADERS)
        errors += errs
        for n, c in rows:
            classes = tuple(
                x.strip()
                for x in c.get("负责班级", "").replace("，", ",").replace("、", ",").split(",")
                if x.strip()
            )
            data.staff.append(
                StaffRow(
                    n,
                    c["工号"],
                    c["姓名"],
                    c.get("角色", ""),
                    c.get("学院", ""),
                    classes,
                    c.get("手机") or None,
                )
            )
    wb.close()
    return data, errors


def validate(session: Session, data: RosterData) -> list[RowError]:
    """Every problem in the roster, with its sheet, row and column."""
    errors: list[RowError] = []
    seen: dict[str, tuple[str, int]] = {}
    class_college: dict[str, str] = {
        code: college
        for code, college in session.execute(
            select(SchoolClass.code, College.name).join(
                College, SchoolClass.college_id == College.id
            )
        )
    }
    file_classes: dict[str, str] = {}

    def check_number(sheet: str, row: int, column: str, number: str) -> None:
        if not number:
            errors.append(RowError(sheet, row, column, f"缺少{column}"))
        elif number in seen:
            other_sheet, other_row = seen[number]
            errors.append(
                RowError(
                    sheet,
                    row,
                    column,
                    f"{column} {number} 重复（{other_sheet} 第 {other_row} 行已有）",
                )
            )
        else:
            seen[number] = (sheet, row)

    for s in data.students:
        check_number(STUDENT_SHEET, s.row, "学号", s.number)
        if not s.name:
            errors.append(RowError(STUDENT_SHEET, s.row, "姓名", "缺少姓名"))
        role = ROLE_NAMES.get(s.role or "学生")
        if role is None or not role.is_student:
            errors.append(
                RowError(
                    STUDENT_SHEET,
                    s.row,
                    "角色",
                    f"未知的学生角色「{s.role}」（可用：学生、班长、学习委员）",
                )
            )
        if not s.class_code:
            errors.append(RowError(STUDENT_SHEET, s.row, "班级", "缺少班级"))
            continue
        if not s.college:
            errors.append(
                RowError(STUDENT_SHEET, s.row, "学院", f"班级 {s.class_code} 没有填写学院")
            )
            continue
        known = file_classes.get(s.class_code) or class_college.get(s.class_code)
        if known is not None and known != s.college:
            errors.append(
                RowError(
                    STUDENT_SHEET,
                    s.row,
                    "学院",
                    f"班级 {s.class_code} 属于 {known}，不是 {s.college}",
                )
            )
        file_classes.setdefault(s.class_code, s.college)

    all_classes = set(class_college) | set(file_classes)
    colleges = set(class_college.values()) | set(file_classes.values())
    for t in data.staff:
        check_number(STAFF_SHEET, t.row, "工号", t.number)
        if not t.name:
            errors.append(RowError(STAFF_SHEET, t.row, "姓名", "缺少姓名"))
        role = ROLE_NAMES.get(t.role)
        if role is None or role.is_student:
            errors.append(
                RowError(
                    STAFF_SHEET,
                    t.row,
                    "角色",
                    f"未知的教职工角色「{t.role}」（可用：辅导员、班主任、学工办、学工部）",
                )
            )
            continue
        if role in (Role.COUNSELOR, Role.HEAD_TEACHER):
            if not t.classes:
                errors.append(
                    RowError(STAFF_SHEET, t.row, "负责班级", "辅导员和班主任要填写负责班级")
                )
            for code in t.classes:
                if code not in all_classes:
                    errors.append(RowError(STAFF_SHEET, t.row, "负责班级", f"未知的班级「{code}」"))
        if role is Role.COLLEGE_ADMIN:
            if not t.college:
                errors.append(RowError(STAFF_SHEET, t.row, "学院", "学工办要填写学院"))
            elif t.college not in colleges:
                errors.append(RowError(STAFF_SHEET, t.row, "学院", f"未知的学院「{t.college}」"))
    return errors


def import_roster(session: Session, data: RosterData, now: datetime) -> ImportSummary:
    """Validate, then write everything; on any error nothing is written."""
    errors = validate(session, data)
    if errors:
        raise RosterInvalid(errors)
    return _apply(session, data, now)


def _apply(session: Session, data: RosterData, now: datetime) -> ImportSummary:
    colleges = {c.name: c for c in session.scalars(select(College))}
    classes = {c.code: c for c in session.scalars(select(SchoolClass))}
    new_colleges = new_classes = 0

    def college(name: str) -> College:
        nonlocal new_colleges
        if name not in colleges:
            colleges[name] = College(name=name)
            session.add(colleges[name])
            new_colleges += 1
        return colleges[name]

    for s in data.students:
        if s.class_code not in classes:
            classes[s.class_code] = SchoolClass(code=s.class_code, college=college(s.college))
            session.add(classes[s.class_code])
            new_classes += 1
    session.flush()

    numbers = [s.number for s in data.students] + [t.number for t in data.staff]
    existing = {p.number: p for p in _chunked_people(session, numbers)}
    created = updated = 0

    def upsert(number: str, **values: Any) -> Person:
        nonlocal created, updated
        person = existing.get(number)
        if person is None:
            person = Person(number=number, created_at=now, updated_at=now, **values)
            session.add(person)
            existing[number] = person
            created += 1
        else:
            for key, value in values.items():
                setattr(person, key, value)
            person.updated_at = now
            updated += 1
        return person

    for s in data.students:
        upsert(
            s.number,
            name=s.name,
            role=ROLE_NAMES[s.role or "学生"].value,
            class_id=classes[s.class_code].id,
            college_id=None,
            phone=s.phone,
            active=True,
        )
    staff_people = []
    for t in data.staff:
        role = ROLE_NAMES[t.role]
        person = upsert(
            t.number,
            name=t.name,
            role=role.value,
            class_id=None,
            college_id=colleges[t.college].id if role is Role.COLLEGE_ADMIN else None,
            phone=t.phone,
            active=True,
        )
        staff_people.append(
            (person, t.classes if role in (Role.COUNSELOR, Role.HEAD_TEACHER) else ())
        )
    session.flush()
    for person, codes in staff_people:
        session.execute(delete(StaffAssignment).where(StaffAssignment.person_id == person.id))
        session.add_all(
            StaffAssignment(person_id=person.id, class_id=classes[c].id)
            for c in dict.fromkeys(codes)
        )
    session.flush()
    return ImportSummary(created, updated, new_colleges, new_classes)


def _chunked_people(session: Session, numbers: Iterable[str]) -> list[Person]:
    numbers = list(numbers)
    out: list[Person] = []
    for i in range(0, len(numbers), 500):
        out.extend(session.scalars(select(Person).where(Person.number.in_(numbers[i : i + 500]))))
    return out
