"""Platform-neutral messages: what adapters hand to the router, and what the bot sends back.

Platform types (Telegram updates, WeChat room messages, console lines) stop at the adapter;
everything past it sees only these values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChatAddress:
    """A chat on one platform: a group chat, or the private chat with one account."""

    platform: str
    chat_id: str
    is_group: bool


@dataclass(frozen=True, slots=True)
class PersonAddress:
    """A roster person, reached privately on whichever of their accounts the bot can use."""

    person_id: int


Address = ChatAddress | PersonAddress


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What a platform's organisation directory says about a sender (DingTalk, WeCom)."""

    job_number: str = ""
    mobile: str = ""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message (or button press) from a chat, as every handler sees it."""

    platform: str
    chat_id: str
    is_group: bool
    sender_id: str
    text: str
    sent_at: datetime
    message_id: str | None = None
    sender_name: str = ""
    chat_title: str = ""
    # The bot itself was @-mentioned: in a group, any text after the mention is a command.
    mentions_bot: bool = False
    # Platform user ids of other accounts the message mentions.
    mentions: tuple[str, ...] = ()
    # Set when the message is a button press; the adapter answers the press with the reply.
    callback_id: str | None = None
    # The sender's entry in the organisation directory, where the platform has one and the
    # bot may read it: binding can then match it to the roster instead of a one-time code.
    directory: DirectoryEntry | None = None
    # For a button press: the adapter's handle on the pressed message. The first reply then
    # carries it, so the adapter can show the outcome there (Telegram edits the message).
    edit_target: str | None = None
    # The inbound log row the adapter stored this message in first (Telegram): the router
    # marks it done in the unit of work that handles the message.
    inbox_id: int | None = None

    @property
    def chat(self) -> ChatAddress:
        return ChatAddress(self.platform, self.chat_id, self.is_group)


@dataclass(frozen=True, slots=True)
class Mention:
    """An @-mention of one account; the adapter renders it in the platform's own way."""

    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a message; pressing it sends `command` through the router as its presser."""

    label: str
    command: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message, such as the day's ledger .xlsx."""

    filename: str
    content: bytes
    mime_type: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What the bot says. Mentions are rendered after the text, in order."""

    text: str
    mentions: tuple[Mention, ...] = ()
    attachment: Attachment | None = None
    buttons: tuple[Button, ...] = ()
    # Shown on a message the bot sent before, where the platform can (see IncomingMessage).
    edit_target: str | None = None


@dataclass(frozen=True, slots=True)
class GroupAck:
    """A per-person acknowledgement in a group (a check-in, a leave submitted).

    The sender merges those of one `key` in one chat into one message: names and counts
    only, never what the person sent.
    """

    key: str
    verb: str
    name: str
    # The class's progress after this one (done, of), when the kind has one.
    done: int | None = None
    of: int | None = None
    # A short mark after the name, such as （迟交）.
    mark: str = ""


@dataclass(frozen=True, slots=True)
class Envelope:
    """An outgoing message and where it goes.

    `delivery_id` names the scheduled delivery (see storage.deliveries) the message belongs
    to; `kind` (see storage.outbox.Kind) sets its priority and deadline when it is queued.
    """

    to: Address
    message: OutgoingMessage
    delivery_id: int | None = None
    # Messages that must reach a person are tracked as unreachable when they cannot.
    tags: tuple[str, ...] = field(default=())
    kind: str | None = None
    ack: GroupAck | None = None


def split_text(text: str, limit: int) -> list[str]:
    """Split text into chunks of at most `limit` characters, on line boundaries where possible."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


def split_mentions(
    text: str, mentions: tuple[Mention, ...], limit: int, render: Callable[[Mention], str]
) -> list[tuple[str, tuple[Mention, ...]]]:
    """Lay out text followed by rendered mentions in chunks of at most `limit` characters.

    Returns (chunk text, mentions in that chunk). Each mention stays whole in one chunk.
    """
    out: list[tuple[str, tuple[Mention, ...]]] = []
    texts = split_text(text, limit) if text else []
    for t in texts[:-1]:
        out.append((t, ()))
    current = texts[-1] if texts else ""
    in_chunk: list[Mention] = []
    for m in mentions:
        piece = render(m)
        sep = "\n" if current and not in_chunk else " "
        candidate = f"{current}{sep}{piece}" if current else piece
        if len(candidate) > limit and (current or in_chunk):
            out.append((current, tuple(in_chunk)))
            current, in_chunk = piece, [m]
        else:
            current = candidate
            in_chunk.append(m)
    if current or in_chunk or not out:
        out.append((current, tuple(in_chunk)))
    return out
