"""WeChat through wechaty and a puppet service: room and private messages in, text and files out."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TextIO
from urllib.parse import quote

import qrcode
import requests
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from pyee import AsyncIOEventEmitter

from bot.adapters import wechaty_compat as wx
from bot.adapters.base import (
    Adapter,
    AdapterTexts,
    Transient,
    Unreachable,
    file_too_large_text,
)
from bot.config import ConfigError
from bot.messages import (
    Attachment,
    ChatAddress,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    split_mentions,
    split_text,
)
from bot.texts import both_languages

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import WechatSection

log = logging.getLogger(__name__)

PLATFORM = "wechat"

# WeChat itself takes a few thousand characters in one text, but puppet gateways that drive
# the PC client have been seen to cut or drop long texts, and a very long message is hard to
# read on a phone. 2000 characters (about 6 KB of UTF-8 Chinese) stays well inside every
# limit we know of and still fits the @-list of a whole class in one or two messages.
MAX_TEXT = 2000

# WeChat ends an @-mention with U+2005 (four-per-em space) rather than a plain space.
MENTION_END = "\u2005"

# Puppet services report times in seconds or milliseconds; wechaty tells them apart the same way.
_LATEST_SECONDS_TIMESTAMP = 2145888000

# gRPC answers that mean the account cannot be written to, rather than that the service failed.
_REFUSED = {Status.NOT_FOUND, Status.PERMISSION_DENIED, Status.FAILED_PRECONDITION}
# Answers after which the gateway may have sent the message anyway: UNKNOWN is what gateways
# report for any failure of their own, a deadline may pass after the message went out.
_MAYBE_SENT = {Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.INTERNAL}

# A gRPC message is at most 4 MiB on a standard puppet service (grpc's and grpclib's default
# receive limit); a file goes in one message, base64-encoded, beside its name and type.
MAX_FILE_BASE64 = 4 * 1024 * 1024 - 16 * 1024

# Where a token alone is looked up; the service answers with the gateway's ip and port.
ENDPOINT_LOOKUP = "https://api.chatie.io/v0/hosties/{token}"


class NotConnected(Transient):
    """The bot is not logged in to WeChat right now; the message can be sent later."""


def wechat_time(timestamp: int) -> datetime:
    """A puppet service timestamp (seconds or milliseconds since the epoch) as aware UTC."""
    seconds = timestamp / 1000 if timestamp > _LATEST_SECONDS_TIMESTAMP else timestamp
    return datetime.fromtimestamp(seconds, tz=UTC)


def strip_mentions(text: str, names: Iterable[str]) -> tuple[str, bool]:
    """Remove `@name` (with the space WeChat puts after it) for each of the bot's names."""
    found = False
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        pattern = re.compile("@" + re.escape(name) + rf"(?:{MENTION_END}|\s|$)")
        text, count = pattern.subn(" ", text)
        found = found or count > 0
    return text.strip(), found


def qr_url(qr_code: str) -> str:
    """Where a browser shows the login QR code (the page wechaty itself points to)."""
    return "https://wechaty.js.org/qrcode/" + quote(qr_code, safe="")


def render_qr(data: str) -> str:
    """The QR code in block characters, two modules per character cell so it stays square.

    Light modules are drawn and dark ones left blank, which reads right on the usual dark
    terminal background (as wechaty's own printer does).
    """
    qr = qrcode.QRCode(border=2)
    qr.add_data(data)
    qr.make(fit=True)
    light = [[not module for module in row] for row in qr.get_matrix()]
    if len(light) % 2:
        light.append([False] * len(light[0]))
    return "\n".join(
        "".join(
            "█" if t and b else "▀" if t else "▄" if b else " "
            for t, b in zip(top, bottom, strict=True)
        )
        for top, bottom in zip(light[::2], light[1::2], strict=True)
    )


class _TrackedEmitter(AsyncIOEventEmitter):
    """The puppet's event emitter, keeping the tasks it starts so a shutdown can wait for them."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: set[asyncio.Future[Any]] = set()

    def _emit_run(self, f: Callable[..., Any], args: Any, kwargs: Any) -> None:
        def tracked(*a: Any, **kw: Any) -> Any:
            result = f(*a, **kw)
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
                return task
            return result

        super()._emit_run(tracked, args, kwargs)


async def _no_plugins(*args: Any, **kwargs: Any) -> None:
    """Stands in for wechaty's plugin manager: classbot uses no wechaty plugins."""


class _Client(wx.Wechaty):
    """One connection to the puppet service; the adapter makes a new one after each drop."""

    def __init__(self, adapter: WechatAdapter, options: Any) -> None:
        super().__init__(options)
        self._adapter = adapter
        # On every login the plugin manager would start its own scheduler and probe port 5000,
        # and passing it a scan event fails an assertion of its own.
        self._plugin_manager.start = _no_plugins
        self._plugin_manager.emit_events = _no_plugins
        self.was_logged_in = False
        self.self_id = ""
        self.self_name = ""

    async def init_puppet(self) -> None:
        await super().init_puppet()
        # Rooms and contacts are cached in class-level pools that every client in the process
        # shares; a reconnected client must not get objects bound to the old, closed puppet.
        for cls in (self.Room, self.Contact, self.ContactSelf, self.Tag):
            cls._pool = {}

    async def on_scan(self, qr_code: str, status: Any, data: str | None = None) -> None:
        await self._adapter._on_scan(qr_code, status)

    async def on_login(self, contact: Any) -> None:
        self.self_id = contact.contact_id
        self.self_name = contact.name
        self.was_logged_in = True
        self._adapter._online_changed(self, True)
        log.info("WeChat: logged in as %s (%s)", contact.name, contact.contact_id)

    async def on_logout(self, contact: Any) -> None:
        self._adapter._online_changed(self, False)
        log.info("WeChat: logged out (%s)", contact.contact_id)
        # wechaty passes on one login per event bridge; a fresh bridge lets the next scan and
        # login through on this same connection.
        self.puppet._event_stream.remove_all_listeners()
        await self.init_puppet_event_bridge(self.puppet)

    async def on_message(self, msg: Any) -> None:
        await self._adapter._on_message(self, msg)


class WechatAdapter(Adapter):
    """The bot in WeChat rooms and private chats, through any wechaty puppet service."""

    platform: ClassVar[str] = PLATFORM
    max_text: ClassVar[int] = MAX_TEXT

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        name: str = "",
        console: TextIO | None = None,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 60.0,
        shutdown_grace: float = 10.0,
        ding_interval: float = 60.0,
        ding_timeout: float = 20.0,
        lookup_timeout: float = 15.0,
    ) -> None:
        self.endpoint = endpoint or None
        self._token = token or None
        self.name = name
        self._console = console
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._shutdown_grace = shutdown_grace
        self._ding_interval = ding_interval
        self._ding_timeout = ding_timeout
        self._lookup_timeout = lookup_timeout
        self._app: App | None = None
        self._client: _Client | None = None
        self._runner: asyncio.Task[None] | None = None
        # Set while the current connection is logged in to WeChat.
        self._online = asyncio.Event()
        self.connections = 0
        if self._token:
            # Errors can carry it too: the token-only lookup puts it in the URL it fetches.
            wx.hide_secret(self._token, log)

    @classmethod
    def from_config(cls, section: WechatSection) -> WechatAdapter:
        """The adapter for `[wechat]`; needs an endpoint, a token, or both."""
        token = section.token.get_secret_value() if section.token is not None else ""
        if not section.endpoint and not token:
            raise ConfigError(
                "wechat: set wechat.endpoint (a puppet service you run) or wechat.token "
                "(CLASSBOT_WECHAT__TOKEN)"
            )
        return cls(endpoint=section.endpoint, token=token, name=section.name)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, app: App) -> None:
        self._app = app
        self._runner = asyncio.create_task(self._run(), name="wechat-puppet-connection")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner

    async def wait_logged_in(self) -> None:
        """Wait until the bot is logged in to WeChat (an operator may still have to scan)."""
        await self._online.wait()

    @property
    def logged_in(self) -> bool:
        return self._online.is_set()

    @property
    def ready(self) -> bool:
        # Before login (an operator may still have to scan) the outbox waits, it does not fail.
        return self._online.is_set()

    def _online_changed(self, client: _Client, online: bool) -> None:
        if client is not self._client:
            return
        if online:
            self._online.set()
        else:
            self._online.clear()

    def _new_client(self, endpoint: str | None) -> _Client:
        options = wx.PuppetOptions(token=self._token, end_point=endpoint)
        puppet = wx.PuppetService(options)
        puppet._event_stream = _TrackedEmitter()
        return _Client(
            self,
            wx.WechatyOptions(
                name="classbot",
                puppet=puppet,
                puppet_options=options,
                # Given explicitly so wechaty does not set up its own SQLite job store.
                scheduler=wx.AsyncIOScheduler(),
            ),
        )

    async def _run(self) -> None:
        """Stay connected: after a drop, reconnect with a growing pause (up to a minute)."""
        delay = self._reconnect_delay
        while True:
            client: _Client | None = None
            self.connections += 1
            try:
                endpoint = self.endpoint or await self._look_up_endpoint()
                client = self._new_client(endpoint)
                self._client = client
                await self._connection(client)
                reason = "the event stream ended"
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._online.clear()
                self._client = None
                if client is not None:
                    await self._close(client)
            if client is not None and client.was_logged_in:
                delay = self._reconnect_delay
            log.warning(
                "WeChat: lost the puppet service (%s); reconnecting in %.1f s", reason, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay)

    async def _look_up_endpoint(self) -> str:
        """The gateway behind a token, asked of the lookup service with a timeout.

        wechaty-puppet-service would make this request itself without one, on the event loop,
        so a lookup service that hangs would freeze the whole bot.
        """
        url = ENDPOINT_LOOKUP.format(token=self._token)

        def fetch() -> str:
            response = requests.get(url, timeout=self._lookup_timeout)
            if response.status_code != 200:
                raise ConnectionError(f"the endpoint lookup answered {response.status_code}")
            data = response.json()
            if not data.get("ip") or data["ip"] == "0.0.0.0" or not data.get("port"):
                raise ConnectionError("the token has no gateway behind it (is it right?)")
            return f"{data['ip']}:{data['port']}"

        async with asyncio.timeout(self._lookup_timeout + 1):
            return await asyncio.to_thread(fetch)

    async def _connection(self, client: _Client) -> None:
        """One connection, until the event stream ends or the service stops answering."""
        await client.init_puppet()
        await client.init_puppet_event_bridge(client.puppet)
        # puppet.start() returns when the puppet service ends the event stream.
        listening = asyncio.create_task(client.puppet.start())
        watchdog = asyncio.create_task(self._watch(client.puppet))
        try:
            await asyncio.wait({listening, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
            watchdog.cancel()
            await asyncio.wait({listening, watchdog})
        if not watchdog.cancelled():
            watchdog.result()
        listening.result()

    async def _watch(self, puppet: Any) -> None:
        """Ding the service now and then: a gateway that vanished without closing the
        connection would otherwise leave the event stream waiting forever."""
        while True:
            await asyncio.sleep(self._ding_interval)
            if puppet._puppet_stub is None:
                continue
            try:
                async with asyncio.timeout(self._ding_timeout):
                    await puppet.ding("classbot")
            except (TimeoutError, GRPCError, OSError, StreamTerminatedError) as exc:
                raise ConnectionError(f"the puppet service does not answer ({exc!r})") from exc

    async def _close(self, client: _Client) -> None:
        puppet = client._puppet
        if puppet is None:
            return
        emitter = puppet._event_stream
        if isinstance(emitter, _TrackedEmitter) and emitter.pending:
            # Messages being handled finish first, so nothing is left half done.
            _, late = await asyncio.wait(set(emitter.pending), timeout=self._shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        try:
            async with asyncio.timeout(5):
                await puppet.stop()
        except Exception as exc:
            log.debug("WeChat: puppet stop failed: %s", exc)
        finally:
            # PuppetService.stop() skips closing the channel when the Stop call fails.
            if puppet.channel is not None:
                puppet.channel.close()
                puppet.channel = None
            puppet._puppet_stub = None

    # -- incoming ----------------------------------------------------------------------------

    async def _on_scan(self, qr_code: str, status: Any) -> None:
        if status == wx.ScanStatus.Waiting and qr_code:
            console = self._console or sys.stdout
            console.write(
                f"{both_languages(AdapterTexts.scan_to_log_in)}:\n"
                f"{render_qr(qr_code)}\n{qr_url(qr_code)}\n"
            )
            console.flush()
            log.info("WeChat: waiting for the login QR code to be scanned")
        else:
            log.info("WeChat: login scan status %s", getattr(status, "name", status))

    async def _on_message(self, client: _Client, msg: Any) -> None:
        try:
            incoming = await self._translate(client, msg)
            if incoming is None or self._app is None:
                return
            await self._app.handle(incoming)
        except Exception:
            log.exception("WeChat: failed to handle message %s", msg.message_id)

    async def _translate(self, client: _Client, msg: Any) -> IncomingMessage | None:
        """The platform-neutral message, or None for what the bot does not answer."""
        payload = msg.payload
        if msg.type() != wx.MessageType.MESSAGE_TYPE_TEXT:
            return None
        if not payload.from_id or payload.from_id == client.self_id:
            return None
        talker = msg.talker()
        if talker.payload.type == wx.ContactType.CONTACT_TYPE_OFFICIAL:
            return None
        text = msg.text().strip()
        room = msg.room()
        mention_ids = tuple(payload.mention_ids or ())
        if room is None:
            return IncomingMessage(
                platform=PLATFORM,
                chat_id=talker.contact_id,
                is_group=False,
                sender_id=talker.contact_id,
                text=text,
                sent_at=wechat_time(payload.timestamp),
                message_id=msg.message_id,
                sender_name=talker.name,
            )
        names = [self.name, client.self_name]
        if "@" in text:
            names.append(await self._room_alias(client, room.room_id))
        text, named = strip_mentions(text, names)
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=room.room_id,
            is_group=True,
            sender_id=talker.contact_id,
            text=text,
            sent_at=wechat_time(payload.timestamp),
            message_id=msg.message_id,
            sender_name=talker.name,
            chat_title=room.payload.topic,
            mentions_bot=named or client.self_id in mention_ids,
            mentions=tuple(i for i in mention_ids if i != client.self_id),
        )

    async def _room_alias(self, client: _Client, room_id: str) -> str:
        """The bot's own nickname in a room, which is what members @-mention."""
        try:
            member = await client.puppet.room_member_payload(room_id, client.self_id)
        except GRPCError:
            return ""
        return str(member.room_alias or "")

    # -- outgoing ----------------------------------------------------------------------------

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        client = self._client
        if client is None or not self._online.is_set():
            raise NotConnected("not logged in to WeChat")
        try:
            if to.is_group:
                await self._send_to_room(client, to.chat_id, message)
            else:
                await self._send_to_contact(client, to.chat_id, message)
        except GRPCError as exc:
            if exc.status in _REFUSED:
                raise Unreachable(f"WeChat refused the message: {exc.message}") from exc
            # Never success: UNKNOWN is how gateways report a send of their own that failed.
            raise Transient(
                f"the WeChat gateway answered {exc.status.name}: {exc.message}",
                maybe_sent=exc.status in _MAYBE_SENT,
            ) from exc
        except (StreamTerminatedError, OSError) as exc:
            raise Transient(
                f"the WeChat gateway connection failed: {exc}", maybe_sent=True
            ) from exc

    async def _send_to_room(self, client: _Client, room_id: str, message: OutgoingMessage) -> None:
        try:
            payload = await client.puppet.room_payload(room_id)
        except GRPCError as exc:
            if exc.status in _REFUSED:
                raise Unreachable("the bot is not in this WeChat group") from exc
            raise
        if client.self_id not in payload.member_ids:
            raise Unreachable("the bot is not in this WeChat group")
        room = client.Room.load(room_id)
        for text, ids in await self._room_chunks(client, message):
            await room.say(text, mention_ids=list(ids) or None)
        if message.attachment is not None:
            await self._say_file(room, message.attachment)

    async def _room_chunks(
        self, client: _Client, message: OutgoingMessage
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(text, mention ids) per WeChat message.

        wechaty's `room.say` writes `@name` for each mention id in front of the text itself,
        so the chunks are laid out with those names and the names are then taken off again.
        """
        text = _with_buttons(message)
        if not message.mentions:
            # A file alone has no text; wechaty refuses to say an empty one.
            return [(chunk, ()) for chunk in split_text(text, MAX_TEXT) if chunk]
        mentions = tuple(
            [Mention(m.user_id, await self._wechat_name(client, m)) for m in message.mentions]
        )

        def render(m: Mention) -> str:
            return f"@{m.name}"

        # Room for the "(2/3)" that a chunk of mentions only is given as its text.
        laid_out = split_mentions(text, mentions, MAX_TEXT - 10, render)
        chunks: list[tuple[str, tuple[str, ...]]] = []
        for index, (chunk, in_chunk) in enumerate(laid_out, start=1):
            if not in_chunk:
                chunks.append((chunk, ()))
                continue
            tail = " ".join(render(m) for m in in_chunk)
            body = chunk[: len(chunk) - len(tail)].strip() or f"({index}/{len(laid_out)})"
            chunks.append((body, tuple(m.user_id for m in in_chunk)))
        return chunks

    async def _wechat_name(self, client: _Client, mention: Mention) -> str:
        contact = client.Contact.load(mention.user_id)
        try:
            await contact.ready()
        except Exception:
            return mention.name
        return str(contact.name or mention.name)

    async def _send_to_contact(
        self, client: _Client, contact_id: str, message: OutgoingMessage
    ) -> None:
        try:
            payload = await client.puppet.contact_payload(contact_id)
        except GRPCError as exc:
            if exc.status in _REFUSED:
                raise Unreachable("not a WeChat contact of the bot") from exc
            raise
        if not payload.friend:
            raise Unreachable("not a WeChat contact of the bot")
        contact = client.Contact.load(contact_id)
        text = _with_buttons(message)
        if message.mentions:
            text = "\n".join([text, " ".join(f"@{m.name}" for m in message.mentions)]).strip()
        if text:
            for chunk in split_text(text, MAX_TEXT):
                await contact.say(chunk)
        if message.attachment is not None:
            await self._say_file(contact, message.attachment)

    async def _say_file(self, target: Any, attachment: Attachment) -> None:
        """The file, or, when it would not fit in one gateway message, a note saying how to get it.

        A file over the limit would fail in the gateway and be lost; it is not attempted.
        """
        encoded = 4 * ((len(attachment.content) + 2) // 3)
        if encoded > MAX_FILE_BASE64:
            log.warning(
                "WeChat: %s is %d bytes, over the gateway's message limit; not sent",
                attachment.filename,
                len(attachment.content),
            )
            limit = MAX_FILE_BASE64 * 3 // 4
            text = file_too_large_text(
                attachment.filename, len(attachment.content), limit, AdapterTexts.wechat_gateway
            )
            await target.say(text)
            return
        await target.say(_file_box(attachment))


def _with_buttons(message: OutgoingMessage) -> str:
    """WeChat has no buttons: each one becomes a line with the command to send instead."""
    lines = [message.text] if message.text else []
    lines.extend(f"▸ {b.label}: {b.command}" for b in message.buttons)
    return "\n".join(lines)


def _file_box(attachment: Attachment) -> Any:
    box = wx.FileBox.from_base64(base64.b64encode(attachment.content), name=attachment.filename)
    box.mediaType = attachment.mime_type
    return box
