"""A fake Telegram Bot API server on 127.0.0.1, for driving the real python-telegram-bot.

It speaks the Bot API over real HTTP (form-encoded and multipart requests, JSON answers in
the `{"ok": ..., "result": ...}` envelope), keeps the state a bot can observe (pending
updates and the confirmed offset, sent and edited messages, command menus, the webhook),
records every request, and can be told to fail: 429 with `retry_after`, 403 Forbidden,
a dropped connection, a slow answer, an HTTP error status (an outage), an answer held
back after the message was sent, and a group that migrated to a supergroup.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import tornado.httpserver
import tornado.web
from tornado.netutil import bind_sockets

# PTB 22 warns on every RetryAfter unless time periods are opted in to timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")

TOKEN = "123456789:TEST-token-for-the-fake-bot-api"
BOT_ID = 123456789
BOT_USERNAME = "classbot_test_bot"


@dataclass
class UploadedFile:
    filename: str
    content: bytes
    content_type: str


@dataclass
class ApiRequest:
    """One request the bot made, with its parameters decoded as the Bot API would."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return None if value is None else int(value)


@dataclass
class Fault:
    """An injected failure for the next matching request(s)."""

    method: str
    kind: str  # "retry_after" | "forbidden" | "drop" | "delay" | "status" | "hold"
    chat_id: int | None
    remaining: int
    retry_after: int = 1
    delay: float = 0.0
    # "status": the HTTP status answered (502 Bad Gateway, ...).
    status: int = 502
    # "hold": the request is carried out (the message is sent), then the answer waits until
    # this is set; `held` is set once a request is being held.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    held: asyncio.Event = field(default_factory=asyncio.Event)


# The methods that say something in a chat.
SEND_METHODS = frozenset({"sendMessage", "sendDocument", "editMessageText"})
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class FakeBotApi:
    """The server and its state. Start it with `await api.start()`; stop with `await api.stop()`."""

    def __init__(self, token: str = TOKEN, bot_id: int = BOT_ID, username: str = BOT_USERNAME):
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "班级助手",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }
        self.requests: list[ApiRequest] = []
        self.updates: list[dict[str, Any]] = []
        # The highest offset the bot has confirmed: updates below it are gone for good.
        self.confirmed_offset = 0
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.webhook: dict[str, Any] = {"url": ""}
        # Private chats the bot may not write to: the user never started it, or blocked it.
        self.forbidden_chats: set[int] = set()
        # Old group id -> new supergroup id, once a group migrated.
        self.migrated: dict[int, int] = {}
        self.faults: list[Fault] = []
        # While set, every send answers with this HTTP status (an outage: 502 Bad Gateway).
        self.outage: int | None = None
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._request_seen = asyncio.Condition()
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = tornado.web.Application(
            [(r"/bot([^/]+)/(\w+)", _MethodHandler, {"api": self})],
            # The default access log would print request paths, and with them the token.
            log_function=lambda handler: None,
        )
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what tests inject -------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue one update (without `update_id`) for getUpdates; returns its update_id."""
        update_id = next(self._update_ids)
        self.updates.append({"update_id": update_id, **update})
        asyncio.get_running_loop().create_task(self._notify(self._new_update))
        return update_id

    def inject(
        self,
        method: str,
        kind: str,
        *,
        chat_id: int | None = None,
        count: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
        status: int = 502,
    ) -> Fault:
        """Make the next `count` calls of `method` (to `chat_id`, if given) fail as `kind`."""
        if kind not in {"retry_after", "forbidden", "drop", "delay", "status", "hold"}:
            raise ValueError(kind)
        fault = Fault(method, kind, chat_id, count, retry_after, delay, status)
        self.faults.append(fault)
        return fault

    def migrate_group(self, group: dict[str, Any], supergroup_id: int, by: dict[str, Any]) -> None:
        """Upgrade a group to a supergroup, as Telegram reports it: two service messages."""
        old_id = group["id"]
        self.migrated[old_id] = supergroup_id
        new_chat = {"id": supergroup_id, "type": "supergroup", "title": group.get("title", "")}
        self.push_update(
            {"message": self.message_dict(group, by, None, migrate_to_chat_id=supergroup_id)}
        )
        self.push_update(
            {
                "message": self.message_dict(
                    new_chat, by, None, sender_chat=None, migrate_from_chat_id=old_id
                )
            }
        )

    # -- builders for update payloads --------------------------------------------------------

    @staticmethod
    def user(user_id: int, first_name: str, username: str | None = None, **extra: Any) -> dict:
        data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            data["username"] = username
        data.update(extra)
        return data

    @staticmethod
    def group(chat_id: int, title: str, kind: str = "group") -> dict[str, Any]:
        return {"id": chat_id, "type": kind, "title": title}

    @staticmethod
    def private(user: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def message_dict(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str | None,
        *,
        date: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(date.timestamp() if date else time.time()),
            "chat": chat,
            "from": sender,
        }
        if text is not None:
            data["text"] = text
            entities = _command_and_mention_entities(text)
            if entities:
                data["entities"] = entities
        data.update({k: v for k, v in extra.items() if v is not None})
        return data

    def send_text(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str,
        *,
        date: datetime | None = None,
        **extra: Any,
    ) -> int:
        """A user writes `text` in `chat`; returns the update_id."""
        return self.push_update(
            {"message": self.message_dict(chat, sender, text, date=date, **extra)}
        )

    def edit_text(self, message: dict[str, Any], text: str) -> int:
        edited = {**message, "text": text, "edit_date": int(time.time())}
        return self.push_update({"edited_message": edited})

    def press(self, presser: dict[str, Any], message: dict[str, Any], data: str) -> int:
        """`presser` presses the inline button carrying `data` under the bot's `message`."""
        return self.push_update(
            {
                "callback_query": {
                    "id": str(next(self._callback_ids)),
                    "from": presser,
                    "message": message,
                    "chat_instance": f"ci{message['chat']['id']}",
                    "data": data,
                }
            }
        )

    # -- what tests observe ------------------------------------------------------------------

    def calls(self, method: str, chat_id: int | None = None) -> list[ApiRequest]:
        return [
            r
            for r in self.requests
            if r.method == method and (chat_id is None or r.chat_id == chat_id)
        ]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages the bot has sent to a chat and that Telegram accepted, oldest first.

        Besides the Bot API fields, `_html` holds the text as sent and `_content` a
        document's bytes.
        """
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def pending_updates(self) -> list[dict[str, Any]]:
        return [u for u in self.updates if u["update_id"] >= self.confirmed_offset]

    async def wait_for(
        self,
        predicate: Callable[[FakeBotApi], bool],
        within: float = 10.0,
    ) -> None:
        """Wait until `predicate(self)` holds, re-checking after every request."""
        async with asyncio.timeout(within):
            async with self._request_seen:
                await self._request_seen.wait_for(lambda: predicate(self))

    async def wait_calls(
        self, method: str, count: int = 1, chat_id: int | None = None, within: float = 10.0
    ) -> list[ApiRequest]:
        await self.wait_for(lambda api: len(api.calls(method, chat_id)) >= count, within)
        return self.calls(method, chat_id)

    async def wait_confirmed(self, update_id: int, within: float = 10.0) -> None:
        """Wait until the bot confirmed `update_id` (asked for a later offset)."""
        await self.wait_for(lambda api: api.confirmed_offset > update_id, within)

    async def post_webhook(
        self, url: str, update: dict[str, Any], secret_token: str | None
    ) -> httpx.Response:
        """Deliver an update to the bot's webhook as Telegram does; returns the bot's answer."""
        update_id = next(self._update_ids)
        body = {"update_id": update_id, **update}
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with httpx.AsyncClient() as client:
            return await client.post(url, content=json.dumps(body), headers=headers)

    # -- the Bot API methods -----------------------------------------------------------------

    async def _notify(self, condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    def _take_fault(self, method: str, chat_id: int | None) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.chat_id in (None, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def call(self, request: ApiRequest) -> Any:
        self.requests.append(request)
        await self._notify(self._request_seen)
        handler = getattr(self, f"_api_{request.method}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        try:
            result = handler(request.params, request.files)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        finally:
            await self._notify(self._request_seen)

    def _check_chat(self, chat_id: int) -> None:
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id in self.forbidden_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _store_sent(self, chat_id: int, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        message_id = next(self._message_ids)
        chat = (
            {"id": chat_id, "type": "private", "first_name": "user"}
            if chat_id > 0
            else {
                "id": chat_id,
                "type": "supergroup" if chat_id < -(10**12) else "group",
                "title": "group",
            }
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            **content,
        }
        # Telegram shows only inline keyboards on a message; ForceReply and the like are not kept.
        if "inline_keyboard" in (params.get("reply_markup") or {}):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message_id)] = message
        return message

    def _api_getMe(self, params: dict, files: dict) -> dict:
        return self.bot_user

    def _api_deleteWebhook(self, params: dict, files: dict) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self.confirmed_offset = max((u["update_id"] for u in self.updates), default=0) + 1
        return True

    def _api_setWebhook(self, params: dict, files: dict) -> bool:
        self.webhook = {"url": params["url"], **params}
        return True

    def _api_getWebhookInfo(self, params: dict, files: dict) -> dict:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates()),
        }

    async def _api_getUpdates(self, params: dict, files: dict) -> list[dict]:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0) or 0)
        if offset and offset > self.confirmed_offset:
            self.confirmed_offset = offset
            await self._notify(self._request_seen)
        limit = int(params.get("limit", 100) or 100)
        timeout = float(params.get("timeout", 0) or 0)
        allowed = params.get("allowed_updates")

        def ready() -> list[dict]:
            pending = self.pending_updates()
            if allowed:
                pending = [u for u in pending if any(k in u for k in allowed)]
            return pending[:limit]

        if not ready() and timeout > 0:
            async with self._new_update:
                try:
                    async with asyncio.timeout(timeout):
                        await self._new_update.wait_for(lambda: bool(ready()))
                except TimeoutError:
                    pass
        return ready()

    def _api_sendMessage(self, params: dict, files: dict) -> dict:
        chat_id = int(params["chat_id"])
        self._check_chat(chat_id)
        text = str(params["text"])
        if len(_plain(text, params.get("parse_mode"))) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        message = self._store_sent(chat_id, params, text=_plain(text, params.get("parse_mode")))
        message["_html"] = text
        return _public(message)

    def _api_sendDocument(self, params: dict, files: dict) -> dict:
        chat_id = int(params["chat_id"])
        self._check_chat(chat_id)
        upload = files.get("document")
        if upload is None:
            raise ApiError(400, "Bad Request: there is no document in the request")
        file_no = next(self._file_ids)
        document = {
            "file_id": f"doc{file_no}",
            "file_unique_id": f"u{file_no}",
            "file_name": upload.filename,
            "mime_type": upload.content_type,
            "file_size": len(upload.content),
        }
        content: dict[str, Any] = {"document": document, "_content": upload.content}
        if "caption" in params:
            content["caption"] = _plain(str(params["caption"]), params.get("parse_mode"))
            content["_html"] = params["caption"]
        return _public(self._store_sent(chat_id, params, **content))

    def _api_editMessageText(self, params: dict, files: dict) -> dict:
        chat_id = int(params["chat_id"])
        key = (chat_id, int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = _plain(str(params["text"]), params.get("parse_mode"))
        markup = params.get("reply_markup")
        if text == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message.update(text=text, _html=params["text"], edit_date=int(time.time()))
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return _public(message)

    def _api_answerCallbackQuery(self, params: dict, files: dict) -> bool:
        return True

    def _api_setMyCommands(self, params: dict, files: dict) -> bool:
        scope = params.get("scope") or {"type": "default"}
        self.commands[(scope["type"], params.get("language_code", ""))] = params["commands"]
        return True

    def _api_getMyCommands(self, params: dict, files: dict) -> list:
        scope = params.get("scope") or {"type": "default"}
        return self.commands.get((scope["type"], params.get("language_code", "")), [])

    def _api_deleteMyCommands(self, params: dict, files: dict) -> bool:
        scope = params.get("scope") or {"type": "default"}
        self.commands.pop((scope["type"], params.get("language_code", "")), None)
        return True

    def _api_close(self, params: dict, files: dict) -> bool:
        return True


class _MethodHandler(tornado.web.RequestHandler):
    def initialize(self, api: FakeBotApi) -> None:
        self.api = api

    def check_xsrf_cookie(self) -> None:
        pass

    async def get(self, token: str, method: str) -> None:
        await self.post(token, method)

    async def post(self, token: str, method: str) -> None:
        if token != self.api.token:
            self._answer_error(ApiError(401, "Unauthorized"))
            return
        params = self._decode_params()
        files = {
            name: UploadedFile(f.filename, f.body, f.content_type)
            for name, found in self.request.files.items()
            for f in found[:1]
        }
        request = ApiRequest(method, params, files)
        chat_id = request.chat_id
        if self.api.outage is not None and method in SEND_METHODS:
            self.api.requests.append(request)
            await self.api._notify(self.api._request_seen)
            self._answer_error(ApiError(self.api.outage, _REASONS.get(self.api.outage, "Error")))
            return
        fault = self.api._take_fault(method, chat_id)
        if fault is not None and fault.kind == "hold":
            # Carried out, then the answer is held: the client cannot know it arrived.
            try:
                result = await self.api.call(request)
            except ApiError as error:
                self._answer_error(error)
                return
            fault.held.set()
            await fault.release.wait()
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"ok": True, "result": result}, ensure_ascii=False))
            return
        if fault is not None:
            self.api.requests.append(request)
            await self.api._notify(self.api._request_seen)
            if fault.kind == "drop":
                # The connection dies before any answer: the client sees a network error.
                self.request.connection.close()  # type: ignore[union-attr]
                return
            if fault.kind == "retry_after":
                self._answer_error(
                    ApiError(
                        429,
                        f"Too Many Requests: retry after {fault.retry_after}",
                        {"retry_after": fault.retry_after},
                    )
                )
                return
            if fault.kind == "forbidden":
                self._answer_error(ApiError(403, "Forbidden: bot was blocked by the user"))
                return
            if fault.kind == "status":
                self._answer_error(ApiError(fault.status, _REASONS.get(fault.status, "Error")))
                return
            await asyncio.sleep(fault.delay)
            self.api.requests.pop()  # the slow attempt is recorded again below
        try:
            result = await self.api.call(request)
        except ApiError as error:
            self._answer_error(error)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": True, "result": result}, ensure_ascii=False))

    def _decode_params(self) -> dict[str, Any]:
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            return dict(json.loads(self.request.body or b"{}"))
        params: dict[str, Any] = {}
        for name in self.request.body_arguments:
            value = self.get_body_argument(name, strip=False)
            params[name] = _decode_value(value)
        for name in self.request.query_arguments:
            params.setdefault(name, _decode_value(self.get_query_argument(name, strip=False)))
        return params

    def _answer_error(self, error: ApiError) -> None:
        self.set_status(error.code)
        self.set_header("Content-Type", "application/json")
        body: dict[str, Any] = {
            "ok": False,
            "error_code": error.code,
            "description": error.description,
        }
        if error.parameters:
            body["parameters"] = error.parameters
        self.finish(json.dumps(body, ensure_ascii=False))


def _decode_value(value: str) -> Any:
    # PTB sends scalars as plain strings and objects/arrays as JSON text.
    if value in ("true", "false"):
        return value == "true"
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the Bot API returns it, without the fake's own bookkeeping keys."""
    return {k: v for k, v in message.items() if not k.startswith("_")}


_TAG = re.compile(r"<[^>]+>")


def _plain(text: str, parse_mode: Any) -> str:
    if parse_mode == "HTML":
        return html.unescape(_TAG.sub("", text))
    return text


_ENTITY = re.compile(r"(?<!\S)(/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?|@[A-Za-z0-9_]{5,})")


def _command_and_mention_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and mention entities Telegram would attach to `text`."""
    entities = []
    for match in _ENTITY.finditer(text):
        start = len(text[: match.start()].encode("utf-16-le")) // 2
        length = len(match.group(0).encode("utf-16-le")) // 2
        kind = "bot_command" if match.group(0).startswith("/") else "mention"
        entities.append({"type": kind, "offset": start, "length": length})
    return entities
