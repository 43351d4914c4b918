"""Retention: details past their time are deleted, anonymous counts stay, each purge audited;
the daily purge job; the inbound log is pruned; `classbot purge` and `classbot audit`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.cli import app as cli
from bot.clock import ManualClock
from storage import inbound, retention
from storage.identity import actor_for_number
from storage.leave import LEAVE
from storage.models import (
    AuditEntry,
    CheckIn,
    CheckInRevision,
    DailyCount,
    Delivery,
    InboundMessage,
    Request,
    SchoolClass,
)
from storage.subsidy import SUBSIDY
from tests.conftest import START, TZ
from tests.handlers.people import add_event, add_request


def count(app: App, model: type) -> int:
    with app.uow(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


async def old_and_new_checkins(bot: TestAdapter, clock: ManualClock) -> None:
    """Three check-ins (one revised, one late, one abnormal) on START's day, one a day later."""
    await bot.say("2020001", "打卡 37.9 咳嗽")
    await bot.say("2020001", "打卡 36.6")
    await bot.say("2020003", "打卡 36.5")
    clock.set(START.replace(hour=11, minute=30))
    await bot.say("2020031", "打卡 38.1 发热")
    clock.set(START + timedelta(days=1))
    await bot.say("2020004", "打卡 36.7")


def counts_by_class(app: App) -> dict[tuple[str, date], tuple[int, int, int, int]]:
    with app.uow(readonly=True) as s:
        rows = s.execute(
            select(SchoolClass.code, DailyCount).join(
                SchoolClass, SchoolClass.id == DailyCount.class_id
            )
        ).all()
    return {(code, d.day): (d.roster, d.checked_in, d.late, d.abnormal) for code, d in rows}


async def test_purge_deletes_checkins_past_retention_and_keeps_anonymous_counts(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await old_and_new_checkins(bot, clock)
    now = START + timedelta(days=181)
    with app.uow() as s:
        result = retention.purge(
            s,
            now=now,
            tz=TZ,
            retention_days=180,
            subsidy_retention_days=1095,
            actor_label="test",
        )
    assert (result.checkins, result.revisions) == (3, 4)
    with app.uow(readonly=True) as s:
        left = [(c.day, c.temp_tenths) for c in s.scalars(select(CheckIn))]
        assert left == [(START.date() + timedelta(days=1), 367)]
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 1
    counts = counts_by_class(app)
    # 2020001's abnormal reading counts although a normal one corrected it later.
    assert counts[("护理172", START.date())] == (30, 2, 0, 1)
    assert counts[("检验172", START.date())] == (30, 1, 1, 1)
    with app.uow(readonly=True) as s:
        [entry] = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "purge", AuditEntry.actor == "test")
        )
    assert entry.detail is not None and entry.detail["checkins"] == 3
    assert entry.target == f"before:{(now.date() - timedelta(days=180)).isoformat()}"
    # The log says what was deleted, never the deleted data.
    assert "37.9" not in str(entry.detail) and "咳嗽" not in str(entry.detail)


async def test_purge_on_the_last_day_of_retention_keeps_the_day(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "打卡 36.6")
    with app.uow() as s:
        result = retention.purge(
            s,
            now=START + timedelta(days=180),
            tz=TZ,
            retention_days=180,
            subsidy_retention_days=1095,
            actor_label="test",
        )
    assert result.checkins == 0 and count(app, CheckIn) == 1


async def test_purge_deletes_followups_leave_reasons_and_decided_subsidies(
    app: App, clock: ManualClock
) -> None:
    now = clock.now()
    with app.uow() as s:
        student = actor_for_number(s, "2020001")
        assert student.class_id is not None
        leave = add_request(
            s,
            LEAVE,
            student_id=student.person_id,
            class_id=student.class_id,
            payload={"type": "sick", "reason": "肺炎住院"},
            starts_on=now.date(),
            ends_on=now.date(),
            status="approved",
            created_at=now,
        )
        add_event(s, leave, "followup", now, note="已出院")
        for status in ("approved", "rejected", "pending_counselor"):
            # A subsidy's only student: the open one is added last, past the closed ones.
            application = add_request(
                s,
                SUBSIDY,
                student_id=student.person_id,
                class_id=student.class_id,
                payload={"amount_cents": 50000, "reason": "家庭困难"},
                status=status,
                created_at=now,
                closed_at=now if SUBSIDY.states[status].final else None,
            )
            add_event(s, application, "approve", now, from_status="pending_counselor")
    later = now + timedelta(days=200)
    with app.uow() as s:
        result = retention.purge(
            s, now=later, tz=TZ, retention_days=180, subsidy_retention_days=1095, actor_label="t"
        )
    assert (result.notes, result.cleared, result.deleted) == (1, 1, 0)
    with app.uow(readonly=True) as s:
        [kept] = s.scalars(select(Request).where(Request.kind == LEAVE.name))
    kept_payload = LEAVE.read(kept)
    assert kept_payload.reason == "" and kept_payload.type == "sick" and kept.status == "approved"
    with app.uow() as s:
        result = retention.purge(
            s,
            now=now + timedelta(days=1096),
            tz=TZ,
            retention_days=180,
            subsidy_retention_days=1095,
            actor_label="t",
        )
    assert result.deleted == 2
    with app.uow(readonly=True) as s:
        assert list(s.scalars(select(Request.status).where(Request.kind == SUBSIDY.name))) == [
            "pending_counselor"
        ]


async def test_the_daily_purge_job_runs_once_and_prunes_the_inbound_log(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "打卡 36.6", message_id="old-message")
    assert count(app, InboundMessage) == 1
    purge_day = START.date() + timedelta(days=181)
    for when in (time(7, 0), time(7, 30)):
        clock.set(datetime.combine(purge_day, when, tzinfo=TZ))
        assert app.scheduler is not None
        await app.scheduler.run_due()
    assert count(app, CheckIn) == 0
    assert count(app, InboundMessage) == 0
    with app.uow(readonly=True) as s:
        purges = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "purge")))
        runs = list(
            s.scalars(select(Delivery).where(Delivery.job == "purge", Delivery.status != "skipped"))
        )
    # With the 07:00 prompt, once on the day, never twice.
    assert [p.actor for p in purges] == ["schedule:purge"]
    assert [(r.day, r.status) for r in runs] == [(purge_day, "sent")]
    # Yesterday's anonymous counts are recorded for every class, even with no check-ins.
    day_before = purge_day - timedelta(days=1)
    assert counts_by_class(app)[("护理172", day_before)] == (30, 0, 0, 0)


async def test_pruning_forgets_old_inbound_messages_but_still_dedupes_recent_ones(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "打卡 36.6", message_id="m-old")
    clock.advance(timedelta(days=8))
    await bot.say("2020003", "打卡 36.6", message_id="m-new")
    with app.uow() as s:
        assert inbound.prune(s, clock.now() - retention.INBOUND_KEEP) == 1
    assert await bot.say("2020003", "打卡 36.6", message_id="m-new") == []
    with app.uow(readonly=True) as s:
        assert list(s.scalars(select(InboundMessage.key))) == ["msg:2020003:m-new"]


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return path


async def test_classbot_purge_and_audit_commands(
    app: App, bot: TestAdapter, clock: ManualClock, tmp_path: Path
) -> None:
    await old_and_new_checkins(bot, clock)
    await bot.say("2020001", "解绑 2020003")
    cfg = write_config(tmp_path, app.config.database.url)
    runner = CliRunner()
    # The CLI runs on real time: the demo days (2026) may lie ahead, so only the audit of the
    # purge is checked here; what a purge deletes is checked above.
    result = runner.invoke(cli, ["purge", "--older-than", "30", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("已删除：打卡 ")
    result = runner.invoke(cli, ["audit", "--since", "2020-01-01", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("refused" in line and "2020001 张晓明" in line for line in lines)
    [purge_line] = [line for line in lines if " purge " in line and "cli:" in line]
    assert '"retention_days": 30' in purge_line
    result = runner.invoke(
        cli, ["audit", "--since", "2020-01-01", "--action", "purge", "-c", str(cfg)]
    )
    assert result.stdout.count(" purge ") == result.stdout.count("\n") >= 1
    result = runner.invoke(cli, ["audit", "--since", "someday", "-c", str(cfg)])
    assert result.exit_code == 2
