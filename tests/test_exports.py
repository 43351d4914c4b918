"""Exports: hostile text in every sheet of the ledger is never a formula, and control characters
and over-long text do not break the file. Every export path is audited with its hash."""

from __future__ import annotations

import hashlib
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.adapters.testing import TestAdapter
from bot.app import App
from storage import ledger
from storage.identity import actor_for_number
from storage.leave import LEAVE
from storage.models import (
    AttendanceEntry,
    AttendanceRecord,
    AuditEntry,
    Person,
)
from storage.subsidy import SUBSIDY
from tests.handlers.people import add_event, add_request

# Formula starts (ASCII and full-width), DDE payloads, and text Excel cannot hold.
HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://evil.example","点我")',
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(A1)",
    "＝1+1",
    "＋1",
    "－1",
    "＠A1",
    "=cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    # (No NUL: PostgreSQL cannot store it, and the router drops it before anything is stored.)
    "a\x01b\x07c\x1b[0m",
]


def seed_hostile_day(app: App) -> None:
    """Every text column of every sheet holds hostile text on the same day."""
    now = app.clock.now()
    day = now.astimezone(app.config.tz).date()
    with app.uow() as s:
        s.execute(update(Person).where(Person.number == "2020005").values(name="=1+1 张"))
        s.execute(update(Person).where(Person.number == "2020006").values(name="a\x01b"))
        student = actor_for_number(s, "2020001")
        assert student.class_id is not None
        for i, text in enumerate(HOSTILE):
            leave = add_request(
                s,
                LEAVE,
                student_id=student.person_id,
                class_id=student.class_id,
                payload={"type": "sick", "reason": text + ("长" * 40_000 if i == 0 else "")},
                starts_on=day,
                ends_on=day,
                status="pending",
                created_at=now,
            )
            add_event(s, leave, "reject", now, note=text)
            add_event(s, leave, "followup", now, note=text)
        subsidy_student = actor_for_number(s, "2020007")
        assert subsidy_student.class_id is not None
        application = add_request(
            s,
            SUBSIDY,
            student_id=subsidy_student.person_id,
            class_id=subsidy_student.class_id,
            payload={"amount_cents": 100, "reason": "=1+1" + "字" * 40_000},
            status="pending_counselor",
            created_at=now,
        )
        add_event(s, application, "reject", now, note="＠A1")
        record = AttendanceRecord(
            class_id=student.class_id,
            course='=WEBSERVICE("http://x")',
            day=day,
            session="＋1",
            posted_at=now,
            roster_size=30,
        )
        s.add(record)
        s.flush()
        s.add(AttendanceEntry(record_id=record.id, student_id=student.person_id, status="absent"))


def assert_no_formula(content: bytes) -> dict[str, int]:
    """Opens every sheet; returns data rows per sheet."""
    wb = load_workbook(BytesIO(content))
    rows: dict[str, int] = {}
    for ws in wb.worksheets:
        rows[ws.title] = ws.max_row - 1
        for row in ws.iter_rows():
            for cell in row:
                where = f"{ws.title}!{cell.coordinate}"
                assert cell.data_type != "f", f"{where} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    assert len(cell.value) <= ledger.XLSX_MAX_CELL, where
                    if cell.value.startswith(("=", "+", "-", "@", "＝", "＋", "－", "＠")):
                        assert cell.quotePrefix, f"{where} would be read as a formula"
    return rows


async def test_hostile_text_in_every_sheet_is_never_a_formula(app: App, bot: TestAdapter) -> None:
    for i, text in enumerate(HOSTILE[:8]):
        number = f"{2020010 + i}"
        await bot.say(number, f"打卡 37.5 咳嗽 @{text} {text}")
    seed_hostile_day(app)
    await bot.say("2020001", f"反映 {HOSTILE[0]}")
    await bot.say("T001", f"办结 Q1 {HOSTILE[1]}")
    day = app.clock.now().astimezone(app.config.tz).date()
    with app.uow(readonly=True) as s:
        book = ledger.build(s, day, ledger.SCHOOL, app.config.tz)
    rows = assert_no_formula(book.content)
    assert set(rows) == {"打卡", "未打卡", "异常", "请假", "考勤", "补助", "诉求", "统计图"}
    assert all(n > 0 for n in rows.values()), rows


@pytest.mark.parametrize("where", ["group", "private"])
async def test_export_command_audits_scope_date_rows_and_the_files_hash(
    app: App, bot: TestAdapter, where: str
) -> None:
    seed_hostile_day(app)
    sent = await bot.say("T003", "导出", group="护理172" if where == "group" else None)
    [file] = [s for s in sent if s.message.attachment is not None]
    assert file.to.chat_id == "T003" and not file.to.is_group
    assert file.message.attachment is not None
    content = file.message.attachment.content
    assert_no_formula(content)
    with app.uow(readonly=True) as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "export"))
    assert entry.actor == "T003 赵敏" and entry.target == "ledger:医学院"
    assert entry.detail is not None
    assert entry.detail["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry.detail["date"] == "2026-11-23" and entry.detail["rows"] > 0
    # The log names the file, never its contents.
    assert "=1+1" not in str(entry.detail) and "张晓明" not in str(entry.detail)


async def test_report_command_is_audited(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "汇总 11-22")
    with app.uow(readonly=True) as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "report"))
    assert entry.actor == "T001 王芳"
    assert entry.detail is not None and entry.detail["date"] == "2026-11-22"
