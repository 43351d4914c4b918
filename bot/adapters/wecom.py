"""WeCom (企业微信) 智能机器人 over its documented long connection (WebSocket, no public IP).

Frames are JSON `{cmd, headers: {req_id}, body}`; the platform answers each request with a
frame carrying the same req_id and an errcode. The adapter speaks the protocol itself with
`websockets` and supervises the connection (heartbeats, reconnects with backoff, "replaced by
a new connection"), which the official SDK does not; see docs/wecom.md for the sources.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bot.adapters.base import (
    Adapter,
    AdapterTexts,
    Rate,
    SendLimits,
    Transient,
    Unreachable,
    file_too_large_text,
)
from bot.config import ConfigError
from bot.messages import (
    Attachment,
    Button,
    ChatAddress,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    split_mentions,
    split_text,
)
from bot.texts import both_languages
from storage import conversations
from storage.db import with_retry

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import WecomSection

log = logging.getLogger(__name__)

PLATFORM = "wecom"
DEFAULT_URL = "wss://openws.work.weixin.qq.com"

# Commands of the long connection (智能机器人长连接, developer.work.weixin.qq.com/document/path/101463).
SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
SEND = "aibot_send_msg"
UPLOAD_INIT = "aibot_upload_media_init"
UPLOAD_CHUNK = "aibot_upload_media_chunk"
UPLOAD_FINISH = "aibot_upload_media_finish"

# A markdown message holds at most 4096 bytes of UTF-8; 1300 characters stay inside that even
# when every one is Chinese (3 bytes each) with room for the @-mentions' markup.
MAX_TEXT = 1300
# Upload: chunks of at most 512 KiB before base64, at most 100 of them; a temporary file
# (普通文件) may be 20 MB.
CHUNK_SIZE = 512 * 1024
MAX_CHUNKS = 100
MAX_FILE = 20 * 1024 * 1024
# A template card holds at most 6 buttons, each label best kept to 10 characters.
MAX_BUTTONS = 6

# errcodes (WeCom's global error codes, document/path/90313) that mean "too fast".
_THROTTLED = {45009, 45033, 45047}
# errcodes that mean the bot may not write to this chat or user.
_REFUSED = {40003, 48002, 60011, 60020, 81013}
# WeCom asks a caller over its frequency limit to wait; it names no figure, a minute is safe.
THROTTLE_WAIT = 60.0


class NotConnected(Transient):
    """The long connection is down or reconnecting; the message can be sent later."""


class _Replaced(Exception):
    """The platform closed this connection because another one for the same bot opened."""


class _AuthFailed(Exception):
    """The subscribe frame was refused: wrong bot id or secret."""


@dataclass
class _ReplySlot:
    """The req_id of the last message received in a chat, usable for one reply while valid."""

    req_id: str
    received: float


def strip_bot_mention(text: str, names: Iterable[str]) -> str:
    """The text without the @-mention of the bot that a group message always begins with."""
    text = text.strip()
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        if text.startswith("@" + name):
            return text[len(name) + 1 :].strip()
    # The platform delivers a group message only when the bot is @-ed, and the @ comes first.
    match = re.match(r"^@\S+\s*", text)
    return text[match.end() :].strip() if match else text


def wecom_time(value: Any, fallback: datetime) -> datetime:
    """A callback's create_time (seconds, or milliseconds) as aware UTC."""
    if not isinstance(value, int | float) or value <= 0:
        return fallback
    seconds = value / 1000 if value > 10_000_000_000 else value
    return datetime.fromtimestamp(seconds, tz=UTC)


def render_mention(mention: Mention) -> str:
    """A real @ in a markdown message: `<@userid>`, shown by WeCom as the member's name."""
    return f"<@{mention.user_id}>"


class WecomAdapter(Adapter):
    """The bot in WeCom group chats (when @-ed) and single chats, over the long connection."""

    platform: ClassVar[str] = PLATFORM
    max_text: ClassVar[int] = MAX_TEXT
    # The long connection publishes no sending limits; these are the 群机器人's documented
    # 20 messages a minute per chat, and a modest overall pace (docs/wecom.md, "Limits").
    limits: ClassVar[SendLimits] = SendLimits(
        overall=Rate(10, 1.0), group=Rate(20, 60.0), private=Rate(20, 60.0)
    )

    def __init__(
        self,
        *,
        bot_id: str,
        secret: str,
        url: str = DEFAULT_URL,
        name: str = "",
        heartbeat_interval: float = 30.0,
        missed_heartbeats: int = 2,
        ack_timeout: float = 10.0,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 60.0,
        replaced_pause: float = 300.0,
        reply_window: float = 300.0,
        shutdown_grace: float = 10.0,
    ) -> None:
        if not bot_id or not secret:
            raise ConfigError("wecom: set wecom.bot_id and wecom.secret (CLASSBOT_WECOM__SECRET)")
        self.bot_id = bot_id
        self._secret = secret
        self.url = url
        self.name = name
        self._heartbeat_interval = heartbeat_interval
        self._missed_heartbeats = missed_heartbeats
        self._ack_timeout = ack_timeout
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._replaced_pause = replaced_pause
        self._reply_window = reply_window
        self._shutdown_grace = shutdown_grace
        self._app: App | None = None
        self._runner: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[tuple[IncomingMessage, str]] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._slots: dict[tuple[str, bool], _ReplySlot] = {}
        # Chats known to be open, so a busy group costs one database write, not one a message.
        self._open: set[tuple[str, bool]] = set()
        self._online = asyncio.Event()
        self._unacked_pings = 0
        self._down_reason = "not connected yet"
        self.connections = 0

    @classmethod
    def from_config(cls, section: WecomSection) -> WecomAdapter:
        """The adapter for `[wecom]`; needs the robot's bot id and secret."""
        secret = section.secret.get_secret_value() if section.secret is not None else ""
        return cls(bot_id=section.bot_id or "", secret=secret, url=section.url, name=section.name)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._online.is_set()

    async def wait_ready(self) -> None:
        """Wait until the connection is up and subscribed."""
        await self._online.wait()

    async def start(self, app: App) -> None:
        self._app = app
        self._worker = asyncio.create_task(self._work(), name="wecom-intake")
        self._runner = asyncio.create_task(self._run(), name="wecom-long-connection")

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            # The messages already received are handled (and answered) first, within a grace
            # period; a message cut off is pushed again after a restart only if the platform
            # redelivers it, and the router drops any it has seen.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), self._shutdown_grace)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def _drain(self) -> None:
        await self._inbox.join()

    async def _run(self) -> None:
        """Stay connected: after a drop, reconnect with a growing pause."""
        delay = self._reconnect_delay
        while True:
            self.connections += 1
            subscribed = False
            pause: float | None = None
            try:
                subscribed = await self._connection()
                reason = "the platform closed the connection"
            except _Replaced:
                reason = "replaced by a new connection for the same bot (another classbot?)"
                pause = self._replaced_pause
                log.error("WeCom: %s; not taking the connection back for %.0f s", reason, pause)
            except _AuthFailed as exc:
                reason = f"subscribe refused: {exc}"
                pause = self._max_reconnect_delay
                log.error("WeCom: %s; check wecom.bot_id and CLASSBOT_WECOM__SECRET", reason)
            except (OSError, WebSocketException, TimeoutError, ConnectionError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # Whatever broke this connection, the bot must not stay offline.
                log.exception("WeCom: the connection failed unexpectedly")
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._went_down("reconnecting")
            if subscribed:
                delay = self._reconnect_delay
            if pause is None:
                log.warning("WeCom: connection lost (%s); reconnecting in %.1f s", reason, delay)
                pause = delay
                delay = min(delay * 2, self._max_reconnect_delay)
            self._down_reason = reason
            await asyncio.sleep(pause)

    def _went_down(self, why: str) -> None:
        self._online.clear()
        self._ws = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(why))
        self._pending.clear()

    async def _connection(self) -> bool:
        """One connection until it ends; returns whether it got as far as subscribed."""
        async with connect(
            self.url, ping_interval=None, close_timeout=2, open_timeout=self._ack_timeout
        ) as ws:
            self._ws = ws
            self._unacked_pings = 0
            reader = asyncio.create_task(self._read(ws))
            try:
                ack = await self._request(
                    SUBSCRIBE, {"bot_id": self.bot_id, "secret": self._secret}
                )
            except Transient as exc:
                await _cancel(reader)
                raise ConnectionError(f"no answer to subscribe ({exc.reason})") from None
            if ack.get("errcode", 0) != 0:
                await _cancel(reader)
                raise _AuthFailed(f"errcode {ack.get('errcode')}: {ack.get('errmsg', '')}")
            self._online.set()
            log.info("WeCom: connected and subscribed as bot %s", self.bot_id)
            heart = asyncio.create_task(self._heartbeat(ws))
            try:
                done, _ = await asyncio.wait({reader, heart}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reader, heart):
                    task.cancel()
                await asyncio.gather(reader, heart, return_exceptions=True)
            for task in done:
                failure = None if task.cancelled() else task.exception()
                if failure is not None:
                    raise failure
            return True

    async def _heartbeat(self, ws: ClientConnection) -> None:
        """A ping frame every interval; a connection that misses several acks is dead."""
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            if self._unacked_pings >= self._missed_heartbeats:
                raise ConnectionError(f"{self._unacked_pings} heartbeats went unanswered")
            self._unacked_pings += 1
            await ws.send(json.dumps({"cmd": PING, "headers": {"req_id": _req_id(PING)}}))

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                log.warning("WeCom: a frame that is not JSON was ignored")
                continue
            if not isinstance(frame, dict):
                continue
            self._on_frame(frame)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        cmd = frame.get("cmd")
        req_id = str((frame.get("headers") or {}).get("req_id") or "")
        body = frame.get("body") or {}
        if cmd == MSG_CALLBACK:
            self._on_message(req_id, body)
        elif cmd == EVENT_CALLBACK:
            self._on_event(req_id, body)
        elif req_id.startswith(PING + "_"):
            self._unacked_pings = 0
        elif req_id in self._pending:
            future = self._pending.pop(req_id)
            if not future.done():
                future.set_result(frame)
        else:
            log.debug("WeCom: an unexpected frame was ignored (cmd %s)", cmd)

    # -- incoming ----------------------------------------------------------------------------

    def _on_message(self, req_id: str, body: dict[str, Any]) -> None:
        incoming = self._translate(body)
        if incoming is None:
            return
        self._slots[(incoming.chat_id, incoming.is_group)] = _ReplySlot(req_id, time.monotonic())
        self._inbox.put_nowait((incoming, req_id))

    def _translate(self, body: dict[str, Any]) -> IncomingMessage | None:
        """The platform-neutral message, or None for what the bot does not answer."""
        sender = str((body.get("from") or {}).get("userid") or "")
        msgtype = body.get("msgtype")
        if not sender or msgtype not in ("text", "voice"):
            return None
        # A voice message arrives already transcribed; the bot answers its text alike.
        text = str((body.get(msgtype) or {}).get("content") or "")
        is_group = body.get("chattype") == "group"
        now = self._app.clock.now() if self._app is not None else datetime.now(UTC)
        if is_group:
            chat_id = str(body.get("chatid") or "")
            if not chat_id:
                return None
            text = strip_bot_mention(text, (self.name,))
        else:
            chat_id = sender
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=chat_id,
            is_group=is_group,
            sender_id=sender,
            text=text.strip(),
            sent_at=wecom_time(body.get("create_time"), now),
            message_id=str(body.get("msgid") or "") or None,
            sender_name=sender,
            mentions_bot=is_group,
        )

    def _on_event(self, req_id: str, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        kind = event.get("eventtype") or body.get("eventtype")
        if kind == "disconnected_event":
            raise _Replaced()
        if kind == "template_card_event":
            sender = str((body.get("from") or {}).get("userid") or "")
            command = str(
                event.get("event_key")
                or (event.get("template_card_event") or {}).get("event_key")
                or ""
            )
            if not sender or not command:
                return
            is_group = body.get("chattype") == "group"
            chat_id = str(body.get("chatid") or "") if is_group else sender
            now = self._app.clock.now() if self._app is not None else datetime.now(UTC)
            press = IncomingMessage(
                platform=PLATFORM,
                chat_id=chat_id,
                is_group=is_group,
                sender_id=sender,
                text=command,
                sent_at=wecom_time(body.get("create_time"), now),
                message_id=str(body.get("msgid") or "") or None,
                sender_name=sender,
                callback_id=req_id or str(uuid.uuid4()),
            )
            self._inbox.put_nowait((press, req_id))

    async def _work(self) -> None:
        """Hand messages to the app one at a time, in the order they arrived."""
        while True:
            incoming, _req_id = await self._inbox.get()
            try:
                await self._handle(incoming)
            except Exception:
                log.exception("WeCom: failed to handle message %s", incoming.message_id)
            finally:
                self._inbox.task_done()

    async def _handle(self, incoming: IncomingMessage) -> None:
        app = self._app
        if app is None:
            return

        def record() -> None:
            with app.uow() as session:
                conversations.record_open(
                    session, PLATFORM, incoming.chat_id, incoming.is_group, app.clock.now()
                )

        # Someone wrote: the platform now lets the bot write to this chat unprompted.
        key = (incoming.chat_id, incoming.is_group)
        if key not in self._open:
            with_retry(record)
            self._open.add(key)
        replies = await app.handle(incoming)
        if incoming.callback_id is not None:
            # A button press has no message to reply to; its answers go to the chat.
            for reply in replies:
                try:
                    await self.send(incoming.chat, reply)
                except Exception:
                    log.exception("WeCom: the answer to a button press was not sent")

    # -- outgoing ----------------------------------------------------------------------------

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        if self._ws is None or not self._online.is_set():
            raise NotConnected(f"WeCom: not connected ({self._down_reason})")
        # A reply rides on the incoming message's req_id; a real @ needs a markdown push.
        slot = None if message.mentions else self._take_slot(to)
        if slot is None and not self._is_open(to):
            where = (
                "group: nobody has @-ed the bot there yet"
                if to.is_group
                else ("person: they have not messaged the bot yet")
            )
            raise Unreachable(f"WeCom does not let the bot write first to this {where}")
        media_id = None
        texts = self._texts(to, message)
        attachment = message.attachment
        if attachment is not None and len(attachment.content) > MAX_FILE:
            # Not attempted: it would fail and be lost. The recipient learns how to get it.
            log.warning("WeCom: %s is over the 20 MB file limit; not sent", attachment.filename)
            size = len(attachment.content)
            texts.append(
                file_too_large_text(attachment.filename, size, MAX_FILE, AdapterTexts.wecom)
            )
        elif attachment is not None:
            # Uploaded first: a failed upload then leaves nothing half sent.
            media_id = await self._upload(attachment)
        for text in texts:
            if slot is not None:
                await self._respond(slot, text)
                slot = None
            else:
                await self._push(to, {"msgtype": "markdown", "markdown": {"content": text}})
        if message.buttons and not to.is_group and len(message.buttons) <= MAX_BUTTONS:
            await self._push(to, {"msgtype": "template_card", "template_card": _card(message)})
        if media_id is not None:
            await self._push(to, {"msgtype": "file", "file": {"media_id": media_id}})

    def _take_slot(self, to: ChatAddress) -> _ReplySlot | None:
        """The req_id to reply to, when the chat's last message is recent enough."""
        slot = self._slots.pop((to.chat_id, to.is_group), None)
        if slot is None or time.monotonic() - slot.received > self._reply_window:
            return None
        return slot

    def _is_open(self, to: ChatAddress) -> bool:
        app = self._app
        if (to.chat_id, to.is_group) in self._open:
            return True
        if app is None:
            return False
        with app.uow(readonly=True) as session:
            found = conversations.is_open(session, PLATFORM, to.chat_id, to.is_group)
        if found:
            self._open.add((to.chat_id, to.is_group))
        return found

    def _texts(self, to: ChatAddress, message: OutgoingMessage) -> list[str]:
        text = message.text
        cards = bool(message.buttons) and not to.is_group and len(message.buttons) <= MAX_BUTTONS
        if message.buttons and not cards:
            # No card here: each button becomes the command to send instead.
            text = "\n".join([text, *(f"▸ {b.label}: {b.command}" for b in message.buttons)])
        if not message.mentions:
            return [chunk for chunk in split_text(text, MAX_TEXT) if chunk] if text else []
        if not to.is_group:
            names = " ".join(f"@{m.name}" for m in message.mentions)
            return [c for c in split_text(f"{text}\n{names}".strip(), MAX_TEXT) if c]
        laid_out = split_mentions(text, message.mentions, MAX_TEXT, render_mention)
        return [chunk for chunk, _ in laid_out if chunk]

    async def _respond(self, slot: _ReplySlot, text: str) -> None:
        """A reply bound to the incoming message: one finished stream message."""
        body = {
            "msgtype": "stream",
            "stream": {"id": _req_id("stream"), "finish": True, "content": text},
        }
        self._check(await self._request(RESPOND, body, req_id=slot.req_id))

    async def _push(self, to: ChatAddress, body: dict[str, Any]) -> None:
        """A proactive message (主动推送) to a chat that is open."""
        full = {"chatid": to.chat_id, "chat_type": 2 if to.is_group else 1, **body}
        self._check(await self._request(SEND, full))

    async def _upload(self, attachment: Attachment) -> str:
        """Upload a file in chunks (init, chunk × N, finish); return its media_id."""
        content = attachment.content
        chunks = [content[i : i + CHUNK_SIZE] for i in range(0, len(content), CHUNK_SIZE)] or [b""]
        init = await self._request(
            UPLOAD_INIT,
            {
                "type": "file",
                "filename": attachment.filename,
                "total_size": len(content),
                "total_chunks": len(chunks),
                "md5": hashlib.md5(content).hexdigest(),
            },
        )
        self._check(init)
        upload_id = str((init.get("body") or {}).get("upload_id") or "")
        if not upload_id:
            raise Transient("WeCom: the upload was not started (no upload_id)")
        for index, chunk in enumerate(chunks):
            answer = await self._request(
                UPLOAD_CHUNK,
                {
                    "upload_id": upload_id,
                    "chunk_index": index,
                    "base64_data": base64.b64encode(chunk).decode(),
                },
            )
            self._check(answer)
        finish = await self._request(UPLOAD_FINISH, {"upload_id": upload_id})
        self._check(finish)
        media_id = str((finish.get("body") or {}).get("media_id") or "")
        if not media_id:
            raise Transient("WeCom: the upload did not finish (no media_id)")
        return media_id

    async def _request(
        self, cmd: str, body: dict[str, Any], *, req_id: str | None = None
    ) -> dict[str, Any]:
        """Send one frame and wait for the platform's answer with the same req_id."""
        ws = self._ws
        if ws is None:
            raise NotConnected(f"WeCom: not connected ({self._down_reason})")
        req_id = req_id or _req_id(cmd)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            await ws.send(json.dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}))
        except (ConnectionClosed, OSError) as exc:
            self._pending.pop(req_id, None)
            raise NotConnected(f"WeCom: the connection dropped before sending ({exc})") from exc
        try:
            return await asyncio.wait_for(future, self._ack_timeout)
        except TimeoutError:
            raise Transient(
                f"WeCom: no answer to {cmd} within {self._ack_timeout:.0f} s", maybe_sent=True
            ) from None
        except ConnectionError as exc:
            raise Transient(
                f"WeCom: the connection dropped while waiting for {cmd} ({exc})", maybe_sent=True
            ) from None
        finally:
            self._pending.pop(req_id, None)

    def _check(self, answer: dict[str, Any]) -> None:
        """Raise for a refusal in the platform's answer; a refusal means nothing went out."""
        code = answer.get("errcode", 0)
        if not code:
            return
        reason = f"WeCom errcode {code}: {answer.get('errmsg', '')}".strip()
        if code in _THROTTLED:
            raise Transient(reason, retry_after=THROTTLE_WAIT)
        if code in _REFUSED:
            raise Unreachable(reason)
        raise Transient(reason)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _req_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _card(message: OutgoingMessage) -> dict[str, Any]:
    """A button card (button_interaction) whose keys are the commands the buttons send."""
    title = (message.text.split("\n", 1)[0] or both_languages(AdapterTexts.choose))[:26]
    return {
        "card_type": "button_interaction",
        "main_title": {"title": title},
        "task_id": _req_id("card"),
        "button_list": [_button(b) for b in message.buttons],
    }


def _button(button: Button) -> dict[str, Any]:
    return {"text": button.label[:10], "style": 1, "key": button.command[:1024]}
