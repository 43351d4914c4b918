"""每日健康打卡 through the real router (SPEC §4 "Check-in rules")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.models import CheckIn, CheckInRevision


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
    [reply] = await bot.say("2020001", "打卡 36.6")
    assert "已更新" in reply.text
    [c] = rows(app, CheckIn)
    assert (c.temp_tenths, c.symptoms, c.abnormal, c.revision) == (366, "", False, 2)
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
