"""The one interface every platform adapter implements (console, test, Telegram, WeChat, …).

An adapter translates only: what it receives becomes `IncomingMessage` values, and `send`
turns one platform-neutral message into the platform's calls. It never retries on its own
beyond a single request: the outbox sender decides retries, deadlines and pacing, from the
failure the adapter raises and the limits it declares.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from bot.messages import ChatAddress, OutgoingMessage
from bot.texts import LANGUAGES, Catalogue, Phrase, Text


class AdapterTexts(Catalogue):
    """What an adapter says on its own: the platform's limits, logging in, buttons."""

    file_too_large = Text(
        "📎 {filename}（{mb:.1f} MB）超过{where}单个文件 {limit_mb:.0f} MB 的上限，未能发送。"
        "请在服务器上运行 classbot export --date <日期> --class <班级> -o <文件>.xlsx 导出，"
        "或按班级分别导出。",
        "{filename} ({mb:.1f} MB) is over the {limit_mb:.0f} MB limit of {where} and was not "
        "sent: export it on the server with classbot export --date <date> --class <class> "
        "-o <file>.xlsx.",
    )
    wecom = Text("企业微信", "WeCom")
    wechat_gateway = Text("微信网关", "the WeChat gateway")
    choose = Text("请选择", "Choose")
    scan_to_log_in = Text("扫码登录微信", "Scan with WeChat to log in")
    members_only_file = Text(
        "（文件 {filename} 只能发给本组织成员）",
        "(the file {filename} can only be sent to members of the organisation)",
    )
    button = Text("▸ {label}：发送「{command}」", "▸ {label}: send “{command}”")


if TYPE_CHECKING:
    from bot.app import App


class StartFailed(Exception):
    """The platform could not be reached or refused the bot's credentials at start; the
    reason, in Chinese and English, says what to check. Raised by `Adapter.start`."""

    def __init__(self, reason: Phrase | str, en: str | None = None) -> None:
        """`reason` is a catalogue phrase, or the Chinese of a (zh, en) pair."""
        self.reason = reason
        self.en = en if en is not None else reason if isinstance(reason, str) else ""
        super().__init__(reason("en") if isinstance(reason, Phrase) else self.en)

    def render(self, lang: str) -> str:
        if isinstance(self.reason, Phrase):
            return self.reason(lang)
        return self.en if lang == "en" else self.reason


class SendFailed(Exception):
    """A send that did not (certainly) reach the platform; `reason` is said truthfully."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreachable(SendFailed):
    """Permanent: the account or chat cannot be messaged (blocked the bot, not a contact, chat
    gone, never opened a conversation). Retrying will not help until the person writes again."""


class Transient(SendFailed):
    """Temporary: network error, 5xx, 429, a gateway that is not logged in or reconnecting.

    `maybe_sent` is true when the request may already have reached the platform (a timeout
    after it was written): a group message is then not sent again, a private one is.
    `retry_after` is the platform's own wait, in seconds, when it gave one (429).
    """

    def __init__(
        self, reason: str, *, maybe_sent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` messages per `per` seconds."""

    count: int
    per: float


@dataclass(frozen=True, slots=True)
class SendLimits:
    """A platform's documented sending limits, applied by the outbox sender."""

    # All chats together.
    overall: Rate = Rate(30, 1.0)
    # One group chat.
    group: Rate = Rate(20, 60.0)
    # One private chat.
    private: Rate = Rate(1, 1.0)


def file_too_large_text(filename: str, size: int, limit: int, where: Text) -> str:
    """What the recipient reads instead of a file the platform cannot carry."""
    mb, limit_mb = size / 1024 / 1024, limit / 1024 / 1024
    return "\n".join(
        AdapterTexts.file_too_large(
            lang, filename=filename, mb=mb, limit_mb=limit_mb, where=where(lang)
        )
        for lang in LANGUAGES
    )


UNLIMITED = SendLimits(Rate(1_000_000, 1.0), Rate(1_000_000, 1.0), Rate(1_000_000, 1.0))


class Adapter(ABC):
    """Translates one platform to and from the platform-neutral messages.

    An adapter turns what it receives into `IncomingMessage` values and awaits
    `app.handle(message)`; everything the bot says reaches `send` through the outbox sender.
    """

    platform: ClassVar[str]
    # The longest text one platform message may carry; longer text is split.
    max_text: ClassVar[int] = 4096
    limits: ClassVar[SendLimits] = SendLimits()
    # The console and the test adapter: the app sends what is due right after each input and
    # each job, in the order it was queued, with no acknowledgement window, so a transcript
    # reads in order. Every other adapter is drained by its own sender task.
    drains_inline: ClassVar[bool] = False

    @property
    def ready(self) -> bool:
        """Whether sends can be attempted now (a gateway still logging in is not ready)."""
        return True

    def nudge_text(self, language: str) -> str | None:
        """What to say in a group, once, to a person the bot cannot write to privately, so
        they open the chat; None where the platform has nothing they can do about it."""
        return None

    @abstractmethod
    async def start(self, app: App) -> None:
        """Connect and begin feeding incoming messages to `app.handle`; return once running."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect; pending sends are finished or dropped cleanly."""

    @abstractmethod
    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        """Send one message. Raise `Unreachable` for a permanent refusal and `Transient` for a
        failure worth retrying; return only once the platform has accepted the message."""
