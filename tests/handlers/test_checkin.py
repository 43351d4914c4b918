"""每日健康打卡 through the real router (SPEC §4 "Check-in rules")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.models import CheckIn, CheckInRevision


def bot_private(sent: list[Sent], chat_id: str) -> list[Sent]:
    return [s for s in sent if not s.to.is_group and s.to.chat_id == chat_id]


def rows(app: App, model: type) -> list:
    with app.uow(readonly=True) as s:
        return list(s.scalars(select(model)))


async def test_group_checkin_acknowledges_with_the_class_count_only(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("2020001", "打卡 36.5", group="护理172")
    assert reply.to.is_group
    assert reply.text == "✓ 张晓明 已打卡 1/30"
    await bot.say("2020003", "打卡 36.7", group="护理172")
    [reply] = await bot.say("2020004", "打卡 36.6 @武汉", group="护理172")
    assert reply.text == "✓ 刘子涵 已打卡 3/30"
    assert "36" not in reply.text and "武汉" not in reply.text
    [c] = [c for c in rows(app, CheckIn) if c.temp_tenths == 366]
    assert c.city == "武汉" and not c.abnormal and not c.late


async def test_private_checkin_shows_the_details_back(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "打卡 36.5 @武汉 在家")
    assert not reply.to.is_group
    assert "体温 36.5℃" in reply.text and "城市：武汉" in reply.text
    [c] = rows(app, CheckIn)
    assert (c.temp_tenths, c.city, c.note, c.symptoms) == (365, "武汉", "在家", "")


@pytest.mark.parametrize(
    ("typed", "tenths"),
    [
        ("36.5", 365),
        ("36.5℃", 365),
        ("36.5°C", 365),
        ("36,5", 365),
        ("３６．５", 365),
        ("36.5度", 365),
        ("37", 370),
        ("35.0", 350),
        ("42", 420),
    ],
)
async def test_accepted_temperature_forms(
    app: App, bot: TestAdapter, typed: str, tenths: int
) -> None:
    sent = await bot.say("2020001", f"打卡 {typed}")
    assert "✓" in sent[0].text
    [c] = rows(app, CheckIn)
    assert c.temp_tenths == tenths


@pytest.mark.parametrize("typed", ["34.9", "42.1", "98.6", "0", "100"])
async def test_out_of_range_temperature_names_the_range(
    app: App, bot: TestAdapter, typed: str
) -> None:
    [reply] = await bot.say("2020001", f"打卡 {typed}", group="护理172")
    assert "35.0℃–42.0℃" in reply.text
    assert "格式：打卡 <体温>" in reply.text
    assert rows(app, CheckIn) == []


@pytest.mark.parametrize("typed", ["abc", "36.5.5", "三十六度", "-36.5", "36.555", "1e2", "36.5x"])
async def test_unreadable_temperature_is_refused_with_the_range(
    app: App, bot: TestAdapter, typed: str
) -> None:
    [reply] = await bot.say("2020001", f"打卡 {typed}")
    assert "35.0–42.0" in reply.text
    assert "格式：打卡 <体温>" in reply.text
    assert rows(app, CheckIn) == []


async def test_checkin_without_temperature_shows_the_form(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "打卡")
    assert "请写上体温" in reply.text and "格式：" in reply.text
    assert rows(app, CheckIn) == []


async def test_second_checkin_same_day_replaces_first(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "打卡 37.8 咳嗽")
    clock.advance(timedelta(minutes=30))
    [reply] = bot_private(await bot.say("2020001", "打卡 36.6"), "2020001")
    assert "已更新" in reply.text
    [c] = rows(app, CheckIn)
    assert (c.temp_tenths, c.symptoms, c.abnormal, c.revision) == (366, "", False, 2)
    assert c.abnormal_today
    history = sorted((r.revision, r.temp_tenths) for r in rows(app, CheckInRevision))
    assert history == [(1, 378), (2, 366)]


async def test_next_day_checkin_is_a_new_record(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "打卡 36.5")
    clock.advance(timedelta(days=1))
    await bot.say("2020001", "打卡 36.6")
    assert len(rows(app, CheckIn)) == 2


async def test_checkin_after_the_deadline_is_stored_and_marked_late(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(clock.now().replace(hour=11, minute=1))
    [reply] = await bot.say("2020001", "打卡 36.5", group="护理172")
    assert "迟交" in reply.text
    [c] = rows(app, CheckIn)
    assert c.late


async def test_checkin_exactly_at_the_deadline_is_on_time(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(clock.now().replace(hour=11, minute=0, second=0))
    await bot.say("2020001", "打卡 36.5")
    [c] = rows(app, CheckIn)
    assert not c.late


async def test_abnormal_checkin_alerts_its_counselor_and_head_teacher_only(
    app: App, bot: TestAdapter
) -> None:
    sent = await bot.say("2020001", "打卡 37.6 咳嗽 乏力", group="护理172")
    group = [s for s in sent if s.to.is_group]
    private = {s.to.chat_id: s.text for s in sent if not s.to.is_group}
    assert [g.text for g in group] == ["✓ 张晓明 已打卡 1/30"]
    assert set(private) == {"T001", "T002"}
    assert "37.6" in private["T001"] and "咳嗽、乏力" in private["T001"]
    [c] = rows(app, CheckIn)
    assert c.abnormal and c.symptoms == "咳嗽、乏力"


async def test_abnormal_checkin_in_a_class_without_head_teacher_alerts_the_counselor(
    bot: TestAdapter,
) -> None:
    sent = await bot.say("2020031", "打卡 36.6 发热", group="检验172")
    assert {s.to.chat_id for s in sent if not s.to.is_group} == {"T001"}


async def test_normal_checkin_alerts_nobody(bot: TestAdapter) -> None:
    sent = await bot.say("2020001", "打卡 37.2 无")
    assert [s.to.chat_id for s in sent] == ["2020001"]


async def test_temperature_at_the_threshold_is_abnormal(app: App, bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 37.3")
    [c] = rows(app, CheckIn)
    assert c.abnormal


async def test_student_trying_a_staff_command_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "解绑 2020003", group="护理172")
    assert "没有权限" in reply.text
    [reply] = await bot.say("2020001", "/bindgroup 护理172", group="护理172")
    assert "没有权限" in reply.text


async def test_staff_cannot_check_in(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "打卡 36.5")
    assert "没有权限" in reply.text
    assert rows(app, CheckIn) == []


async def test_overlong_note_is_refused_with_the_limit(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "打卡 36.5 " + "很" * 201)
    assert "最多 200 个字" in reply.text
    assert rows(app, CheckIn) == []


async def test_mine_in_a_group_is_answered_privately(bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 36.9")
    sent = await bot.say("2020001", "我的", group="护理172")
    [group] = [s for s in sent if s.to.is_group]
    [private] = [s for s in sent if not s.to.is_group]
    assert "36.9" not in group.text
    assert "36.9" in private.text


async def test_duplicate_message_id_is_handled_once(app: App, bot: TestAdapter) -> None:
    first = await bot.say("2020001", "打卡 36.5", group="护理172", message_id="m-1")
    again = await bot.say("2020001", "打卡 36.5", group="护理172", message_id="m-1")
    assert len(first) == 1 and again == []
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 1


async def test_late_delivered_message_keeps_its_send_time(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    sent_at = clock.now().replace(hour=10, minute=30)
    clock.set(clock.now().replace(hour=11, minute=40))
    await bot.say("2020001", "打卡 36.5", sent_at=sent_at)
    [c] = rows(app, CheckIn)
    assert not c.late and c.submitted_at == sent_at


# -- reading check-ins the way students write them --


@pytest.mark.parametrize(
    ("typed", "symptom"),
    [
        ("打卡 36.5 发烧", "发热"),
        ("打卡 36.5 嗓子疼", "咽痛"),
        ("打卡 36.5 有点咳嗽", "咳嗽"),
        ("打卡 36.5 流鼻涕", "流涕"),
        ("打卡 36.5 拉肚子", "腹泻"),
    ],
)
async def test_everyday_symptom_words_raise_an_alert(
    app: App, bot: TestAdapter, typed: str, symptom: str
) -> None:
    sent = await bot.say("2020001", typed, group="护理172")
    assert {s.to.chat_id for s in sent if not s.to.is_group} == {"T001", "T002"}
    [c] = rows(app, CheckIn)
    assert c.abnormal and c.symptoms == symptom and c.note is None


async def test_a_symptom_word_in_the_note_makes_the_checkin_abnormal(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("2020001", "打卡 36.5 在宿舍休息，昨晚开始拉肚子")
    [c] = rows(app, CheckIn)
    assert c.abnormal and c.symptoms == "腹泻" and c.note == "在宿舍休息，昨晚开始拉肚子"


@pytest.mark.parametrize("typed", ["打卡：36.5", "打卡,36.5", "打卡，36.5", "打卡 ：36.5"])
async def test_checkin_with_a_colon_or_comma_after_the_keyword_is_answered_in_a_group(
    app: App, bot: TestAdapter, typed: str
) -> None:
    [reply] = await bot.say("2020001", typed, group="护理172")
    assert reply.text == "✓ 张晓明 已打卡 1/30"
    [c] = rows(app, CheckIn)
    assert c.temp_tenths == 365


@pytest.mark.parametrize(
    ("typed", "symptoms", "note"),
    [
        ("打卡 36.5，咳嗽", "咳嗽", None),
        ("打卡 36.5度，无症状", "", None),
        ("打卡 体温36.5", "", None),
        ("打卡 体温 36.5", "", None),
        ("打卡 体温：36.5", "", None),
        ("打卡 36.5摄氏度", "", None),
        ("打卡 36.5℃，咳嗽，在家", "咳嗽", "在家"),
    ],
)
async def test_full_width_commas_and_the_placeholder_word_are_read(
    app: App, bot: TestAdapter, typed: str, symptoms: str, note: str | None
) -> None:
    [reply] = bot_private(await bot.say("2020001", typed), "2020001")
    assert reply.text.startswith("✓ 已打卡"), reply.text
    [c] = rows(app, CheckIn)
    assert (c.temp_tenths, c.symptoms, c.note) == (365, symptoms, note)


async def test_the_city_after_a_symptom_word_is_kept(app: App, bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 36.5 嗓子疼 @武汉 在家上网课")
    [c] = rows(app, CheckIn)
    assert (c.symptoms, c.city, c.note) == ("咽痛", "武汉", "在家上网课")


async def test_a_second_number_is_refused_not_kept_as_a_note(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "打卡 36.5 36.6", group="护理172")
    assert "只写一个体温" in reply.text and "格式：打卡 <体温>" in reply.text
    assert rows(app, CheckIn) == []


@pytest.mark.parametrize("chat", ["打卡了吗大家", "打卡好麻烦", "请假的同学记得销假"])
async def test_chat_starting_with_a_command_word_stays_unanswered(
    app: App, bot: TestAdapter, chat: str
) -> None:
    assert await bot.say("2020001", chat, group="护理172") == []
    assert rows(app, CheckIn) == []


@pytest.mark.parametrize("attempt", ["打卡", "打卡 体温", "打卡 三十六度五"])
async def test_a_checkin_attempt_without_a_readable_number_is_answered_in_a_group(
    app: App, bot: TestAdapter, attempt: str
) -> None:
    [reply] = await bot.say("2020001", attempt, group="护理172")
    assert "格式：打卡 <体温>" in reply.text
    assert rows(app, CheckIn) == []


async def test_the_private_reply_restates_how_the_checkin_was_understood(
    bot: TestAdapter,
) -> None:
    [reply] = bot_private(await bot.say("2020001", "打卡 37.6 发烧 @武汉 在家"), "2020001")
    assert "体温 37.6℃；症状：发热；城市：武汉；备注：在家" in reply.text
    assert "重新发送打卡即可更正" in reply.text


async def test_a_checkin_in_another_class_group_says_only_received_there(
    app: App, bot: TestAdapter
) -> None:
    from tests.conftest import OTHER_CLASS, seed_other_college

    seed_other_college(app)
    sent = await bot.say("2020001", "打卡 37.8 发烧", group=OTHER_CLASS)
    in_group = [s.text for s in sent if s.to.is_group]
    assert in_group == ["✓ 已收到，详情见私聊"]
    [mine] = bot_private(sent, "2020001")
    assert "体温 37.8℃；症状：发热" in mine.text
    assert {s.to.chat_id for s in sent if not s.to.is_group} == {"2020001", "T001", "T002"}
    [c] = rows(app, CheckIn)
    assert c.abnormal


async def test_a_checkin_in_a_group_bound_to_no_class_says_only_received_there(
    app: App, bot: TestAdapter
) -> None:
    sent = await bot.say("2020001", "打卡 36.5", group="some-other-chat")
    assert [s.text for s in sent if s.to.is_group] == ["✓ 已收到，详情见私聊"]
    assert len(rows(app, CheckIn)) == 1


@pytest.mark.parametrize("text", ["老师我今天发烧了", "我嗓子疼，要打卡吗", "有点拉肚子怎么办"])
async def test_a_private_health_signal_gets_the_checkin_form_and_alerts_nobody(
    app: App, bot: TestAdapter, text: str
) -> None:
    sent = await bot.say("2020001", text)
    assert [s.to.chat_id for s in sent] == ["2020001"]
    assert "打卡 <体温>" in sent[0].text and "没看懂" not in sent[0].text
    assert rows(app, CheckIn) == []
    assert await bot.say("2020001", text, group="护理172") == []


@pytest.mark.parametrize(
    "typed", ["打卡 36.5 不发烧", "打卡 36.5 没有咳嗽", "打卡 36.5 已退烧", "打卡 36.5 不咳"]
)
async def test_negated_symptoms_are_not_symptoms(app: App, bot: TestAdapter, typed: str) -> None:
    sent = await bot.say("2020001", typed)
    assert [s.to.chat_id for s in sent] == ["2020001"]
    [c] = rows(app, CheckIn)
    assert not c.abnormal and c.symptoms == ""


# -- an abnormal reading is never erased --


async def test_staff_alerted_get_a_correction_notice_when_a_normal_reading_follows(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "打卡 38.2 发热")
    clock.advance(timedelta(minutes=40))
    sent = await bot.say("2020001", "打卡 36.5")
    notices = {s.to.chat_id: s.text for s in sent if s.to.chat_id != "2020001"}
    assert set(notices) == {"T001", "T002"}
    assert "更正：张晓明（2020001，护理172）06:40 重新打卡，体温 36.5℃" in notices["T001"]
    # A further normal reading is no news.
    clock.advance(timedelta(minutes=5))
    sent = await bot.say("2020001", "打卡 36.4")
    assert [s.to.chat_id for s in sent] == ["2020001"]


async def test_a_second_abnormal_reading_alerts_again_only_if_worse(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    def alerted(sent: list[Sent]) -> set[str]:
        return {s.to.chat_id for s in sent if s.to.chat_id != "2020001"}

    assert alerted(await bot.say("2020001", "打卡 37.8 咳嗽")) == {"T001", "T002"}
    clock.advance(timedelta(minutes=10))
    assert alerted(await bot.say("2020001", "打卡 37.6 咳嗽")) == set()
    clock.advance(timedelta(minutes=10))
    sent = await bot.say("2020001", "打卡 38.4 咳嗽")
    assert alerted(sent) == {"T001", "T002"}
    assert "加重" in next(s.text for s in sent if s.to.chat_id == "T001")
    clock.advance(timedelta(minutes=10))
    assert alerted(await bot.say("2020001", "打卡 37.5 咳嗽 拉肚子")) == {"T001", "T002"}
