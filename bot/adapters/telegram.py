"""Telegram adapter: python-telegram-bot on one side, the platform-neutral messages on the other.

Translation (updates in, HTML text, keyboards and documents out) is plain functions at the top;
`TelegramAdapter` below runs the update inbox, the sends and the command menus.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import tornado.httpserver
import tornado.web
from sqlalchemy import text
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest
from tornado.netutil import bind_sockets

from bot.adapters.base import Adapter, SendFailed, StartFailed, Transient, Unreachable
from bot.messages import (
    Button,
    ChatAddress,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    split_mentions,
)
from bot.texts import Catalogue, Text
from storage import identity, inbound
from storage.db import with_retry

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from bot.app import App
    from bot.config import TelegramSection
    from bot.router import Command

log = logging.getLogger(__name__)
T = TypeVar("T")

# PTB 22 warns on every RetryAfter unless its time periods are opted in to timedelta, which is
# what the next major version does anyway; nothing here reads those attributes as ints.
os.environ.setdefault("PTB_TIMEDELTA", "1")

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
# Telegram refuses callback_data longer than this many bytes.
MAX_CALLBACK_DATA = 64

GROUP_TYPES = {ChatType.GROUP, ChatType.SUPERGROUP}

# -- incoming ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Press:
    """A button press that routes a command; the pressed message is edited with the outcome."""

    message: IncomingMessage
    pressed_chat_id: int
    pressed_message_id: int
    pressed_text: str


@dataclass(frozen=True, slots=True)
class GroupMigrated:
    """A group was upgraded to a supergroup: Telegram gave it a new chat id."""

    old_chat_id: str
    new_chat_id: str


Event = IncomingMessage | Press | GroupMigrated


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
        # A reply to the bot is addressed to it, like an @-mention.
        mentions_bot = True
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(chat.id),
        is_group=chat.type in GROUP_TYPES,
        sender_id=str(sender.id),
        text=text,
        sent_at=message.date,
        # Numbered per chat; the router keys its duplicate check on chat and message id.
        message_id=str(message.message_id),
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


def _translate_press(query: CallbackQuery, received_at: datetime) -> Press | None:
    parsed = parse_callback_data(query.data or "")
    pressed = query.message
    if parsed is None or pressed is None or not isinstance(pressed, Message):
        return None
    _, command = parsed
    chat = pressed.chat
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


def callback_data(button: Button) -> str:
    """`c|<command>` runs the command as the presser (a command that needs more, such as
    驳回's reason, asks for it in chat like the typed command would).

    The command names a request by its short id (`/approve L37`), never a person, so the data
    carries nothing personal; and since it only ever routes a command through the same
    authorization as typing it, a forged press gains nothing.
    """
    data = f"c|{button.command}"
    if len(data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"button command too long for Telegram: {button.command!r}")
    return data


def parse_callback_data(data: str) -> tuple[str, str] | None:
    # `r|` is on buttons sent before 驳回 asked for its reason in chat; it runs the same way.
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


# -- the adapter -------------------------------------------------------------------------------


class _RedactToken(logging.Filter):
    """Blanks the bot token out of log records: it sits in every Bot API request URL."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token in record.getMessage():
            record.msg = record.getMessage().replace(self.token, "<token>")
            record.args = None
        return True


def _guard_logs(token: str) -> _RedactToken:
    # httpx logs every request URL, token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    guard = _RedactToken(token)
    for name in ["httpx", "httpcore", "telegram", *logging.Logger.manager.loggerDict]:
        if name.split(".")[0] in {"httpx", "httpcore", "telegram"}:
            logging.getLogger(name).addFilter(guard)
    return guard


def _unguard_logs(guard: _RedactToken) -> None:
    for name in ["httpx", "httpcore", "telegram", *logging.Logger.manager.loggerDict]:
        if name.split(".")[0] in {"httpx", "httpcore", "telegram"}:
            logging.getLogger(name).removeFilter(guard)


ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
UPDATE_KEY = "update:"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Processed updates are kept this long, well past the day Telegram holds unconfirmed ones, so a
# redelivered update is always recognised.
INBOX_KEEP = timedelta(days=7)
WORKER = "telegram-inbox"
# What a process does with the bot: everything (`classbot run`), only the platform connection
# (intake: getUpdates or the webhook writes the inbox), or only the inbox (`classbot worker`).
ROLES = ("all", "intake", "worker")
# How long a worker waits for new rows when nothing woke it: the intake is another process.
WORKER_IDLE = 0.2
# Chats one pass over a shared inbox takes at most: the rest are left to the other workers.
CHATS_PER_PASS = 4
# Update fields that carry the chat the update belongs to.
_CHAT_FIELDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "my_chat_member",
    "chat_member",
)
_TRY_CHAT_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))")
_CHAT_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))")


def chat_of(payload: str) -> str:
    """The chat a stored update belongs to ("" when it names none): updates of one chat are
    handled in order, by one process at a time."""
    try:
        data = json.loads(payload)
        for field in _CHAT_FIELDS:
            if isinstance(data.get(field), dict):
                return str(data[field]["chat"]["id"])
        query = data.get("callback_query")
        if isinstance(query, dict):
            message = query.get("message")
            if isinstance(message, dict):
                return str(message["chat"]["id"])
            return f"user:{query['from']['id']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return ""


# Seconds a stop waits for the update being processed.
STOP_GRACE = 10.0
# Processing tries per update before it is logged and skipped.
MAX_ATTEMPTS = 5


def _visible_len(html_text: str) -> int:
    return len(html.unescape(re.sub(r"<[^>]+>", "", html_text)))


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


class TelegramTexts(Catalogue):
    nudge = Text(
        "我无法私信你：请打开与我的私聊并点击「开始」(Start)，以便收到审批和汇总通知。",
        "I cannot message you privately. Please open a private chat with me and press "
        "Start, so approvals and reports reach you.",
    )
    bad_token = Text(
        "Telegram 不认这个 token：请核对 telegram.token（或 CLASSBOT_TELEGRAM__TOKEN）。",
        "Telegram refused the token: check telegram.token (or CLASSBOT_TELEGRAM__TOKEN).",
    )
    unreachable = Text(
        "连不上 Telegram（{url}）：{error}",
        "cannot reach Telegram at {url}: {error}",
    )


def _nudge_text(language: str) -> str:
    return TelegramTexts.nudge(language)


class _ChatLocks:
    """The chats one pass over the inbox holds: PostgreSQL session advisory locks on a
    connection of their own, released when the pass ends or the process dies."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self._keys: list[str] = []

    def take(
        self,
        rows: list[tuple[int, str, datetime]],
        reread: Callable[[], list[tuple[int, str, datetime]]],
    ) -> list[tuple[int, str, datetime]]:
        """The rows of the chats this pass could lock, read again once locked: a row another
        process handled meanwhile is left out."""
        chats: set[str] = set()
        tried: set[str] = set()
        for _, payload, _ in rows:
            chat = chat_of(payload)
            if chat in tried or len(chats) >= CHATS_PER_PASS:
                continue
            tried.add(chat)
            key = f"{PLATFORM}-chat:{chat}"
            if self._conn.execute(_TRY_CHAT_LOCK, {"key": key}).scalar():
                self._keys.append(key)
                chats.add(chat)
        if not chats:
            return []
        return [row for row in reread() if chat_of(row[1]) in chats]

    def release(self) -> None:
        try:
            for key in self._keys:
                self._conn.execute(_CHAT_UNLOCK, {"key": key})
            self._conn.close()
        except Exception:
            # A connection that cannot unlock is dropped, and its locks go with it.
            log.warning("could not release the inbox chat locks", exc_info=True)
            self._conn.invalidate()
            self._conn.close()


class TelegramAdapter(Adapter):
    """The bot on Telegram, through python-telegram-bot's `ExtBot`.

    Updates are not handed to PTB's `Application`/`Updater`: the Updater confirms an update's
    offset before any handler runs, so a crash mid-handler would lose it. Instead every update
    is written to the inbound log first (in polling mode, before the next getUpdates confirms
    it; in webhook mode, before the webhook answers 200) and one worker processes that inbox
    in order; the router marks each row done in the unit of work that handles it, so a
    check-in is one write transaction. Redeliveries are recognised by `update_id`.

    Sending is one request per message chunk, with no retry or pacing of its own: the outbox
    sender does both, from the failure `send` raises (see `_failure`).
    """

    platform = "telegram"
    max_text = MAX_TEXT

    def __init__(
        self,
        settings: TelegramSection | None = None,
        *,
        poll_timeout: float = 30.0,
        request_timeout: float = 10.0,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
        role: str = "all",
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self._settings = settings
        self._role = role
        self._poll_timeout = poll_timeout
        self._request_timeout = request_timeout
        self._retry_delays = tuple(retry_delays)
        self._app: App | None = None
        self._bot: ExtBot[Any] | None = None
        self._me: User | None = None
        self._log_guard: _RedactToken | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._webhook: tornado.httpserver.HTTPServer | None = None
        self.webhook_port: int | None = None
        # Usernames seen in updates: a mention of a known username is a plain @username.
        self._usernames: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._app

    @property
    def ready(self) -> bool:
        return self._me is not None and not self._stopping

    def nudge_text(self, language: str) -> str | None:
        return _nudge_text(language)

    @property
    def bot(self) -> ExtBot[Any]:
        if self._bot is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._bot

    @property
    def me(self) -> User:
        if self._me is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._me

    async def start(self, app: App) -> None:
        settings = self._settings or app.config.telegram
        if settings.token is None or not settings.token.get_secret_value():
            raise ValueError("telegram.token is not set (or CLASSBOT_TELEGRAM__TOKEN)")
        token = settings.token.get_secret_value()
        self._settings = settings
        self._app = app
        self._stopping = False
        self._log_guard = _guard_logs(token)
        timeout = self._request_timeout
        self._bot = ExtBot(
            token,
            base_url=settings.base_url,
            base_file_url=settings.base_file_url,
            request=HTTPXRequest(
                read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout
            ),
            get_updates_request=HTTPXRequest(connect_timeout=timeout, read_timeout=timeout),
        )
        try:
            await self._bot.initialize()
        except InvalidToken:
            raise StartFailed(TelegramTexts.bad_token.bind()) from None
        except NetworkError as e:  # TimedOut is a NetworkError
            raise StartFailed(
                TelegramTexts.unreachable.bind(url=settings.base_url, error=str(e))
            ) from None
        self._me = self._bot.bot
        if self._role == "worker":
            # The intake process holds the platform connection and keeps the menus.
            self._tasks.append(asyncio.create_task(self._work(), name=WORKER))
            log.info("telegram bot @%s handling the inbox (worker)", self.me.username)
            return
        await self._publish_commands()
        self._prune_inbox()
        if self._role == "all":
            # Rows left unprocessed by the last run go first: the worker takes the inbox in
            # order.
            self._tasks.append(asyncio.create_task(self._work(), name=WORKER))
        if settings.mode == "webhook":
            await self._start_webhook(settings)
        else:
            await self._call(lambda: self.bot.delete_webhook(drop_pending_updates=False))
            self._tasks.append(asyncio.create_task(self._poll(), name="telegram-poll"))
        log.info("telegram bot @%s started (%s)", self.me.username, settings.mode)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._webhook is not None:
            self._webhook.stop()
            await self._webhook.close_all_connections()
            self._webhook = None
        # The worker finishes the update in hand (it checks for stopping between updates), so
        # a stop does not cut a reply short; whatever it leaves is taken up on the next start.
        for task in self._tasks:
            if task.get_name() != WORKER:
                task.cancel()
        _, unfinished = await asyncio.wait(self._tasks, timeout=STOP_GRACE)
        for task in unfinished:
            task.cancel()
        running: list[asyncio.Future[None]] = [*self._tasks]
        for future in running:
            try:
                await future
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("telegram task failed while stopping")
        self._tasks.clear()
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None
        if self._log_guard is not None:
            _unguard_logs(self._log_guard)
            self._log_guard = None
        self._app = None

    # -- receiving ---------------------------------------------------------------------------

    async def _poll(self) -> None:
        # No offset at first: Telegram resends whatever was not confirmed, and the inbox
        # recognises what it already holds.
        offset: int | None = None
        failures = 0
        while not self._stopping:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=int(self._poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                if updates:
                    # Stored before the next getUpdates confirms them by asking past them.
                    self._store([(u.update_id, u.to_dict()) for u in updates])
                    offset = updates[-1].update_id + 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("Telegram refused the bot token; polling stops")
                return
            except Conflict:
                log.warning("another getUpdates or a webhook is active for this bot; retrying")
                await asyncio.sleep(self._backoff(failures))
                failures += 1
            except Exception:
                log.warning("getUpdates failed; retrying", exc_info=True)
                await asyncio.sleep(self._backoff(failures))
                failures += 1

    def _backoff(self, failures: int) -> float:
        if not self._retry_delays:
            return 0.0
        return self._retry_delays[min(failures, len(self._retry_delays) - 1)]

    def _store(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        """Write updates to the inbox in one transaction, then wake the worker."""
        app = self.app

        def work() -> None:
            with app.uow() as session:
                now = app.clock.now()
                for update_id, data in items:
                    inbound.claim(
                        session, PLATFORM, f"{UPDATE_KEY}{update_id}", now, json.dumps(data)
                    )

        with_retry(work)
        self._wake.set()

    async def _start_webhook(self, settings: TelegramSection) -> None:
        if not settings.webhook_url or settings.secret_token is None:
            raise ValueError("webhook mode needs telegram.webhook_url and telegram.secret_token")
        secret = settings.secret_token.get_secret_value()
        web = tornado.web.Application(
            [(settings.webhook_path, _WebhookHandler, {"adapter": self, "secret": secret})],
            # The access log is the adapter's business: it says nothing about each update.
            log_function=lambda handler: None,
        )
        sockets = bind_sockets(settings.webhook_port, settings.webhook_listen)
        self.webhook_port = sockets[0].getsockname()[1]
        self._webhook = tornado.httpserver.HTTPServer(web)
        self._webhook.add_sockets(sockets)
        await self._call(
            lambda: self.bot.set_webhook(
                settings.webhook_url or "",
                secret_token=secret,
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
        )

    def _prune_inbox(self) -> None:
        app = self.app

        def work() -> int:
            with app.uow() as session:
                return inbound.prune(session, app.clock.now() - INBOX_KEEP)

        try:
            with_retry(work)
        except Exception:
            log.exception("could not prune the inbound log")

    def _pending(self) -> list[tuple[int, str, datetime]]:
        app = self.app

        def work() -> list[tuple[int, str, datetime]]:
            with app.uow(readonly=True) as session:
                return [
                    (row.id, row.payload or "", row.received_at)
                    for row in inbound.pending(session, PLATFORM)
                    if row.key.startswith(UPDATE_KEY)
                ]

        return with_retry(work)

    def _done(self, row_id: int) -> None:
        app = self.app

        def work() -> None:
            with app.uow() as session:
                inbound.mark_processed(session, row_id, app.clock.now())

        with_retry(work)

    async def _work(self) -> None:
        failures: dict[int, int] = {}
        row_id = 0
        # Messages read from the inbox in a row: handled together, with one commit, when
        # several queued up (a burst); anything else first lets them go, to keep order.
        queued: list[tuple[int, IncomingMessage, Update]] = []

        async def flush() -> None:
            nonlocal row_id
            if not queued:
                return
            # A failure counts against the first of them.
            here, row_id = row_id, queued[0][0]
            await self._messages(queued)
            for done, _, _ in queued:
                failures.pop(done, None)
            queued.clear()
            row_id = here

        # On PostgreSQL several workers may take the inbox: each pass holds the chats it
        # handles (an advisory lock per chat, on a connection of its own), so a chat's updates
        # are handled by one process at a time and in order.
        shared = self._role == "worker" and self.app.engine.dialect.name == "postgresql"
        while not self._stopping:
            self._wake.clear()
            row_id = 0
            queued.clear()
            held: _ChatLocks | None = None
            try:
                rows = self._pending()
                if shared and rows:
                    held = _ChatLocks(self.app.engine.connect())
                    rows = held.take(rows, self._pending)
                for row_id, payload, received_at in rows:
                    if self._stopping:
                        return
                    if failures.get(row_id, 0) < MAX_ATTEMPTS:
                        update, event = self._read(payload, received_at)
                        if isinstance(event, IncomingMessage) and update is not None:
                            queued.append((row_id, replace(event, inbox_id=row_id), update))
                            continue
                        await flush()
                        await self._process(row_id, update, event)
                    else:
                        await flush()
                        log.error(
                            "giving up on Telegram update row %d after %d tries",
                            row_id,
                            MAX_ATTEMPTS,
                        )
                        self._done(row_id)
                    failures.pop(row_id, None)
                await flush()
                if self._role == "worker" and rows:
                    log.info("worker handled %d stored updates", len(rows))
            except asyncio.CancelledError:
                raise
            except Exception:
                # The row stays pending and is tried again (the router's own duplicate check
                # keeps a retried command from running twice); only a row that keeps failing
                # is given up, so one bad update cannot hold up the rest.
                failures[row_id] = failures.get(row_id, 0) + 1
                log.exception("processing the Telegram inbox failed; retrying")
                await asyncio.sleep(self._backoff(failures[row_id] - 1))
                continue
            finally:
                if held is not None:
                    held.release()
            if rows:
                continue
            if shared:
                # Rows stored by another process (or held by another worker) wake nobody here.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=WORKER_IDLE)
            else:
                await self._wake.wait()

    def _read(self, payload: str, received_at: datetime) -> tuple[Update | None, Event | None]:
        update = Update.de_json(json.loads(payload), self.bot)
        event = translate(update, self.me, received_at) if update is not None else None
        return update, event

    async def _process(self, row_id: int, update: Update | None, event: Event | None) -> None:
        """One stored update. A message or press is marked done by the router, inside the
        unit of work that handles it; anything else is marked done here."""
        if isinstance(event, Press):
            await self._press(event, row_id)
        elif isinstance(event, IncomingMessage):
            assert update is not None
            await self._message(replace(event, inbox_id=row_id), update)
        else:
            if isinstance(event, GroupMigrated):
                self._move_group(event.old_chat_id, event.new_chat_id)
            self._done(row_id)

    async def _messages(self, queued: list[tuple[int, IncomingMessage, Update]]) -> None:
        """Messages read in a row from the inbox: one alone as ever, several as one batch
        (`App.handle_batch`: a savepoint each, one commit)."""
        if len(queued) == 1:
            _, msg, update = queued[0]
            await self._message(msg, update)
            return
        for _, _, update in queued:
            self._remember(update)
        await self.app.handle_batch([msg for _, msg, _ in queued])

    def _remember(self, update: Update) -> None:
        user = update.effective_user
        if user is not None and user.username:
            self._usernames[str(user.id)] = user.username

    async def _message(self, msg: IncomingMessage, update: Update) -> None:
        self._remember(update)
        await self.app.handle(msg)

    async def _press(self, press: Press, row_id: int) -> None:
        target = json.dumps(
            {
                "chat": press.pressed_chat_id,
                "message": press.pressed_message_id,
                "text": press.pressed_text,
                "by": press.message.sender_name,
            },
            ensure_ascii=False,
        )
        msg = replace(press.message, inbox_id=row_id, edit_target=target)
        replies: list[OutgoingMessage] = []
        try:
            replies = await self.app.handle(msg)
        finally:
            # The short notice on the button; the outcome itself is a queued reply, shown on
            # the pressed message when it is sent.
            answer = _first_line(replies[0].text) if replies else ""
            try:
                await self.bot.answer_callback_query(msg.callback_id or "", text=answer)
            except TelegramError:
                log.info("a button press could not be answered (too old, or Telegram is down)")

    def _move_group(self, old_chat_id: str, new_chat_id: str) -> None:
        moved = self._in_uow(
            lambda s: identity.move_group_chat(s, PLATFORM, old_chat_id, new_chat_id)
        )
        if moved:
            log.info("a bound group became a supergroup; its class binding moved with it")

    def _in_uow(self, work: Callable[[Session], T]) -> T:
        app = self.app

        def run() -> T:
            with app.uow() as session:
                return work(session)

        return with_retry(run)

    # -- sending -----------------------------------------------------------------------------

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        """One message, one request per chunk, no retries of its own (the sender decides)."""
        if message.edit_target is not None and await self._edit_pressed(message):
            return
        target = _Target(int(to.chat_id))
        chunks = html_chunks(message, MAX_TEXT, self._usernames)
        markup = keyboard(message.buttons)
        started = False
        try:
            if message.attachment is not None:
                caption: str | None = None
                if chunks and _visible_len(chunks[-1]) <= MAX_CAPTION:
                    caption = chunks.pop()
                for chunk in chunks:
                    await self._send_text(target, chunk, None)
                    started = True
                await self._send_document(target, message, caption, markup)
            else:
                for i, chunk in enumerate(chunks):
                    await self._send_text(target, chunk, markup if i == len(chunks) - 1 else None)
                    started = True
        except TelegramError as e:
            raise _failure(e, part_sent=started) from e

    async def _edit_pressed(self, message: OutgoingMessage) -> bool:
        """Show a press's outcome on the pressed message; False if Telegram will not."""
        pressed = json.loads(message.edit_target or "{}")
        outcome = html.escape(message.text, quote=False)
        signed = f"{outcome}\n— {html.escape(pressed.get('by', ''), quote=False)}"
        original = html.escape(pressed.get("text", ""), quote=False)
        room = MAX_TEXT - _visible_len(signed) - 2
        if len(original) > room:
            original = original[: max(room - 1, 0)] + "…"
        try:
            await self.bot.edit_message_text(
                f"{original}\n\n{signed}",
                chat_id=pressed["chat"],
                message_id=pressed["message"],
                parse_mode="HTML",
                reply_markup=None,
            )
        except BadRequest:
            log.info("could not edit a pressed message; sending the outcome instead")
            return False
        except TelegramError as e:
            raise _failure(e, part_sent=False) from e
        return True

    async def _send_text(
        self, target: _Target, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        await self._to_chat(
            target,
            lambda chat_id: self.bot.send_message(
                chat_id,
                text,
                parse_mode="HTML",
                reply_markup=markup,
                disable_web_page_preview=True,
            ),
        )

    async def _send_document(
        self,
        target: _Target,
        message: OutgoingMessage,
        caption: str | None,
        markup: InlineKeyboardMarkup | None,
    ) -> None:
        attachment = message.attachment
        assert attachment is not None
        await self._to_chat(
            target,
            lambda chat_id: self.bot.send_document(
                chat_id,
                InputFile(attachment.content, filename=attachment.filename),
                caption=caption,
                parse_mode="HTML" if caption else None,
                reply_markup=markup,
                filename=attachment.filename,
            ),
        )

    async def _to_chat(self, target: _Target, send: Callable[[int], Awaitable[Any]]) -> None:
        """One request, following a group that became a supergroup to its new id."""
        try:
            await send(target.chat_id)
        except ChatMigrated as e:
            new_id = int(e.new_chat_id)
            self._move_group(str(target.chat_id), str(new_id))
            target.chat_id = new_id
            await send(new_id)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """A Bot API call outside sending (set-up, polling): transient network failures are
        retried with backoff here, since no outbox row stands behind them."""
        for attempt in range(len(self._retry_delays) + 1):
            try:
                return await make()
            except (BadRequest, Forbidden, ChatMigrated, RetryAfter, InvalidToken, Conflict):
                raise
            except (TimedOut, NetworkError) as e:
                if attempt == len(self._retry_delays):
                    raise
                delay = self._retry_delays[attempt]
                log.warning("Telegram request failed (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- command menus -----------------------------------------------------------------------

    async def _publish_commands(self) -> None:
        """Publish the `/` menus, private and group, in Chinese and English, from the router."""
        commands = list(self.app.dispatcher.commands)
        scopes: list[tuple[BotCommandScope, set[str]]] = [
            (BotCommandScopeAllPrivateChats(), {"any", "private"}),
            (BotCommandScopeAllGroupChats(), {"any", "group"}),
        ]
        for scope, where in scopes:
            listed = [c for c in commands if c.where.value in where]
            for language in ("zh", None):
                menu = command_menu(listed, language or "en")
                try:
                    await self._call(partial(self.bot.set_my_commands, menu, scope, language))
                except TelegramError:
                    log.warning("could not publish the command menu", exc_info=True)


# Failures known to have happened before Telegram got the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _failure(error: TelegramError, *, part_sent: bool) -> SendFailed:
    """What a failed Bot API call means for the outbox (docs/delivery.md has the table)."""
    if isinstance(error, Forbidden):
        return Unreachable(error.message)
    if isinstance(error, BadRequest):
        if "chat not found" in error.message.lower():
            return Unreachable(error.message)
        # Telegram refused this message (its text or file), not the chat: no retry helps.
        return SendFailed(error.message)
    if isinstance(error, RetryAfter):
        wait = error.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return Transient(
            f"429 Too Many Requests (retry after {seconds:g}s)",
            retry_after=seconds,
            maybe_sent=part_sent,
        )
    if isinstance(error, NetworkError):
        cause = error.__cause__
        # PTB raises NetworkError for an HTTP 5xx answer with no cause: Telegram answered,
        # and it did not take the message. With an httpx cause, only a failure to connect
        # is known to be before delivery.
        answered = cause is None and not isinstance(error, TimedOut)
        before = answered or isinstance(cause, _NOT_SENT)
        return Transient(error.message, maybe_sent=part_sent or not before)
    return Transient(error.message, maybe_sent=part_sent)


def command_menu(commands: Sequence[Command], language: str) -> list[BotCommand]:
    """Telegram menu entries: command names are a-z, 0-9 and _, descriptions 1-256 chars."""
    menu = []
    for command in commands:
        name = command.name.lower()
        if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            continue
        description = command.help(language)
        if language != "en":
            description = f"{command.keyword}：{description}"
        menu.append(BotCommand(name, description[:256] or name))
    return menu


class _Target:
    """Where one message goes; the chat id changes if the group migrates mid-message."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id


class _WebhookHandler(tornado.web.RequestHandler):
    def initialize(self, adapter: TelegramAdapter, secret: str) -> None:
        self.adapter = adapter
        self.secret = secret

    def check_xsrf_cookie(self) -> None:
        pass

    def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.set_status(403)
            return
        try:
            data = json.loads(self.request.body)
            update_id = int(data["update_id"])
        except (ValueError, KeyError, TypeError):
            self.set_status(400)
            return
        try:
            # Answered 200 only once the update is stored: Telegram resends anything else.
            self.adapter._store([(update_id, data)])
        except Exception:
            log.exception("could not store a webhook update; Telegram will resend it")
            self.set_status(500)
            return
        self.set_status(200)
