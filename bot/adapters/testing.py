"""An in-memory adapter for tests and benchmarks: messages in, replies out, nothing else."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.adapters.base import UNLIMITED, Adapter, Unreachable
from bot.messages import ChatAddress, IncomingMessage, OutgoingMessage

if TYPE_CHECKING:
    from bot.app import App


@dataclass(frozen=True)
class Sent:
    to: ChatAddress
    message: OutgoingMessage

    @property
    def text(self) -> str:
        return self.message.text


class TestAdapter(Adapter):
    """Records every message the bot sends; `say` feeds one message through the real router.

    `group_guard`, when given, sees every message sent to a group chat and may fail the test
    (the privacy invariant).
    """

    __test__ = False  # not a pytest test class
    platform = "test"
    max_text = 4096
    limits = UNLIMITED
    drains_inline = True

    def __init__(self, group_guard: Callable[[OutgoingMessage], None] | None = None) -> None:
        self.sent: list[Sent] = []
        self.unreachable: set[str] = set()
        self.group_guard = group_guard
        self._ids = itertools.count(1)
        self._app: App | None = None

    @property
    def app(self) -> App:
        assert self._app is not None, "adapter not started"
        return self._app

    async def start(self, app: App) -> None:
        self._app = app

    async def stop(self) -> None:
        self._app = None

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        if not to.is_group and to.chat_id in self.unreachable:
            raise Unreachable("blocked the bot")
        if to.is_group and self.group_guard is not None:
            self.group_guard(message)
        self.sent.append(Sent(to, message))

    def message(
        self,
        sender: str,
        text: str,
        *,
        group: str | None = None,
        message_id: str | None = None,
        sent_at: datetime | None = None,
        callback: bool = False,
        mentions_bot: bool = False,
    ) -> IncomingMessage:
        return IncomingMessage(
            platform=self.platform,
            chat_id=group if group is not None else sender,
            is_group=group is not None,
            sender_id=sender,
            text=text,
            sent_at=sent_at or self.app.clock.now(),
            message_id=message_id if message_id is not None else str(next(self._ids)),
            sender_name=sender,
            chat_title=group or "",
            mentions_bot=mentions_bot,
            callback_id=str(next(self._ids)) if callback else None,
        )

    async def say(
        self, sender: str, text: str, *, group: str | None = None, **kw: object
    ) -> list[Sent]:
        """Send one message as `sender` (in `group`, or privately) and return what the bot sent."""
        before = len(self.sent)
        msg = self.message(sender, text, group=group, **kw)  # type: ignore[arg-type]
        replies = await self.app.handle(msg)
        out = self.sent[before:]
        if msg.callback_id is not None:
            out = out + [Sent(msg.chat, r) for r in replies]
        return out

    def to_chat(self, chat_id: str, *, group: bool | None = None) -> list[Sent]:
        return [
            s
            for s in self.sent
            if s.to.chat_id == chat_id and (group is None or s.to.is_group == group)
        ]

    def clear(self) -> None:
        self.sent.clear()
