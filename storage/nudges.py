"""Asking a person who cannot be messaged privately, in a group, to open a chat with the bot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage import identity
from storage.models import ChatAccount, GroupChat


def claim_nudge(session: Session, platform: str, user_id: str, now: datetime) -> bool:
    """True once for an unreachable account that was never nudged; marks it nudged."""
    result = session.execute(
        update(ChatAccount)
        .where(
            ChatAccount.platform == platform,
            ChatAccount.platform_user_id == user_id,
            ChatAccount.unreachable_at.is_not(None),
            ChatAccount.nudged_at.is_(None),
        )
        .values(nudged_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def nudge_group(session: Session, platform: str, user_id: str) -> str | None:
    """A group chat on `platform` where the account's person is seen: their class, or one they
    look after. None for people whose scope is every class (no one group stands out)."""
    actor = identity.actor_for_account(session, platform, user_id)
    if actor is None or actor.all_classes:
        return None
    class_ids = set(actor.class_ids)
    if actor.class_id is not None:
        class_ids.add(actor.class_id)
    if not class_ids:
        return None
    return session.scalar(
        select(GroupChat.chat_id)
        .where(GroupChat.platform == platform, GroupChat.class_id.in_(class_ids))
        .order_by(GroupChat.id)
        .limit(1)
    )
