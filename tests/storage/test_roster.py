"""花名册 import: validation, all-or-nothing, re-import in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bot.clock import ManualClock
from storage import db, roster
from storage.models import Person, StaffAssignment


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
    assert [c.value for c in wb[roster.STUDENT_SHEET][1]] == roster.STUDENT_HEADERS
    assert [c.value for c in wb[roster.STAFF_SHEET][1]] == roster.STAFF_HEADERS
    data, errors = roster.read_roster(path)
    assert errors == [] and len(data.students) == 3 and len(data.staff) == 2


def test_template_imports_cleanly(database_url: str, tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "t.xlsx"
    roster.write_template(path)
    data, _ = roster.read_roster(path)
    engine = db.make_engine(database_url)
    with db.unit_of_work(db.make_sessionmaker(engine)) as s:
        summary = roster.import_roster(s, data, clock.now())
    engine.dispose()
    assert summary.created == 5 and summary.classes == 2


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


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_text("not excel")
    _, errors = roster.read_roster(path)
    assert errors and "xlsx" in errors[0].message
