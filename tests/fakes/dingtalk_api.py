"""A fake DingTalk on 127.0.0.1: the Stream gateway and the robot OpenAPI, on one port.

Written from DingTalk's documentation (docs/dingtalk.md lists the pages):

- Stream mode: POST /v1.0/gateway/connections/open with clientId, clientSecret and the
  subscriptions answers an endpoint and a one-time ticket; the WebSocket at
  `endpoint?ticket=...` then carries SYSTEM frames (ping, disconnect) and CALLBACK frames
  (topic /v1.0/im/bot/messages/get), each of which the client acknowledges with its messageId.
  A robot message that was not acknowledged is delivered again on the next connection.
- OpenAPI (api.dingtalk.com): POST /v1.0/oauth2/accessToken (expireIn 7200); a bad or expired
  token in `x-acs-dingtalk-access-token` is HTTP 400 `InvalidAuthentication`.
  /v1.0/robot/oToMessages/batchSend answers 200 and lists invalid and flow-controlled staff
  ids; /v1.0/robot/groupMessages/send has no @ field (msgParam at most 15,000 bytes).
- oapi.dingtalk.com: /media/upload (multipart `media`, type=file) and /topapi/v2/user/get
  (job_number, mobile); errors are HTTP 200 with a non-zero errcode (40014: bad token).
- A sessionWebhook (in each robot message, with sessionWebhookExpiredTime) takes a text reply
  with `at.atUserIds`: the only way a robot's group message @-mentions members.

It records everything the bot sent and can be told to: expire every token, answer with flow
control, drop the WebSocket, lose acknowledgements (so messages are delivered again), send
the gateway's `disconnect`, and expire sessionWebhooks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.messages import OutgoingMessage

CLIENT_ID = "dingclassbottestapp"
CLIENT_SECRET = "test-client-secret-for-the-fake-dingtalk"
BOT_TOPIC = "/v1.0/im/bot/messages/get"
BOT_USER_ID = "$:LWCP_v1:$classbotrobot"
# How long DingTalk keeps a sessionWebhook usable (the payload carries the exact expiry).
WEBHOOK_LIFETIME = 90 * 60
MAX_MSG_PARAM_BYTES = 15000
MSG_KEYS = {"sampleText", "sampleMarkdown", "sampleFile", "sampleActionCard"}


@dataclass
class Member:
    staff_id: str
    name: str
    job_number: str = ""
    mobile: str = ""
    dingtalk_id: str = ""


@dataclass
class Sent:
    """One message the bot got through to DingTalk."""

    via: str  # "group", "private" or "webhook"
    to: str  # openConversationId, staff id, or the webhook's conversation
    msg_key: str
    param: dict[str, Any]
    at_user_ids: list[str] = field(default_factory=list)
    file_name: str = ""
    file_content: bytes = b""

    @property
    def text(self) -> str:
        return str(self.param.get("content", ""))

    @property
    def is_file(self) -> bool:
        return self.msg_key == "sampleFile"


@dataclass
class Request:
    path: str
    body: Any
    at: float = field(default_factory=time.monotonic)


class FakeDingtalk:
    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.robot_code = client_id
        self.members: dict[str, Member] = {}
        # openConversationId -> (title, staff ids in the group)
        self.groups: dict[str, tuple[str, set[str]]] = {}
        self.directory_permission = True
        # Fails every group message that carries personal data (tests/conftest.py privacy_guard).
        self.group_guard: Callable[[OutgoingMessage], None] | None = None
        self.guard_failures: list[str] = []

        self.requests: list[Request] = []
        self.sent: list[Sent] = []
        self.tokens_issued = 0
        self.tokens_handed_out: list[str] = []
        self.connections_opened = 0
        self.acked: list[str] = []
        self.acks: list[dict[str, Any]] = []
        self.lose_acks = False

        self._tokens: set[str] = set()
        self._tickets: set[str] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._unacked: dict[str, dict[str, Any]] = {}  # stream messageId -> frame
        self._webhooks: dict[str, tuple[str, float]] = {}  # session -> (chat, expires)
        self._media: dict[str, tuple[str, bytes]] = {}
        self._throttle = 0
        self._faults: list[tuple[int, dict[str, Any]]] = []
        self.delay = 0.0
        self._frozen = False
        self._flow_controlled: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Condition()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open_connection)
        app.router.add_get("/connect", self._connect)
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._batch_send)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post("/robot/sendBySession", self._session_webhook)
        app.router.add_post("/media/upload", self._media_upload)
        app.router.add_post("/topapi/v2/user/get", self._user_get)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return self.base_url + "/v1.0/gateway/connections/open"

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait until `predicate()` holds; checked again after every change the fake sees."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    async def _touch(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the world ---------------------------------------------------------------------------

    def add_member(
        self, staff_id: str, name: str, *, job_number: str = "", mobile: str = ""
    ) -> None:
        self.members[staff_id] = Member(staff_id, name, job_number, mobile, f"$:dt:{staff_id}")

    def add_group(self, conversation_id: str, title: str, staff_ids: list[str]) -> None:
        self.groups[conversation_id] = (title, set(staff_ids))

    def new_id(self, prefix: str = "msg") -> str:
        # Unique across runs, as DingTalk's msgIds are: a database kept between two runs must
        # not see an old id again.
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex[:12]}"

    # -- injection ---------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops working (as after 7200 s)."""
        self._tokens.clear()

    def throttle(self, times: int = 1) -> None:
        """The next robot message calls are refused by API flow control."""
        self._throttle = times

    def fail_next(self, status: int, body: dict[str, Any] | None = None) -> None:
        """The next robot message call gets this answer (e.g. 503, or 400 with a code)."""
        self._faults.append((status, body or {"code": "ServiceUnavailable", "message": "busy"}))

    def freeze(self) -> None:
        """The host hangs: the WebSocket stays open but pings go unanswered."""
        self._frozen = True

    def thaw(self) -> None:
        self._frozen = False

    def flow_control(self, staff_id: str) -> None:
        """Private messages to this person come back in flowControlledStaffIdList."""
        self._flow_controlled.add(staff_id)

    def expire_webhooks(self) -> None:
        for session, (chat, _) in list(self._webhooks.items()):
            self._webhooks[session] = (chat, time.time() - 1)

    async def drop_connections(self) -> None:
        """Close every Stream WebSocket abruptly, as a network drop does."""
        for ws in list(self._sockets):
            await ws.close(code=1011, message=b"dropped")

    async def send_disconnect(self) -> None:
        """The gateway's SYSTEM `disconnect`: the client should reconnect."""
        await self._push(self._system_frame("disconnect", {"reason": "server restart"}))

    async def ping(self) -> str:
        opaque = uuid.uuid4().hex
        await self._push(self._system_frame("ping", {"opaque": opaque}))
        return opaque

    # -- intake ------------------------------------------------------------------------------

    async def group_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        *,
        mentions: tuple[str, ...] = (),
        msg_id: str | None = None,
        create_at: float | None = None,
        at_bot: bool = True,
    ) -> str:
        """A member @-mentions the robot in a group (normally all the robot receives there)."""
        title, _ = self.groups[conversation_id]
        at_users = ([{"dingtalkId": BOT_USER_ID}] if at_bot else []) + [
            {"dingtalkId": self.members[m].dingtalk_id, "staffId": m} for m in mentions
        ]
        return await self._deliver(
            sender,
            text,
            conversation_type="2",
            conversation_id=conversation_id,
            extra={"conversationTitle": title, "atUsers": at_users, "isInAtList": at_bot},
            msg_id=msg_id,
            create_at=create_at,
        )

    async def private_message(
        self,
        sender: str,
        text: str,
        *,
        msg_id: str | None = None,
        create_at: float | None = None,
        outsider: bool = False,
    ) -> str:
        """A single chat with the robot; an outsider (not an org member) has no staff id."""
        return await self._deliver(
            sender,
            text,
            conversation_type="1",
            conversation_id=f"cid-p2p-{sender}",
            extra={},
            msg_id=msg_id,
            create_at=create_at,
            outsider=outsider,
        )

    async def _deliver(
        self,
        sender: str,
        text: str,
        *,
        conversation_type: str,
        conversation_id: str,
        extra: dict[str, Any],
        msg_id: str | None,
        create_at: float | None,
        outsider: bool = False,
    ) -> str:
        msg_id = msg_id or self.new_id()
        session = uuid.uuid4().hex
        expires = time.time() + WEBHOOK_LIFETIME
        chat = conversation_id if conversation_type == "2" else sender
        self._webhooks[session] = (chat, expires)
        member = self.members.get(sender)
        data: dict[str, Any] = {
            "conversationId": conversation_id,
            "chatbotCorpId": "dingcorp",
            "chatbotUserId": BOT_USER_ID,
            "msgId": msg_id,
            "senderNick": member.name if member else sender,
            "isAdmin": False,
            "sessionWebhookExpiredTime": int(expires * 1000),
            "createAt": int((create_at if create_at is not None else time.time()) * 1000),
            "conversationType": conversation_type,
            "senderId": f"$:dt:{sender}",
            "sessionWebhook": f"{self.base_url}/robot/sendBySession?session={session}",
            "robotCode": self.robot_code,
            "msgtype": "text",
            "text": {"content": text},
            **extra,
        }
        if not outsider:
            data["senderStaffId"] = sender
            data["senderCorpId"] = "dingcorp"
        frame: dict[str, Any] = {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {
                "appId": "app-classbot",
                "connectionId": "conn",
                "contentType": "application/json",
                "messageId": uuid.uuid4().hex,
                "time": str(int(time.time() * 1000)),
                "topic": BOT_TOPIC,
            },
            "data": json.dumps(data, ensure_ascii=False),
        }
        self._unacked[frame["headers"]["messageId"]] = frame
        await self._push(frame)
        return msg_id

    def _system_frame(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {
                "contentType": "application/json",
                "messageId": uuid.uuid4().hex,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
            },
            "data": json.dumps(data),
        }

    async def _push(self, frame: dict[str, Any]) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(frame, ensure_ascii=False))

    # -- the Stream gateway ------------------------------------------------------------------

    async def _open_connection(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Request(request.path, body))
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return _api_error(401, "InvalidAuthentication", "clientId or clientSecret is wrong")
        topics = {(s.get("type"), s.get("topic")) for s in body.get("subscriptions") or []}
        if ("CALLBACK", BOT_TOPIC) not in topics:
            return _api_error(400, "invalidParameter", "no robot subscription")
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return web.json_response(
            {"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": ticket}
        )

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return _api_error(401, "InvalidTicket", "unknown ticket")
        self._tickets.discard(ticket)
        # Pongs by hand, so that a frozen host can leave pings unanswered.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connections_opened += 1
        await self._touch()
        # What the last connection never acknowledged comes again.
        for frame in list(self._unacked.values()):
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if not self._frozen:
                        await ws.pong(msg.data)
                    continue
                if msg.type != WSMsgType.TEXT or self._frozen:
                    continue
                ack = json.loads(msg.data)
                message_id = ack.get("headers", {}).get("messageId", "")
                self.acked.append(message_id)
                self.acks.append(ack)
                if ack.get("code") == 200 and not self.lose_acks:
                    self._unacked.pop(message_id, None)
                await self._touch()
        finally:
            self._sockets.discard(ws)
            await self._touch()
        return ws

    # -- the OpenAPI -------------------------------------------------------------------------

    async def _access_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Request(request.path, body))
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            return _api_error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = uuid.uuid4().hex
        self._tokens.add(token)
        self.tokens_handed_out.append(token)
        self.tokens_issued += 1
        return web.json_response({"accessToken": token, "expireIn": 7200})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("x-acs-dingtalk-access-token", "") in self._tokens

    def _throttled(self) -> bool:
        if self._throttle > 0:
            self._throttle -= 1
            return True
        return False

    async def _robot_request(
        self, request: web.Request
    ) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.json()
        self.requests.append(Request(request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._authorized(request):
            return body, _api_error(400, "InvalidAuthentication", "不合法的access_token")
        if self._faults:
            status, answer = self._faults.pop(0)
            return body, web.json_response(answer, status=status)
        if self._throttled():
            return body, _api_error(
                403, "Forbidden.AccessDenied.QpsLimitForApi", "调用该接口超过频率限制"
            )
        if body.get("robotCode") != self.robot_code:
            return body, _api_error(400, "robot.notExisted", "机器人不存在")
        if body.get("msgKey") not in MSG_KEYS or not isinstance(body.get("msgParam"), str):
            return body, _api_error(400, "invalidParameter", "msgKey or msgParam")
        if len(body["msgParam"].encode()) > MAX_MSG_PARAM_BYTES:
            return body, _api_error(400, "invalidParameter.msgParam.tooLong", "msgParam too long")
        return body, None

    def _record(self, via: str, to: str, key: str, param: dict[str, Any], at: list[str]) -> Sent:
        sent = Sent(via, to, key, param, at)
        if key == "sampleFile":
            sent.file_name, sent.file_content = self._media[param["mediaId"]]
            assert param["fileName"] == sent.file_name
        self.sent.append(sent)
        return sent

    async def _batch_send(self, request: web.Request) -> web.Response:
        body, error = await self._robot_request(request)
        if error is not None:
            return error
        users = body.get("userIds") or []
        if not 1 <= len(users) <= 20:
            return _api_error(400, "invalidParameter.userIds", "1 to 20 userIds")
        param = json.loads(body["msgParam"])
        invalid = [u for u in users if u not in self.members]
        limited = [u for u in users if u in self._flow_controlled]
        for user in users:
            if user not in invalid and user not in limited:
                self._record("private", user, body["msgKey"], param, [])
        await self._touch()
        return web.json_response(
            {
                "processQueryKey": uuid.uuid4().hex,
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": limited,
            }
        )

    async def _group_send(self, request: web.Request) -> web.Response:
        body, error = await self._robot_request(request)
        if error is not None:
            return error
        conversation = body.get("openConversationId", "")
        if conversation not in self.groups:
            return _api_error(400, "resource.not.found", "群不存在或机器人不在群内")
        param = json.loads(body["msgParam"])
        self._guard(param.get("content", ""))
        self._record("group", conversation, body["msgKey"], param, [])
        await self._touch()
        return web.json_response({"processQueryKey": uuid.uuid4().hex})

    async def _session_webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Request(request.path, body))
        chat, expires = self._webhooks.get(request.query.get("session", ""), ("", 0.0))
        if not chat or expires < time.time():
            return web.json_response({"errcode": 300001, "errmsg": "session is expired"})
        if body.get("msgtype") != "text":
            return web.json_response({"errcode": 40035, "errmsg": "invalid msgtype"})
        content = body["text"]["content"]
        at = list((body.get("at") or {}).get("atUserIds") or [])
        if chat in self.groups:
            self._guard(content)
            members = self.groups[chat][1]
            if any(a not in members for a in at):
                return web.json_response({"errcode": 40035, "errmsg": "atUserIds not in group"})
        self._record("webhook", chat, "sampleText", {"content": content}, at)
        await self._touch()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _guard(self, content: str) -> None:
        if self.group_guard is None:
            return
        try:
            self.group_guard(OutgoingMessage(content))
        except AssertionError as exc:
            # Kept for the test to fail on: raised here it would only be an HTTP 500.
            self.guard_failures.append(str(exc))
            raise

    async def _media_upload(self, request: web.Request) -> web.Response:
        if request.query.get("access_token", "") not in self._tokens:
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        form = await request.post()
        media = form.get("media")
        self.requests.append(Request(request.path, dict(request.query)))
        if request.query.get("type") != "file" or not isinstance(media, web.FileField):
            return web.json_response({"errcode": 40004, "errmsg": "不合法的媒体文件类型"})
        media_id = f"@lAz{uuid.uuid4().hex}"
        self._media[media_id] = (media.filename, media.file.read())
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "media_id": media_id, "type": "file",
             "created_at": int(time.time() * 1000)}
        )  # fmt: skip

    async def _user_get(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Request(request.path, body))
        if request.query.get("access_token", "") not in self._tokens:
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        if not self.directory_permission:
            # The docs give no one code for a missing permission; any errcode is a refusal.
            return web.json_response({"errcode": 60011, "errmsg": "没有调用该接口的权限"})
        member = self.members.get(body.get("userid", ""))
        if member is None:
            return web.json_response({"errcode": 60121, "errmsg": "找不到该用户"})
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "result": {
                    "userid": member.staff_id,
                    "name": member.name,
                    "job_number": member.job_number,
                    "mobile": member.mobile,
                },
            }
        )

    # -- what the bot sent -------------------------------------------------------------------

    def sent_to(self, chat: str) -> list[Sent]:
        return [s for s in self.sent if s.to == chat]

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _api_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "requestid": uuid.uuid4().hex}, status=status
    )
