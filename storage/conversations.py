"""Open conversations: the chats a platform lets the bot write to without being asked first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import OpenConversation


def record_open(
    session: Session, platform: str, chat_id: str, is_group: bool, now: datetime
) -> bool:
    """Note that someone wrote to the bot in this chat; True when it opened just now."""
    found = session.execute(
        update(OpenConversation)
        .where(
            OpenConversation.platform == platform,
            OpenConversation.chat_id == chat_id,
            OpenConversation.is_group == is_group,
        )
        .values(last_seen_at=now)
    )
    if getattr(found, "rowcount", 0):
        return False
    session.add(
        OpenConversation(
            platform=platform, chat_id=chat_id, is_group=is_group, opened_at=now, last_seen_at=now
        )
    )
    session.flush()
    return True


def is_open(session: Session, platform: str, chat_id: str, is_group: bool) -> bool:
    """Whether the bot may write to this chat unprompted."""
    return (
        session.scalar(
            select(OpenConversation.id).where(
                OpenConversation.platform == platform,
                OpenConversation.chat_id == chat_id,
                OpenConversation.is_group == is_group,
            )
        )
        is not None
    )
