"""With `language = "en"` the daily check-in's jobs speak English: the 07:00 prompt, the
11:00 deadline lists (read through the campaign engine's non-responders), the 12:00 roll-up,
its chart captions and its ledger workbook. Only what the roster and students typed stays
as typed; the same day in Chinese is unchanged."""

from __future__ import annotations

import re
from datetime import datetime, time
from io import BytesIO

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from schedules import daily
from storage import outbox
from storage.leave import LEAVE
from storage.models import College, Person, SchoolClass
from tests.conftest import START, TZ, make_config, start_app
from tests.handlers.people import add_request


def at(hh: int, mm: int = 0) -> datetime:
    return datetime.combine(START.date(), time(hh, mm), tzinfo=TZ)


async def test_the_prompt_and_the_deadline_lists_in_english(database_url: str) -> None:
    config = make_config(database_url, bot={"language": "en"})
    clock = ManualClock(START)
    app, bot = await start_app(config, clock)
    try:
        assert app.scheduler is not None
        clock.set(at(7))
        await app.scheduler.run_due()
        [prompt] = bot.to_chat("护理172", group=True)
        assert prompt.text.startswith(
            "🌅 The health check-in for 23 Nov is open: please check in before 11:00."
        )
        await bot.say("2020001", "/checkin 36.5", group="护理172")
        await bot.say("2020031", "/checkin 36.5", group="检验172")
        bot.clear()
        clock.set(at(11))
        await app.scheduler.run_due()
        [reminder] = bot.to_chat("护理172", group=True)
        assert reminder.text == (
            "⏰ The check-in for 23 Nov is closed: 29 have not checked in yet, "
            "please do it now (/checkin <temperature>):"
        )
        assert len(reminder.message.mentions) == 29
        assert "张晓明" not in {m.name for m in reminder.message.mentions}
        [to_counselor] = [s for s in bot.to_chat("T001", group=False) if "⏰" in s.text]
        lines = to_counselor.text.splitlines()
        assert lines[0] == "⏰ Not checked in on 23 Nov"
        assert "护理172: 29 not checked in" in lines
        assert "检验172: 29 not checked in" in lines
    finally:
        await app.stop()
        app.engine.dispose()


# -- the whole day in English ------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")


def roster_words(app: App) -> list[str]:
    """What the demo roster typed (names, class codes, colleges): data, kept as typed."""
    with app.uow(readonly=True) as s:
        words = [
            *s.scalars(select(Person.name)),
            *s.scalars(select(SchoolClass.code)),
            *s.scalars(select(College.name)),
        ]
    return sorted(words, key=len, reverse=True)


def without(text: str, words: list[str]) -> str:
    for word in words:
        text = text.replace(word, "")
    return text


def chinese_left(app: App, *texts: str) -> list[str]:
    words = roster_words(app)
    return [t for t in texts if CJK.search(without(t, words))]


def xlsx_of(sent: Sent) -> Workbook:
    assert sent.message.attachment is not None
    return load_workbook(BytesIO(sent.message.attachment.content))


def ledger_sent(bot: TestAdapter, user: str) -> Sent:
    [sent] = [
        s
        for s in bot.to_chat(user, group=False)
        if s.message.attachment is not None and s.message.attachment.filename.endswith(".xlsx")
    ]
    return sent


# Label cells (0-based columns) of the ledger's sheets: what the bot writes, not what was typed.
LABEL_COLUMNS = {
    "Check-ins": (4, 7, 10, 11),
    "Abnormal": (6, 9),
    "Leave": (5, 8),
    "Matters": (6,),
}


def ledger_chinese(book: Workbook) -> list[str]:
    found = []
    for ws in book.worksheets:
        if CJK.search(ws.title):
            found.append(f"title {ws.title}")
        rows = list(ws.iter_rows(values_only=True))
        found += [f"{ws.title} header {v}" for v in rows[0] if isinstance(v, str) and CJK.search(v)]
        for row in rows[1:]:
            for col in LABEL_COLUMNS.get(ws.title, ()):
                value = row[col] if col < len(row) else None
                if isinstance(value, str) and CJK.search(value):
                    found.append(f"{ws.title} cell {value}")
    return found


async def english_day(app: App, bot: TestAdapter, clock: ManualClock) -> dict[str, list[Sent]]:
    """07:00, 11:00 and 12:00 of one day, with a check-in, a fever and a sick leave."""
    assert app.scheduler is not None
    seen: dict[str, list[Sent]] = {}
    clock.set(at(7))
    await app.scheduler.run_due()
    seen["07:00"] = list(bot.sent)
    bot.clear()
    clock.set(at(8))
    await bot.say("2020001", "/checkin 36.5", group="护理172")
    await bot.say("2020003", "/checkin 38.2", group="护理172")
    await bot.say("2020003", "/checkin 36.6", group="护理172")
    with app.uow() as s:
        student = s.scalar(select(Person).where(Person.number == "2020005"))
        assert student is not None and student.class_id is not None
        add_request(
            s,
            LEAVE,
            student_id=student.id,
            class_id=student.class_id,
            payload={"type": "sick", "reason": "发烧就医"},
            starts_on=START.date(),
            ends_on=START.date(),
            status="approved",
            created_at=at(7, 30),
        )
    bot.clear()
    clock.set(at(11))
    await app.scheduler.run_due()
    seen["11:00"] = list(bot.sent)
    bot.clear()
    clock.set(at(12))
    await app.scheduler.run_due()
    seen["12:00"] = list(bot.sent)
    return seen


async def test_the_whole_day_speaks_english_but_for_the_roster(database_url: str) -> None:
    config = make_config(database_url, bot={"language": "en"})
    clock = ManualClock(START)
    app, bot = await start_app(config, clock)
    try:
        seen = await english_day(app, bot, clock)
        for when, sent in seen.items():
            assert sent, when
            assert chinese_left(app, *(s.text for s in sent)) == [], when
        noon = seen["12:00"]
        [counselor] = [s for s in noon if s.to.chat_id == "T001" and "📊" in s.text]
        assert counselor.text.startswith("📊 Check-ins, 23 Nov (")
        [school] = [s for s in noon if s.to.chat_id == "T009" and "📊" in s.text]
        assert school.text.startswith("📊 Whole school, 23 Nov")
        assert "📮 Messages today: delivered " in school.text
        captions = [s.text for s in noon if s.text.startswith("📈")]
        assert "📈 Whole school: check-ins over 14 days" in captions
        assert any(c.startswith("📈 医学院: check-ins over") for c in captions)

        book = ledger_sent(bot, "T001")
        assert book.message.attachment is not None
        assert book.message.attachment.filename.startswith("ledger-")
        wb = xlsx_of(book)
        assert wb.sheetnames == [
            "Check-ins",
            "Missing",
            "Abnormal",
            "Leave",
            "Attendance",
            "Charts",
        ]
        assert ledger_chinese(wb) == []
        states = {r[4] for r in wb["Check-ins"].iter_rows(min_row=2, values_only=True)}
        assert states == {"checked in", "missing", "on leave"}
        [fever] = list(wb["Abnormal"].iter_rows(min_row=2, values_only=True))
        assert fever[9] == "Corrected: 08:00 temperature 36.6, no symptoms"
        [leave] = list(wb["Leave"].iter_rows(min_row=2, values_only=True))
        assert (leave[5], leave[8]) == ("sick", "approved")
        assert leave[9] == "发烧就医"  # what the student typed stays as typed

        school_book = ledger_sent(bot, "T009")
        assert school_book.message.attachment is not None
        assert school_book.message.attachment.filename == "ledger-school-2026-11-23.xlsx"
        swb = xlsx_of(school_book)
        assert "Subsidies" in swb.sheetnames
        assert ledger_chinese(swb) == []
    finally:
        await app.stop()
        app.engine.dispose()


async def test_the_same_day_in_chinese_is_unchanged(database_url: str) -> None:
    config = make_config(database_url)
    clock = ManualClock(START)
    app, bot = await start_app(config, clock)
    try:
        seen = await english_day(app, bot, clock)
        [prompt, *_] = seen["07:00"]
        assert prompt.text.startswith("🌅 ")
        noon = seen["12:00"]
        [school] = [s for s in noon if s.to.chat_id == "T009" and "📊" in s.text]
        assert school.text.startswith("📊 全校 ")
        assert "📮 今日消息投递：已送达 " in school.text
        book = ledger_sent(bot, "T001")
        assert book.message.attachment is not None
        assert book.message.attachment.filename.startswith("台账-")
        wb = xlsx_of(book)
        assert wb.sheetnames == ["打卡", "未打卡", "异常", "请假", "考勤", "统计图"]
        assert [c.value for c in wb["打卡"][1]][:5] == ["学院", "班级", "学号", "姓名", "状态"]
        states = {r[4] for r in wb["打卡"].iter_rows(min_row=2, values_only=True)}
        assert states == {"已打卡", "未打卡", "请假"}
        [fever] = list(wb["异常"].iter_rows(min_row=2, values_only=True))
        assert fever[9] == "已更正：08:00 体温 36.6，无症状"
        [leave] = list(wb["请假"].iter_rows(min_row=2, values_only=True))
        assert leave[5] == "病假" and leave[8] == "已批准"
        school_book = ledger_sent(bot, "T009")
        assert school_book.message.attachment is not None
        assert school_book.message.attachment.filename == "台账-全校-2026-11-23.xlsx"
    finally:
        await app.stop()
        app.engine.dispose()


def test_the_roll_up_lines_in_english() -> None:
    health = outbox.Health(sent=5, retried=1, expired=2, unreachable=3)
    assert daily.health_line(health, "en") == (
        "📮 Messages today: delivered 5, retried 1, expired unsent 2, unreachable 3"
    )
    assert daily.health_line(health) == (
        "📮 今日消息投递：已送达 5，重试过 1，过期未送出 2，无法送达 3"
    )
    assert daily.failure_text("expired", "timeout", "en") == (
        "platform outage, not sent before the deadline (timeout)"
    )
    assert daily.failure_text("refused", "blocked", "en") == (
        "cannot be messaged privately (blocked)"
    )
    assert daily.failure_text("refused", "blocked") == "无法私信（blocked）"
    bound = [("护理172", "2020001", "张晓明"), ("护理172", "2020002", "李雨")]
    assert daily.new_bindings_text(bound, "en") == (
        "\nBound today: 张晓明 (2020001, 护理172), 李雨 (2020002, 护理172)"
    )
    assert daily.new_bindings_text(bound) == (
        "\n今日新绑定：张晓明（2020001，护理172）、李雨（2020002，护理172）"
    )
    assert daily.new_bindings_text([], "en") == ""
