"""重点学生 files through the real router: tags, 云家访 / 谈话 with follow-ups, 档案, the 帮扶台账,
and 云跟踪 of an unwell student until 康复. The clock starts on Monday 2026-11-23 06:00."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.models import (
    AuditEntry,
    CareContact,
    CareFollowUp,
    CareTag,
    HealthTrack,
    HealthTrackAnswer,
)
from tests.conftest import TZ, make_config, row_counts, start_app
from tests.handlers.people import database_text, in_groups, private_to, rows

VISIT = (
    "家访 2020001 视频 参与:王老师,家长 情况:家中经济紧张，母亲住院 帮扶:申请临时困难补助 "
    "跟进:11-25 寄口罩"
)


async def move(app: App, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    assert app.scheduler is not None
    await app.scheduler.run_due()


def day_at(days: int, hh: int, mm: int = 0) -> datetime:
    base = datetime(2026, 11, 23, tzinfo=TZ).date() + timedelta(days=days)
    return datetime.combine(base, time(hh, mm), tzinfo=TZ)


def care_reads(app: App) -> list[tuple[str, str | None, object]]:
    with app.uow(readonly=True) as s:
        return [
            (e.actor, e.target, (e.detail or {}).get("what"))
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "care_read"))
        ]


# -- tags --------------------------------------------------------------------------------------


async def test_counselor_tags_and_untags_a_student_privately(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "标记 2020001 家庭经济困难")
    assert reply.text == (
        "✓ 已将 张晓明（2020001，护理172）标记为「家庭经济困难」，每 14 天需联系一次。"
    )
    [tag] = rows(app, CareTag)
    assert (tag.category, tag.removed_at) == ("家庭经济困难", None)
    [again] = await bot.say("T001", "标记 2020001 家庭经济困难")
    assert again.text == "张晓明（2020001）已经标记为「家庭经济困难」。"
    [reply] = await bot.say("T001", "取消标记 2020001 家庭经济困难")
    assert reply.text == "✓ 已取消 张晓明（2020001）的「家庭经济困难」标记。"
    [tag] = rows(app, CareTag)
    assert tag.removed_at is not None
    [none] = await bot.say("T001", "取消标记 2020001 家庭经济困难")
    assert none.text == "张晓明（2020001）没有「家庭经济困难」标记。"


async def test_a_category_with_a_slash_is_one_category(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T003", "标记 2020031 隔离/滞留")
    assert "「隔离/滞留」，每 3 天需联系一次" in reply.text


async def test_an_unknown_category_is_refused_with_the_list(app: App, bot: TestAdapter) -> None:
    before = row_counts(app)
    [reply] = await bot.say("T001", "标记 2020001 很穷")
    assert reply.text.startswith(
        "没有「很穷」这个类别。可用的类别：家庭经济困难、心理关注、未就业、学业困难、身体健康关注、隔离/滞留"
    )
    assert "格式：标记 <学号> <类别>" in reply.text
    assert row_counts(app) == before


async def test_tagging_needs_a_student_and_a_category(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "标记")
    assert reply.text.startswith("请写上学号")
    [reply] = await bot.say("T001", "标记 2020001")
    assert reply.text.startswith("请写上类别。可用的类别：家庭经济困难")
    [reply] = await bot.say("T001", "标记 T002 心理关注")
    assert reply.text.startswith("T002 不是花名册上的学生。")
    assert rows(app, CareTag) == []


async def test_a_tag_in_a_group_is_refused_and_nothing_is_stored(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("T001", "标记 2020001 心理关注", group="护理172")
    assert reply.to.is_group and reply.text.startswith("这件事请私聊我办理")
    assert "心理关注" not in reply.text
    assert rows(app, CareTag) == []


# -- contacts and follow-ups -----------------------------------------------------------------


async def test_a_home_visit_in_one_line_is_logged_with_its_follow_up(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("T001", VISIT)
    assert reply.text == (
        "✓ 已记录 张晓明（2020001）的云家访（11月23日，视频）。跟进事项：#1 11月25日 寄口罩"
    )
    [contact] = rows(app, CareContact)
    assert (contact.kind, contact.mode, contact.participants) == ("visit", "视频", "王老师,家长")
    assert contact.situation == "家中经济紧张，母亲住院"
    assert contact.help_given == "申请临时困难补助"
    [followup] = rows(app, CareFollowUp)
    assert (followup.due.isoformat(), followup.what, followup.done_at) == (
        "2026-11-25",
        "寄口罩",
        None,
    )
    [done] = await bot.say("T001", "完成 1")
    assert done.text == "✓ 跟进事项 #1（张晓明：寄口罩）已完成。"
    [again] = await bot.say("T001", "完成 1")
    assert again.text == "跟进事项 #1 已经完成了。"


async def test_a_talk_with_a_date_and_no_follow_up(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "谈话 2020003 面谈 日期:11-20 情况:情绪平稳")
    assert reply.text == "✓ 已记录 王雨桐（2020003）的谈心谈话（11月20日，面谈）。没有跟进事项。"
    [contact] = rows(app, CareContact)
    assert (contact.kind, contact.day.isoformat()) == ("talk", "2026-11-20")


async def test_malformed_contact_logs_show_the_form_and_store_nothing(
    app: App, bot: TestAdapter
) -> None:
    before = row_counts(app)
    cases = {
        "家访": "请写上学号",
        "家访 2020001 飞鸽 情况:好": "请写上联系方式",
        "家访 2020001 视频": "请写上了解到的情况",
        "家访 2020001 视频 家里很好": "看不懂「家里很好」",
        "家访 2020001 视频 情况:好 跟进:寄口罩": "跟进事项要写成「跟进:日期 事项」",
        "家访 2020001 视频 日期:明天 情况:好": "",
        "家访 9999999 视频 情况:好": "9999999 不是花名册上的学生。",
    }
    for text, expected in cases.items():
        [reply] = await bot.say("T001", text)
        assert expected in reply.text, (text, reply.text)
        assert "格式：家访 <学号>" in reply.text, (text, reply.text)
    assert row_counts(app) == before


async def test_a_home_visit_as_a_short_conversation(app: App, bot: TestAdapter) -> None:
    [q] = await bot.say("T001", "家访 2020001")
    assert q.text.startswith("记录 张晓明（2020001）的云家访。联系方式？")
    [q] = await bot.say("T001", "飞鸽")
    assert "请写上联系方式" in q.text
    [q] = await bot.say("T001", "电话")
    assert q.text.startswith("谁参与了？")
    [q] = await bot.say("T001", "王芳,家长")
    assert q.text == "了解到的情况？"
    [q] = await bot.say("T001", "母亲住院，家里收入减少")
    assert q.text.startswith("给了哪些帮扶？")
    [q] = await bot.say("T001", "无")
    assert q.text.startswith("需要跟进的事项？")
    [q] = await bot.say("T001", "寄口罩")
    assert "跟进事项要写成" in q.text
    assert rows(app, CareContact) == []
    [done] = await bot.say("T001", "11-25 寄口罩；11-30 回访")
    assert done.text == (
        "✓ 已记录 张晓明（2020001）的云家访（11月23日，电话）。"
        "跟进事项：#1 11月25日 寄口罩；#2 11月30日 回访"
    )
    [contact] = rows(app, CareContact)
    assert (contact.mode, contact.participants, contact.help_given) == ("电话", "王芳,家长", "")
    assert contact.situation == "母亲住院，家里收入减少"
    assert [f.what for f in rows(app, CareFollowUp)] == ["寄口罩", "回访"]


async def test_a_contact_conversation_can_be_cancelled(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "谈话 2020001")
    await bot.say("T001", "面谈")
    [reply] = await bot.say("T001", "取消")
    assert reply.text.startswith("已取消")
    [reply] = await bot.say("T001", "情绪平稳")
    assert not reply.text.startswith("了解")
    assert rows(app, CareContact) == []


async def test_someone_elses_follow_up_is_out_of_scope(app: App, bot: TestAdapter) -> None:
    from tests.conftest import seed_other_college

    seed_other_college(app)
    await bot.say("T001", VISIT)
    [reply] = await bot.say("T101", "完成 1")
    assert reply.text == "你无权处理跟进事项 #1。"
    [reply] = await bot.say("T001", "完成 7")
    assert reply.text == "找不到跟进事项 #7。"
    [followup] = rows(app, CareFollowUp)
    assert followup.done_at is None


# -- 档案 --------------------------------------------------------------------------------------


async def test_the_file_shows_the_timeline_to_the_counselor_and_is_audited(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(day_at(0, 8))
    await bot.say("T001", "标记 2020001 家庭经济困难")
    clock.set(day_at(0, 8, 10))
    await bot.say("2020001", "打卡 38.1 发烧")
    clock.set(day_at(0, 8, 20))
    await bot.say("2020001", "请假 明天 病假 发烧就医")
    clock.set(day_at(0, 9))
    await bot.say("T001", VISIT)
    [reply] = await bot.say("T001", "档案 2020001")
    lines = reply.text.splitlines()
    assert lines[:3] == [
        "📁 张晓明（2020001，护理172）档案",
        "当前标记：家庭经济困难",
        "未完成跟进：#1 11月25日 寄口罩",
    ]
    assert lines[3] == "11月23日 08:00 标记「家庭经济困难」"
    assert lines[4] == "11月23日 08:10 异常打卡：38.1℃，症状：发热"
    assert lines[5] == "11月23日 08:20 请假 L1 病假 11月24日–11月24日（待审批）"
    assert lines[6].startswith("11月23日 云家访（视频）参与：王老师,家长；情况：家中经济紧张")
    assert lines[7] == "11月23日 09:00 跟进 #1 截止 11月25日：寄口罩（未完成）"
    assert care_reads(app) == [("T001 王芳", "person:2020001", "file")]


async def test_the_file_shows_subsidy_decisions_and_follow_ups_done(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("2020001", "补助 500 家庭困难")
    await bot.say("T001", "批准 S1")
    await bot.say("T001", VISIT)
    await bot.say("T001", "完成 1")
    [reply] = await bot.say("T001", "档案 2020001")
    assert "补助 S1：批准" in reply.text
    assert "跟进 #1 截止 11月25日：寄口罩（已完成）" in reply.text
    assert "未完成跟进：无" in reply.text


async def test_only_care_readers_may_read_a_file(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "标记 2020001 心理关注")
    for sender in ("T002", "T003", "T009"):
        [reply] = await bot.say(sender, "档案 2020001")
        assert reply.text == "你无权处理学生 2020001 的帮扶档案。", sender
        assert "心理关注" not in reply.text
    [reply] = await bot.say("2020001", "档案 2020001")
    assert reply.text.startswith("你没有权限使用")
    assert care_reads(app) == []


# -- 帮扶台账 ----------------------------------------------------------------------------------


async def test_the_care_ledger_is_sent_privately_and_audited(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "标记 2020001 家庭经济困难")
    await bot.say("T001", "标记 2020031 未就业")
    await bot.say("T001", VISIT.replace("情况:", "情况:=HYPERLINK(1) "))
    sent = await bot.say("T001", "帮扶台账 护理172")
    [reply] = private_to(sent, "T001")
    assert reply.text == "📎 帮扶台账（护理172，1 名重点学生）"
    attachment = reply.message.attachment
    assert attachment is not None and attachment.filename == "帮扶台账-护理172-2026-11-23.xlsx"
    book = load_workbook(BytesIO(attachment.content))
    students = [tuple(r) for r in book.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert [s[:4] for s in students] == [("护理172", "2020001", "张晓明", "家庭经济困难")]
    [contact] = list(book.worksheets[1].iter_rows(min_row=2, values_only=True))
    assert contact[7] == "=HYPERLINK(1) 家中经济紧张，母亲住院"
    assert book.worksheets[1].cell(2, 8).data_type == "s"
    with app.uow(readonly=True) as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "export"))
    assert (entry.target, entry.actor) == ("care_ledger:护理172", "T001 王芳")
    sent = await bot.say("T001", "帮扶台账 医学院")
    [reply] = private_to(sent, "T001")
    assert reply.text == "📎 帮扶台账（医学院，2 名重点学生）"


async def test_the_care_ledger_is_refused_to_non_readers(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "标记 2020001 家庭经济困难")
    [reply] = await bot.say("T003", "帮扶台账 医学院")
    assert reply.text == "你无权处理帮扶台账 医学院。"
    [reply] = await bot.say("T001", "帮扶台账 药学院")
    assert reply.text.startswith("「药学院」不是班级或学院。")


# -- reminders -------------------------------------------------------------------------------


async def test_cadence_and_follow_up_reminders_reach_the_counselor_when_due(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(day_at(0, 10))
    await bot.say("T001", "标记 2020003 隔离/滞留")
    await bot.say("T001", VISIT)
    bot.clear()
    # Day 1 and 2: nothing due yet (cadence 3 days; the follow-up is due on day 2, 11-25).
    await move(app, clock, day_at(1, 7, 1))
    assert [s for s in bot.sent if "重点学生待办" in s.text] == []
    await move(app, clock, day_at(2, 7, 1))
    [due] = [s for s in bot.sent if "重点学生待办" in s.text]
    assert due.to.chat_id == "T001" and not due.to.is_group
    assert "• #1 张晓明（2020001）寄口罩：今天到期" in due.text
    assert "王雨桐" not in due.text
    bot.clear()
    await move(app, clock, day_at(3, 7, 1))
    [due] = [s for s in bot.sent if "重点学生待办" in s.text]
    assert "• 王雨桐（2020003，护理172）隔离/滞留：今天到期，上次联系 从未" in due.text
    assert "寄口罩：已逾期 1 天" in due.text
    bot.clear()
    await bot.say("T001", "完成 1")
    await bot.say("T001", "谈话 2020003 电话 情况:已解除隔离")
    await move(app, clock, day_at(4, 7, 1))
    assert [s for s in bot.sent if "重点学生待办" in s.text] == []
    assert not [s for s in in_groups(bot.sent) if "寄口罩" in s.text or "王雨桐" in s.text]


# -- 云跟踪 ------------------------------------------------------------------------------------


async def test_daily_follow_up_prompts_until_recovery_and_a_worse_answer_alerts_at_once(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(day_at(0, 8))
    sent = await bot.say("T001", "跟踪 2020001")
    [staff] = private_to(sent, "T001")
    assert staff.text.startswith("✓ 已开始对 张晓明（2020001）的每日云跟踪，每天 07:00")
    [student] = private_to(sent, "2020001")
    assert student.text.startswith("🩺 老师会每天 07:00 私信问问你的身体情况")
    bot.clear()
    await move(app, clock, day_at(1, 7, 1))
    [prompt] = bot.to_chat("2020001", group=False)
    assert prompt.text.startswith("🩺 张晓明，今天身体怎么样？请回复：身体 <体温> [症状]")
    bot.clear()
    sent = await bot.say("2020001", "身体 37.6 咳嗽")
    [reply] = private_to(sent, "2020001")
    assert reply.text.startswith("✓ 已记录今天的身体情况：体温 37.6℃，症状：咳嗽。")
    alerts = [s for s in sent if "云跟踪加重" in s.text]
    assert sorted(a.to.chat_id for a in alerts) == ["T001", "T002"]
    # Day 2: prompted again; a better answer alerts nobody.
    bot.clear()
    await move(app, clock, day_at(2, 7, 1))
    [prompt] = bot.to_chat("2020001", group=False)
    assert "今天身体怎么样" in prompt.text
    sent = await bot.say("2020001", "身体 36.9 咳嗽")
    assert [s.to.chat_id for s in sent] == ["2020001"]
    # Worse than ever before: higher temperature, a new symptom.
    sent = await bot.say("2020001", "身体 38.2 咳嗽 头疼")
    [alert] = [s for s in sent if s.to.chat_id == "T001"]
    assert alert.text == (
        "⚠️ 云跟踪加重：张晓明（2020001，护理172）今天体温 38.2℃，症状：咳嗽、头痛"
        "（此前最高 37.6℃）。请尽快联系。"
    )
    bot.clear()
    sent = await bot.say("T001", "康复 2020001")
    [staff] = private_to(sent, "T001")
    assert staff.text == "✓ 张晓明（2020001）已标记康复，每日云跟踪结束（共 3 天、3 次回复）。"
    [told] = private_to(sent, "2020001")
    assert told.text.startswith("🌿 老师已确认你恢复健康")
    bot.clear()
    await move(app, clock, day_at(3, 7, 1))
    assert bot.to_chat("2020001", group=False) == []
    [reply] = await bot.say("2020001", "身体 36.5")
    assert reply.text.startswith("你现在没有需要每天报告的身体情况跟踪。")
    [track] = rows(app, HealthTrack)
    assert track.closed_at is not None
    assert [(a.temp_tenths, a.worse) for a in rows(app, HealthTrackAnswer)] == [
        (376, True),
        (369, False),
        (382, True),
    ]
    [reply] = await bot.say("T001", "康复 2020001")
    assert reply.text == "张晓明（2020001）没有进行中的云跟踪。"


async def test_an_answer_already_given_today_skips_that_days_prompt(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(day_at(0, 6, 30))
    await bot.say("T001", "跟踪 2020001")
    await bot.say("2020001", "身体 36.8")
    bot.clear()
    await move(app, clock, day_at(0, 7, 1))
    assert bot.to_chat("2020001", group=False) == []


async def test_an_abnormal_check_in_opens_a_follow_up_when_configured(
    database_url: str, clock: ManualClock
) -> None:
    config = make_config(database_url, keystudents={"track_abnormal": True})
    app, bot = await start_app(config, clock)
    try:
        clock.set(day_at(0, 8))
        sent = await bot.say("2020001", "打卡 38.0 咳嗽", group="护理172")
        [group] = in_groups(sent)
        assert "38.0" not in group.text and "云跟踪" not in group.text
        assert any(s.text.startswith("🩺 你今天的打卡有异常") for s in private_to(sent, "2020001"))
        assert any("已自动开始每日云跟踪" in s.text for s in private_to(sent, "T001"))
        [track] = rows(app, HealthTrack)
        assert (track.source, track.base_temp_tenths, track.base_symptoms) == (
            "checkin",
            380,
            "咳嗽",
        )
        # Same temperature, same symptom: not worse than the check-in it started from.
        sent = await bot.say("2020001", "身体 38.0 咳嗽")
        assert [s.to.chat_id for s in sent] == ["2020001"]
        await bot.say("2020001", "打卡 38.5 咳嗽")
        assert len(rows(app, HealthTrack)) == 1
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_sick_leave_opens_a_follow_up_of_its_student(app: App, bot: TestAdapter) -> None:
    await bot.say("2020001", "请假 明天 病假 发烧就医")
    await bot.say("2020002", "请假 明天 事假 回家")
    [reply] = await bot.say("T001", "跟踪 L2")
    assert reply.text.startswith("这是事假，只有病假可以开始云跟踪。")
    sent = await bot.say("T001", "跟踪 L1")
    assert private_to(sent, "T001")[0].text.startswith("✓ 已开始对 张晓明（2020001）的每日云跟踪")
    [track] = rows(app, HealthTrack)
    assert track.source == "leave"
    [reply] = await bot.say("T001", "档案 2020001")
    assert "开始云跟踪（病假）" in reply.text


async def test_no_follow_up_opens_by_itself_by_default(app: App, bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 38.0 咳嗽")
    assert rows(app, HealthTrack) == []


async def test_the_daily_answer_is_private_and_needs_an_open_follow_up(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", "跟踪 2020001")
    before = row_counts(app)
    [reply] = await bot.say("2020001", "身体 37.9 咳嗽", group="护理172")
    assert reply.to.is_group and reply.text.startswith("这件事请私聊我办理")
    assert row_counts(app) == before
    [reply] = await bot.say("2020002", "身体 36.5")
    assert reply.text.startswith("你现在没有需要每天报告的身体情况跟踪。")
    [reply] = await bot.say("2020001", "身体 很好")
    assert reply.text.startswith("体温看不懂")
    [reply] = await bot.say("T001", "跟踪 2020001")
    assert reply.text.startswith("张晓明（2020001）已在云跟踪中")


# -- privacy ---------------------------------------------------------------------------------


async def test_care_records_never_reach_a_group_or_the_student(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(day_at(0, 8))
    await bot.say("T001", "标记 2020001 心理关注")
    await bot.say("T001", VISIT)
    await bot.say("T001", "跟踪 2020001")
    await bot.say("2020001", "我的", group="护理172")
    await bot.say("2020001", "我的")
    for day in range(4):
        await move(app, clock, day_at(day, 7, 1))
    to_student = bot.to_chat("2020001", group=False)
    for s in to_student + in_groups(bot.sent):
        for secret in ("心理关注", "家中经济紧张", "寄口罩", "家庭经济困难", "王老师,家长"):
            assert secret not in s.text, s.text
    text = database_text(app, skip={"care_contacts", "care_followups", "care_tags"})
    assert "家中经济紧张" not in text
