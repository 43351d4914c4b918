"""汇总, 未打卡, 导出 in the asker's scope, and the command-line export."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from storage.models import AuditEntry
from tests.conftest import clear_example_marks


async def test_report_gives_the_counselor_their_classes_privately(bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 36.5", group="护理172")
    sent = await bot.say("T001", "汇总", group="护理172")
    [group] = [s for s in sent if s.to.is_group]
    [private] = [s for s in sent if not s.to.is_group]
    assert group.text == "已私信发给你。"
    assert "护理172：应打卡 30，已打卡 1" in private.text and "检验172" in private.text


async def test_report_for_a_date(bot: TestAdapter) -> None:
    [reply] = await bot.say("T003", "汇总 11-22")
    assert "2026-11-22" in reply.text and "待审批补助" in reply.text


async def test_report_with_a_bad_date_shows_the_form(bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "汇总 昨儿个")
    assert "日期看不懂" in reply.text and "格式：汇总 [日期]" in reply.text


async def test_school_admin_report_is_by_college(bot: TestAdapter) -> None:
    [reply] = await bot.say("T009", "/report")
    assert "医学院（2 个班）" in reply.text


async def test_monitor_sees_only_their_class_missing(bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 36.5", group="护理172")
    [reply] = await bot.say("2020002", "未打卡", group="护理172")
    assert "护理172：未打卡 29 人" in reply.text and "检验172" not in reply.text
    assert "张晓明" not in reply.text


async def test_student_may_not_ask_for_reports(bot: TestAdapter) -> None:
    for text in ("汇总", "未打卡", "导出"):
        [reply] = await bot.say("2020001", text)
        assert "没有权限" in reply.text


async def test_export_sends_the_ledger_privately_and_audits_it(app: App, bot: TestAdapter) -> None:
    sent = await bot.say("T001", "导出", group="护理172")
    [private] = [s for s in sent if not s.to.is_group]
    assert private.message.attachment is not None
    assert private.message.attachment.filename == "台账-王芳-2026-11-23.xlsx"
    load_workbook(BytesIO(private.message.attachment.content))
    with app.uow(readonly=True) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
    assert entry is not None and entry.detail is not None
    assert (
        entry.detail["date"] == "2026-11-23"
        and entry.detail["rows"] == 120
        and len(entry.detail["sha256"]) == 64
    )


def test_cli_export_writes_the_same_ledger(tmp_path: Path) -> None:
    dbfile = tmp_path / "c.db"
    env = {"CLASSBOT_DATABASE__URL": f"sqlite:///{dbfile}", "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "bot"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    template = tmp_path / "roster.xlsx"
    subprocess.run(
        [*run, "roster", "template", str(template)],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    clear_example_marks(template)
    subprocess.run(
        [*run, "roster", "import", str(template)],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    out = tmp_path / "ledger.xlsx"
    day = date(2026, 11, 23).isoformat()
    result = subprocess.run(
        [*run, "export", "--date", day, "--class", "护理172", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    wb = load_workbook(out)
    assert [r[2].value for r in wb["打卡"].iter_rows(min_row=2)] == ["2020001", "2020002"]
    bad = subprocess.run(
        [*run, "export", "--date", day, "--class", "无此班", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode != 0 and "无此班" in bad.stderr
