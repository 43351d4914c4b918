"""花名册: the roster template, and an all-or-nothing import with a row-by-row error report."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from openpyxl import Workbook, load_workbook
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from bot.texts import Catalogue, PerLanguage, Phrase, Text
from storage import requests
from storage.db import analyze
from storage.models import (
    ChatAccount,
    College,
    Person,
    Role,
    SchoolClass,
    StaffAssignment,
)
from storage.workflows import WORKFLOWS


class RosterTexts(Catalogue):
    """The import's change report."""

    summary = Text(
        "新建 {created} 人，更新 {updated} 人"
        "（调班 {moved}，信息变更 {changed}，无变化 {unchanged}），"
        "新学院 {colleges}，新班级 {classes}",
        "{created} created, {updated} updated "
        "({moved} moved, {changed} changed, {unchanged} unchanged), "
        "{colleges} new colleges, {classes} new classes",
    )
    skipped_examples = Text(
        "跳过模板示例行 {count} 行（「示例」列有标记），未导入",
        "skipped {count} template example rows (marked in the example column), not imported",
    )
    moved = Text("调班", "Moved class")
    changed = Text("信息变更", "Details changed")
    retired = Text(
        "已停用（离校/休学或不在表中）", "Deactivated (left, suspended or not in the sheet)"
    )
    listed = Text("{title} {count} 人：{names}", "{title}, {count}: {names}")
    separator = Text("、", ", ")
    missing = Text(
        "表中没有、但数据库里仍在读的 {count} 人（只算表中出现的班级和学院）：{names}"
        "。如果他们已离校，请加 --retire-missing 重新导入，或在「状态」列写 离校/休学",
        "{count} active in the database but not in the sheet (in the classes and colleges it "
        "lists): {names}. If they have left, import again with --retire-missing, or mark "
        "them as left in the status column",
    )
    warning = Text("注意：{warning}", "Note: {warning}")


class RosterErrorTexts(Catalogue):
    """The import's row-by-row error report. Sheet names, column headers and the words a
    cell may hold are the file's own words and stay as the file has them."""

    whole_sheet = Text("{sheet}：{message}", "{sheet}: {message}")
    at_row = Text(
        "{sheet} 第 {row} 行「{column}」：{message}", "{sheet}, row {row}, 「{column}」: {message}"
    )
    no_header = Text(
        "前 {rows} 行里找不到表头：需要一行写着「{need}」（请用 classbot roster template 生成的模板）",
        "No header in the first {rows} rows: one row must read 「{need}」 (use the template "
        "classbot roster template makes)",
    )
    no_file = Text("找不到这个文件，请检查路径", "No such file, please check the path")
    not_xlsx = Text(
        "打不开这个文件：它不是 Excel 的 .xlsx 文件。如果是 .xls 或 .csv，请在 Excel 里「另存为」.xlsx 后再导入",
        "Cannot open this file: it is not an Excel .xlsx file. If it is .xls or .csv, use "
        "Save As .xlsx in Excel and import that",
    )
    no_sheet = Text(
        "找不到工作表「{students}」或「{staff}」（现有：{found}），请用模板里的工作表名",
        "No sheet 「{students}」 or 「{staff}」 (found: {found}); use the template's sheet names",
    )
    fraction = Text("不是有效的编号（带小数）", "Not a valid id (it has a fraction)")
    too_long = Text(
        "Excel 把这个编号存成了数字，超过 {digits} 位的部分已被改掉（现在是 {value}）。"
        "请把这一列设为「文本」格式，重新填写后再导入",
        "Excel stored this id as a number and changed its digits past the {digits}th (it is "
        "now {value}). Format the column as Text, type the ids again and import again",
    )
    unknown_status = Text(
        "未知的状态「{status}」（可用：{words}）", "Unknown status 「{status}」 (use: {words})"
    )
    missing = Text("缺少{column}", "「{column}」 is empty")
    duplicate = Text(
        "{column} {number} 重复（{sheet} 第 {row} 行已有）",
        "{column} {number} appears twice (already in {sheet}, row {row})",
    )
    unknown_student_role = Text(
        "未知的学生角色「{role}」（可用：{words}，可加 {extra}）",
        "Unknown student role 「{role}」 (use: {words}, and {extra} may be added)",
    )
    no_college = Text("班级 {code} 没有填写学院", "Class {code} has no college")
    other_college = Text(
        "班级 {code} 属于 {known}，不是 {college}", "Class {code} belongs to {known}, not {college}"
    )
    unknown_staff_role = Text(
        "未知的教职工角色「{role}」（可用：{words}）",
        "Unknown staff role 「{role}」 (use: {words})",
    )
    needs_classes = Text(
        "辅导员和班主任要填写负责班级",
        "A counselor or head teacher needs the classes they look after",
    )
    unknown_class = Text("未知的班级「{code}」", "Unknown class 「{code}」")
    needs_college = Text("学工办要填写学院", "A college office needs its college")
    unknown_college = Text("未知的学院「{college}」", "Unknown college 「{college}」")
    no_counselor = Text(
        "新班级「{code}」没有辅导员：这个班的学生不会出现在任何辅导员的汇总里。"
        "如果是班级名写错了，请改正后重新导入；否则请在「{staff}」表给它指定辅导员",
        "New class 「{code}」 has no counselor: its students will be in no counselor's "
        "roll-up. If the class name is a typo, correct it and import again; otherwise give it "
        "a counselor on the 「{staff}」 sheet",
    )
    one_student = Text(
        "班级「{code}」在表中只有 1 名学生，请检查班级名是否写错",
        "Class 「{code}」 has a single student in the sheet: please check the class name",
    )


def _words(words: Iterable[str]) -> PerLanguage:
    """Words from the file or the role table, listed with the reader's separator."""
    listed = list(words)
    return PerLanguage(lambda lang: RosterTexts.separator(lang).join(listed))


E = RosterErrorTexts


# The roster file's own words, which the import reads back: its sheets and its columns.
SHEETS = {"students": "学生", "staff": "教职工"}
COLUMNS = {
    "number": "学号",
    "staff_number": "工号",
    "name": "姓名",
    "college": "学院",
    "class": "班级",
    "role": "角色",
    "phone": "手机",
    "classes": "负责班级",
    "status": "状态",
    "example": "示例",
}
C = COLUMNS
STUDENT_SHEET = SHEETS["students"]
STAFF_SHEET = SHEETS["staff"]
STUDENT_HEADERS = [C[k] for k in ("number", "name", "college", "class", "role", "phone")]
STAFF_HEADERS = [C[k] for k in ("staff_number", "name", "role", "college", "classes", "phone")]

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
ROLE_WORDS = {"psych_rep": "心理委员"}
ROLE_LABELS = {
    Role.STUDENT: "学生",
    Role.MONITOR: "班长",
    Role.COUNSELOR: "辅导员",
    Role.HEAD_TEACHER: "班主任",
    Role.COLLEGE_ADMIN: "学工办",
    Role.SCHOOL_ADMIN: "学工部",
}


# The role word that makes a student their class's 心理委员, beside their role.
PSYCH_REP = ROLE_WORDS["psych_rep"]
# 状态: who is on the roster but no longer in school. Their history stays; they leave the
# counts, the reminders and their chat bindings.
STATUS_ACTIVE = ("在读", "在校", "")
STATUS_INACTIVE = ("离校", "休学", "退学", "毕业")
EXAMPLE_COLUMN = C["example"]
# Rows scanned for the header: a title row ("2026 级花名册") may sit above it.
HEADER_SEARCH_ROWS = 10
# Excel keeps 15 significant digits of a number: a longer 学号 stored as a number is lost.
EXCEL_DIGITS = 15


@dataclass(frozen=True)
class RowError:
    sheet: str
    row: int
    column: str
    problem: Phrase

    @property
    def message(self) -> str:
        """The problem in Chinese, the roster file's own language."""
        return self.problem("zh")

    def in_language(self, lang: str) -> str:
        """The error as the import report says it in `lang`."""
        if self.row == 0:
            return E.whole_sheet(lang, sheet=self.sheet, message=self.problem)
        return E.at_row(
            lang, sheet=self.sheet, row=self.row, column=self.column, message=self.problem
        )

    def __str__(self) -> str:
        return self.in_language("zh")


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
    status: str = ""


@dataclass(frozen=True)
class StaffRow:
    row: int
    number: str
    name: str
    role: str
    college: str
    classes: tuple[str, ...]
    phone: str | None = None
    status: str = ""


@dataclass
class RosterData:
    students: list[StudentRow] = field(default_factory=list)
    staff: list[StaffRow] = field(default_factory=list)
    # The template's example rows (示例 column), never imported.
    skipped_examples: int = 0


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    colleges: int
    classes: int
    moved: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Active in the database, in a class or college the sheet contains, not in the sheet.
    missing: list[str] = field(default_factory=list)
    # Deactivated: 状态 离校/休学, or missing with --retire-missing.
    retired: list[str | Phrase] = field(default_factory=list)
    skipped_examples: int = 0
    warnings: list[Phrase] = field(default_factory=list)

    def report(self, lang: str = "zh") -> list[str]:
        """The change report, one line each."""
        T = RosterTexts
        comma = T.separator(lang)
        lines = [
            T.summary(
                lang,
                created=self.created,
                updated=self.updated,
                moved=len(self.moved),
                changed=len(self.changed),
                unchanged=self.unchanged,
                colleges=self.colleges,
                classes=self.classes,
            )
        ]
        if self.skipped_examples:
            lines.append(T.skipped_examples(lang, count=self.skipped_examples))
        for title, items in (
            (T.moved, self.moved),
            (T.changed, self.changed),
            (T.retired, self.retired),
        ):
            if items:
                names = comma.join(i if isinstance(i, str) else i(lang) for i in items[:50])
                lines.append(T.listed(lang, title=title(lang), count=len(items), names=names))
        if self.missing:
            lines.append(
                T.missing(lang, count=len(self.missing), names=comma.join(self.missing[:50]))
            )
        lines += [T.warning(lang, warning=w) for w in self.warnings]
        return lines


def role_table(synonyms: Mapping[str, str] | None = None) -> dict[str, Role]:
    """Role names a roster may use: the built-in ones and the configured synonyms."""
    table = dict(ROLE_NAMES)
    for word, role in (synonyms or {}).items():
        table[_text(word)] = Role(role)
    return table


def parse_role(text: str, table: Mapping[str, Role]) -> tuple[Role | None, bool, str]:
    """(role, 心理委员, the unknown word) of a 角色 cell such as 班长、心理委员."""
    parts = [p for p in re.split(r"[、,，/／\s]+", text) if p]
    psych = PSYCH_REP in parts
    parts = [p for p in parts if p != PSYCH_REP]
    if not parts:
        return (Role.STUDENT if psych or not text else None), psych, ""
    roles = [table.get(p) for p in parts]
    unknown = next((p for p, r in zip(parts, roles, strict=True) if r is None), "")
    if unknown:
        return None, psych, unknown
    # 班长、团支书: the role that may do more wins.
    known = [r for r in roles if r is not None]
    return (Role.MONITOR if Role.MONITOR in known else known[0]), psych, ""


def first_imported_at(session: Session) -> datetime | None:
    """When the first person was put on the roster: before that, nothing was due to anyone."""
    return session.scalar(select(func.min(Person.created_at)))


# The blank template's example rows, marked in its 示例 column (the import skips them).
EXAMPLE_STUDENTS = (
    ("2020001", "张三", "医学院", "护理172", "学生", "13800000000", "在读", "是"),
    ("2020002", "李四", "医学院", "护理172", "班长、心理委员", "", "在读", "是"),
    ("2020031", "王五", "医学院", "检验172", "学生", "", "在读", "是"),
)
EXAMPLE_STAFF = (
    ("T001", "王老师", "辅导员", "医学院", "护理172，检验172", "", "在读", "是"),
    ("T003", "赵老师", "学工办", "医学院", "", "", "在读", "是"),
)


class RosterTemplateTexts(Catalogue):
    """The notes sheet of the blank roster template (its headers are the file's own words)."""

    sheet = Text("说明", "Notes")
    examples = Text(
        "「示例」列写了「是」的行是示例，导入时会跳过；填写真实名单时请删除示例行或清空这一列。",
        "Rows marked yes in the last column (examples) are skipped on import; delete them or "
        "clear that column when you fill in the real roster.",
    )
    ids = Text(
        "学号、工号请按文本填写（本模板的第一列已设为文本）；超过 15 位的数字会被 Excel 改掉。",
        "Enter student and staff numbers as text (the first column of this template is text "
        "already); Excel changes numbers of more than 15 digits.",
    )
    roles = Text(
        "角色：学生、班长、学习委员，以及团支书、副班长、学委等班委；心理委员写在角色里，"
        "如「班长、心理委员」。教职工：辅导员、班主任、学工办（学院）、学工部（全校）。",
        "Role: student, monitor, counselor, head_teacher, college_admin or school_admin, or "
        "the Chinese role words of the example rows; a class's mental-health rep adds the "
        "rep's role word to theirs, as the second example row does.",
    )
    classes = Text(
        "辅导员和班主任在「负责班级」填写班级，多个班级用逗号分隔。",
        "Counselors and head teachers list their classes in the classes column, separated by "
        "commas.",
    )
    colleges = Text(
        "学工办填写「学院」；学工部两者都不填。",
        "A college office fills in its college; the school office fills in neither.",
    )
    status = Text(
        "状态：在读（默认）、离校、休学。离校和休学的人不再计入人数和提醒，聊天账号解除绑定，历史记录保留。",
        "Status: in school (the default), left, suspended. Those who left or are suspended "
        "leave the counts and the reminders and lose their chat bindings; their history stays.",
    )
    again = Text(
        "重复导入会按学号/工号更新，不会重复建人。任何一行有错，整份名单都不会导入。",
        "Importing again updates people by their number and never creates anyone twice. If "
        "any row is wrong, nothing of the file is imported.",
    )
    not_in_sheet = Text("{name}（{number}）（不在表中）", "{name} ({number}), not in the sheet")


def write_template(path: Path, lang: str = "zh") -> None:
    """An .xlsx with both sheets, the file's headers and example rows marked in the 示例
    column (import skips them), and its notes in `lang`."""
    wb = Workbook()
    ws = wb.active
    ws.title = STUDENT_SHEET
    ws.append([*STUDENT_HEADERS, C["status"], EXAMPLE_COLUMN])
    for example in EXAMPLE_STUDENTS:
        ws.append(list(example))
    staff = wb.create_sheet(STAFF_SHEET)
    staff.append([*STAFF_HEADERS, C["status"], EXAMPLE_COLUMN])
    for example in EXAMPLE_STAFF:
        staff.append(list(example))
    for sheet in (ws, staff):
        sheet.freeze_panes = "A2"
        for col in "ABCDEFGH":
            sheet.column_dimensions[col].width = 16
        # 学号 and 工号 as text, so Excel never turns a long id into a rounded number.
        for row in sheet.iter_rows(min_row=1, max_row=2000, min_col=1, max_col=1):
            row[0].number_format = "@"
    N = RosterTemplateTexts
    notes = wb.create_sheet(N.sheet(lang))
    for line in (N.examples, N.ids, N.roles, N.classes, N.colleges, N.status, N.again):
        notes.append([line(lang)])
    wb.save(path)


def _text(value: Any) -> str:
    """A cell as text: NFKC (full-width digits and letters to ASCII), trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _id(value: Any) -> tuple[str, Phrase | None]:
    """A 学号 or 工号 cell: (the id, or the reason it cannot be used)."""
    if isinstance(value, float):
        if not value.is_integer():
            return "", E.fraction.bind()
        if abs(value) >= 10**EXCEL_DIGITS:
            return "", E.too_long.bind(digits=EXCEL_DIGITS, value=int(value))
    text = "".join(_text(value).split())
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text, None


def _find_header(ws: Any, headers: list[str]) -> tuple[int, list[str]] | None:
    for n, values in enumerate(ws.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True), 1):
        header = [_text(v) for v in values]
        if all(h in header for h in headers[:3]):
            return n, header
    return None


@dataclass
class _Tally:
    """What reading one sheet found besides its rows."""

    errors: list[RowError] = field(default_factory=list)
    skipped: int = 0


def _rows(
    ws: Any, headers: list[str], id_column: str, tally: _Tally
) -> Iterator[tuple[int, dict[str, str]]]:
    """The data rows of one sheet, one at a time as openpyxl streams them (a roster of the
    whole school is never held as cells); shape and cell errors and skipped example rows
    go to `tally`."""
    found = _find_header(ws, headers)
    if found is None:
        need = "」「".join(headers[:3])
        tally.errors.append(
            RowError(
                ws.title,
                0,
                "-",
                E.no_header.bind(rows=HEADER_SEARCH_ROWS, need=need),
            )
        )
        return
    header_row, header = found
    wanted = [*headers, C["status"], EXAMPLE_COLUMN]
    index = [(h, header.index(h)) for h in wanted if h in header]
    for n, values in enumerate(
        ws.iter_rows(min_row=header_row + 1, values_only=True), header_row + 1
    ):
        raw = {h: values[i] if i < len(values) else None for h, i in index}
        cells = {h: _text(v) for h, v in raw.items()}
        if not any(cells.values()):
            continue
        if cells.get(EXAMPLE_COLUMN):
            tally.skipped += 1
            continue
        number, problem = _id(raw.get(id_column))
        if problem is not None:
            tally.errors.append(RowError(ws.title, n, id_column, problem))
        cells[id_column] = number
        yield n, cells


def read_roster(path: Path) -> tuple[RosterData, list[RowError]]:
    """Read both sheets; errors here are about the file's shape and its cells' form."""
    name = path.name
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        return RosterData(), [RowError(name, 0, "-", E.no_file.bind())]
    except Exception:
        return RosterData(), [
            RowError(
                name,
                0,
                "-",
                E.not_xlsx.bind(),
            )
        ]
    data = RosterData()
    errors: list[RowError] = []
    if STUDENT_SHEET not in wb.sheetnames and STAFF_SHEET not in wb.sheetnames:
        errors.append(
            RowError(
                name,
                0,
                "-",
                E.no_sheet.bind(
                    students=STUDENT_SHEET, staff=STAFF_SHEET, found=_words(wb.sheetnames)
                ),
            )
        )
    tally = _Tally()
    if STUDENT_SHEET in wb.sheetnames:
        for n, c in _rows(wb[STUDENT_SHEET], STUDENT_HEADERS, C["number"], tally):
            data.students.append(
                StudentRow(
                    n,
                    c[C["number"]],
                    c[C["name"]],
                    c[C["college"]],
                    c[C["class"]],
                    c.get(C["role"], ""),
                    c.get(C["phone"]) or None,
                    c.get(C["status"], ""),
                )
            )
    if STAFF_SHEET in wb.sheetnames:
        for n, c in _rows(wb[STAFF_SHEET], STAFF_HEADERS, C["staff_number"], tally):
            classes = tuple(
                x.strip() for x in re.split(r"[,，、;；\s]+", c.get(C["classes"], "")) if x.strip()
            )
            data.staff.append(
                StaffRow(
                    n,
                    c[C["staff_number"]],
                    c[C["name"]],
                    c.get(C["role"], ""),
                    c.get(C["college"], ""),
                    classes,
                    c.get(C["phone"]) or None,
                    c.get(C["status"], ""),
                )
            )
    wb.close()
    errors += tally.errors
    data.skipped_examples += tally.skipped
    return data, errors


def _status_error(sheet: str, row: int, status: str) -> RowError | None:
    if status in STATUS_ACTIVE or status in STATUS_INACTIVE:
        return None
    return RowError(
        sheet,
        row,
        C["status"],
        E.unknown_status.bind(status=status, words=_words(STATUS_ACTIVE[:2] + STATUS_INACTIVE)),
    )


def validate(
    session: Session, data: RosterData, roles: Mapping[str, Role] | None = None
) -> list[RowError]:
    """Every problem in the roster, with its sheet, row and column."""
    roles = roles if roles is not None else ROLE_NAMES
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
    student_words = _words(w for w, r in roles.items() if r.is_student and not w.isascii())
    staff_words = _words(w for w, r in roles.items() if r.is_staff and not w.isascii())

    def check_number(sheet: str, row: int, column: str, number: str) -> None:
        if not number:
            errors.append(RowError(sheet, row, column, E.missing.bind(column=column)))
        elif number in seen:
            other_sheet, other_row = seen[number]
            errors.append(
                RowError(
                    sheet,
                    row,
                    column,
                    E.duplicate.bind(
                        column=column, number=number, sheet=other_sheet, row=other_row
                    ),
                )
            )
        else:
            seen[number] = (sheet, row)

    for s in data.students:
        check_number(STUDENT_SHEET, s.row, C["number"], s.number)
        if not s.name:
            errors.append(
                RowError(STUDENT_SHEET, s.row, C["name"], E.missing.bind(column=C["name"]))
            )
        if (e := _status_error(STUDENT_SHEET, s.row, s.status)) is not None:
            errors.append(e)
        role, _, unknown = parse_role(s.role, roles)
        if role is None or not role.is_student:
            errors.append(
                RowError(
                    STUDENT_SHEET,
                    s.row,
                    C["role"],
                    E.unknown_student_role.bind(
                        role=unknown or s.role, words=student_words, extra=PSYCH_REP
                    ),
                )
            )
        if not s.class_code:
            errors.append(
                RowError(STUDENT_SHEET, s.row, C["class"], E.missing.bind(column=C["class"]))
            )
            continue
        if not s.college:
            errors.append(
                RowError(STUDENT_SHEET, s.row, C["college"], E.no_college.bind(code=s.class_code))
            )
            continue
        known = file_classes.get(s.class_code) or class_college.get(s.class_code)
        if known is not None and known != s.college:
            errors.append(
                RowError(
                    STUDENT_SHEET,
                    s.row,
                    C["college"],
                    E.other_college.bind(code=s.class_code, known=known, college=s.college),
                )
            )
        file_classes.setdefault(s.class_code, s.college)

    all_classes = set(class_college) | set(file_classes)
    colleges = set(class_college.values()) | set(file_classes.values())
    for t in data.staff:
        check_number(STAFF_SHEET, t.row, C["staff_number"], t.number)
        if not t.name:
            errors.append(RowError(STAFF_SHEET, t.row, C["name"], E.missing.bind(column=C["name"])))
        if (e := _status_error(STAFF_SHEET, t.row, t.status)) is not None:
            errors.append(e)
        role, _, unknown = parse_role(t.role, roles) if t.role else (None, False, "")
        if role is None or role.is_student:
            errors.append(
                RowError(
                    STAFF_SHEET,
                    t.row,
                    C["role"],
                    E.unknown_staff_role.bind(role=unknown or t.role, words=staff_words),
                )
            )
            continue
        if role in (Role.COUNSELOR, Role.HEAD_TEACHER):
            if not t.classes:
                errors.append(RowError(STAFF_SHEET, t.row, C["classes"], E.needs_classes.bind()))
            for code in t.classes:
                if code not in all_classes:
                    errors.append(
                        RowError(STAFF_SHEET, t.row, C["classes"], E.unknown_class.bind(code=code))
                    )
        if role is Role.COLLEGE_ADMIN:
            if not t.college:
                errors.append(RowError(STAFF_SHEET, t.row, C["college"], E.needs_college.bind()))
            elif t.college not in colleges:
                errors.append(
                    RowError(
                        STAFF_SHEET, t.row, C["college"], E.unknown_college.bind(college=t.college)
                    )
                )
    return errors


def import_roster(
    session: Session,
    data: RosterData,
    now: datetime,
    *,
    role_synonyms: Mapping[str, str] | None = None,
    retire_missing: bool = False,
) -> ImportSummary:
    """Validate, then write everything; on any error nothing is written."""
    roles = role_table(role_synonyms)
    errors = validate(session, data, roles)
    if errors:
        raise RosterInvalid(errors)
    summary = _apply(session, data, now, roles, retire_missing)
    # The next morning's check-ins count each class's students on these tables.
    analyze(session, "colleges", "classes", "people", "staff_assignments")
    return summary


def _label(person: Person) -> str:
    return f"{person.name}（{person.number}）"


def _apply(
    session: Session,
    data: RosterData,
    now: datetime,
    roles: Mapping[str, Role],
    retire_missing: bool,
) -> ImportSummary:
    colleges = {c.name: c for c in session.scalars(select(College))}
    classes = {c.code: c for c in session.scalars(select(SchoolClass))}
    codes_by_id = {c.id: code for code, c in classes.items()}
    new_colleges = new_classes = 0
    created_classes: list[str] = []

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
            created_classes.append(s.class_code)
    session.flush()
    codes_by_id.update({c.id: code for code, c in classes.items()})

    numbers = [s.number for s in data.students] + [t.number for t in data.staff]
    existing = {p.number: p for p in _chunked_people(session, numbers)}
    created = updated = unchanged = 0
    moved: list[str] = []
    changed: list[str] = []
    retired: list[str | Phrase] = []

    def upsert(number: str, **values: Any) -> Person:
        nonlocal created, updated, unchanged
        person = existing.get(number)
        if person is None:
            person = Person(number=number, created_at=now, updated_at=now, **values)
            session.add(person)
            existing[number] = person
            created += 1
            return person
        diff = [k for k, v in values.items() if getattr(person, k) != v]
        if "class_id" in diff and person.class_id is not None and values["class_id"] is not None:
            moved.append(
                f"{_label(person)} {codes_by_id.get(person.class_id, '?')}→"
                f"{codes_by_id.get(values['class_id'], '?')}"
            )
        elif diff:
            changed.append(
                f"{_label(person)}（{'、'.join(_FIELD_LABELS.get(k, k) for k in diff)}）"
            )
        for key, value in values.items():
            setattr(person, key, value)
        if diff:
            person.updated_at = now
            updated += 1
        else:
            unchanged += 1
        return person

    # New students are written as plain rows, a chunk at a time: a first import of a whole
    # school would otherwise hold one ORM object per student until the commit.
    new_rows: list[dict[str, Any]] = []

    def write_new() -> None:
        if new_rows:
            session.execute(insert(cast(Table, Person.__table__)), new_rows)
            new_rows.clear()

    for s in data.students:
        role, psych, _ = parse_role(s.role, roles)
        assert role is not None
        values = {
            "name": s.name,
            "role": role.value,
            "class_id": classes[s.class_code].id,
            "college_id": None,
            "phone": s.phone,
            "psych_rep": psych,
            "active": s.status not in STATUS_INACTIVE,
        }
        if s.number in existing:
            label = _label(upsert(s.number, **values))
        else:
            new_rows.append({"number": s.number, "created_at": now, "updated_at": now, **values})
            created += 1
            if len(new_rows) >= _CHUNK:
                write_new()
            label = f"{s.name}（{s.number}）"
        if s.status in STATUS_INACTIVE:
            retired.append(f"{label}（{s.status}）")
    write_new()
    staff_people = []
    for t in data.staff:
        role, _, _ = parse_role(t.role, roles)
        assert role is not None
        person = upsert(
            t.number,
            name=t.name,
            role=role.value,
            class_id=None,
            college_id=colleges[t.college].id if role is Role.COLLEGE_ADMIN else None,
            phone=t.phone,
            psych_rep=False,
            active=t.status not in STATUS_INACTIVE,
        )
        if t.status in STATUS_INACTIVE:
            retired.append(f"{_label(person)}（{t.status}）")
        staff_people.append(
            (person, t.classes if role in (Role.COUNSELOR, Role.HEAD_TEACHER) else ())
        )
    session.flush()
    for person, codes in staff_people:
        before = set(
            session.scalars(
                select(StaffAssignment.class_id).where(StaffAssignment.person_id == person.id)
            )
        )
        after = {classes[c].id for c in codes}
        if before and before != after and _label(person) not in " ".join(changed):
            changed.append(f"{_label(person)}（{C['classes']}）")
        session.execute(delete(StaffAssignment).where(StaffAssignment.person_id == person.id))
        session.add_all(StaffAssignment(person_id=person.id, class_id=cid) for cid in after)
    session.flush()

    missing = _missing(session, data, classes, colleges)
    if retire_missing:
        for person in missing:
            person.active = False
            person.updated_at = now
            retired.append(
                RosterTemplateTexts.not_in_sheet.bind(name=person.name, number=person.number)
            )
    gone = [p.id for p in existing.values() if not p.active] + (
        [p.id for p in missing] if retire_missing else []
    )
    if gone:
        # Retired people keep their history, not their chat bindings; what they still had
        # open is closed as 离校, and stays readable.
        session.execute(delete(ChatAccount).where(ChatAccount.person_id.in_(gone)))
        _close_open_items(session, gone, now)
    session.flush()
    return ImportSummary(
        created,
        updated,
        new_colleges,
        new_classes,
        moved=moved,
        changed=changed,
        unchanged=unchanged,
        missing=[] if retire_missing else [_label(p) for p in missing],
        retired=retired,
        skipped_examples=data.skipped_examples,
        warnings=_warnings(session, data, created_classes, classes),
    )


# What a request still waiting when its student left is closed with: the status word.
RETIRED_NOTE = STATUS_INACTIVE[0]


def _close_open_items(session: Session, person_ids: list[int], now: datetime) -> None:
    """Close the requests of retired students still waiting for a decision."""
    requests.close_for_leavers(session, WORKFLOWS, person_ids, now=now, note=RETIRED_NOTE)


_FIELD_LABELS = {
    "name": "姓名",
    "role": "角色",
    "college_id": "学院",
    "phone": "手机",
    "psych_rep": "心理委员",
    "active": "状态",
    "class_id": "班级",
}


def _missing(
    session: Session,
    data: RosterData,
    classes: dict[str, SchoolClass],
    colleges: dict[str, College],
) -> list[Person]:
    """Active people not in the sheet, counting only the classes and colleges it contains: a
    counselor importing one class never retires another class."""
    listed = {s.number for s in data.students} | {t.number for t in data.staff}
    candidates: list[Person] = []
    # Students of the classes the student sheet lists: their numbers first, then only the
    # missing ones as objects (a whole school's students are not loaded to find a few).
    student_classes = {classes[s.class_code].id for s in data.students}
    if student_classes:
        unlisted = [
            pid
            for pid, number in session.execute(
                select(Person.id, Person.number).where(
                    Person.active.is_(True), Person.class_id.in_(student_classes)
                )
            )
            if number not in listed
        ]
        for i in range(0, len(unlisted), _CHUNK):
            candidates += session.scalars(
                select(Person).where(Person.id.in_(unlisted[i : i + _CHUNK]))
            )
    # Staff only when the sheet lists staff: class staff whose every class the staff sheet
    # names, and the college admins of the colleges it names.
    staff_classes = {classes[c].id for t in data.staff for c in t.classes if c in classes}
    if staff_classes:
        assigned: dict[int, set[int]] = {}
        for pid, cid in session.execute(
            select(StaffAssignment.person_id, StaffAssignment.class_id)
        ):
            assigned.setdefault(pid, set()).add(cid)
        staff_ids = [pid for pid, cids in assigned.items() if cids <= staff_classes]
        if staff_ids:
            candidates += session.scalars(
                select(Person).where(Person.active.is_(True), Person.id.in_(staff_ids))
            )
    college_ids = {colleges[t.college].id for t in data.staff if t.college in colleges}
    if college_ids:
        candidates += session.scalars(
            select(Person).where(
                Person.active.is_(True),
                Person.role == Role.COLLEGE_ADMIN.value,
                Person.college_id.in_(college_ids),
            )
        )
    out = {p.id: p for p in candidates if p.number not in listed}
    return sorted(out.values(), key=lambda p: p.number)


def _warnings(
    session: Session,
    data: RosterData,
    created_classes: list[str],
    classes: dict[str, SchoolClass],
) -> list[Phrase]:
    """New classes no counselor serves, and classes with a single student: often a typo."""
    out: list[Phrase] = []
    counseled = set(
        session.scalars(
            select(StaffAssignment.class_id)
            .join(Person, Person.id == StaffAssignment.person_id)
            .where(Person.role == Role.COUNSELOR.value, Person.active.is_(True))
        )
    )
    for code in created_classes:
        if classes[code].id not in counseled:
            out.append(E.no_counselor.bind(code=code, staff=STAFF_SHEET))
    sizes: dict[str, int] = {}
    for s in data.students:
        sizes[s.class_code] = sizes.get(s.class_code, 0) + 1
    for code, n in sorted(sizes.items()):
        if n == 1:
            out.append(E.one_student.bind(code=code))
    return out


_CHUNK = 500


def _chunked_people(session: Session, numbers: Iterable[str]) -> list[Person]:
    numbers = list(numbers)
    out: list[Person] = []
    for i in range(0, len(numbers), 500):
        out.extend(session.scalars(select(Person).where(Person.number.in_(numbers[i : i + 500]))))
    return out
