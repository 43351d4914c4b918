"""The classbot command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from openpyxl import Workbook

from storage import roster


def classbot(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_writes_the_config_and_creates_the_database(tmp_path: Path) -> None:
    result = classbot(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    assert (
        (tmp_path / "config.toml")
        .read_text(encoding="utf-8")
        .startswith("# classbot configuration")
    )
    assert (tmp_path / "classbot.db").exists()
    again = classbot(tmp_path, "init")
    assert again.returncode == 0 and "keeping it" in again.stdout


def test_bad_config_stops_the_bot_with_key_and_reason(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[schedule]\nrollup = "noon"\n', encoding="utf-8")
    result = classbot(tmp_path, "run", "--platform", "console")
    assert result.returncode == 2
    assert "schedule.rollup" in result.stderr


def test_roster_import_with_errors_reports_rows_and_imports_nothing(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    ws.append(["2020001", "李四", "医学院", "护理172", "学生"])
    wb.save(tmp_path / "r.xlsx")
    result = classbot(tmp_path, "roster", "import", "r.xlsx")
    assert result.returncode == 1
    assert "学生 第 3 行「学号」" in result.stderr and "未导入任何数据" in result.stderr
    ok = classbot(tmp_path, "roster", "template", "t.xlsx")
    assert ok.returncode == 0
    imported = classbot(tmp_path, "roster", "import", "t.xlsx")
    assert imported.returncode == 0 and "新建 0 人" in imported.stdout
    assert "跳过模板示例行 5 行" in imported.stdout


def write_roster(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    ws.append(["2020002", "李四", "医学院", "护理172", "班长"])
    staff = wb.create_sheet(roster.STAFF_SHEET)
    staff.append(roster.STAFF_HEADERS)
    staff.append(["T001", "王老师", "辅导员", "", "护理172"])
    wb.save(path)


def test_invite_prints_a_one_time_code_and_both_are_audited(tmp_path: Path) -> None:
    classbot(tmp_path, "db", "upgrade")
    write_roster(tmp_path / "r.xlsx")
    imported = classbot(tmp_path, "roster", "import", "r.xlsx")
    assert imported.returncode == 0 and "新建 3 人" in imported.stdout, imported.stderr
    result = classbot(tmp_path, "invite", "--person", "2020001")
    assert result.returncode == 0
    code = result.stdout.split()[0]
    assert len(code) == 8 and f"绑定 2020001 张三 {code}" in result.stdout
    assert "72 小时内有效" in result.stdout
    missing = classbot(tmp_path, "invite", "--person", "9999999")
    assert missing.returncode == 1
    log = classbot(tmp_path, "audit", "--since", "2000-01-01")
    lines = log.stdout.splitlines()
    assert any("roster_import  file:r.xlsx" in line and '"created": 3' in line for line in lines)
    assert any("invite  person:2020001" in line for line in lines)


def test_roster_import_prints_the_change_report_and_retires_missing(tmp_path: Path) -> None:
    classbot(tmp_path, "db", "upgrade")
    write_roster(tmp_path / "r.xlsx")
    classbot(tmp_path, "roster", "import", "r.xlsx")
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    wb.save(tmp_path / "r2.xlsx")
    report = classbot(tmp_path, "roster", "import", "r2.xlsx")
    assert report.returncode == 0
    assert "无变化 1" in report.stdout and "李四（2020002）" in report.stdout
    assert "--retire-missing" in report.stdout
    retired = classbot(tmp_path, "roster", "import", "r2.xlsx", "--retire-missing")
    assert "已停用（离校/休学或不在表中） 1 人：李四（2020002）（不在表中）" in retired.stdout
