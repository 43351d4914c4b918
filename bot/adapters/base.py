"""The one interface every platform adapter implements (console, test, Telegram, WeChat)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from bot.messages import ChatAddress, OutgoingMessage

if TYPE_CHECKING:
    from bot.app import App


class Unreachable(Exception):
    """The account cannot be messaged: it never started the bot, blocked it, or is not a contact."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Adapter(ABC):
    """Translates one platform to and from the platform-neutral messages.

    An adapter turns what it receives into `IncomingMessage` values and awaits
    `app.handle(message)`; the app replies and notifies through `send`.
    """

    platform: ClassVar[str]
    # The longest text one platform message may carry; longer text is split.
    max_text: ClassVar[int] = 4096

    @abstractmethod
    async def start(self, app: App) -> None:
        """Connect and begin feeding incoming messages to `app.handle`; return once running."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect; pending sends are finished or dropped cleanly."""

    @abstractmethod
    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        """Send one message; raise `Unreachable` when the recipient cannot be messaged."""
