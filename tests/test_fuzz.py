"""Arbitrary input never crashes the router, always gets an answer, and stores nothing when
refused. Commands and their words come from the dispatcher, so new commands are covered."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import IncomingMessage
from bot.router import MAX_MESSAGE_CHARS, Command
from storage.errors import DomainError
from storage.models import CheckIn
from tests.conftest import declared_commands, row_counts
from tests.handlers.test_checkin import rows

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# (sender, group chat or None for private chat): every role, bound and not, in and out of
# their own class group.
SPEAKERS = [
    ("2020001", "护理172"),
    ("2020001", None),
    ("2020002", "护理172"),
    ("2020031", "护理172"),
    ("T001", "护理172"),
    ("T001", None),
    ("T002", None),
    ("T003", None),
    ("T009", "检验172"),
    ("nobody", "护理172"),
    ("nobody", None),
    ("T001", "unbound-group"),
]

TRICKY = [
    "\u200b",
    "\u200e",
    "\u200f",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\u3000",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\t",
    "😷",
    "🤒🏽",
    "👨‍👩‍👧",
    "Ａ",
    "３６．５",
    "＝",
    "＋",
    "－",
    "＠",
    "＝SUM(A1)",
    '=HYPERLINK("http://x")',
    "@武汉",
    "＠北京",
    "'; DROP TABLE people; --",
    "%s%n{0}{name}",
    "\ud7ff",
    "\U0010ffff",
]

# Argument tokens that reach deep into handlers, not just their first check.
MEANINGFUL = [
    "36.5",
    "37.8",
    "35",
    "42.1",
    "-1",
    "1e9",
    "NaN",
    "咳嗽",
    "无",
    "乏力,咳嗽",
    "护理172",
    "检验172",
    "2020001",
    "2020031",
    "T001",
    "张晓明",
    "今天",
    "明天",
    "11-23",
    "2026-02-30",
    "11月23日",
    "病假",
    "事假",
    "L1",
    "S1",
    "1",
    "0",
    "3000",
    "99999999999999999999",
    "ABCDEFGH",
    "缺勤",
    "迟到",
]


def command_words(commands: list[Command]) -> list[str]:
    words = []
    for cmd in commands:
        words += [f"/{cmd.name}", f"／{cmd.name}", cmd.keyword, f"/{cmd.name}@classbot"]
        words += list(cmd.aliases)
        # Half a command: the word cut short.
        words += [f"/{cmd.name[:-1]}", cmd.keyword[:1]]
    return words


WORDS = command_words(declared_commands())

token = st.one_of(
    st.sampled_from(MEANINGFUL),
    st.sampled_from(TRICKY),
    st.text(min_size=1, max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E), max_size=6),
)
separator = st.sampled_from([" ", "\u3000", "  ", "\u00a0", "", "\t", "\n"])
command_text = st.builds(
    lambda word, args, seps: (
        word + "".join(s + a for s, a in zip(seps, args, strict=False)) + "".join(seps[len(args) :])
    ),
    st.sampled_from(WORDS),
    st.lists(token, max_size=6),
    st.lists(separator, min_size=6, max_size=6),
)
texts = st.one_of(
    command_text,
    command_text.map(lambda t: "\u200b" + t),
    st.text(max_size=200),
    st.lists(st.sampled_from(TRICKY), max_size=8).map("".join),
    st.sampled_from(["/", "／", "/ ", "@", ""]),
)


async def feed(app: App, bot: TestAdapter, msg: IncomingMessage) -> None:
    """Route one message and check the three promises; deliver it so the privacy guard runs."""
    before = row_counts(app)
    _, _, looks_like_command = app.dispatcher.recognise(msg)
    routed = app.dispatcher.process(msg)
    assert routed.error is None or isinstance(routed.error, DomainError), (
        f"{msg.text!r} crashed the handler: {routed.error!r}"
    )
    if looks_like_command or not msg.is_group:
        assert any(e.to == msg.chat for e in routed.envelopes), f"no reply to {msg.text!r}"
    if routed.error is not None:
        assert row_counts(app) == before, f"{msg.text!r} was refused but stored rows"
    await app.deliver(routed.envelopes)


@FUZZ
@given(speaker=st.sampled_from(SPEAKERS), text=texts)
async def test_any_text_from_anyone_is_answered_without_a_crash(
    app: App, bot: TestAdapter, speaker: tuple[str, str | None], text: str
) -> None:
    sender, group = speaker
    await feed(app, bot, bot.message(sender, text, group=group))


@FUZZ
@given(text=command_text, private=st.booleans())
async def test_every_command_with_random_arguments_is_answered(
    app: App, bot: TestAdapter, text: str, private: bool
) -> None:
    group = None if private else "护理172"
    for sender in ("2020001", "T001"):
        await feed(app, bot, bot.message(sender, text, group=group))


def test_fuzz_covers_every_declared_command(app: App) -> None:
    declared = {c.name for c in app.dispatcher.commands}
    covered = {w.lstrip("/／").split("@")[0] for w in WORDS}
    assert declared <= covered


async def test_a_100_kb_message_is_refused_quickly_and_unread(app: App, bot: TestAdapter) -> None:
    huge = "打卡 36.5 " + "很" * 100_000
    before = row_counts(app)
    started = time.perf_counter()
    sent = await bot.say("2020001", huge, group="护理172")
    assert time.perf_counter() - started < 1
    assert [s.text for s in sent] == ["消息太长（超过 4000 字），没有处理，也没有保存。"]
    assert row_counts(app) == before
    # Chatter that long in a group is not the bot's business.
    assert await bot.say("2020001", "哈" * 100_000, group="护理172") == []
    [reply] = await bot.say("2020001", "哈" * 100_000)
    assert "消息太长" in reply.text


async def test_a_message_at_the_cap_is_read_and_its_note_limit_stated(bot: TestAdapter) -> None:
    text = "打卡 36.5 "
    text += "很" * (MAX_MESSAGE_CHARS - len(text))
    [reply] = await bot.say("2020001", text)
    assert "备注太长：最多 200 个字" in reply.text


async def test_control_characters_in_a_note_are_stored_without_harm(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("2020001", "打卡 36.5 \x00\x1b[31m在家\u202e\ud800")
    assert reply.text.startswith("✓")
    [c] = rows(app, CheckIn)
    # Invisible direction marks go too: they could make a note read backwards.
    assert c.note == "[31m在家"
