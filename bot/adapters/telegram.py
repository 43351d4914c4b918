"""Telegram adapter: python-telegram-bot on one side, the platform-neutral messages on the other.

Translation (updates in, HTML text, keyboards and documents out) is plain functions at the top;
`TelegramAdapter` below runs the update inbox, the sends and the command menus.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from datetime import datetime

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.constants import ChatType

from bot.messages import Button, IncomingMessage, Mention, OutgoingMessage, split_mentions

# PTB 22 warns on every RetryAfter unless its time periods are opted in to timedelta, which is
# what the next major version does anyway; nothing here reads those attributes as ints.
os.environ.setdefault("PTB_TIMEDELTA", "1")

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
# Telegram refuses callback_data longer than this many bytes.
MAX_CALLBACK_DATA = 64

GROUP_TYPES = {ChatType.GROUP, ChatType.SUPERGROUP}

# Button commands that need free text from the presser before they can run.
REASON_COMMANDS = {"/reject", "驳回"}
REASON_PLACEHOLDER = "<理由>"
_REASON_PROMPT_LINE = re.compile(r"^(?P<command>\S.*?) <[^<>\n]+>$")


# -- incoming ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Press:
    """A button press that routes a command; the pressed message is edited with the outcome."""

    message: IncomingMessage
    pressed_chat_id: int
    pressed_message_id: int
    pressed_text: str


@dataclass(frozen=True, slots=True)
class AskReason:
    """A button press whose command needs a reason typed by the presser (驳回)."""

    callback_id: str
    chat_id: int
    command: str
    presser_id: int


@dataclass(frozen=True, slots=True)
class GroupMigrated:
    """A group was upgraded to a supergroup: Telegram gave it a new chat id."""

    old_chat_id: str
    new_chat_id: str


Event = IncomingMessage | Press | AskReason | GroupMigrated


def message_key(chat_id: int | str, message_id: int) -> str:
    # Telegram numbers messages per chat, so the chat is part of the key.
    return f"{chat_id}:{message_id}"


def translate(update: Update, me: User, received_at: datetime) -> Event | None:
    """The platform-neutral event an update stands for, or None when the bot ignores it."""
    if update.callback_query is not None:
        return _translate_press(update.callback_query, received_at)
    # Edits are ignored on purpose: the original message was already handled.
    message = update.message
    if message is None:
        return None
    if message.migrate_to_chat_id is not None:
        return GroupMigrated(str(message.chat.id), str(message.migrate_to_chat_id))
    sender = message.from_user
    if sender is None or sender.is_bot:
        return None
    chat = message.chat
    if chat.type not in GROUP_TYPES and chat.type != ChatType.PRIVATE:
        return None
    raw = message.text if message.text is not None else message.caption
    if raw is None:
        return None
    text, mentions_bot, mentions, addressed_elsewhere = _read_text(message, raw, me)
    if addressed_elsewhere:
        return None
    reply_to = message.reply_to_message
    if reply_to is not None and reply_to.from_user is not None and reply_to.from_user.id == me.id:
        prompted = _prompted_command(reply_to.text or "")
        if prompted is not None:
            text = f"{prompted} {text}".strip()
        mentions_bot = True
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(chat.id),
        is_group=chat.type in GROUP_TYPES,
        sender_id=str(sender.id),
        text=text,
        sent_at=message.date,
        message_id=message_key(chat.id, message.message_id),
        sender_name=sender.full_name,
        chat_title=chat.title or "",
        mentions_bot=mentions_bot,
        mentions=mentions,
        callback_id=None,
    )


def _read_text(message: Message, raw: str, me: User) -> tuple[str, bool, tuple[str, ...], bool]:
    """Strip the bot's own @-mention and `@botname` suffix; collect other mentioned user ids.

    Returns (text, mentions the bot, other mentioned user ids, command meant for another bot).
    """
    entities = (
        message.parse_entities() if message.text is not None else message.parse_caption_entities()
    )
    username = (me.username or "").lower()
    mentions_bot = False
    others: list[str] = []
    cuts: list[tuple[int, int, str]] = []
    # Entity offsets count UTF-16 code units; parse_entities already gives the matching text.
    position = 0
    for entity, value in sorted(entities.items(), key=lambda item: item[0].offset):
        start = raw.find(value, position)
        if start < 0:
            continue
        position = start + len(value)
        if entity.type == MessageEntity.MENTION and value[1:].lower() == username:
            mentions_bot = True
            cuts.append((start, position, ""))
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
            if entity.user.id == me.id:
                mentions_bot = True
                cuts.append((start, position, ""))
            else:
                others.append(str(entity.user.id))
        elif entity.type == MessageEntity.BOT_COMMAND and "@" in value:
            command, _, target = value.partition("@")
            if target.lower() != username:
                return raw, False, (), True
            cuts.append((start, position, command))
    text = raw
    for start, end, replacement in reversed(cuts):
        text = text[:start] + replacement + text[end:]
    return (
        " ".join(text.split()) if mentions_bot else text.strip(),
        mentions_bot,
        tuple(others),
        False,
    )


def _translate_press(query: CallbackQuery, received_at: datetime) -> Press | AskReason | None:
    parsed = parse_callback_data(query.data or "")
    pressed = query.message
    if parsed is None or pressed is None or not isinstance(pressed, Message):
        return None
    kind, command = parsed
    chat = pressed.chat
    if kind == "r":
        return AskReason(query.id, chat.id, command, query.from_user.id)
    incoming = IncomingMessage(
        platform=PLATFORM,
        chat_id=str(chat.id),
        is_group=chat.type in GROUP_TYPES,
        sender_id=str(query.from_user.id),
        text=command,
        # A press carries no time of its own; it happened when Telegram handed it over.
        sent_at=received_at,
        message_id=f"cb:{query.id}",
        sender_name=query.from_user.full_name,
        chat_title=chat.title or "",
        mentions_bot=True,
        callback_id=query.id,
    )
    return Press(incoming, chat.id, pressed.message_id, pressed.text or pressed.caption or "")


# -- buttons -----------------------------------------------------------------------------------


def needs_reason(command: str) -> bool:
    words = command.split()
    return bool(words) and words[0] in REASON_COMMANDS and len(words) == 2


def callback_data(button: Button) -> str:
    """`c|<command>` runs the command as the presser; `r|<command>` first asks for a reason.

    The command names a request by its short id (`/approve L37`), never a person, so the data
    carries nothing personal; and since it only ever routes a command through the same
    authorization as typing it, a forged press gains nothing.
    """
    kind = "r" if needs_reason(button.command) else "c"
    data = f"{kind}|{button.command}"
    if len(data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"button command too long for Telegram: {button.command!r}")
    return data


def parse_callback_data(data: str) -> tuple[str, str] | None:
    kind, sep, command = data.partition("|")
    if not sep or kind not in {"c", "r"} or not command.strip():
        return None
    return kind, command.strip()


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=callback_data(b)) for b in buttons]]
    )


def reason_prompt(command: str, language: str = "zh") -> str:
    """The question a 驳回 press asks; a reply to it is read back as `<command> <reply>`."""
    if language == "en":
        return f"Reply to this message with the reason:\n{command} <reason>"
    return f"请回复本消息写明理由：\n{command} {REASON_PLACEHOLDER}"


def _prompted_command(prompt: str) -> str | None:
    lines = prompt.strip().splitlines()
    if len(lines) < 2:
        return None
    match = _REASON_PROMPT_LINE.match(lines[-1])
    if match is None or not needs_reason(match.group("command")):
        return None
    return match.group("command")


# -- outgoing text -----------------------------------------------------------------------------


def mention_html(mention: Mention, usernames: dict[str, str] | None = None) -> str:
    username = (usernames or {}).get(mention.user_id)
    if username:
        return f"@{username}"
    return f'<a href="tg://user?id={int(mention.user_id)}">{html.escape(mention.name)}</a>'


def _mention_visible(mention: Mention, usernames: dict[str, str] | None) -> str:
    username = (usernames or {}).get(mention.user_id)
    return f"@{username}" if username else mention.name


def html_chunks(
    message: OutgoingMessage,
    limit: int = MAX_TEXT,
    usernames: dict[str, str] | None = None,
) -> list[str]:
    """The message as HTML texts, each within Telegram's limit once its markup is parsed.

    Splitting works on the visible text (the limit counts what the reader sees), then each
    chunk is escaped and its mentions are turned into links.
    """
    chunks = split_mentions(
        message.text, message.mentions, limit, lambda m: _mention_visible(m, usernames)
    )
    out = []
    for visible, mentions in chunks:
        suffix = " ".join(_mention_visible(m, usernames) for m in mentions)
        prefix = visible[: len(visible) - len(suffix)] if suffix else visible
        rendered = " ".join(mention_html(m, usernames) for m in mentions)
        out.append(html.escape(prefix, quote=False) + rendered)
    return [chunk for chunk in out if chunk.strip()]
