"""`language = "en"` answers in English, `zh` in Chinese: the key commands, end to end."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.models import College, Person, SchoolClass
from tests.conftest import make_config, start_app

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(params=["zh", "en"])
async def lang_app(
    request: pytest.FixtureRequest, database_url: str, clock: ManualClock
) -> AsyncIterator[tuple[str, App, TestAdapter]]:
    app, bot = await start_app(make_config(database_url, bot={"language": request.param}), clock)
    yield request.param, app, bot
    await app.stop()
    app.engine.dispose()


def roster_words(app: App) -> list[str]:
    """Names, class codes and college names: data from the roster, in Chinese either way."""
    with app.uow(readonly=True) as s:
        words = [*s.scalars(select(Person.name)), *s.scalars(select(SchoolClass.code))]
        words += list(s.scalars(select(College.name)))
    return sorted(words, key=len, reverse=True)


def without_roster(app: App, text: str) -> str:
    for word in roster_words(app):
        text = text.replace(word, "")
    return text


def assert_in_language(app: App, lang: str, text: str) -> None:
    rest = without_roster(app, text)
    if lang == "en":
        assert not CJK.search(rest), text
    else:
        assert CJK.search(rest), text


async def test_report_and_missing_speak_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    await bot.say("2020001", "/checkin 36.5", group="护理172")
    [report] = await bot.say("T001", "/report")
    [missing] = await bot.say("T001", "/missing")
    if lang == "en":
        assert report.text.startswith("📊 Check-ins, 23 Nov")
        assert "护理172: expected 30, checked in 1 (0 late), missing 29" in report.text
        assert missing.text.startswith("⏰ Not checked in, 23 Nov")
        assert "护理172: 29 not checked in" in missing.text
    else:
        assert report.text.startswith("📊 11月23日 打卡汇总")
        assert "护理172：应打卡 30，已打卡 1（迟交 0），未打卡 29" in report.text
        assert "护理172：未打卡 29 人" in missing.text
    for reply in (report, missing):
        assert_in_language(app, lang, reply.text)


async def test_a_monitor_reminding_the_group_speaks_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    sent = await bot.say("2020002", "/missing", group="护理172")
    [group] = [s for s in sent if s.to.is_group]
    expected = (
        "⏰ Check-ins 23 Nov: 30 students" if lang == "en" else "⏰ 11月23日 打卡，还有 30 位"
    )
    assert group.text.startswith(expected)
    for reply in sent:
        assert_in_language(app, lang, reply.text)


async def test_report_refusals_speak_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    [bad] = await bot.say("T001", "/report someday")
    [two] = await bot.say("T001", "/report 11-22 11-23")
    [scope] = await bot.say("2020002", "/missing 检验172")
    if lang == "en":
        assert "'someday' is neither a date nor a class or college" in bad.text
        assert "Usage: /report" in bad.text
        assert two.text.startswith("Give one date only.")
        assert scope.text == "检验172 is outside your classes."
    else:
        assert "「someday」不是日期" in bad.text and "格式：汇总" in bad.text
        assert two.text.startswith("只能写一个日期。")
        assert scope.text == "你无权处理班级 检验172。"
    for reply in (bad, two, scope):
        assert_in_language(app, lang, reply.text)


async def test_mine_help_and_a_malformed_check_in_speak_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    [mine] = await bot.say("2020001", "/mine")
    [help_] = await bot.say("2020001", "/help")
    [checkin] = await bot.say("2020001", "/checkin 45", group="护理172")
    if lang == "en":
        assert help_.text.startswith("You can use:") and "/report" not in help_.text
        assert "Attendance this week" in mine.text
        assert "Temperature must be between" in checkin.text
    else:
        assert help_.text.startswith("你可以使用：")
        assert "考勤（本周）" in mine.text
        assert "体温应在" in checkin.text
    for reply in (mine, help_, checkin):
        assert_in_language(app, lang, reply.text)


async def test_export_replies_in_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    [reply] = await bot.say("T001", "/export")
    expected = "📎 Ledger 23 Nov" if lang == "en" else "📎 11月23日 台账"
    assert reply.text.startswith(expected)
    assert_in_language(app, lang, reply.text)


def assert_replies_in_language(app: App, lang: str, texts: list[str], *data: str) -> None:
    """Every text in the language, once roster words and the `data` the bot echoes back (a
    template's labels and options, a care category) are taken out."""
    for text in texts:
        for word in data:
            text = text.replace(word, "")
        assert_in_language(app, lang, text)


async def test_a_check_in_reply_speaks_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    sent = await bot.say("2020001", "/checkin 36.5")
    assert sent
    assert_replies_in_language(app, lang, [s.text for s in sent])


async def test_an_approval_and_a_rejection_speak_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    await bot.say("2020001", "请假 明天 病假 fever, seeing the doctor")
    await bot.say("2020002", "请假 明天 事假 family matters")
    approved = await bot.say("T001", "批准 L1")
    rejected = await bot.say("T001", "驳回 L2 no reason given")
    to_students = bot.to_chat("2020001", group=False) + bot.to_chat("2020002", group=False)
    texts = [s.text for s in [*approved, *rejected, *to_students]]
    assert any(("L1" in t) for t in texts) and any(("L2" in t) for t in texts)
    assert_replies_in_language(app, lang, texts, "病假", "事假")


# The template's title, labels, options and example: data the bot shows back, in Chinese.
COLLECT_DATA = (
    "寒假离校返乡登记",
    "离校日期",
    "目的地",
    "交通方式",
    "返校日期",
    "备注",
    "火车",
    "湖北恩施",
)


async def test_a_collection_answer_and_its_refusal_speak_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    await bot.say("T001", "收集 寒假离校返乡登记 护理172 11-24 18:00")
    [answer] = await bot.say("2020001", "填 C1 2027-01-15 Enshi 火车 2027-02-20")
    [refusal] = await bot.say("2020001", "填 C1 2027-01-15 Enshi")
    if lang == "en":
        assert "C1" in answer.text and "Enshi" in answer.text
    else:
        assert answer.text.startswith("✓ 已提交 C1「寒假离校返乡登记」")
        assert "需要按顺序回答 4–5 项" in refusal.text
    assert_replies_in_language(app, lang, [answer.text, refusal.text], *COLLECT_DATA)


async def test_a_notice_and_its_acknowledgement_speak_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    sent = await bot.say("T001", "通知 护理172 截止 11-23 18:00 bring the letter home")
    [posted] = [s for s in sent if s.to.is_group]
    [ack] = [s for s in await bot.say("2020001", "收到", group="护理172") if s.to.is_group]
    [again] = [s for s in await bot.say("2020001", "收到") if s.to.chat_id == "2020001"]
    assert "N1" in posted.text and "1/30" in ack.text and "N1" in again.text
    if lang == "zh":
        assert "请在 11月23日 18:00 前回复「收到」确认（或：收到 N1）。" in posted.text
    # 收到 is the word a student answers with, in either language.
    assert_replies_in_language(app, lang, [posted.text, ack.text, again.text], "收到")


async def test_a_matter_reply_speaks_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    sent = await bot.say("2020001", "反映 the hot water in dorm 3 is broken")
    [received] = [s for s in sent if s.to.chat_id == "2020001"]
    to_counselor = bot.to_chat("T001", group=False)
    if lang == "en":
        assert received.text.startswith("✓ Matter Q1 received")
    else:
        assert received.text.startswith("✓ 已收到你的诉求 Q1")
    assert_replies_in_language(app, lang, [received.text, *(s.text for s in to_counselor)])


async def test_a_key_student_reply_speaks_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    [tagged] = await bot.say("T001", "标记 2020001 家庭经济困难")
    [unknown] = await bot.say("T001", "标记 2020001 very poor")
    if lang == "zh":
        assert tagged.text == (
            "✓ 已将 张晓明（2020001，护理172）标记为「家庭经济困难」，每 14 天需联系一次。"
        )
    categories = list(app.config.keystudents.categories)
    assert_replies_in_language(app, lang, [tagged.text, unknown.text], *categories)


async def test_an_over_long_message_is_refused_in_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    from bot.router import MAX_MESSAGE_CHARS

    lang, app, bot = lang_app
    [refusal] = await bot.say("2020001", "/checkin " + "x" * MAX_MESSAGE_CHARS)
    assert_in_language(app, lang, refusal.text)
    assert str(MAX_MESSAGE_CHARS) in refusal.text
    if lang == "en":
        assert refusal.text.startswith("This message is too long")
    else:
        assert refusal.text.startswith("消息太长")


async def test_an_abnormal_check_in_alert_names_the_city_in_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    await bot.say("2020001", "/checkin 38.2 @Wuhan")
    [alert] = [s for s in bot.to_chat("T001", group=False) if "38.2" in s.text]
    if lang == "en":
        assert ", city: Wuhan." in alert.text and alert.text.endswith("Please follow up.")
    else:
        assert "，城市：Wuhan。请及时跟进。" in alert.text
    assert_in_language(app, lang, alert.text)


async def test_a_decision_without_an_id_is_refused_in_the_configured_language(
    lang_app: tuple[str, App, TestAdapter],
) -> None:
    lang, app, bot = lang_app
    [refusal] = await bot.say("T001", "批准")
    if lang == "en":
        assert refusal.text.startswith("Give the id: ")
        assert "Usage: /approve <id> [amount]" in refusal.text
    else:
        assert refusal.text.startswith("请写上编号：")
    assert_in_language(app, lang, refusal.text)
