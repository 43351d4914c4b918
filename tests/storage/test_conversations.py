"""Open conversations: recorded once, told apart by platform and by group or private chat."""

from __future__ import annotations

from bot.app import App
from storage import conversations
from tests.conftest import START


def test_a_conversation_opens_once_and_stays_open(app: App) -> None:
    with app.uow() as s:
        assert conversations.record_open(s, "wecom", "zhangxm", False, START)
        assert not conversations.record_open(s, "wecom", "zhangxm", False, START)
    with app.uow(readonly=True) as s:
        assert conversations.is_open(s, "wecom", "zhangxm", False)


def test_a_group_and_a_person_with_the_same_id_are_different_chats(app: App) -> None:
    with app.uow() as s:
        conversations.record_open(s, "wecom", "same-id", True, START)
    with app.uow(readonly=True) as s:
        assert conversations.is_open(s, "wecom", "same-id", True)
        assert not conversations.is_open(s, "wecom", "same-id", False)
        assert not conversations.is_open(s, "dingtalk", "same-id", True)
