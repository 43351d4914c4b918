"""How a sender cuts its claimed rows into messages: a group's acknowledgements merge into
one message, and never with another chat's."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.sender import _batches
from storage.outbox import Kind, Row

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def row(id: int, chat: str, kind: Kind = Kind.ACK, key: str | None = "checkin:2026-11-24") -> Row:
    return Row(
        id=id,
        chat_id=chat,
        is_group=True,
        person_id=None,
        kind=kind.value,
        priority=0,
        body={},
        attachment=None,
        coalesce_key=key if kind is Kind.ACK else None,
        delivery_id=None,
        attempts=0,
        created_at=NOW,
        deadline=NOW,
        cause="test",
    )


def test_acknowledgements_merge_per_chat_and_key_in_queue_order() -> None:
    rows = [
        row(1, "护理172"),
        row(2, "检验172"),
        row(3, "护理172", Kind.REPLY),
        row(4, "护理172"),
        row(5, "检验172"),
        row(6, "护理172", key="notice:N3"),
    ]
    assert [[r.id for r in b] for b in _batches(rows)] == [[1, 4], [2, 5], [3], [6]]


def test_the_same_chat_id_as_a_group_and_a_private_chat_is_not_merged() -> None:
    private = row(2, "护理172")
    private = Row(**{**private.__dict__, "is_group": False})
    assert [[r.id for r in b] for b in _batches([row(1, "护理172"), private])] == [[1], [2]]
