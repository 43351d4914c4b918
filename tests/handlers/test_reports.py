"""汇总, 未打卡, 导出 in the asker's scope, and the command-line export."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from storage.models import AuditEntry, Person
from tests.conftest import OTHER_CLASS, clear_example_marks, seed_other_college


async def test_report_gives_the_counselor_their_classes_privately(bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 36.5", group="护理172")
    sent = await bot.say("T001", "汇总", group="护理172")
    [group] = [s for s in sent if s.to.is_group]
    [private] = [s for s in sent if not s.to.is_group]
    assert group.text == "已私信发给你。"
    assert "护理172：应打卡 30，已打卡 1" in private.text and "检验172" in private.text


async def test_report_for_a_date(bot: TestAdapter) -> None:
    [reply] = await bot.say("T003", "汇总 11-22")
    assert "11月22日 打卡汇总" in reply.text and "待审批补助" in reply.text


async def test_report_with_a_bad_date_shows_the_form(bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "汇总 昨儿个")
    assert "「昨儿个」不是日期" in reply.text and "格式：汇总 [日期]" in reply.text


async def test_school_admin_report_is_by_college(bot: TestAdapter) -> None:
    [reply] = await bot.say("T009", "/report")
    assert "医学院（2 个班）" in reply.text


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


# -- class filters, phones, foreign groups -------------------------------------------------


def set_phone(app: App, number: str, phone: str) -> None:
    with app.uow() as s:
        person = s.scalar(select(Person).where(Person.number == number))
        assert person is not None
        person.phone = phone


async def test_missing_with_a_class_filter_lists_only_that_class_with_phones(
    app: App, bot: TestAdapter
) -> None:
    set_phone(app, "2020003", "13800000003")
    [reply] = await bot.say("T001", "未打卡 护理172")
    assert "护理172：未打卡 30 人" in reply.text and "检验172" not in reply.text
    assert "王雨桐(2020003，13800000003)" in reply.text


async def test_missing_without_a_filter_covers_every_class_of_the_counselor(
    bot: TestAdapter,
) -> None:
    [reply] = await bot.say("T001", "未打卡")
    assert "护理172：未打卡 30 人" in reply.text and "检验172：未打卡 30 人" in reply.text


async def test_report_and_export_take_a_class_filter_and_a_date_in_any_order(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("T001", "汇总 检验172 11-22")
    assert reply.text.startswith("📊 检验172 11月22日 打卡汇总")
    assert "检验172：应打卡 30" in reply.text and "护理172" not in reply.text
    [private] = await bot.say("T001", "导出 护理172")
    assert private.message.attachment is not None
    assert private.message.attachment.filename == "台账-护理172-2026-11-23.xlsx"
    wb = load_workbook(BytesIO(private.message.attachment.content))
    assert {r[1].value for r in wb["打卡"].iter_rows(min_row=2)} == {"护理172"}


async def test_a_college_name_filters_a_school_admin_report(app: App, bot: TestAdapter) -> None:
    seed_other_college(app)
    [reply] = await bot.say("T009", "汇总 药学院")
    assert f"{OTHER_CLASS}：应打卡 3" in reply.text and "护理172" not in reply.text


async def test_a_class_outside_the_scope_is_refused(app: App, bot: TestAdapter) -> None:
    seed_other_college(app)
    for text in (f"未打卡 {OTHER_CLASS}", f"汇总 {OTHER_CLASS}", f"导出 {OTHER_CLASS}"):
        [reply] = await bot.say("T001", text)
        assert reply.text == f"你无权处理班级 {OTHER_CLASS}。"
    [reply] = await bot.say("T001", "汇总 药学院")
    assert reply.text == "你无权处理学院 药学院。"


async def test_an_unknown_class_and_an_item_id_are_refused_with_the_form(
    bot: TestAdapter,
) -> None:
    [reply] = await bot.say("T001", "未打卡 护理999")
    assert "「护理999」不是日期，也不是班级或学院" in reply.text and "格式：未打卡" in reply.text
    [reply] = await bot.say("T001", "汇总 C3")
    assert "「汇总」不接编号（C3）" in reply.text


async def test_a_command_about_one_class_is_refused_in_another_class_group(
    app: App, bot: TestAdapter
) -> None:
    sent = await bot.say("T001", "未打卡 检验172", group="护理172")
    [reply] = sent
    assert reply.to.chat_id == "护理172"
    assert reply.text == (
        "本群是 护理172 的班级群，不在这里谈检验172。请私聊我发送：未打卡 检验172"
    )
    sent = await bot.say("T001", "汇总 护理172", group="护理172")
    assert [s.text for s in sent if s.to.is_group] == ["已私信发给你。"]


async def test_a_monitor_missing_in_the_group_shows_the_count_and_mentions_and_the_list_privately(
    bot: TestAdapter,
) -> None:
    await bot.say("2020001", "打卡 36.5", group="护理172")
    sent = await bot.say("2020002", "未打卡", group="护理172")
    [group] = [s for s in sent if s.to.is_group]
    [private] = [s for s in sent if not s.to.is_group]
    assert group.text.startswith("⏰ 11月23日 打卡，还有 29 位同学未打卡")
    assert "2020003" not in group.text and len(group.message.mentions) == 29
    assert "2020001" not in [m.user_id for m in group.message.mentions]
    assert private.to.chat_id == "2020002"
    assert "护理172：未打卡 29 人" in private.text and "王雨桐(2020003)" in private.text


async def test_a_monitor_never_sees_phones(app: App, bot: TestAdapter) -> None:
    set_phone(app, "2020003", "13800000003")
    [reply] = await bot.say("2020002", "未打卡")
    assert "王雨桐(2020003)" in reply.text and "13800000003" not in reply.text


async def test_a_monitor_of_another_class_posts_nothing_of_theirs_in_a_foreign_group(
    app: App, bot: TestAdapter
) -> None:
    seed_other_college(app)
    sent = await bot.say("2021002", "未打卡", group="护理172")
    [reply] = sent
    assert reply.to.chat_id == "护理172"
    assert reply.text.startswith("本群是 护理172 的班级群，不在这里谈你的班级。")
    assert OTHER_CLASS not in reply.text and "未打卡 " not in reply.text
    assert reply.message.mentions == ()


async def test_a_monitor_may_not_filter_another_class(bot: TestAdapter) -> None:
    [reply] = await bot.say("2020002", "未打卡 检验172")
    assert reply.text == "你无权处理班级 检验172。"


# -- charts on request -----------------------------------------------------------------------


async def test_report_chart_sends_the_counselor_a_png_of_the_trend(bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 37.8 咳嗽", group="护理172")
    sent = await bot.say("T001", "汇总 图")
    [text, chart] = sent
    assert "打卡汇总" in text.text and text.message.attachment is None
    assert chart.message.attachment is not None
    assert chart.message.attachment.mime_type == "image/png"
    assert chart.message.attachment.content.startswith(b"\x89PNG")
    assert chart.message.attachment.filename == "统计图-王芳-2026-11-23.png"


@pytest.mark.parametrize(
    ("verb", "starts"),
    [
        ("打卡汇总", "📊 11月23日 打卡汇总"),
        ("未打卡名单", "⏰ 11月23日 未打卡名单"),
        ("谁没打卡", "⏰"),
    ],
)
async def test_the_common_verbs_of_reports(bot: TestAdapter, verb: str, starts: str) -> None:
    [reply] = await bot.say("T001", verb)
    assert reply.text.startswith(starts)


async def test_export_ledger_verb(bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "导出台账 护理172")
    assert reply.message.attachment is not None
    assert reply.message.attachment.filename == "台账-护理172-2026-11-23.xlsx"
