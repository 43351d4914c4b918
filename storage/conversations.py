"""Open conversations: the chats a platform lets the bot write to without being asked first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import OpenConversation


def record_open(
    session: Session, platform: str, chat_id: str, is_group: bool, now: datetime
) -> bool:
    """Note that someone wrote to the bot in this chat; True when it opened just now."""
    if is_open(session, platform, chat_id, is_group):
        return False
    session.add(
        OpenConversation(platform=platform, chat_id=chat_id, is_group=is_group, opened_at=now)
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
