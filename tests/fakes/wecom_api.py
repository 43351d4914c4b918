"""A WeCom 智能机器人 long-connection server on 127.0.0.1, written from the documentation.

It speaks the documented frames (智能机器人长连接, developer.work.weixin.qq.com/document/path/
101463): `aibot_subscribe` with bot_id and secret, `ping` heartbeats, `aibot_msg_callback` and
`aibot_event_callback` pushed to the bot, replies (`aibot_respond_msg`) bound to a callback's
req_id, proactive messages (`aibot_send_msg`) only to chats that are open (a group where the
bot was @-ed, a person who messaged it), uploads in chunks and `disconnected_event` when a newer
connection for the same bot takes over. Each request is answered by a frame with its req_id and
an errcode. The server records what the bot sent and can inject failures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MENTION = re.compile(r"<@([^>]+)>")


@dataclass
class SentMessage:
    """One message the bot got onto the platform."""

    chat_id: str
    is_group: bool
    # "reply" (bound to a callback's req_id) or "push" (主动推送)
    via: str
    msgtype: str
    text: str = ""
    file_name: str = ""
    file_content: bytes = b""
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def mention_ids(self) -> list[str]:
        return MENTION.findall(self.text)

    @property
    def is_file(self) -> bool:
        return self.msgtype == "file"


@dataclass
class _Callback:
    chat_id: str
    is_group: bool
    sent_at: float
    answered: bool = False


@dataclass
class _Upload:
    filename: str
    total_size: int
    total_chunks: int
    md5: str
    chunks: dict[int, bytes] = field(default_factory=dict)


class FakeWecomServer:
    """The platform side of one robot's long connection."""

    def __init__(
        self, *, bot_id: str, secret: str, bot_name: str = "班级助手", reply_window: float = 600.0
    ) -> None:
        self.bot_id = bot_id
        self.secret = secret
        self.bot_name = bot_name
        self.reply_window = reply_window
        self.sent: list[SentMessage] = []
        # Frames pushed to the bot, and frames the bot sent.
        self.frames: list[dict[str, Any]] = []
        self.frames_from_bot: list[dict[str, Any]] = []
        self.open_groups: set[str] = set()
        self.open_users: set[str] = set()
        self.connections_opened = 0
        self.subscriptions = 0
        self.pings = 0
        # Injected behaviour.
        self.ignore_pings = False
        self.throttle_sends = 0
        self.silent_sends = 0
        self._server: Server | None = None
        self._current: ServerConnection | None = None
        self._callbacks: dict[str, _Callback] = {}
        self._uploads: dict[str, _Upload] = {}
        self._files: dict[str, tuple[str, bytes]] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._server = await serve(self._serve, "127.0.0.1", port, ping_interval=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._current = None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @property
    def connected(self) -> bool:
        return self._current is not None

    # -- what the platform pushes ------------------------------------------------------------

    async def group_message(
        self,
        chat_id: str,
        user_id: str,
        text: str,
        *,
        msgid: str | None = None,
        at: float | None = None,
    ) -> str:
        """A member @-s the bot in a group: the only group messages the robot receives."""
        msgid = msgid or self.new_id("msg")
        body = {
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chatid": chat_id,
            "chattype": "group",
            "from": {"userid": user_id},
            "create_time": int(at or time.time()),
            "msgtype": "text",
            "text": {"content": f"@{self.bot_name} {text}"},
        }
        self.open_groups.add(chat_id)
        await self._push(MSG_CALLBACK, body, chat_id, True)
        return msgid

    async def private_message(
        self, user_id: str, text: str, *, msgid: str | None = None, at: float | None = None
    ) -> str:
        """A member writes to the bot in a single chat, which the robot receives in full."""
        msgid = msgid or self.new_id("msg")
        body = {
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chattype": "single",
            "from": {"userid": user_id},
            "create_time": int(at or time.time()),
            "msgtype": "text",
            "text": {"content": text},
        }
        self.open_users.add(user_id)
        await self._push(MSG_CALLBACK, body, user_id, False)
        return msgid

    async def button_press(self, user_id: str, event_key: str, task_id: str) -> str:
        """A member presses a template card's button in a single chat."""
        msgid = self.new_id("evt")
        body = {
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chattype": "single",
            "from": {"userid": user_id},
            "create_time": int(time.time()),
            "msgtype": "event",
            "event": {
                "eventtype": "template_card_event",
                "event_key": event_key,
                "task_id": task_id,
            },
        }
        await self._push(EVENT_CALLBACK, body, user_id, False)
        return msgid

    async def redeliver(self, msgid: str) -> None:
        """The same callback again (after a reconnect the platform may push it twice)."""
        for frame in self.frames:
            if frame.get("cmd") == MSG_CALLBACK and frame["body"]["msgid"] == msgid:
                body = frame["body"]
                chat = body.get("chatid") or body["from"]["userid"]
                await self._push(MSG_CALLBACK, body, chat, body["chattype"] == "group")
                return
        raise KeyError(msgid)

    async def _push(self, cmd: str, body: dict[str, Any], chat_id: str, is_group: bool) -> None:
        ws = self._current
        if ws is None:
            raise RuntimeError("the bot is not connected")
        req_id = self.new_id("req")
        self._callbacks[req_id] = _Callback(chat_id, is_group, time.monotonic())
        frame = {"cmd": cmd, "headers": {"req_id": req_id}, "body": body}
        self.frames.append(frame)
        await ws.send(json.dumps(frame, ensure_ascii=False))

    # -- injected failures -------------------------------------------------------------------

    async def drop(self) -> None:
        """The network drops the connection (no close handshake)."""
        ws, self._current = self._current, None
        if ws is not None:
            ws.transport.abort()
        await self._notify()

    async def replace(self) -> None:
        """Another connection for the same bot took over: the old one is told, then closed."""
        ws, self._current = self._current, None
        if ws is None:
            return
        frame = {
            "cmd": EVENT_CALLBACK,
            "headers": {"req_id": self.new_id("req")},
            "body": {
                "msgid": self.new_id("evt"),
                "aibotid": self.bot_id,
                "create_time": int(time.time()),
                "msgtype": "event",
                "event": {"eventtype": "disconnected_event"},
            },
        }
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))
            await ws.close()
        await self._notify()

    # -- the connection ----------------------------------------------------------------------

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections_opened += 1
        await self._notify()
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames_from_bot.append(frame)
                answer = await self._answer(ws, frame)
                if answer is not None:
                    await ws.send(json.dumps(answer, ensure_ascii=False))
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            if self._current is ws:
                self._current = None
            await self._notify()

    async def _answer(self, ws: ServerConnection, frame: dict[str, Any]) -> dict[str, Any] | None:
        cmd = frame.get("cmd")
        req_id = (frame.get("headers") or {}).get("req_id", "")
        body = frame.get("body") or {}

        def ack(errcode: int = 0, errmsg: str = "ok", **extra: Any) -> dict[str, Any]:
            answer: dict[str, Any] = {"headers": {"req_id": req_id}, "errcode": errcode}
            answer["errmsg"] = errmsg
            if extra:
                answer["body"] = extra
            return answer

        if cmd == SUBSCRIBE:
            if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                return ack(40058, "invalid bot_id or secret")
            previous, self._current = self._current, ws
            self.subscriptions += 1
            if previous is not None and previous is not ws:
                # One connection per bot: the older one is told and closed.
                self._current = previous
                await self.replace()
                self._current = ws
            return ack()
        if ws is not self._current:
            return ack(40058, "not subscribed")
        if cmd == PING:
            self.pings += 1
            return None if self.ignore_pings else ack()
        if cmd in (RESPOND, SEND):
            if self.silent_sends:
                self.silent_sends -= 1
                return None
            if self.throttle_sends:
                self.throttle_sends -= 1
                return ack(45009, "api freq out of limit")
            return self._message(cmd, req_id, body, ack)
        if cmd == UPLOAD_INIT:
            upload_id = self.new_id("upload")
            self._uploads[upload_id] = _Upload(
                body["filename"], body["total_size"], body["total_chunks"], body.get("md5", "")
            )
            return ack(upload_id=upload_id)
        if cmd == UPLOAD_CHUNK:
            upload = self._uploads.get(body.get("upload_id", ""))
            if upload is None:
                return ack(40058, "invalid upload_id")
            chunk = base64.b64decode(body["base64_data"])
            if len(chunk) > CHUNK_SIZE or not 0 <= body["chunk_index"] < upload.total_chunks:
                return ack(40058, "invalid chunk")
            upload.chunks[body["chunk_index"]] = chunk
            return ack()
        if cmd == UPLOAD_FINISH:
            upload = self._uploads.pop(body.get("upload_id", ""), None)
            if upload is None or len(upload.chunks) != upload.total_chunks:
                return ack(40058, "upload incomplete")
            content = b"".join(upload.chunks[i] for i in range(upload.total_chunks))
            if len(content) != upload.total_size or (
                upload.md5 and hashlib.md5(content).hexdigest() != upload.md5
            ):
                return ack(40058, "upload damaged")
            media_id = self.new_id("media")
            self._files[media_id] = (upload.filename, content)
            return ack(type="file", media_id=media_id, created_at=str(int(time.time())))
        return ack(40058, f"unknown cmd {cmd}")

    def _message(
        self, cmd: str, req_id: str, body: dict[str, Any], ack: Callable[..., dict[str, Any]]
    ) -> dict[str, Any]:
        if cmd == RESPOND:
            callback = self._callbacks.get(req_id)
            if callback is None or callback.answered:
                return ack(40058, "invalid req_id")
            if time.monotonic() - callback.sent_at > self.reply_window:
                return ack(40058, "req_id expired")
            if body.get("msgtype") != "stream" or not body["stream"].get("finish"):
                return ack(40058, "unfinished stream")
            callback.answered = True
            self.sent.append(
                SentMessage(
                    callback.chat_id,
                    callback.is_group,
                    "reply",
                    "stream",
                    text=body["stream"]["content"],
                )
            )
            return ack()
        chat_id = body.get("chatid", "")
        is_group = body.get("chat_type") == 2
        if (is_group and chat_id not in self.open_groups) or (
            not is_group and chat_id not in self.open_users
        ):
            return ack(48002, "api forbidden: the conversation is not open")
        msgtype = body.get("msgtype", "")
        message = SentMessage(chat_id, is_group, "push", msgtype)
        if msgtype == "markdown":
            message.text = body["markdown"]["content"]
            if len(message.text.encode()) > 4096:
                return ack(40058, "markdown content exceeds 4096 bytes")
        elif msgtype == "file":
            media = self._files.get(body["file"]["media_id"])
            if media is None:
                return ack(40058, "invalid media_id")
            message.file_name, message.file_content = media
        elif msgtype == "template_card":
            message.card = body["template_card"]
            if len(message.card.get("button_list", [])) > 6:
                return ack(40058, "too many buttons")
        else:
            return ack(40008, "invalid message type")
        self.sent.append(message)
        return ack()

    # -- reading what was sent -----------------------------------------------------------------

    def sent_to(self, chat_id: str) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]


SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
SEND = "aibot_send_msg"
UPLOAD_INIT = "aibot_upload_media_init"
UPLOAD_CHUNK = "aibot_upload_media_chunk"
UPLOAD_FINISH = "aibot_upload_media_finish"
CHUNK_SIZE = 512 * 1024
