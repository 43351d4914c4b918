"""`classbot collect template|create`, run as a user runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from storage import db, forms
from storage.models import Campaign, GroupChat, OutboxMessage, SchoolClass
from tests.bot.test_cli import classbot, write_roster


def _school(tmp_path: Path) -> str:
    """A database with the small roster and a bound group for 护理172; its URL."""
    classbot(tmp_path, "db", "upgrade")
    write_roster(tmp_path / "r.xlsx")
    imported = classbot(tmp_path, "roster", "import", "r.xlsx")
    assert imported.returncode == 0, imported.stderr
    url = f"sqlite:///{tmp_path / 'classbot.db'}"
    engine = db.make_engine(url)
    with db.unit_of_work(db.make_sessionmaker(engine)) as s:
        class_id = s.scalars(select(SchoolClass.id).where(SchoolClass.code == "护理172")).one()
        s.add(
            GroupChat(
                platform="console", chat_id="护理172", class_id=class_id, bound_at=datetime.now(UTC)
            )
        )
    engine.dispose()
    return url


def test_collect_template_writes_the_blank_form_sheet(tmp_path: Path) -> None:
    result = classbot(tmp_path, "collect", "template", "form.xlsx")
    assert result.returncode == 0, result.stderr
    assert "已写出空白表单：form.xlsx" in result.stdout
    ws = load_workbook(tmp_path / "form.xlsx")[forms.FORM_SHEET]
    assert [c.value for c in ws[1]][:5] == ["题目", "类型", "选项", "必填", "敏感"]


def test_collect_create_from_a_shipped_template_queues_the_group_post(tmp_path: Path) -> None:
    url = _school(tmp_path)
    result = classbot(
        tmp_path,
        "collect",
        "create",
        "寒假离校返乡登记",
        "--scope",
        "护理172",
        "--deadline",
        "2099-01-10 18:00",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "已发起信息收集 C1「寒假离校返乡登记」：1 个班级群，2 位同学，截止 1月10日 18:00"
        in result.stdout
    )
    engine = db.make_engine(url)
    with db.unit_of_work(db.make_sessionmaker(engine), readonly=True) as s:
        c = s.scalars(select(Campaign)).one()
        assert (c.kind, c.title) == ("collection", "寒假离校返乡登记")
        [row] = s.scalars(select(OutboxMessage)).all()
        assert (row.platform, row.chat_id, row.is_group) == ("console", "护理172", True)
    engine.dispose()


def test_collect_create_from_a_file_with_a_title(tmp_path: Path) -> None:
    _school(tmp_path)
    (tmp_path / "t.toml").write_text(
        'title = "宿舍检查"\n[[fields]]\nlabel = "是否晚归"\ntype = "是否"\n', encoding="utf-8"
    )
    result = classbot(
        tmp_path,
        "collect",
        "create",
        "t.toml",
        "--scope",
        "医学院",
        "--deadline",
        "2099-01-10",
        "--title",
        "周五宿舍检查",
    )
    assert result.returncode == 0, result.stderr
    assert "C1「周五宿舍检查」" in result.stdout and "截止 1月10日 23:59" in result.stdout


def test_collect_create_errors_are_one_clear_line_and_create_nothing(tmp_path: Path) -> None:
    url = _school(tmp_path)
    (tmp_path / "bad.toml").write_text('title = "x"\n[[fields]]\nlabel = "a"\ntype = "颜色"\n')
    cases = [
        (["bad.toml"], "bad.toml 的「fields[1].type」：未知的类型「颜色」"),
        (["nothing.xlsx"], "nothing.xlsx：找不到这个文件"),
        (["春游"], "没有叫「春游」的模板"),
        (["寒假离校返乡登记", "--scope", "不存在"], "范围「不存在」不是班级代码"),
        (["寒假离校返乡登记", "--deadline", "明年"], "截止时间「明年」看不懂"),
        (["寒假离校返乡登记", "--deadline", "2000-01-01"], "已经过去了"),
    ]
    for args, expected in cases:
        full = ["collect", "create", *args]
        if "--scope" not in args:
            full += ["--scope", "护理172"]
        if "--deadline" not in args:
            full += ["--deadline", "2099-01-10"]
        result = classbot(tmp_path, *full)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    engine = db.make_engine(url)
    with db.unit_of_work(db.make_sessionmaker(engine), readonly=True) as s:
        assert s.scalars(select(Campaign)).all() == []
    engine.dispose()
