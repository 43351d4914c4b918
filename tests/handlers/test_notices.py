"""通知 and 收到: sending a notice to a scope, confirming it, the coalesced acknowledgement,
the reminders before and at the deadline, and 收到 as everyday chat."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.models import Campaign, CampaignResponse
from tests.conftest import OTHER_CLASS, TZ, row_counts, seed_other_college

DAY = datetime(2026, 11, 23, tzinfo=TZ).date()
NOTICE = "通知 护理172 截止 11-23 18:00 请把告家长的一封信转给家长"


def at(hh: int, mm: int = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm), tzinfo=TZ)


async def move(app: App, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    assert app.scheduler is not None
    await app.scheduler.run_due()


def responses(app: App) -> int:
    with app.uow(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(CampaignResponse)) or 0)


async def say(bot: TestAdapter, sender: str, text: str, group: str | None = None) -> list[Sent]:
    """What the bot said in the chat the message was sent in."""
    return [
        s for s in await bot.say(sender, text, group=group) if s.to.chat_id == (group or sender)
    ]


def group(bot: TestAdapter, chat: str = "护理172") -> list[Sent]:
    return bot.to_chat(chat, group=True)


async def test_a_counselor_sends_a_notice_to_a_class_group(app: App, bot: TestAdapter) -> None:
    [reply] = await say(bot, "T001", NOTICE)
    assert reply.text.startswith("✓ 已发出通知 N1：1 个班级群，30 位同学，截止 11月23日 18:00")
    [posted] = group(bot)
    assert posted.text == (
        "📢 通知 N1（王芳）：请把告家长的一封信转给家长\n"
        "请在 11月23日 18:00 前回复「收到」确认（或：收到 N1）。"
    )
    assert [b.command for b in posted.message.buttons] == ["收到 N1"]
    assert group(bot, "检验172") == []


async def test_a_notice_without_deadline_is_due_after_the_configured_time(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", "通知 全部 明天体检，请空腹")
    with app.uow(readonly=True) as s:
        [c] = s.scalars(select(Campaign)).all()
        assert c.deadline == app.clock.now() + timedelta(hours=24)
        assert len(c.audience["classes"]) == 2
    # 全部 for a counselor: both classes of theirs.
    assert len(group(bot)) == 1 and len(group(bot, "检验172")) == 1


async def test_notices_are_sent_privately_when_configured(app: App, bot: TestAdapter) -> None:
    object.__setattr__(app.config.notices, "private", True)
    await bot.say("T001", NOTICE)
    assert any("通知 N1" in s.text for s in bot.to_chat("2020001", group=False))
    assert not any("通知 N1" in s.text for s in bot.to_chat("2020031", group=False))


async def test_refusals_show_the_right_form_and_store_nothing(app: App, bot: TestAdapter) -> None:
    seed_other_college(app)
    before = row_counts(app)
    cases = {
        "通知": "通知正文不能为空",
        "通知 护理172": "通知正文不能为空",
        "通知 护理172 截止": "截止时间没看懂",
        "通知 护理172 截止 明白吗 你好": "截止时间没看懂",
        "通知 护理172 截止 11-23 05:00 已经过了": "已经过去了",
        "通知 不存在班 你好": "找不到班级或学院「不存在班」",
        f"通知 {OTHER_CLASS} 你好": "你无权处理",
        "通知 药学院 你好": "你无权处理",
        "通知 护理172 " + "长" * 1001: "通知正文太长",
    }
    for text, expected in cases.items():
        [reply] = await say(bot, "T001", text)
        assert expected in reply.text, (text, reply.text)
    [reply] = await say(bot, "T001", "通知")
    assert "格式：通知 <班级|学院|全部>" in reply.text
    [reply] = await say(bot, "T002", NOTICE)
    assert "你没有权限使用「通知」" in reply.text
    assert row_counts(app) == before


async def test_a_college_admin_notifies_the_college_and_a_school_admin_everything(
    app: App, bot: TestAdapter
) -> None:
    seed_other_college(app)
    await bot.say("T003", "通知 医学院 下周停课")
    assert len(group(bot)) == 1 and len(group(bot, "检验172")) == 1
    assert group(bot, OTHER_CLASS) == []
    await bot.say("T009", "通知 全部 全校大扫除")
    assert len(group(bot, OTHER_CLASS)) == 1


async def test_students_confirm_in_a_group_with_the_class_count(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", NOTICE)
    [reply] = await say(bot, "2020001", "收到", group="护理172")
    assert reply.to.is_group
    assert reply.text == "✓ 张晓明 已确认 1/30"
    [reply] = await say(bot, "2020003", "收到 N1", group="护理172")
    assert reply.text.endswith("已确认 2/30")
    [again] = await say(bot, "2020001", "收到")
    assert again.text == "你已确认过通知 N1。"
    assert responses(app) == 2


async def test_confirmations_in_one_group_are_coalesced(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", NOTICE)
    bot.clear()
    app.dispatcher.process(bot.message("2020001", "收到", group="护理172"))
    app.dispatcher.process(bot.message("2020003", "收到", group="护理172"))
    await app.sent()
    [merged] = group(bot)
    assert merged.text == "✓ 已确认 +2：张晓明、王雨桐（2/30）"


async def test_a_button_press_confirms(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", NOTICE)
    replies = await bot.say("2020001", "收到 N1", group="护理172", callback=True)
    assert any("已确认" in r.text for r in replies)
    assert responses(app) == 1


async def test_ack_alone_confirms_every_open_notice(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", NOTICE)
    await bot.say("T003", "通知 医学院 下周停课")
    [reply] = await say(bot, "2020001", "收到")
    assert reply.text == "✓ 张晓明 已确认通知 N1、N2"
    assert responses(app) == 2


async def test_ack_refusals(app: App, bot: TestAdapter) -> None:
    [reply] = await say(bot, "2020001", "收到")
    assert reply.text == "你目前没有需要确认的通知。"
    await bot.say("T001", "通知 检验172 截止 11-23 18:00 只给检验")
    [reply] = await say(bot, "2020001", "收到 N1")
    assert reply.text == "找不到给你的通知 N1。"
    [reply] = await say(bot, "2020001", "收到 N9")
    assert reply.text == "找不到通知 N9。"
    [reply] = await say(bot, "T001", "收到")
    assert "同学确认通知" in reply.text
    assert responses(app) == 0


async def test_ack_is_chat_in_a_group_unless_alone_or_with_an_id(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", NOTICE)
    for chat in ("收到了谢谢老师", "收到收到", "收到 好的", "收到N1了"):
        assert await bot.say("2020001", chat, group="护理172") == []
    # 收到 alone is the command, from staff too: they are told what it is for.
    [told] = await bot.say("T002", "收到", group="护理172")
    assert "同学确认通知" in told.text
    assert responses(app) == 0


async def test_reminders_before_and_at_the_deadline(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(8))
    await bot.say("T001", NOTICE)
    await bot.say("2020001", "收到", group="护理172")
    bot.clear()
    await move(app, clock, at(15, 59))
    assert group(bot) == []
    await move(app, clock, at(16))
    [reminder] = group(bot)
    assert reminder.text.startswith(
        "⏰ 请把告家长的一封信转给家长（N1）将于 11月23日 18:00 截止，还有 29 位同学未确认"
    )
    names = {m.name for m in reminder.message.mentions}
    assert "张晓明" not in names and len(names) == 29
    assert not any(ch.isdigit() and len(ch) > 5 for ch in reminder.text.split())
    [to_counselor] = [s for s in bot.to_chat("T001", group=False) if "N1" in s.text]
    assert "护理172：1/30，未确认 29 人" in to_counselor.text
    [to_head] = [s for s in bot.to_chat("T002", group=False) if "N1" in s.text]
    assert "护理172" in to_head.text
    # Once per stage, however often the scheduler looks.
    await move(app, clock, at(16, 30))
    assert len(group(bot)) == 1
    await bot.say("2020003", "收到", group="护理172")
    bot.clear()
    await move(app, clock, at(18))
    [due] = group(bot)
    assert due.text.startswith("⏰ 请把告家长的一封信转给家长（N1）已截止，还有 28 位同学未确认")
    [final] = [s for s in bot.to_chat("T001", group=False) if "N1" in s.text]
    assert "已截止：2/30" in final.text
    with app.uow(readonly=True) as s:
        assert s.scalar(select(Campaign.status).where(Campaign.kind == "notice")) == "closed"
    [late] = await say(bot, "2020004", "收到")
    assert late.text == "你目前没有需要确认的通知。"


async def test_english_reminders(app: App, bot: TestAdapter, clock: ManualClock) -> None:
    object.__setattr__(app.config.bot, "language", "en")
    await move(app, clock, at(8))
    await bot.say("T001", "/notice 护理172 截止 11-23 18:00 Bring your ID")
    bot.clear()
    await move(app, clock, at(16))
    [reminder] = group(bot)
    assert reminder.text.startswith(
        "⏰ Bring your ID (N1) is due 23 Nov 18:00; 30 still to confirm"
    )


async def test_an_open_notice_is_in_the_daily_roll_up_with_zero_rows(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(8))
    await bot.say("T003", "通知 医学院 截止 11-24 18:00 下周停课")
    await bot.say("2020001", "收到", group="护理172")
    bot.clear()
    await move(app, clock, at(12))
    [rollup] = [s for s in bot.to_chat("T001", group=False) if s.message.attachment is not None]
    assert rollup.text.endswith(
        "📊 下周停课（N1）进度：1/60（2%）\n  护理172：1/30（3%）\n  检验172：0/30（0%）"
    )


async def test_with_the_check_in_off_the_jobs_cover_only_open_campaigns(
    database_url: str,
) -> None:
    from tests.conftest import START, make_config, start_app

    config = make_config(database_url, checkin={"enabled": False})
    clock = ManualClock(START)
    app, bot = await start_app(config, clock)
    try:
        await move(app, clock, at(8))
        assert bot.to_chat("护理172", group=True) == []  # no 07:00 prompt
        await bot.say("T001", "通知 护理172 截止 11-24 18:00 请带学生证")
        bot.clear()
        await move(app, clock, at(12))
        assert group(bot) == []  # no 11:00 lists
        [summary] = bot.to_chat("T001", group=False)
        assert summary.text == "📊 请带学生证（N1）进度：0/30（0%）\n  护理172：0/30（0%）"
        assert summary.message.attachment is None
        assert bot.to_chat("T003", group=False)[0].text.startswith("📊 请带学生证（N1）")
        [refused] = await say(bot, "2020001", "打卡 36.5")
        assert refused.text.startswith("本校目前不做每日健康打卡")
        bot.clear()
        await move(app, clock, at(7) + timedelta(days=1))
        [morning] = group(bot)
        assert morning.text == (
            "🌅 今天进行中的事项，请按时完成：\n· 请带学生证（N1），截止 11月24日 18:00"
        )
        assert group(bot, "检验172") == []
    finally:
        await app.stop()
        app.engine.dispose()


async def test_the_feature_brings_its_reminder_job_and_retention_rule(
    app: App, bot: TestAdapter
) -> None:
    from handlers import notices
    from schedules.campaigns import REMINDERS

    assert REMINDERS in app.feature_jobs
    assert notices.FEATURE.retention in app.retention_rules
    await bot.say("T001", NOTICE)
    await bot.say("2020001", "收到")
    with app.uow() as s:
        [c] = s.scalars(select(Campaign)).all()
        assert notices.FEATURE.retention is not None
        assert notices.FEATURE.retention(s, c.deadline + timedelta(days=180)) == 0
        assert notices.FEATURE.retention(s, c.deadline + timedelta(days=181)) == 1
    assert responses(app) == 0


def test_the_notice_kind_is_wired_with_its_sheet(app: App) -> None:
    from storage.campaigns import KINDS
    from storage.campaigns import NOTICE as KIND

    assert KIND in app.campaign_kinds
    assert KIND.sheet_title("zh") == "通知确认" and KINDS.get("notice") is KIND


async def test_a_campaign_for_a_care_category_is_reminded_privately_only(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    from storage import campaigns, identity
    from storage.campaigns import NOTICE as KIND
    from storage.campaigns import Audience

    await move(app, clock, at(8))
    with app.uow() as s:
        ids = []
        for number in ("2020001", "2020003"):
            p = identity.find_person(s, number)
            assert p is not None
            ids.append(p.id)
        counselor = identity.find_person(s, "T001")
        assert counselor is not None
        campaigns.create(
            s,
            KIND,
            title="家庭情况核实",
            audience=Audience(tag="建档立卡", students=frozenset(ids)),
            deadline=at(18),
            now=app.clock.now(),
            created_by=counselor.id,
        )
    bot.clear()
    await move(app, clock, at(18))
    assert group(bot) == []
    [listed] = [s for s in bot.to_chat("T001", group=False) if "家庭情况核实" in s.text]
    assert "护理172：0/2，未确认 2 人：张晓明、王雨桐" in listed.text


async def test_mine_lists_the_notices_waiting_for_confirmation(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", NOTICE)
    [mine] = await say(bot, "2020001", "我的")
    assert "待确认的通知：N1 请把告家长的一封信转给家长（回复「收到」）" in mine.text
    await bot.say("2020001", "收到")
    [mine] = await say(bot, "2020001", "我的")
    assert "待确认的通知" not in mine.text
