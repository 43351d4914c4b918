"""花名册 import: validation, all-or-nothing, re-import in place."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, text

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage import db, demo, roster
from storage.models import Person, SchoolClass, StaffAssignment
from tests.conftest import pg_only

CJK = re.compile(r"[\u4e00-\u9fff]")


def write(path: Path, students: list[list[object]], staff: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    for r in students:
        ws.append(r)
    st = wb.create_sheet(roster.STAFF_SHEET)
    st.append(roster.STAFF_HEADERS)
    for r in staff:
        st.append(r)
    wb.save(path)
    return path


def count_people(url: str) -> int:
    engine = db.make_engine(url)
    with db.unit_of_work(db.make_sessionmaker(engine)) as s:
        n = int(s.scalar(select(func.count()).select_from(Person)) or 0)
    engine.dispose()
    return n


def test_template_has_chinese_headers_and_an_example(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    roster.write_template(path)
    wb = load_workbook(path)
    assert [c.value for c in wb[roster.STUDENT_SHEET][1]] == [
        *roster.STUDENT_HEADERS,
        "状态",
        "示例",
    ]
    assert [c.value for c in wb[roster.STAFF_SHEET][1]] == [*roster.STAFF_HEADERS, "状态", "示例"]
    data, errors = roster.read_roster(path)
    assert errors == [] and data.students == [] and data.staff == []
    assert data.skipped_examples == 5
    assert wb["说明"]["A1"].value.startswith("「示例」列写了「是」的行是示例")


def test_the_templates_notes_follow_the_language_and_its_headers_stay(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    roster.write_template(path, "en")
    wb = load_workbook(path)
    assert wb.sheetnames == [roster.STUDENT_SHEET, roster.STAFF_SHEET, "Notes"]
    assert wb["Notes"]["A1"].value.startswith("Rows marked yes in the last column (examples)")
    # The headers are what the import reads back: a template written in English imports.
    data, errors = roster.read_roster(path)
    assert errors == [] and data.skipped_examples == 5


def test_the_templates_example_rows_are_never_imported(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "t.xlsx"
    roster.write_template(path)
    data, _ = roster.read_roster(path)
    engine = db.make_engine(database_url)
    with db.unit_of_work(db.make_sessionmaker(engine)) as s:
        summary = roster.import_roster(s, data, clock.now())
    engine.dispose()
    assert (summary.created, summary.classes, summary.skipped_examples) == (0, 0, 5)
    assert "跳过模板示例行 5 行" in "\n".join(summary.report())
    assert count_people(database_url) == 0


def test_import_with_errors_imports_nothing_and_reports_each_row(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    path = write(
        tmp_path / "bad.xlsx",
        students=[
            ["2020001", "张三", "医学院", "护理172", "学生"],
            ["", "无号", "医学院", "护理172", "学生"],
            ["2020001", "重复", "医学院", "护理172", "学生"],
            ["2020003", "王五", "医学院", "护理172", "校长"],
            ["2020004", "赵六", "", "无院班", "学生"],
        ],
        staff=[
            ["T001", "王老师", "辅导员", "", "护理172，不存在班"],
            ["T002", "李老师", "门卫", "", ""],
        ],
    )
    data, errors = roster.read_roster(path)
    assert errors == []
    engine = db.make_engine(database_url)
    with (
        pytest.raises(roster.RosterInvalid) as exc,
        db.unit_of_work(db.make_sessionmaker(engine)) as s,
    ):
        roster.import_roster(s, data, clock.now())
    engine.dispose()
    found = {(e.sheet, e.row, e.column) for e in exc.value.errors}
    assert found == {
        ("学生", 3, "学号"),
        ("学生", 4, "学号"),
        ("学生", 5, "角色"),
        ("学生", 6, "学院"),
        ("教职工", 2, "负责班级"),
        ("教职工", 3, "角色"),
    }
    assert "不存在班" in str(next(e for e in exc.value.errors if e.sheet == "教职工"))
    english = [e.in_language("en") for e in exc.value.errors]
    assert "学生, row 4, 「学号」: 学号 2020001 appears twice (already in 学生, row 2)" in english
    assert "教职工, row 2, 「负责班级」: Unknown class 「不存在班」" in english
    # Only the file's own words (sheets, columns, cells, the role table) stay Chinese.
    file_words = {w for e in exc.value.errors for w in (e.sheet, e.column)} | set(roster.ROLE_NAMES)
    for line in english:
        for word in sorted(
            file_words | {"不存在班", "校长", "门卫", "无院班", "心理委员"}, key=len
        )[::-1]:
            line = line.replace(word, "")
        assert CJK.search(line) is None, line
    assert count_people(database_url) == 0


def test_reimport_updates_people_in_place(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    engine = db.make_engine(database_url)
    sessions = db.make_sessionmaker(engine)
    first = write(
        tmp_path / "a.xlsx",
        students=[
            ["2020001", "张三", "医学院", "护理172", "学生"],
            [2020002, "李四", "医学院", "护理172", "班长"],
        ],
        staff=[["T001", "王老师", "辅导员", "", "护理172"]],
    )
    second = write(
        tmp_path / "b.xlsx",
        students=[
            ["2020001", "张三丰", "医学院", "护理172", "学生"],
            [2020002.0, "李四", "医学院", "检验172", "学生"],
        ],
        staff=[["T001", "王老师", "辅导员", "", "检验172"]],
    )
    for path in (first, second):
        data, errors = roster.read_roster(path)
        assert errors == []
        with db.unit_of_work(sessions) as s:
            roster.import_roster(s, data, clock.now())
    with db.unit_of_work(sessions) as s:
        people = {p.number: p for p in s.scalars(select(Person))}
        assert len(people) == 3
        assert people["2020001"].name == "张三丰"
        assert people["2020002"].role == "student"
        assert s.scalar(select(func.count()).select_from(StaffAssignment)) == 1
    engine.dispose()


def test_unreadable_file_is_reported_in_plain_chinese(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_text("not excel")
    _, errors = roster.read_roster(path)
    assert [str(e) for e in errors] == [
        "x.xlsx：打不开这个文件：它不是 Excel 的 .xlsx 文件。如果是 .xls 或 .csv，"
        "请在 Excel 里「另存为」.xlsx 后再导入"
    ]
    _, errors = roster.read_roster(tmp_path / "nowhere.xlsx")
    assert [e.message for e in errors] == ["找不到这个文件，请检查路径"]


def test_unreadable_file_is_reported_in_english_too(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_text("not excel")
    _, errors = roster.read_roster(path)
    assert [e.in_language("en") for e in errors] == [
        "x.xlsx: Cannot open this file: it is not an Excel .xlsx file. If it is .xls or .csv, "
        "use Save As .xlsx in Excel and import that"
    ]
    _, errors = roster.read_roster(tmp_path / "nowhere.xlsx")
    assert [e.in_language("en") for e in errors] == [
        "nowhere.xlsx: No such file, please check the path"
    ]


def run_import(url: str, path: Path, clock: ManualClock, **kw: object) -> roster.ImportSummary:
    data, errors = roster.read_roster(path)
    assert errors == []
    engine = db.make_engine(url)
    try:
        with db.unit_of_work(db.make_sessionmaker(engine)) as s:
            return roster.import_roster(s, data, clock.now(), **kw)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def people(url: str) -> dict[str, Person]:
    engine = db.make_engine(url)
    with db.unit_of_work(db.make_sessionmaker(engine)) as s:
        out = {p.number: p for p in s.scalars(select(Person))}
        s.expunge_all()
    engine.dispose()
    return out


def test_full_width_ids_and_names_are_normalised_so_students_can_bind(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    path = write(
        tmp_path / "r.xlsx",
        students=[
            ["２０２００１０１", " 张三 ", "医学院", "护理１７２", "学生"],
            ["2023010104.0", "李四", "医学院", "护理172", "学生"],
        ],
        staff=[["Ｔ００１", "王老师", "辅导员", "", "护理172"]],
    )
    run_import(database_url, path, clock)
    found = people(database_url)
    assert set(found) == {"20200101", "2023010104", "T001"}
    assert found["20200101"].name == "张三"
    assert found["20200101"].class_id == found["2023010104"].class_id


def test_an_18_digit_id_excel_rounded_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.xlsx",
        students=[[202301010412345678, "张三", "医学院", "护理172", "学生"]],
        staff=[],
    )
    # What Excel hands back for a long number: a float that lost its last digits.
    wb = load_workbook(path)
    wb[roster.STUDENT_SHEET]["A2"] = float(202301010412345678)
    wb.save(path)
    _, errors = roster.read_roster(path)
    [error] = errors
    assert (error.row, error.column) == (2, "学号")
    assert "Excel 把这个编号存成了数字" in error.message and "文本" in error.message


def test_a_title_row_above_the_header_is_found(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(["2026 级护理学院学生花名册"])
    ws.append([])
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    wb.save(tmp_path / "r.xlsx")
    data, errors = roster.read_roster(tmp_path / "r.xlsx")
    assert errors == [] and [(s.row, s.number) for s in data.students] == [(4, "2020001")]


def test_a_sheet_without_a_header_is_one_plain_error(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(["编号", "名字"])
    wb.save(tmp_path / "r.xlsx")
    _, errors = roster.read_roster(tmp_path / "r.xlsx")
    [error] = errors
    assert "找不到表头" in str(error) and "「学号」姓名」" not in str(error)


def test_class_committee_roles_and_the_psych_rep_flag_are_accepted(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    path = write(
        tmp_path / "r.xlsx",
        students=[
            ["2020001", "张三", "医学院", "护理172", "团支书"],
            ["2020002", "李四", "医学院", "护理172", "副班长"],
            ["2020003", "王五", "医学院", "护理172", "学委"],
            ["2020004", "赵六", "医学院", "护理172", "班长、心理委员"],
            ["2020005", "钱七", "医学院", "护理172", "心理委员"],
            ["2020006", "孙八", "医学院", "护理172", "校长"],
        ],
        staff=[["T001", "王老师", "辅导员", "", "护理172"]],
    )
    data, _ = roster.read_roster(path)
    engine = db.make_engine(database_url)
    with (
        pytest.raises(roster.RosterInvalid) as exc,
        db.unit_of_work(db.make_sessionmaker(engine)) as s,
    ):
        roster.import_roster(
            s,
            data,
            clock.now(),
            role_synonyms={"团支书": "student", "副班长": "monitor", "学委": "monitor"},
        )
    [error] = exc.value.errors
    assert error.row == 7 and "校长" in error.message and "团支书" in error.message
    data.students.pop()
    with db.unit_of_work(db.make_sessionmaker(engine)) as s:
        roster.import_roster(
            s,
            data,
            clock.now(),
            role_synonyms={"团支书": "student", "副班长": "monitor", "学委": "monitor"},
        )
    engine.dispose()
    found = people(database_url)
    assert [(found[n].role, found[n].psych_rep) for n in sorted(found) if n != "T001"] == [
        ("student", False),
        ("monitor", False),
        ("monitor", False),
        ("monitor", True),
        ("student", True),
    ]


def test_new_classes_without_a_counselor_and_one_student_classes_are_warned_about(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    path = write(
        tmp_path / "r.xlsx",
        students=[
            ["2020001", "张三", "医学院", "护理172", "学生"],
            ["2020002", "李四", "医学院", "护理172", "学生"],
            ["2020003", "王五", "医学院", "护里172", "学生"],
        ],
        staff=[["T001", "王老师", "辅导员", "", "护理172"]],
    )
    summary = run_import(database_url, path, clock)
    assert [w("zh") for w in summary.warnings] == [
        "新班级「护里172」没有辅导员：这个班的学生不会出现在任何辅导员的汇总里。"
        "如果是班级名写错了，请改正后重新导入；否则请在「教职工」表给它指定辅导员",
        "班级「护里172」在表中只有 1 名学生，请检查班级名是否写错",
    ]
    english = summary.report("en")
    assert "Note: New class 「护里172」 has no counselor: its students will be in no " in (
        "\n".join(english)
    )
    assert (
        "Note: Class 「护里172」 has a single student in the sheet: please check the class name"
        in (english)
    )


def test_reimport_reports_what_changed(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    first = write(
        tmp_path / "a.xlsx",
        students=[
            ["2020001", "张三", "医学院", "护理172", "学生"],
            ["2020002", "李四", "医学院", "护理172", "学生"],
            ["2020003", "王五", "医学院", "检验172", "学生"],
            ["2020004", "赵六", "医学院", "检验172", "学生"],
            ["2020005", "钱七", "医学院", "康复172", "学生"],
        ],
        staff=[["T001", "王老师", "辅导员", "", "护理172，检验172，康复172"]],
    )
    run_import(database_url, first, clock)
    second = write(
        tmp_path / "b.xlsx",
        students=[
            ["2020001", "张三", "医学院", "护理172", "学生"],
            ["2020002", "李四", "医学院", "检验172", "学生"],
            ["2020003", "王五", "医学院", "检验172", "班长"],
            ["2020006", "周八", "医学院", "护理172", "学生"],
        ],
        staff=[],
    )
    summary = run_import(database_url, second, clock)
    assert (summary.created, summary.unchanged) == (1, 1)
    assert summary.moved == ["李四（2020002） 护理172→检验172"]
    assert summary.changed == ["王五（2020003）（角色）"]
    # 康复172 is not in the sheet: 钱七 is not missing from it.
    assert summary.missing == ["赵六（2020004）"]
    assert people(database_url)["2020004"].active


async def test_retire_missing_and_the_status_column_deactivate_people_and_their_bindings(
    app: App, bot: TestAdapter, tmp_path: Path
) -> None:
    from storage.models import ChatAccount, CheckIn, Request, RequestEvent

    await bot.say("2020003", "打卡 36.5", group="护理172")
    await bot.say("2020005", "请假 明天 事假 回家")
    await bot.say("2020004", "补助 500 家庭困难")
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append([*roster.STUDENT_HEADERS, "状态"])
    with app.uow(readonly=True) as s:
        nursing = [
            (p.number, p.name, p.role, c.code)
            for p, c in s.execute(
                select(Person, SchoolClass)
                .join(SchoolClass, SchoolClass.id == Person.class_id)
                .where(SchoolClass.code == "护理172")
                .order_by(Person.number)
            )
        ]
    for number, name, role, code in nursing:
        if number in ("2020003", "2020004"):
            continue
        status = "休学" if number == "2020005" else "在读"
        ws.append(
            [number, name, "医学院", code, "班长" if role == "monitor" else "学生", "", status]
        )
    wb.save(app_path := tmp_path / "r.xlsx")
    data, errors = roster.read_roster(app_path)
    assert errors == []
    with app.uow() as s:
        summary = roster.import_roster(s, data, app.clock.now(), retire_missing=True)
    assert [r if isinstance(r, str) else r("zh") for r in summary.retired] == [
        "陈嘉怡（2020005）（休学）",
        f"{name_of(nursing, '2020003')}（2020003）（不在表中）",
        f"{name_of(nursing, '2020004')}（2020004）（不在表中）",
    ]
    assert f"{name_of(nursing, '2020003')} (2020003), not in the sheet" in " ".join(
        summary.report("en")
    )
    with app.uow(readonly=True) as s:
        gone = {
            p.number: p.active
            for p in s.scalars(
                select(Person).where(Person.number.in_(["2020003", "2020004", "2020005"]))
            )
        }
        accounts = set(s.scalars(select(ChatAccount.platform_user_id)))
        # History stays; what was open is closed as 离校.
        assert len(list(s.scalars(select(CheckIn)))) == 1
        closed = {r.kind: r.status for r in s.scalars(select(Request))}
        assert closed == {"leave": "cancelled", "subsidy": "cancelled"}
        notes = list(s.scalars(select(RequestEvent.note).where(RequestEvent.action == "retire")))
        assert notes == ["离校", "离校"]
    assert gone == {"2020003": False, "2020004": False, "2020005": False}
    assert not {"2020003", "2020004", "2020005"} & accounts
    [reply] = await bot.say("T001", "汇总")
    assert "护理172：应打卡 27" in reply.text
    [reply] = await bot.say("2020004", "打卡 36.5", group="护理172")
    assert "还没有绑定身份" in reply.text


def name_of(people: list[tuple[str, str, str, str]], number: str) -> str:
    return next(name for n, name, _, _ in people if n == number)


@pg_only
def test_an_import_leaves_the_planner_statistics_of_what_it_wrote(database_url: str) -> None:
    """The morning after an import, a class's count is read by its class index, whether or not
    autovacuum has come by (the CI server runs without it)."""
    engine = db.make_engine(database_url)
    try:
        with db.unit_of_work(db.make_sessionmaker(engine)) as s:
            roster.import_roster(s, demo.roster(), datetime(2026, 11, 23, tzinfo=UTC))
        with engine.connect() as conn:
            found: dict[str, float] = dict(
                conn.execute(
                    text(
                        "SELECT relname, reltuples FROM pg_class WHERE relname IN"
                        " ('people', 'classes', 'staff_assignments')"
                    )
                ).all()
            )
            people = conn.execute(text("SELECT count(*) FROM people")).scalar()
    finally:
        engine.dispose()
    assert found["people"] == people and found["classes"] == len(demo.CLASSES)
    assert found["staff_assignments"] > 0
