"""Pending prompts: the question a chat account is expected to answer next (SQL only)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, tuple_
from sqlalchemy.orm import Session

from storage.db import Prepared
from storage.models import PendingPrompt


def _drop_statement(dialect: str) -> Any:
    table: Table = PendingPrompt.__table__  # type: ignore[assignment]
    return delete(table).where(
        table.c.platform == bindparam("platform"),
        table.c.chat_id == bindparam("chat_id"),
        table.c.sender_id == bindparam("sender_id"),
    )


# Every command runs it (a command drops the question its sender was asked).
_DROP = Prepared(_drop_statement)


def find(session: Session, platform: str, chat_id: str, sender_id: str) -> PendingPrompt | None:
    """The question this account was asked in this chat, live or expired."""
    return session.scalar(
        select(PendingPrompt).where(
            PendingPrompt.platform == platform,
            PendingPrompt.chat_id == chat_id,
            PendingPrompt.sender_id == sender_id,
        )
    )


def put(
    session: Session,
    platform: str,
    chat_id: str,
    sender_id: str,
    *,
    person_id: int | None,
    role: str | None,
    command: str,
    expect: str,
    state: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> PendingPrompt:
    """Ask this account a question in this chat, replacing any it was asked before."""
    prompt = find(session, platform, chat_id, sender_id)
    if prompt is None:
        prompt = PendingPrompt(platform=platform, chat_id=chat_id, sender_id=sender_id)
        session.add(prompt)
    prompt.person_id = person_id
    prompt.role = role
    prompt.command = command
    prompt.expect = expect
    prompt.state = dict(state)
    prompt.asked_at = now
    prompt.expires_at = expires_at
    session.flush()
    return prompt


def drop(session: Session, platform: str, chat_id: str, sender_id: str) -> bool:
    """Forget the question this account was asked in this chat; True when there was one."""
    if not any(isinstance(o, PendingPrompt) for o in session.identity_map.values()):
        # Nothing of the table is loaded in this session: a prepared statement, without the
        # ORM's bookkeeping for objects nobody holds.
        params = {"platform": platform, "chat_id": chat_id, "sender_id": sender_id}
        return _DROP.run(session, params) > 0
    result = session.execute(
        delete(PendingPrompt).where(
            PendingPrompt.platform == platform,
            PendingPrompt.chat_id == chat_id,
            PendingPrompt.sender_id == sender_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def purge_expired(session: Session, now: datetime) -> int:
    """Delete the questions whose time ran out; how many there were."""
    result = session.execute(delete(PendingPrompt).where(PendingPrompt.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def drop_many(session: Session, accounts: Iterable[tuple[str, str, str]]) -> None:
    """`drop` for many (platform, chat id, sender id): one statement."""
    keys = list(dict.fromkeys(accounts))
    if keys:
        session.execute(
            delete(PendingPrompt).where(
                tuple_(PendingPrompt.platform, PendingPrompt.chat_id, PendingPrompt.sender_id).in_(
                    keys
                )
            )
        )
