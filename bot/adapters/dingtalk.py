"""DingTalk (钉钉) through an enterprise-internal app robot in Stream mode.

Messages come in over the Stream gateway's WebSocket (the official `dingtalk-stream` SDK parses
the frames and answers them); everything the bot says goes out through the robot OpenAPI over
HTTP. Group messages that @-mention people go through the group's latest `sessionWebhook`,
since the robot's group-send API has no @ field. See docs/dingtalk.md for every limit used here
and its source.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote_plus

import dingtalk_stream
import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from bot.adapters.base import (
    Adapter,
    AdapterTexts,
    Rate,
    SendLimits,
    Transient,
    Unreachable,
)
from bot.config import ConfigError
from bot.messages import (
    ChatAddress,
    DirectoryEntry,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    split_mentions,
    split_text,
)

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import DingtalkSection

log = logging.getLogger(__name__)


class _QuietPings(logging.Filter):
    """The SDK logs each of the gateway's pings as an unknown topic, at WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "topic=ping," not in record.getMessage()


_sdk_log = logging.getLogger("bot.adapters.dingtalk.sdk")
_sdk_log.addFilter(_QuietPings())

PLATFORM = "dingtalk"

API_URL = "https://api.dingtalk.com"
OAPI_URL = "https://oapi.dingtalk.com"
GATEWAY_URL = API_URL + "/v1.0/gateway/connections/open"
BOT_TOPIC = dingtalk_stream.ChatbotMessage.TOPIC  # /v1.0/im/bot/messages/get

# groupMessages/send takes at most 15,000 bytes of msgParam. 4,000 characters of Chinese is
# about 12,000 bytes of UTF-8, which leaves room for the JSON around it and the @-list.
MAX_TEXT = 4000
# oapi media/upload takes ordinary files up to 20 MB.
MAX_FILE_BYTES = 20 * 1024 * 1024
# batchSend takes at most 20 userIds in one call; the outbox keeps one row per account, so
# the adapter sends to one person per call and each row learns its own outcome.
# A token is refreshed this long before DingTalk says it expires (expireIn is 7200 s).
TOKEN_MARGIN = 300.0
# A sessionWebhook is not used in the last minute of its lifetime: the send could arrive late.
WEBHOOK_MARGIN = 60.0
# DingTalk gives no wait with a flow-control answer. Its API limit is per second; a person it
# holds back is held for longer, so that is tried again a minute later.
QPS_RETRY_AFTER = 1.0
PERSON_RETRY_AFTER = 60.0

# oapi errcodes: a token that is invalid or expired; the server busy; flow control.
_OAPI_BAD_TOKEN = {40014, 42001}
_OAPI_BUSY = {-1}
_OAPI_THROTTLED = {90002, 90006, 90018, 90019}


class NotConnected(Transient):
    """The adapter is not running; the message can be sent later."""


@dataclass(frozen=True, slots=True)
class _Webhook:
    """The reply URL DingTalk hands out with each incoming message, and when it stops working."""

    url: str
    expires_at: float  # epoch seconds


def dingtalk_time(milliseconds: int | str | None) -> datetime:
    """A DingTalk timestamp (milliseconds since the epoch) as aware UTC."""
    if milliseconds in (None, ""):
        return datetime.now(UTC)
    return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)


def strip_bot_mention(text: str, names: list[str]) -> str:
    """The text without a leading `@<bot name>`; DingTalk usually removes it already."""
    text = text.strip()
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        if text.startswith("@" + name):
            return text[len(name) + 1 :].strip()
    return text


# -- the OpenAPI -------------------------------------------------------------------------------


class OpenApi:
    """The DingTalk HTTP APIs the bot calls, with one cached access token.

    api.dingtalk.com answers errors with an HTTP status and `{"code", "message"}`; an invalid or
    expired token is HTTP 400 `InvalidAuthentication`. oapi.dingtalk.com answers HTTP 200 with
    `{"errcode", "errmsg"}`. Either way a bad token is refreshed once and the call made again.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        api_url: str = API_URL,
        oapi_url: str = OAPI_URL,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.api_url = api_url.rstrip("/")
        self.oapi_url = oapi_url.rstrip("/")
        self._timeout = timeout
        self._clock = clock
        self._http: httpx.AsyncClient | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the access token ----------------------------------------------------------------------

    async def token(self) -> str:
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token_expires - TOKEN_MARGIN:
                body = await self._post_json(
                    f"{self.api_url}/v1.0/oauth2/accessToken",
                    {"appKey": self._client_id, "appSecret": self._client_secret},
                    what="access token",
                )
                self._token = str(body["accessToken"])
                self._token_expires = self._clock() + float(body.get("expireIn") or 7200)
            return self._token

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    # -- calls ---------------------------------------------------------------------------------

    async def call(self, path: str, payload: dict[str, Any], *, what: str) -> dict[str, Any]:
        """POST to api.dingtalk.com with the token in its header."""
        for attempt in (1, 2):
            token = await self.token()
            try:
                return await self._post_json(
                    self.api_url + path,
                    payload,
                    what=what,
                    headers={"x-acs-dingtalk-access-token": token},
                )
            except _BadToken:
                self._forget(token)
                if attempt == 2:
                    raise Transient(f"DingTalk refused a fresh access token ({what})") from None
        raise AssertionError("unreachable")

    async def oapi(
        self,
        path: str,
        *,
        what: str,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """POST to oapi.dingtalk.com with the token in the query string."""
        for attempt in (1, 2):
            token = await self.token()
            query = {"access_token": token, **(params or {})}
            response = await self._request(
                self.oapi_url + path, what=what, json=json_body, params=query, files=files
            )
            body = _json(response)
            if response.status_code >= 500:
                raise Transient(f"DingTalk {what}: HTTP {response.status_code}")
            errcode = int(body.get("errcode", 0) or 0)
            if errcode == 0:
                return body
            errmsg = str(body.get("errmsg", ""))
            if errcode in _OAPI_BAD_TOKEN:
                self._forget(token)
                if attempt == 2:
                    raise Transient(f"DingTalk refused a fresh access token ({what})")
                continue
            if errcode in _OAPI_BUSY:
                raise Transient(f"DingTalk {what}: busy ({errmsg})")
            if errcode in _OAPI_THROTTLED:
                raise Transient(
                    f"DingTalk {what}: flow control ({errcode})", retry_after=QPS_RETRY_AFTER
                )
            raise Unreachable(f"DingTalk refused the {what}: {errcode} {errmsg}".strip())
        raise AssertionError("unreachable")

    async def post_webhook(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST to a sessionWebhook; the URL carries its own credential."""
        response = await self._request(url, what="group reply", json=payload)
        if response.status_code >= 500:
            raise Transient(f"DingTalk group reply: HTTP {response.status_code}")
        return _json(response)

    async def _post_json(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        what: str,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self._request(url, what=what, json=payload, headers=headers)
        body = _json(response)
        status = response.status_code
        if status < 300:
            return body
        code = str(body.get("code", ""))
        message = str(body.get("message", ""))
        if status in (400, 401) and code == "InvalidAuthentication":
            raise _BadToken()
        if status == 429 or "QpsLimit" in code or "Throttl" in code or "FlowControl" in code:
            retry = _retry_after(response) or QPS_RETRY_AFTER
            raise Transient(f"DingTalk {what}: flow control ({code or status})", retry_after=retry)
        if status >= 500:
            raise Transient(f"DingTalk {what}: HTTP {status} {code}".strip())
        raise Unreachable(f"DingTalk refused the {what}: {code or status} {message}".strip())

    async def _request(self, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.post(url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Transient(f"DingTalk {what}: cannot connect ({type(exc).__name__})") from exc
        except httpx.TimeoutException as exc:
            # The request went out: DingTalk may have acted on it.
            raise Transient(
                f"DingTalk {what}: no answer ({type(exc).__name__})", maybe_sent=True
            ) from exc
        except httpx.TransportError as exc:
            raise Transient(
                f"DingTalk {what}: connection lost ({type(exc).__name__})", maybe_sent=True
            ) from exc


class _BadToken(Exception):
    """HTTP 400 InvalidAuthentication: the token expired or was revoked."""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


# -- the Stream connection ---------------------------------------------------------------------


class _StreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK's client for one connection, with the gateway URL given rather than constant.

    The SDK parses the frames, answers SYSTEM pings and acknowledges each callback; the adapter
    supervises the connection itself (the SDK's own loop blocks on `requests` and retries at a
    fixed pace with no way to stop it).
    """

    def __init__(self, adapter: DingtalkAdapter) -> None:
        super().__init__(
            dingtalk_stream.Credential(adapter.client_id, adapter.client_secret),
            logger=_sdk_log,
        )
        self.register_callback_handler(BOT_TOPIC, _BotHandler(adapter))
        self.pre_start()

    def open_connection(self) -> None:
        raise NotImplementedError("the adapter opens connections with DingtalkAdapter._open")

    def subscriptions(self) -> list[dict[str, str]]:
        return [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]


class _BotHandler(dingtalk_stream.ChatbotHandler):
    """Hands each robot message to the adapter; the SDK acknowledges it once handled."""

    def __init__(self, adapter: DingtalkAdapter) -> None:
        super().__init__()
        self._adapter = adapter

    async def process(self, callback: Any) -> tuple[int, str]:
        await self._adapter._on_callback(callback.data)
        return dingtalk_stream.AckMessage.STATUS_OK, "OK"


# -- the adapter -------------------------------------------------------------------------------


class DingtalkAdapter(Adapter):
    """The bot in DingTalk group chats (when @-mentioned) and single chats with the robot."""

    platform: ClassVar[str] = PLATFORM
    max_text: ClassVar[int] = MAX_TEXT
    # 20 API calls a second for an app (standard edition); 20 messages a minute in one group.
    # DingTalk documents no per-person figure: a private send it holds back comes back in
    # flowControlledStaffIdList instead.
    limits: ClassVar[SendLimits] = SendLimits(
        overall=Rate(20, 1.0), group=Rate(20, 60.0), private=Rate(1, 1.0)
    )

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        robot_code: str | None = None,
        name: str = "",
        gateway_url: str = GATEWAY_URL,
        api_url: str = API_URL,
        oapi_url: str = OAPI_URL,
        directory: bool = True,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 60.0,
        ping_interval: float = 20.0,
        shutdown_grace: float = 10.0,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.robot_code = robot_code or client_id
        self.name = name
        self.gateway_url = gateway_url
        self.api = OpenApi(
            client_id=client_id,
            client_secret=client_secret,
            api_url=api_url,
            oapi_url=oapi_url,
            timeout=timeout,
            clock=clock,
        )
        self._directory = directory
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._ping_interval = ping_interval
        self._shutdown_grace = shutdown_grace
        self._clock = clock
        self._app: App | None = None
        self._runner: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._handling: set[asyncio.Task[Any]] = set()
        # The latest reply URL per chat (group: conversationId; private: the sender).
        self._webhooks: dict[str, _Webhook] = {}
        self._bot_ids: set[str] = set()
        self._directory_cache: dict[str, DirectoryEntry | None] = {}
        self.connections = 0

    @classmethod
    def from_config(cls, section: DingtalkSection) -> DingtalkAdapter:
        """The adapter for `[dingtalk]`; needs client_id and client_secret."""
        secret = section.client_secret.get_secret_value() if section.client_secret else ""
        if not section.client_id or not secret:
            raise ConfigError(
                "dingtalk: set dingtalk.client_id and dingtalk.client_secret "
                "(CLASSBOT_DINGTALK__CLIENT_SECRET)"
            )
        return cls(
            client_id=section.client_id,
            client_secret=secret,
            robot_code=section.robot_code,
            name=section.name,
            gateway_url=section.gateway_url,
            api_url=section.api_url,
            oapi_url=section.oapi_url,
            directory=section.directory,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        # Sending is plain HTTPS and does not need the Stream connection.
        return self._app is not None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    @property
    def _lang(self) -> str:
        """The deployment's language, once started."""
        return self._app.config.bot.language if self._app is not None else "zh"

    async def start(self, app: App) -> None:
        # httpx logs every request URL at INFO: oapi URLs carry the access token, and a
        # sessionWebhook URL is itself a credential.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._app = app
        self._runner = asyncio.create_task(self._run(), name="dingtalk-stream-connection")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await self._finish_handling()
        self._app = None
        await self.api.close()

    async def _finish_handling(self) -> None:
        if not self._handling:
            return
        # Messages being handled finish first, so nothing is left half done.
        _, late = await asyncio.wait(set(self._handling), timeout=self._shutdown_grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _run(self) -> None:
        """Stay connected: after a drop, reconnect with a growing pause (up to a minute)."""
        delay = self._reconnect_delay
        while True:
            self.connections += 1
            went_up = False
            try:
                await self._connection()
                reason = "the gateway closed the connection"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                went_up = self._connected.is_set()
                self._connected.clear()
            # A connection that worked starts the pauses afresh; failed attempts lengthen them.
            if went_up:
                delay = self._reconnect_delay
            log.warning(
                "DingTalk: stream connection lost (%s); reconnecting in %.1f s", reason, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay)

    async def _open(self, client: _StreamClient) -> str:
        """Register a connection with the gateway; returns the WebSocket URL with its ticket."""
        try:
            response = await self.api.http.post(
                self.gateway_url,
                json={
                    "clientId": self.client_id,
                    "clientSecret": self.client_secret,
                    "subscriptions": client.subscriptions(),
                    "ua": f"classbot dingtalk-stream/{dingtalk_stream.version.VERSION_STRING}",
                    "localIp": "",
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ConnectionError(f"gateway unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            code = _json(response).get("code", "")
            raise ConnectionError(f"gateway refused: HTTP {response.status_code} {code}".strip())
        body = _json(response)
        return f"{body['endpoint']}?ticket={quote_plus(str(body['ticket']))}"

    async def _connection(self) -> None:
        """One connection, until it closes."""
        client = _StreamClient(self)
        uri = await self._open(client)
        async with websockets.connect(
            uri, ping_interval=self._ping_interval, ping_timeout=self._ping_interval
        ) as ws:
            client.websocket = ws
            self._connected.set()
            log.info("DingTalk: stream connected")
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    log.warning("DingTalk: a frame that is not JSON was ignored")
                    continue
                self._spawn(self._route(client, ws, frame))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _route(
        self, client: _StreamClient, ws: ClientConnection, frame: dict[str, Any]
    ) -> None:
        try:
            result = await client.route_message(frame)
        except websockets.ConnectionClosed:
            # The acknowledgement was lost with the connection: DingTalk delivers the message
            # again on the next one, and the router recognises its msgId.
            return
        except Exception:
            log.exception("DingTalk: failed to handle a %s frame", frame.get("type"))
            return
        if result == client.TAG_DISCONNECT:
            log.info("DingTalk: the gateway asked to reconnect")
            await ws.close()

    # -- incoming ----------------------------------------------------------------------------

    async def _on_callback(self, data: dict[str, Any]) -> None:
        try:
            incoming = await self._translate(dingtalk_stream.ChatbotMessage.from_dict(data))
        except Exception:
            log.exception("DingTalk: could not read a robot message")
            return
        if incoming is None or self._app is None:
            return
        try:
            await self._app.handle(incoming)
        except Exception:
            log.exception("DingTalk: failed to handle message %s", incoming.message_id)

    async def _translate(self, msg: Any) -> IncomingMessage | None:
        """The platform-neutral message, or None for what the bot does not answer."""
        if msg.chatbot_user_id:
            self._bot_ids.add(msg.chatbot_user_id)
        if msg.message_type != "text" or msg.text is None:
            return None
        # Org members have a staff id, which is what batchSend and atUserIds take; anyone else
        # is known only by their DingTalk id and can be answered only through the webhook.
        sender = msg.sender_staff_id or f"ext:{msg.sender_id}"
        is_group = str(msg.conversation_type) == "2"
        chat_id = msg.conversation_id if is_group else sender
        if msg.session_webhook:
            expires = (msg.session_webhook_expired_time or 0) / 1000
            self._webhooks[chat_id] = _Webhook(msg.session_webhook, expires)
        text = strip_bot_mention(str(msg.text.content or ""), [self.name])
        directory = None
        if not is_group and msg.sender_staff_id:
            directory = await self.lookup(msg.sender_staff_id)
        mentions = tuple(
            u.staff_id
            for u in msg.at_users
            if u.staff_id and u.dingtalk_id not in self._bot_ids and u.staff_id != sender
        )
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=chat_id,
            is_group=is_group,
            sender_id=sender,
            text=text,
            sent_at=dingtalk_time(msg.create_at),
            message_id=msg.message_id,
            sender_name=msg.sender_nick or "",
            chat_title=(msg.conversation_title or "") if is_group else "",
            # DingTalk normally sends the robot only the group messages that @-mention it;
            # isInAtList says so for each one.
            mentions_bot=bool(msg.is_in_at_list),
            mentions=mentions,
            directory=directory,
        )

    async def lookup(self, staff_id: str) -> DirectoryEntry | None:
        """The org directory's job number and mobile for a member, when the app may read them.

        Needs the app permission 成员信息读权限 (qyapi_get_member) for the job number and
        企业员工手机号信息 for the mobile. Without it the bot binds by one-time codes only.
        """
        if not self._directory:
            return None
        if staff_id in self._directory_cache:
            return self._directory_cache[staff_id]
        try:
            body = await self.api.oapi(
                "/topapi/v2/user/get",
                what="directory lookup",
                json_body={"userid": staff_id, "language": "zh_CN"},
            )
        except Unreachable as exc:
            # No permission, or not a member: binding falls back to codes.
            log.info("DingTalk: directory lookup refused (%s); codes only", exc.reason)
            self._directory_cache[staff_id] = None
            return None
        except Transient as exc:
            log.info("DingTalk: directory lookup failed for now (%s)", exc.reason)
            return None
        result = body.get("result") or {}
        entry = DirectoryEntry(
            job_number=str(result.get("job_number") or ""), mobile=str(result.get("mobile") or "")
        )
        self._directory_cache[staff_id] = entry
        return entry

    # -- outgoing ----------------------------------------------------------------------------

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        if self._app is None:
            raise NotConnected("the DingTalk adapter is not running")
        if to.is_group:
            await self._send_to_group(to.chat_id, message)
        else:
            await self._send_to_person(to.chat_id, message)

    def _live_webhook(self, chat_id: str) -> _Webhook | None:
        hook = self._webhooks.get(chat_id)
        if hook is None or hook.expires_at - WEBHOOK_MARGIN <= self._clock():
            return None
        return hook

    async def _send_to_group(self, conversation_id: str, message: OutgoingMessage) -> None:
        text = _with_buttons(message, self._lang)
        if message.mentions:
            hook = self._live_webhook(conversation_id)
            if hook is not None and await self._mention_by_webhook(hook, conversation_id, message):
                await self._group_file(conversation_id, message)
                return
            # No live webhook: the robot's group send has no @ field, so the names go in the
            # text. That notifies nobody; the reminder still lists who is missing.
            log.info(
                "DingTalk: no live sessionWebhook for %s; mentions sent as names only",
                conversation_id,
            )
            text = "\n".join([text, " ".join(f"@{m.name}" for m in message.mentions)]).strip()
        for chunk in split_text(text, MAX_TEXT) if text else []:
            await self._group_message(conversation_id, "sampleText", {"content": chunk})
        await self._group_file(conversation_id, message)

    async def _mention_by_webhook(
        self, hook: _Webhook, conversation_id: str, message: OutgoingMessage
    ) -> bool:
        """Send text with real @-mentions through the group's sessionWebhook.

        Returns False when DingTalk no longer takes the webhook before anything was sent.
        """

        def render(m: Mention) -> str:
            # DingTalk shows "@<userId>" in the text as the member's name.
            return f"@{m.user_id}"

        chunks = split_mentions(
            _with_buttons(message, self._lang), message.mentions, MAX_TEXT, render
        )
        for index, (chunk, in_chunk) in enumerate(chunks):
            payload = {
                "msgtype": "text",
                "text": {"content": chunk},
                "at": {"atUserIds": [m.user_id for m in in_chunk], "isAtAll": False},
            }
            body = await self.api.post_webhook(hook.url, payload)
            errcode = int(body.get("errcode", 0) or 0)
            if errcode == 0:
                continue
            self._webhooks.pop(conversation_id, None)
            if index == 0:
                log.info("DingTalk: sessionWebhook refused (%s); falling back", body.get("errmsg"))
                return False
            raise Unreachable(f"DingTalk refused the group reply: {errcode} {body.get('errmsg')}")
        return True

    async def _group_message(self, conversation_id: str, key: str, param: dict[str, Any]) -> None:
        await self.api.call(
            "/v1.0/robot/groupMessages/send",
            {
                "robotCode": self.robot_code,
                "openConversationId": conversation_id,
                "msgKey": key,
                "msgParam": json.dumps(param, ensure_ascii=False),
            },
            what="group message",
        )

    async def _group_file(self, conversation_id: str, message: OutgoingMessage) -> None:
        if message.attachment is None:
            return
        param = await self._upload(message)
        await self._group_message(conversation_id, "sampleFile", param)

    async def _send_to_person(self, user_id: str, message: OutgoingMessage) -> None:
        text = _with_buttons(message, self._lang)
        if message.mentions:
            text = "\n".join([text, " ".join(f"@{m.name}" for m in message.mentions)]).strip()
        if user_id.startswith("ext:"):
            await self._reply_to_outsider(user_id, text, message)
            return
        for chunk in split_text(text, MAX_TEXT) if text else []:
            await self._private_message(user_id, "sampleText", {"content": chunk})
        if message.attachment is not None:
            param = await self._upload(message)
            await self._private_message(user_id, "sampleFile", param)

    async def _reply_to_outsider(self, user_id: str, text: str, message: OutgoingMessage) -> None:
        """Someone outside the org: only the reply URL of their last message reaches them."""
        hook = self._live_webhook(user_id)
        if hook is None:
            raise Unreachable(
                "not a member of the DingTalk organisation: reachable only shortly after "
                "writing to the bot"
            )
        if message.attachment is not None:
            note = AdapterTexts.members_only_file(self._lang, filename=message.attachment.filename)
            text = "\n".join([text, note]).strip()
        for chunk in split_text(text, MAX_TEXT) if text else []:
            body = await self.api.post_webhook(
                hook.url, {"msgtype": "text", "text": {"content": chunk}}
            )
            if int(body.get("errcode", 0) or 0) != 0:
                self._webhooks.pop(user_id, None)
                raise Unreachable(f"DingTalk refused the reply: {body.get('errmsg')}")

    async def _private_message(self, user_id: str, key: str, param: dict[str, Any]) -> None:
        body = await self.api.call(
            "/v1.0/robot/oToMessages/batchSend",
            {
                "robotCode": self.robot_code,
                "userIds": [user_id],
                "msgKey": key,
                "msgParam": json.dumps(param, ensure_ascii=False),
            },
            what="private message",
        )
        # HTTP 200 even when the user cannot be messaged: the lists say so.
        if user_id in (body.get("invalidStaffIdList") or []):
            raise Unreachable("not a member of the DingTalk organisation (invalid staff id)")
        if user_id in (body.get("flowControlledStaffIdList") or []):
            raise Transient("DingTalk flow control for this person", retry_after=PERSON_RETRY_AFTER)

    async def _upload(self, message: OutgoingMessage) -> dict[str, str]:
        attachment = message.attachment
        assert attachment is not None
        if len(attachment.content) > MAX_FILE_BYTES:
            raise Unreachable(
                f"{attachment.filename} is larger than DingTalk's 20 MB file limit; "
                "use classbot export"
            )
        body = await self.api.oapi(
            "/media/upload",
            what="file upload",
            params={"type": "file"},
            files={"media": (attachment.filename, attachment.content, attachment.mime_type)},
        )
        extension = attachment.filename.rsplit(".", 1)[-1] if "." in attachment.filename else ""
        return {
            "mediaId": str(body["media_id"]),
            "fileName": attachment.filename,
            "fileType": extension,
        }


def _with_buttons(message: OutgoingMessage, lang: str) -> str:
    """A robot's action-card buttons only open links; each button becomes the command to send."""
    lines = [message.text] if message.text else []
    lines.extend(
        AdapterTexts.button(lang, label=b.label, command=b.command) for b in message.buttons
    )
    return "\n".join(lines)
