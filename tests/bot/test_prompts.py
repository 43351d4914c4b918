"""Conversations: a handler asks a question and the asker's next message in that chat answers it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.testing import TestAdapter
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import IncomingMessage
from bot.router import (
    ALL_ROLES,
    STUDENTS,
    Args,
    CommandRouter,
    Context,
    Dispatcher,
    Feature,
    PromptTexts,
)
from storage import audit, demo
from storage.errors import BadArguments
from storage.models import AuditEntry, PendingPrompt
from tests.conftest import privacy_guard, row_counts, static_texts

# A feature of two questions: a name, then an age; the answers are kept only at the end.
quiz = CommandRouter("quiz")


@quiz.command(
    "quiz",
    "问卷",
    roles=STUDENTS,
    usage=("问卷", "/quiz"),
    help=("回答两个问题", "answer two questions"),
)
def start_quiz(ctx: Context, args: Args) -> None:
    ctx.ask("你叫什么名字？", expect="quiz.name", state={"started": ctx.now.isoformat()})


@quiz.answer("quiz.name")
def on_name(ctx: Context, text: str, state: dict[str, Any]) -> None:
    if not text:
        raise BadArguments("名字不能为空。")
    ctx.ask(f"{text}，你几岁？", expect="quiz.age", state={**state, "name": text})


@quiz.answer("quiz.age")
def on_age(ctx: Context, text: str, state: dict[str, Any]) -> None:
    if not text.isdigit() or not 10 <= int(text) <= 99:
        raise BadArguments("年龄请写 10–99 的整数。")
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.actor,
        action="quiz.done",
        detail={"name": state["name"], "age": int(text)},
    )
    ctx.reply(f"记下了：{state['name']}，{text} 岁。")


@quiz.command(
    "open_quiz",
    "开放问卷",
    roles=ALL_ROLES,
    usage=("开放问卷", "/open_quiz"),
    help=("任何人都能回答的一个问题", "one question anyone may answer"),
    open_to_unbound=True,
)
def start_open(ctx: Context, args: Args) -> None:
    ctx.ask("喜欢什么颜色？", expect="quiz.colour", timeout=timedelta(minutes=2))


@quiz.answer("quiz.colour")
def on_colour(ctx: Context, text: str, state: dict[str, Any]) -> None:
    ctx.reply(f"好的，{text}。")


async def start(
    config: Config, clock: ManualClock, *, seed: bool = True
) -> tuple[App, TestAdapter]:
    app = build_app(config, clock)
    app.dispatcher.install(Feature(quiz))
    adapter = TestAdapter(group_guard=privacy_guard(app.engine, static_texts(app)))
    app.add_adapter(adapter)
    if seed:
        with app.uow() as session:
            demo.seed(
                session,
                clock.now(),
                platforms=("test",),
                consent_version=config.privacy.notice_version,
            )
    await app.start()
    return app, adapter


@pytest.fixture
async def quizbot(config: Config, clock: ManualClock) -> AsyncIterator[TestAdapter]:
    app, adapter = await start(config, clock)
    yield adapter
    await app.stop()
    app.engine.dispose()


def done(bot: TestAdapter) -> list[dict[str, Any]]:
    with bot.app.uow(readonly=True) as s:
        return [
            e.detail or {}
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "quiz.done"))
        ]


def pending(bot: TestAdapter) -> list[tuple[str, str, str]]:
    with bot.app.uow(readonly=True) as s:
        return [
            (p.chat_id, p.sender_id, p.expect)
            for p in s.scalars(select(PendingPrompt).order_by(PendingPrompt.id))
        ]


async def test_two_questions_then_the_answers_are_kept(quizbot: TestAdapter) -> None:
    [q1] = await quizbot.say("2020001", "问卷")
    assert q1.text == "你叫什么名字？"
    [q2] = await quizbot.say("2020001", "小明")
    assert q2.text == "小明，你几岁？"
    assert pending(quizbot) == [("2020001", "2020001", "quiz.age")]
    [end] = await quizbot.say("2020001", "19")
    assert end.text == "记下了：小明，19 岁。"
    assert done(quizbot) == [{"name": "小明", "age": 19}]
    assert pending(quizbot) == []
    # The conversation is over: the next message is ordinary chat again.
    [hint] = await quizbot.say("2020001", "20")
    assert "帮助" in hint.text
    assert len(done(quizbot)) == 1


async def test_a_refused_answer_keeps_the_question_and_stores_nothing(
    quizbot: TestAdapter,
) -> None:
    await quizbot.say("2020001", "问卷")
    await quizbot.say("2020001", "小明")
    before = row_counts(quizbot.app)
    [refusal] = await quizbot.say("2020001", "一百")
    assert "年龄请写 10–99 的整数。" in refusal.text
    assert "取消" in refusal.text
    # No usage line of the command that asked: the answer, not the command, was wrong.
    assert "格式" not in refusal.text
    assert row_counts(quizbot.app) == before
    assert done(quizbot) == []
    assert pending(quizbot) == [("2020001", "2020001", "quiz.age")]
    [end] = await quizbot.say("2020001", "20")
    assert end.text == "记下了：小明，20 岁。"


async def test_cancel_ends_the_conversation(quizbot: TestAdapter) -> None:
    for word in ("取消", "/cancel", "／cancel"):
        await quizbot.say("2020001", "问卷")
        [reply] = await quizbot.say("2020001", word)
        assert reply.text == PromptTexts.cancelled("zh")
        assert pending(quizbot) == []
    # Without a pending question, 取消 is just a message and /cancel the usual command.
    [hint] = await quizbot.say("2020001", "取消")
    assert "帮助" in hint.text
    [usage] = await quizbot.say("2020001", "/cancel")
    assert "编号" in usage.text
    assert done(quizbot) == []


async def test_a_command_while_pending_runs_and_ends_the_conversation(
    quizbot: TestAdapter,
) -> None:
    await quizbot.say("2020001", "问卷")
    [ack] = await quizbot.say("2020001", "打卡 36.5")
    assert ack.text.startswith("✓")
    assert pending(quizbot) == []
    [hint] = await quizbot.say("2020001", "小明")
    assert "帮助" in hint.text
    # A refused command ends it as well.
    await quizbot.say("2020001", "问卷")
    [refusal] = await quizbot.say("2020001", "打卡 50")
    assert "35" in refusal.text
    assert pending(quizbot) == []


async def test_the_question_times_out(quizbot: TestAdapter, clock: ManualClock) -> None:
    await quizbot.say("2020001", "问卷")
    clock.advance(timedelta(minutes=9, seconds=59))
    [q2] = await quizbot.say("2020001", "小明")
    assert q2.text == "小明，你几岁？"
    clock.advance(timedelta(minutes=10))
    [late] = await quizbot.say("2020001", "19")
    assert late.text == PromptTexts.timed_out("zh", command="问卷")
    assert pending(quizbot) == [] and done(quizbot) == []
    # A command after the time ran out runs as usual.
    await quizbot.say("2020001", "问卷")
    clock.advance(timedelta(minutes=11))
    [ack] = await quizbot.say("2020001", "打卡 36.5")
    assert ack.text.startswith("✓")
    assert pending(quizbot) == []


async def test_a_question_may_set_its_own_timeout(quizbot: TestAdapter, clock: ManualClock) -> None:
    await quizbot.say("2020001", "开放问卷")
    clock.advance(timedelta(minutes=3))
    [late] = await quizbot.say("2020001", "蓝色")
    assert late.text == PromptTexts.timed_out("zh", command="开放问卷")


async def test_the_timeout_is_configurable(database_url: str, clock: ManualClock) -> None:
    from tests.conftest import make_config

    app, bot = await start(make_config(database_url, bot={"prompt_timeout_minutes": 30}), clock)
    try:
        await bot.say("2020001", "问卷")
        clock.advance(timedelta(minutes=20))
        [q2] = await bot.say("2020001", "小明")
        assert q2.text == "小明，你几岁？"
        clock.advance(timedelta(minutes=31))
        [late] = await bot.say("2020001", "19")
        assert late.text == PromptTexts.timed_out("zh", command="问卷")
    finally:
        await app.stop()
        app.engine.dispose()


async def test_in_a_group_the_question_belongs_to_one_person(quizbot: TestAdapter) -> None:
    [q1] = await quizbot.say("2020001", "问卷", group="护理172")
    assert q1.to.is_group and q1.text == "你叫什么名字？"
    # Another member's chat is ignored as ever, and answers nothing.
    assert await quizbot.say("2020003", "小红", group="护理172") == []
    # The same person in private chat answers nothing either: the question is the group's.
    [hint] = await quizbot.say("2020001", "小明")
    assert "帮助" in hint.text
    [q2] = await quizbot.say("2020001", "小明", group="护理172")
    assert q2.text == "小明，你几岁？"
    # 取消 from someone else is chat.
    assert await quizbot.say("2020003", "取消", group="护理172") == []
    [end] = await quizbot.say("2020001", "19", group="护理172")
    assert end.text == "记下了：小明，19 岁。"
    assert done(quizbot) == [{"name": "小明", "age": 19}]


async def test_the_question_survives_a_restart(config: Config, clock: ManualClock) -> None:
    app, bot = await start(config, clock)
    try:
        await bot.say("2020001", "问卷")
        await bot.say("2020001", "小明")
    finally:
        await app.stop()
        app.engine.dispose()
    app, bot = await start(config, clock, seed=False)
    try:
        [end] = await bot.say("2020001", "19", message_id="after-restart")
        assert end.text == "记下了：小明，19 岁。"
        assert done(bot) == [{"name": "小明", "age": 19}]
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_redelivered_answer_is_handled_once(quizbot: TestAdapter) -> None:
    await quizbot.say("2020001", "问卷")
    await quizbot.say("2020001", "小明")
    [end] = await quizbot.say("2020001", "19", message_id="m-19")
    assert end.text.startswith("记下了")
    assert await quizbot.say("2020001", "19", message_id="m-19") == []
    assert len(done(quizbot)) == 1


async def test_an_answer_passes_the_asking_commands_authorization_again(
    quizbot: TestAdapter,
) -> None:
    await quizbot.say("2020001", "问卷")
    await quizbot.say("2020001", "解绑")  # a command: runs (or is refused) and ends it
    assert pending(quizbot) == []
    # Unbinding between the question and the answer voids the question.
    await quizbot.say("2020003", "问卷")
    with quizbot.app.uow() as s:
        from storage.models import ChatAccount

        account = s.scalar(
            select(ChatAccount).where(
                ChatAccount.platform == "test", ChatAccount.platform_user_id == "2020003"
            )
        )
        assert account is not None
        s.delete(account)
    [void] = await quizbot.say("2020003", "小红")
    assert void.text == PromptTexts.void("zh")
    assert pending(quizbot) == [] and done(quizbot) == []


async def test_an_unbound_account_may_answer_an_open_question(quizbot: TestAdapter) -> None:
    [q] = await quizbot.say("nobody", "开放问卷")
    assert q.text == "喜欢什么颜色？"
    [a] = await quizbot.say("nobody", "蓝色")
    assert a.text == "好的，蓝色。"


def test_answer_keys_are_unique_and_named_by_feature(config: Config, clock: ManualClock) -> None:
    other = CommandRouter("other")
    other.answer("quiz.name")(on_name)
    app = build_app(config, clock)
    try:
        with pytest.raises(ValueError, match="declared twice"):
            app.dispatcher.install(Feature(quiz), Feature(other))
    finally:
        app.engine.dispose()
    with pytest.raises(ValueError, match="declared twice"):
        quiz.answer("quiz.name")(on_name)
    with pytest.raises(ValueError, match="feature"):
        quiz.answer("noprefix")


def test_asking_for_an_answer_nothing_handles_is_a_programming_error(
    config: Config, clock: ManualClock
) -> None:
    lone = CommandRouter("lone")

    @lone.command(
        "lone",
        "孤问",
        roles=ALL_ROLES,
        usage=("孤问", "/lone"),
        help=("", ""),
        open_to_unbound=True,
    )
    def ask_nothing(ctx: Context, args: Args) -> None:
        ctx.ask("？", expect="lone.nobody")

    app = build_app(config, clock)
    try:
        dispatcher = Dispatcher(config, clock, app.sessions)
        dispatcher.install(Feature(lone))
        msg = IncomingMessage(
            platform="test",
            chat_id="nobody",
            is_group=False,
            sender_id="nobody",
            text="孤问",
            sent_at=clock.now(),
            message_id="1",
        )
        routed = dispatcher.process(msg)
        assert isinstance(routed.error, ValueError)
        with app.uow(readonly=True) as s:
            assert s.scalar(select(func.count()).select_from(PendingPrompt)) == 0
    finally:
        app.engine.dispose()
