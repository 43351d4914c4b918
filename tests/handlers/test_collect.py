"""信息收集: 收集 from a template, 填 in one line or question by question, 进度, 导出 C3, the
reminders, and the refusals."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage import demo
from storage.models import AuditEntry, Campaign, CampaignResponse, CampaignResponseRevision
from tests.conftest import OTHER_CLASS, TZ, row_counts, seed_other_college

DAY = datetime(2026, 11, 23, tzinfo=TZ).date()
START = "收集 寒假离校返乡登记 护理172 11-24 18:00"
LINE = "填 C1 2027-01-15 湖北恩施 火车 2027-02-20"


def at(hh: int, mm: int = 0, day: int = 23) -> datetime:
    return datetime.combine(DAY.replace(day=day), time(hh, mm), tzinfo=TZ)


async def move(app: App, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    assert app.scheduler is not None
    await app.scheduler.run_due()


async def say(bot: TestAdapter, sender: str, text: str, group: str | None = None) -> list[Sent]:
    return [
        s for s in await bot.say(sender, text, group=group) if s.to.chat_id == (group or sender)
    ]


def responses(app: App) -> list[dict[str, Any]]:
    with app.uow(readonly=True) as s:
        return [dict(a) for a in s.scalars(select(CampaignResponse.answers))]


async def test_a_counselor_starts_a_collection_posted_in_the_class_group(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await say(bot, "T001", START)
    assert reply.text.startswith(
        "✓ 已发起信息收集 C1「寒假离校返乡登记」：1 个班级群，30 位同学，截止 11月24日 18:00。"
    )
    [posted] = bot.to_chat("护理172", group=True)
    assert posted.text.startswith("📝 信息收集 C1：寒假离校返乡登记（王芳）")
    assert (
        "请在 11月24日 18:00 前私聊我填写，按顺序回答：离校日期、目的地、交通方式、返校日期、[备注]"
        in posted.text
    )
    assert "一行写完：填 C1 2027-01-15 湖北恩施 火车 2027-02-20" in posted.text
    assert bot.to_chat("检验172", group=True) == []
    with app.uow(readonly=True) as s:
        [c] = s.scalars(select(Campaign)).all()
        assert (c.kind, c.number, c.in_groups, c.remind_before) == ("collection", 1, False, 120)
        assert [f["key"] for f in c.form][:4] == [
            "leave_date",
            "destination",
            "transport",
            "return_date",
        ]
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.target == "C1")) == "collect"


async def test_without_scope_and_deadline_it_goes_to_all_the_senders_classes(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", "收集 就业意向调查")
    assert len(bot.to_chat("护理172", group=True)) == 1
    assert len(bot.to_chat("检验172", group=True)) == 1
    with app.uow(readonly=True) as s:
        c = s.scalars(select(Campaign)).one()
        # The template's 7 days, at the end of the day.
        local = c.deadline.astimezone(TZ)
        assert (local.day, local.hour, local.minute) == (30, 23, 59)


async def test_collect_refusals_store_nothing(app: App, bot: TestAdapter) -> None:
    seed_other_college(app)
    before = row_counts(app)
    cases = {
        "收集": "请写模板名，可用的模板：",
        "收集 春游": "没有叫「春游」的模板。可用的模板：",
        "收集 寒假离校返乡登记 不存在班": "「不存在班」不是截止时间",
        f"收集 寒假离校返乡登记 {OTHER_CLASS}": "你无权处理",
        "收集 寒假离校返乡登记 药学院": "你无权处理",
        "收集 寒假离校返乡登记 护理172 11-23 05:00": "已经过去了",
        "收集 寒假离校返乡登记 护理172 25:00": "时间「25:00」看不懂",
    }
    for text, expected in cases.items():
        [reply] = await say(bot, "T001", text)
        assert expected in reply.text, (text, reply.text)
    [reply] = await say(bot, "T002", START)
    assert "你没有权限使用「收集」" in reply.text
    [reply] = await say(bot, "2020001", START)
    assert "你没有权限使用「收集」" in reply.text
    assert row_counts(app) == before


async def test_a_malformed_template_in_the_folder_is_reported_by_row(
    app: App, bot: TestAdapter, tmp_path: Path
) -> None:
    (tmp_path / "坏模板.toml").write_text('title = "坏"\n[[fields]]\nlabel = "x"\ntype = "颜色"\n')
    object.__setattr__(app.config.collect, "templates_dir", tmp_path)
    [reply] = await say(bot, "T001", "收集 坏模板")
    assert reply.text.startswith("坏模板.toml 的「fields[1].type」：未知的类型「颜色」")
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_a_student_answers_in_one_line_privately(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", START)
    [reply] = await say(bot, "2020001", LINE)
    assert reply.text == (
        "✓ 已提交 C1「寒假离校返乡登记」\n离校日期：2027-01-15\n目的地：湖北恩施\n交通方式：火车\n"
        "返校日期：2027-02-20\n备注：（未填）\n如有不对，重新填写即可，以最后一次为准。"
    )
    assert responses(app) == [
        {
            "leave_date": "2027-01-15",
            "destination": "湖北恩施",
            "transport": "火车",
            "return_date": "2027-02-20",
            "note": None,
        }
    ]


async def test_answering_again_replaces_the_answer_and_keeps_the_history(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", START)
    await bot.say("2020001", LINE)
    [reply] = await say(bot, "2020001", "填 C1 1-16 湖北恩施 飞机 2-21 坐早班机")
    assert "（已更新之前的回答）" in reply.text
    [current] = responses(app)
    assert (current["transport"], current["note"]) == ("飞机", "坐早班机")
    with app.uow(readonly=True) as s:
        versions = s.scalars(
            select(CampaignResponseRevision.answers).order_by(CampaignResponseRevision.revision)
        ).all()
    assert [v["transport"] for v in versions] == ["火车", "飞机"]


async def test_one_line_refusals_name_the_question_and_store_nothing(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", START)
    cases = {
        "填 C1 2027-01-15 湖北恩施": "需要按顺序回答 4–5 项",
        "填 C1 2027-01-15 湖北恩施 火箭 2027-02-20": "「交通方式」没有「火箭」这个选项",
        "填 C1 寒假 湖北恩施 火车 2027-02-20": "「离校日期」日期「寒假」看不懂",
        "填 C9 1-15 a 火车 2-20": "找不到信息收集 C9",
        "填 N1 1-15 a 火车 2-20": "找不到通知 N1",
        "填 明天": "请写信息收集的编号",
    }
    for text, expected in cases.items():
        [reply] = await say(bot, "2020001", text)
        assert expected in reply.text, (text, reply.text)
    assert responses(app) == []


async def test_a_student_outside_the_audience_cannot_answer(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", START)
    [reply] = await say(bot, "2020031", LINE)
    assert reply.text == "找不到给你的信息收集 C1。"
    assert responses(app) == []


async def test_fill_in_a_group_asks_for_a_private_answer_and_stores_nothing(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", START)
    [reply] = await say(bot, "2020001", "填 C1", group="护理172")
    assert reply.text == "请私聊我填写，群里不会保存你发的内容。"
    # Anything longer is chat, ignored silently (an answer is never read in a group).
    assert await bot.say("2020001", LINE, group="护理172") == []
    assert await bot.say("2020001", "填好了吗", group="护理172") == []
    assert responses(app) == []


async def test_fill_alone_lists_the_students_open_collections(app: App, bot: TestAdapter) -> None:
    [reply] = await say(bot, "2020001", "填")
    assert reply.text == "你目前没有需要填写的信息收集。"
    await bot.say("T001", START)
    await bot.say("T001", "收集 就业意向调查 护理172")
    await bot.say("2020001", LINE)
    [reply] = await say(bot, "2020001", "填")
    assert reply.text.startswith(
        "需要填写的信息收集：\nC1 寒假离校返乡登记（截止 11月24日 18:00） ✓ 已填"
    )
    assert "\nC2 就业意向调查（截止 11月30日 23:59）\n" in reply.text
    [mine] = await say(bot, "2020001", "我的")
    assert "待填写的信息收集：C2 就业意向调查" in mine.text


async def test_fill_c1_asks_question_by_question(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", START)
    [q1] = await say(bot, "2020003", "填 C1")
    assert q1.text.startswith("C1 第 1/5 题：离校日期\n例：")
    [q2] = await say(bot, "2020003", "1月15日")
    assert q2.text.startswith("C1 第 2/5 题：目的地")
    [q3] = await say(bot, "2020003", "湖北 恩施")
    assert "选项：1.火车 2.飞机 3.汽车 4.自驾 5.其他" in q3.text
    # A wrong answer is refused and the same question stays pending.
    [again] = await say(bot, "2020003", "火箭")
    assert "没有「火箭」这个选项" in again.text
    [q4] = await say(bot, "2020003", "2")
    assert q4.text.startswith("C1 第 4/5 题：返校日期")
    [q5] = await say(bot, "2020003", "2-20")
    assert "（可不填，发 - 跳过）" in q5.text
    [done] = await say(bot, "2020003", "-")
    assert done.text.startswith("✓ 已提交 C1「寒假离校返乡登记」")
    assert responses(app) == [
        {
            "leave_date": "2027-01-15",
            "destination": "湖北 恩施",
            "transport": "飞机",
            "return_date": "2027-02-20",
            "note": None,
        }
    ]


async def test_cancel_ends_the_conversation_and_stores_nothing(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", START)
    await bot.say("2020003", "填 C1")
    await bot.say("2020003", "1-15")
    [reply] = await say(bot, "2020003", "取消")
    assert "取消" in reply.text
    [unknown] = await say(bot, "2020003", "湖北恩施")
    assert "没看懂" in unknown.text
    assert responses(app) == []


async def test_a_conversation_times_out(app: App, bot: TestAdapter, clock: ManualClock) -> None:
    await bot.say("T001", START)
    await bot.say("2020003", "填 C1")
    clock.advance(timedelta(minutes=11))
    [reply] = await say(bot, "2020003", "1-15")
    assert "超时" in reply.text or "过期" in reply.text or "太久" in reply.text, reply.text
    assert responses(app) == []


async def test_progress_shows_each_class_and_the_non_responders_privately(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", "收集 寒假离校返乡登记 全部 11-24 18:00")
    await bot.say("2020001", LINE)
    [reply] = await say(bot, "T001", "进度 C1")
    lines = reply.text.splitlines()
    assert lines[0] == "📊 寒假离校返乡登记（C1）进度：1/60（2%）"
    assert lines[1] == "截止 11月24日 18:00"
    assert "  护理172：1/30（3%）" in lines
    assert "  检验172：0/30（0%）" in lines
    names = [line for line in lines if line.startswith("    未填写：")]
    assert len(names) == 2 and "张晓明" not in names[0]
    # In a group the list goes privately.
    [in_group] = await say(bot, "T001", "进度 C1", group="护理172")
    assert in_group.text == "已私信发给你。"
    # A head teacher reads the progress of their class only.
    [head] = await say(bot, "T002", "进度 C1")
    assert "护理172" in head.text and "检验172" not in head.text


async def test_the_college_admin_sees_the_roll_up_with_zero_rows(
    app: App, bot: TestAdapter
) -> None:
    seed_other_college(app)
    await bot.say("T009", "收集 留校学生情况统计 全部 11-24 18:00")
    await bot.say("2020001", "填 C1 否")
    [school] = await say(bot, "T009", "进度 C1")
    assert "医学院：1/60（2%）" in school.text and "药学院：0/" in school.text
    assert f"  {OTHER_CLASS}：0/" in school.text
    [college] = await say(bot, "T003", "进度 C1")
    assert "医学院：1/60（2%）" in college.text and "药学院" not in college.text


async def test_progress_refusals(app: App, bot: TestAdapter) -> None:
    seed_other_college(app)
    await bot.say("T001", START)
    cases = {
        "进度": "请写编号",
        "进度 护理172": "「护理172」不是信息收集或通知的编号",
        "进度 C9": "找不到信息收集 C9",
    }
    for text, expected in cases.items():
        [reply] = await say(bot, "T001", text)
        assert expected in reply.text, (text, reply.text)
    [reply] = await say(bot, "T101", "进度 C1")
    assert reply.text == "你无权处理信息收集 C1。"
    [reply] = await say(bot, "2020001", "进度 C1")
    assert "你没有权限使用「进度」" in reply.text


async def test_export_c1_sends_the_answers_privately_with_sensitive_ones_for_who_may(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", "收集 留校学生情况统计 护理172 11-24 18:00")
    await bot.say("2020001", "填 C1 是 考研 8号楼312 =1+1 2027-02-10")
    [reply] = await say(bot, "T001", "导出 C1")
    assert reply.text == "📎 留校学生情况统计（C1）王芳：30 人"
    assert reply.message.attachment is not None
    assert reply.message.attachment.filename.startswith("C1-")
    ws = load_workbook(io.BytesIO(reply.message.attachment.content)).active
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    assert "联系电话" in header and "是否留校" in header
    first = dict(zip(header, rows[1], strict=False))
    # Text typed by a student is never a formula.
    assert first["联系电话"] == "=1+1"
    assert ws.cell(2, header.index("联系电话") + 1).data_type == "s"
    [head] = await say(bot, "T002", "导出 C1")
    ws = load_workbook(io.BytesIO(head.message.attachment.content)).active  # type: ignore[union-attr]
    rows = list(ws.iter_rows(values_only=True))
    row = dict(zip(rows[0], rows[1], strict=False))
    assert row["联系电话"] == "（敏感，仅限有权限者）"
    with app.uow(readonly=True) as s:
        audits = s.scalars(select(AuditEntry).where(AuditEntry.target == "campaign:C1")).all()
    assert [a.action for a in audits] == ["export", "export"]


async def test_the_day_ledger_export_still_works(app: App, bot: TestAdapter) -> None:
    [reply] = await say(bot, "T001", "导出")
    assert reply.text.startswith("📎") and "台账" in reply.text


async def test_reminders_before_and_at_the_deadline_name_non_responders(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(8))
    await bot.say("T001", "收集 留校学生情况统计 护理172 11-23 18:00")
    await bot.say("2020001", "填 C1 是 考研 8号楼312 13912345678 2027-02-10")
    bot.clear()
    await move(app, clock, at(16))
    [reminder] = bot.to_chat("护理172", group=True)
    assert reminder.text.startswith(
        "⏰ 留校学生情况统计（C1）将于 11月23日 18:00 截止，还有 29 位同学未填写"
    )
    assert "张晓明" not in {m.name for m in reminder.message.mentions}
    [to_counselor] = [s for s in bot.to_chat("T001", group=False) if "C1" in s.text]
    assert "护理172：1/30，未填写 29 人" in to_counselor.text
    bot.clear()
    await move(app, clock, at(18))
    [due] = bot.to_chat("护理172", group=True)
    assert due.text.startswith("⏰ 留校学生情况统计（C1）已截止")
    [late] = await say(bot, "2020003", "填 C1 否")
    assert late.text == "信息收集 C1 已截止，不能再填写。"
    with app.uow(readonly=True) as s:
        assert s.scalar(select(Campaign.status).where(Campaign.kind == "collection")) == "closed"


async def test_an_open_collection_is_in_the_noon_roll_up_with_zero_rows(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(8))
    await bot.say("T001", START)
    await bot.say("2020001", LINE)
    bot.clear()
    await move(app, clock, at(12))
    texts = [s.text for s in bot.to_chat("T001", group=False)]
    rollup = next(t for t in texts if "寒假离校返乡登记（C1）进度" in t)
    assert "📊 寒假离校返乡登记（C1）进度：1/30（3%）" in rollup
    assert "护理172：1/30（3%）" in rollup
    # The college admin's roll-up lists the class of the collection, answered or not.
    college = next(
        s.text for s in bot.to_chat("T003", group=False) if "寒假离校返乡登记（C1）" in s.text
    )
    assert "护理172：1/30（3%）" in college


async def test_collections_speak_english(app: App, bot: TestAdapter) -> None:
    object.__setattr__(app.config.bot, "language", "en")
    [reply] = await say(bot, "T001", "/collect 寒假离校返乡登记 护理172 11-24 18:00")
    assert reply.text.startswith("✓ Collection C1 “Winter break departure and return” started")
    [posted] = bot.to_chat("护理172", group=True)
    assert (
        "in this order: Departure date, Destination, Transport, Return date, [Note]" in posted.text
    )
    [q1] = await say(bot, "2020001", "/fill C1")
    assert q1.text.startswith("C1 question 1/5: Departure date")
    [again] = await say(bot, "2020001", "someday")
    assert "“Departure date”: cannot read the date 'someday'" in again.text
    [wrong] = await say(bot, "2020003", "/fill C1 1-15")
    assert wrong.text.startswith("Answer the 4–5 questions in this order")
    assert "For example: /fill C1 2027-01-15 湖北恩施 火车 2027-02-20" in wrong.text


# -- a care category as the audience ----------------------------------------------------------


async def test_a_collection_for_a_care_category_is_asked_and_chased_in_private_only(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(8))
    with app.uow() as s:
        demo.seed_care(s, at(8))
    bot.clear()
    [reply] = await say(bot, "T001", "收集 寒假离校返乡登记 #未就业 11-23 18:00")
    assert reply.text.startswith("✓ 已发起信息收集 C1「寒假离校返乡登记」：0 个班级群，1 位同学")
    assert bot.to_chat("护理172", group=True) == []
    [asked] = bot.to_chat("2020015", group=False)
    assert asked.text.startswith("📝 信息收集 C1：寒假离校返乡登记")
    assert bot.to_chat("2020001", group=False) == []
    with app.uow(readonly=True) as s:
        c = s.scalars(select(Campaign).where(Campaign.kind == "collection")).one()
        assert (c.in_groups, c.audience["tag"]) == (False, "未就业")
    bot.clear()
    await move(app, clock, at(16))
    assert bot.to_chat("护理172", group=True) == []
    [reminded] = [s for s in bot.to_chat("2020015", group=False) if "C1" in s.text]
    assert reminded.text == (
        "⏰ 寒假离校返乡登记（C1）将于 11月23日 18:00 截止，你还没有填写，请私聊我填写。"
    )
    assert [s for s in bot.to_chat("2020012", group=False) if "C1" in s.text] == []
    [to_counselor] = [s for s in bot.to_chat("T001", group=False) if "C1" in s.text]
    assert "0/1" in to_counselor.text
    # The head teacher of the class is no care reader: no list, and no progress either.
    assert [s for s in bot.to_chat("T002", group=False) if "C1" in s.text] == []
    [refused] = await say(bot, "T002", "进度 C1")
    assert refused.text == "按关怀类别发起的 C1 只有辅导员和学院管理员可以查看。"
    [progress] = await say(bot, "T001", "进度 C1")
    assert "📊 寒假离校返乡登记（C1）进度：0/1（0%）" in progress.text


async def test_only_counselors_and_college_admins_start_a_collection_for_a_care_category(
    app: App, bot: TestAdapter
) -> None:
    with app.uow() as s:
        demo.seed_care(s, at(8))
    [school] = await say(bot, "T009", "收集 就业意向调查 #未就业")
    assert school.text == "你无权处理关怀类别「未就业」。"
    [unknown] = await say(bot, "T001", "收集 就业意向调查 #挂科")
    assert "没有「挂科」这个类别。可用的类别：家庭经济困难、心理关注" in unknown.text
    [nobody] = await say(bot, "T001", "收集 就业意向调查 标签：学业困难")
    assert "你负责的班级里没有标记为「学业困难」的同学。" in nobody.text
    [college] = await say(bot, "T003", "/collect 就业意向调查 tag:家庭经济困难")
    assert "1 位同学" in college.text
    with app.uow(readonly=True) as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Campaign).where(Campaign.kind == "collection")
            )
            == 1
        )
        assert (
            s.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "refused")
            )
            or 0
        ) >= 1
