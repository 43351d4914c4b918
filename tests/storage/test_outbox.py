"""The outbox's claim protocol, crash recovery, acknowledgement windows and deadlines."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import Attachment, Envelope, OutgoingMessage, PersonAddress
from storage import outbox
from storage.db import transaction
from storage.models import Delivery, OutboxMessage, Person
from storage.outbox import Kind, NewRow, Status

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SECRET = "体温 39.1℃ 咳嗽"


def row(chat: str, *, kind: Kind = Kind.ALERT, group: bool = False, **kw: object) -> NewRow:
    return NewRow(
        cause=f"test:{chat}",
        platform="test",
        chat_id=chat,
        is_group=group,
        person_id=None,
        kind=kind,
        body={"text": SECRET},
        deadline=NOW + timedelta(hours=2),
        **kw,  # type: ignore[arg-type]
    )


def add(app: App, rows: list[NewRow], at: datetime = NOW) -> None:
    with app.uow() as s:
        outbox.add(s, rows, at)


def claim(
    app: App, token: str, at: datetime = NOW, wait: float = 0, interval: float = 0
) -> list[outbox.Row]:
    with transaction(app.engine) as conn:
        return outbox.claim_due(conn, "test", token, at, ack_wait=wait, ack_interval=interval)


def statuses(app: App) -> dict[str, str]:
    with app.uow(readonly=True) as s:
        return {
            f"{r.chat_id}#{r.id}": r.status
            for r in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        }


async def test_two_senders_never_claim_the_same_row_and_each_chat_goes_to_one(app: App) -> None:
    add(app, [row("a"), row("a"), row("b")])
    first = claim(app, "one")
    second = claim(app, "two")
    assert sorted(r.chat_id for r in first) == ["a", "a", "b"]
    assert second == []
    # A new row for a chat that one sender holds waits for that chat to be free.
    add(app, [row("a")])
    assert claim(app, "two") == []
    with transaction(app.engine) as conn:
        outbox.finish(conn, [r.id for r in first], "one", Status.SENT, NOW)
    [later] = claim(app, "two")
    assert later.chat_id == "a"


async def test_the_best_priority_chat_is_claimed_first(app: App) -> None:
    add(app, [row("rollup", kind=Kind.ROLLUP), row("reply", kind=Kind.REPLY)])
    with transaction(app.engine) as conn:
        [first] = outbox.claim_due(conn, "test", "t", NOW, ack_wait=0, ack_interval=0, chats=1)
    assert first.chat_id == "reply"


async def test_a_row_waiting_for_a_retry_holds_back_its_chat(app: App) -> None:
    add(app, [row("a"), row("a")])
    first, second = claim(app, "t")
    with transaction(app.engine) as conn:
        outbox.retry(conn, [first.id], "t", NOW + timedelta(seconds=30), "502 Bad Gateway")
        outbox.release_rows(conn, [second.id], "t")
    assert claim(app, "t", NOW + timedelta(seconds=10)) == []
    again = claim(app, "t", NOW + timedelta(seconds=31))
    assert [r.id for r in again] == [first.id, second.id]
    assert again[0].attempts == 1 and again[0].reason == "502 Bad Gateway"


async def test_restart_requeues_private_rows_and_expires_group_rows_left_sending(
    app: App,
) -> None:
    add(app, [row("p1"), row("p2"), row("g", group=True, kind=Kind.ACK), row("mine")])
    held = claim(app, "dead")
    by_chat = {r.chat_id: r for r in held}
    with transaction(app.engine) as conn:
        outbox.start_sending(conn, [by_chat["p2"].id, by_chat["g"].id], "dead", NOW)
        outbox.release_rows(conn, [by_chat["mine"].id], "dead")
    claim(app, "alive")
    lease = timedelta(minutes=2)
    with transaction(app.engine) as conn:
        # Within the lease nothing is taken over; the live sender's own rows never are.
        assert outbox.recover(conn, "test", "alive", NOW + timedelta(minutes=1), lease) == (
            outbox.Recovered(0, 0)
        )
        found = outbox.recover(conn, "test", "alive", NOW + timedelta(minutes=3), lease)
    assert found == outbox.Recovered(requeued=2, expired=1)
    s = statuses(app)
    assert [s[k] for k in sorted(s)] == ["expired", "claimed", "queued", "queued"]
    with app.uow(readonly=True) as session:
        group = session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == "g")).one()
    assert group.reason == "maybe sent before the restart"


async def test_acknowledgements_wait_their_window_then_go_together(app: App) -> None:
    add(app, [row("g", group=True, kind=Kind.ACK, coalesce_key="checkin")])
    add(
        app,
        [row("g", group=True, kind=Kind.ACK, coalesce_key="checkin")],
        NOW + timedelta(seconds=3),
    )
    assert claim(app, "t", NOW + timedelta(seconds=4), wait=5, interval=20) == []
    both = claim(app, "t", NOW + timedelta(seconds=5), wait=5, interval=20)
    assert len(both) == 2
    with transaction(app.engine) as conn:
        outbox.finish(conn, [r.id for r in both], "t", Status.SENT, NOW + timedelta(seconds=5))
    add(
        app,
        [row("g", group=True, kind=Kind.ACK, coalesce_key="checkin")],
        NOW + timedelta(seconds=6),
    )
    # At most one acknowledgement message per interval in a group.
    assert claim(app, "t", NOW + timedelta(seconds=20), wait=5, interval=20) == []
    assert len(claim(app, "t", NOW + timedelta(seconds=26), wait=5, interval=20)) == 1


async def test_past_its_deadline_a_row_expires_with_its_last_failure_and_settles_its_delivery(
    app: App,
) -> None:
    with app.uow() as s:
        delivery = Delivery(
            job="deadline", scope="person:1", day=NOW.date(), status="queued", claimed_at=NOW
        )
        s.add(delivery)
        s.flush()
        outbox.add(s, [row("a", delivery_id=delivery.id)], NOW)
        delivery_id = delivery.id
    [held] = claim(app, "t")
    with transaction(app.engine) as conn:
        outbox.retry(conn, [held.id], "t", NOW + timedelta(seconds=1), "Bad Gateway")
        assert outbox.expire_overdue(conn, "test", NOW + timedelta(hours=1), "late") == []
        [gone] = outbox.expire_overdue(conn, "test", NOW + timedelta(hours=3), "late")
    assert gone.reason == "Bad Gateway"
    with app.uow(readonly=True) as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None and (d.status, d.detail) == ("expired", "Bad Gateway")


async def test_purge_drops_bodies_and_files_of_finished_rows_only(app: App, tmp_path: Path) -> None:
    from storage import retention

    old, fresh = tmp_path / "old.xlsx", tmp_path / "fresh.xlsx"
    old.write_bytes(b"ledger")
    fresh.write_bytes(b"ledger")
    add(app, [row("a", attachment=(str(old), "old.xlsx", "x"))], NOW - timedelta(days=200))
    add(app, [row("b", attachment=(str(fresh), "fresh.xlsx", "x"))], NOW - timedelta(days=200))
    with app.uow() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.chat_id == "a").values(status="sent"))
    with app.uow() as s:
        result = retention.purge(
            s,
            now=NOW,
            tz=ZoneInfo("Asia/Shanghai"),
            retention_days=180,
            subsidy_retention_days=1095,
            actor_label="test",
        )
    assert result.messages == 1
    assert not old.exists() and fresh.exists()
    with app.uow(readonly=True) as s:
        bodies = {c: b for c, b in s.execute(select(OutboxMessage.chat_id, OutboxMessage.body))}
    assert bodies["a"] is None and SECRET in (bodies["b"] or "")


@pytest.mark.usefixtures("app")
def test_classbot_outbox_lists_metadata_by_platform_and_reason_never_bodies(
    app: App, database_url: str, tmp_path: Path
) -> None:
    add(app, [row("a"), row("b"), row("c")], app.clock.now())
    [a, b, c] = claim(app, "t", app.clock.now())
    with transaction(app.engine) as conn:
        outbox.retry(conn, [a.id], "t", app.clock.now() + timedelta(seconds=5), "Bad Gateway")
        outbox.finish(
            conn,
            [b.id],
            "t",
            Status.UNREACHABLE,
            app.clock.now(),
            "Forbidden: bot was blocked by the user",
        )
        outbox.release_rows(conn, [c.id], "t")
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    done = subprocess.run(
        # The test day lies in the past of the real clock the command runs on.
        [sys.executable, "-m", "bot", "outbox", "--days", "3650", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:4] == ["test", "pending", "alert", "1"] for line in lines)
    assert any("retrying" in line and "Bad Gateway" in line for line in lines)
    assert any("unreachable" in line and "blocked" in line for line in lines)
    assert SECRET not in done.stdout


async def test_a_queued_file_is_a_0600_snapshot_sent_as_it_was_and_deleted_once_sent(
    app: App, bot: TestAdapter, outbox_files: Path
) -> None:
    ledger = Attachment("台账.xlsx", b"snapshot")
    with app.uow() as s:
        pid = s.scalars(select(Person.id).where(Person.number == "T001")).one()
        nobody = Envelope(PersonAddress(10_000), OutgoingMessage("x", attachment=ledger))
        queued = app.outbox.queue(
            s,
            [Envelope(PersonAddress(pid), OutgoingMessage("汇总", attachment=ledger)), nobody],
            cause="test",
            now=app.clock.now(),
            default_kind=Kind.ROLLUP,
        )
    assert queued.rows == 1 and [e for e, _ in queued.unreached] == [nobody]
    [path] = os.listdir(outbox_files)
    path = str(outbox_files / path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    await app.sent()
    [sent] = bot.to_chat("T001")
    assert sent.message.attachment is not None
    assert sent.message.attachment.content == b"snapshot"
    assert sent.message.attachment.filename == "台账.xlsx"
    assert os.listdir(outbox_files) == []
