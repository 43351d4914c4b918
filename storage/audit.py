"""The audit log: every state change and every access to reports, without the data itself."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from storage.models import AuditEntry

if TYPE_CHECKING:
    from storage.identity import Actor


def record(
    session: Session,
    *,
    at: datetime,
    actor: Actor | None,
    action: str,
    target: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> None:
    label = actor_label or (f"{actor.number} {actor.name}" if actor else "unbound")
    session.add(
        AuditEntry(
            at=at,
            actor_id=actor.person_id if actor else None,
            actor=label[:100],
            action=action,
            target=target,
            from_state=from_state,
            to_state=to_state,
            detail=detail,
        )
    )
