"""A wechaty puppet service on 127.0.0.1, for driving the real wechaty client in tests.

It is a grpclib server speaking the `wechaty.Puppet` gRPC service with the betterproto
messages of `wechaty-grpc` (grpclib's proto codec serializes them as they are). It serves the
RPCs the Python puppet-service client calls, records every request, and lets a test play
WeChat: add contacts and rooms, send room and private messages, scan, log in and out, and
drop the event stream.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream
from wechaty_grpc.wechaty import puppet as pb

# wechaty-puppet-service servers report message types with the TypeScript puppet's numbering
# (Text = 7), which the Python client maps onto the gRPC enum; see `_map_message_type` there.
TS_MESSAGE_TYPE_TEXT = 7
TS_MESSAGE_TYPE_ATTACHMENT = 1

# ScanStatus.Waiting in wechaty-puppet.
SCAN_WAITING = 2

_END = object()
_DROP = object()


@dataclass
class SentMessage:
    """What the bot sent: a text (with the ids it @-mentioned) or a file."""

    id: str
    conversation_id: str
    text: str = ""
    mention_ids: list[str] = field(default_factory=list)
    file_name: str = ""
    file_content: bytes = b""

    @property
    def is_file(self) -> bool:
        return bool(self.file_name)


@dataclass
class Recorded:
    """One RPC the client made: its route name (`MessageSendText`) and request message."""

    method: str
    request: Any


class FakePuppetService:
    """A puppet service whose WeChat world is set up by the test."""

    def __init__(self, self_id: str = "wxid_classbot", self_name: str = "班级助手") -> None:
        self.self_id = self_id
        self.self_name = self_name
        self.contacts: dict[str, pb.ContactPayloadResponse] = {}
        self.rooms: dict[str, pb.RoomPayloadResponse] = {}
        self.room_aliases: dict[tuple[str, str], str] = {}
        self.messages: dict[str, pb.MessagePayloadResponse] = {}
        self.requests: list[Recorded] = []
        self.sent: list[SentMessage] = []
        self.logged_in = False
        # Real puppet services echo the bot's own messages back as message events.
        self.echo_sent = True
        # Gateway errors the next sends answer with, one each (a real gateway says UNKNOWN).
        self.fail_sends: list[Status] = []
        self.event_streams_opened = 0
        self._streams: set[asyncio.Queue[object]] = set()
        self._backlog: list[pb.EventResponse] = []
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self._answering = asyncio.Event()
        self._answering.set()
        self.port = 0
        self.add_contact(self_id, self_name)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        # IPPROTO_TCP spelled out: asyncio and grpclib only set TCP_NODELAY on sockets that say
        # so, and without it every call waits out a 40 ms delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        self._server = Server([self])
        await self._server.start(sock=sock)

    async def close(self) -> None:
        """Stop serving, as when the gateway goes away: open event streams fail first.

        (grpclib's own close cancels handlers without telling the client, whose stream would
        then wait forever on the still-open connection.)
        """
        if self._server is None:
            return
        self.thaw()
        await self.drop_event_streams()
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- the WeChat world ---------------------------------------------------------------------

    def add_contact(self, contact_id: str, name: str, *, friend: bool = True) -> None:
        self.contacts[contact_id] = pb.ContactPayloadResponse(
            id=contact_id,
            name=name,
            friend=friend,
            type=pb.ContactType.CONTACT_TYPE_PERSONAL,
        )

    def add_room(self, room_id: str, topic: str, member_ids: Iterable[str]) -> None:
        self.rooms[room_id] = pb.RoomPayloadResponse(
            id=room_id, topic=topic, owner_id=self.self_id, member_ids=list(member_ids)
        )

    def new_id(self, prefix: str) -> str:
        # Unique across the process: wechaty drops a message id it has seen before.
        return f"{prefix}-{time.monotonic_ns()}-{next(self._ids)}"

    # -- events a test injects ----------------------------------------------------------------

    def emit(self, event_type: pb.EventType, payload: dict[str, Any]) -> None:
        event = pb.EventResponse(type=event_type, payload=json.dumps(payload))
        if not self._streams:
            self._backlog.append(event)
        for queue in self._streams:
            queue.put_nowait(event)

    def scan(self, qrcode: str, status: int = SCAN_WAITING) -> None:
        self.emit(pb.EventType.EVENT_TYPE_SCAN, {"status": status, "qrcode": qrcode})

    def login(self) -> None:
        self.logged_in = True
        self.emit(pb.EventType.EVENT_TYPE_LOGIN, {"contactId": self.self_id})

    def logout(self) -> None:
        self.logged_in = False
        self.emit(pb.EventType.EVENT_TYPE_LOGOUT, {"contactId": self.self_id, "data": "bye"})

    def room_message(
        self,
        room_id: str,
        sender_id: str,
        text: str,
        *,
        mention_ids: Iterable[str] = (),
        message_id: str | None = None,
        timestamp: float | None = None,
        message_type: int = TS_MESSAGE_TYPE_TEXT,
    ) -> str:
        """A member says `text` in a room; returns the message id."""
        return self._incoming(
            sender_id, text, room_id=room_id, mention_ids=mention_ids,
            message_id=message_id, timestamp=timestamp, message_type=message_type,
        )  # fmt: skip

    def private_message(
        self,
        sender_id: str,
        text: str,
        *,
        message_id: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        """A contact says `text` to the bot in private; returns the message id."""
        return self._incoming(
            sender_id, text, to_id=self.self_id, message_id=message_id, timestamp=timestamp
        )

    def _incoming(
        self,
        sender_id: str,
        text: str,
        *,
        room_id: str = "",
        to_id: str = "",
        mention_ids: Iterable[str] = (),
        message_id: str | None = None,
        timestamp: float | None = None,
        message_type: int = TS_MESSAGE_TYPE_TEXT,
    ) -> str:
        message_id = message_id or self.new_id("msg")
        self.messages[message_id] = pb.MessagePayloadResponse(
            id=message_id,
            text=text,
            # Puppet services send milliseconds.
            timestamp=int((time.time() if timestamp is None else timestamp) * 1000),
            type=pb.MessageType(message_type),
            from_id=sender_id,
            room_id=room_id,
            to_id=to_id,
            mention_ids=list(mention_ids),
        )
        self.emit(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
        return message_id

    async def drop_event_streams(self) -> None:
        """End every open event stream with UNAVAILABLE, as when the gateway goes away."""
        for queue in list(self._streams):
            queue.put_nowait(_DROP)
        await self.wait_for(lambda: not self._streams)

    def freeze(self) -> None:
        """Stop answering calls and sending events, with every connection left open (a gateway
        whose host hangs)."""
        self._answering.clear()

    def thaw(self) -> None:
        self._answering.set()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait until `predicate()` holds; checked again after every request and stream change."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    async def _touch(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def sent_to(self, conversation_id: str) -> list[SentMessage]:
        return [m for m in self.sent if m.conversation_id == conversation_id]

    def calls(self, method: str) -> list[Any]:
        return [r.request for r in self.requests if r.method == method]

    # -- the gRPC service ---------------------------------------------------------------------

    def __mapping__(self) -> dict[str, Handler]:
        unary: dict[str, tuple[Any, type, type]] = {
            "Start": (self._start, pb.StartRequest, pb.StartResponse),
            "Stop": (self._stop, pb.StopRequest, pb.StopResponse),
            "Logout": (self._logout, pb.LogoutRequest, pb.LogoutResponse),
            "Ding": (self._ding, pb.DingRequest, pb.DingResponse),
            "Version": (self._version, pb.VersionRequest, pb.VersionResponse),
            "ContactPayload": (
                self._contact_payload, pb.ContactPayloadRequest, pb.ContactPayloadResponse,
            ),
            "ContactList": (self._contact_list, pb.ContactListRequest, pb.ContactListResponse),
            "RoomPayload": (self._room_payload, pb.RoomPayloadRequest, pb.RoomPayloadResponse),
            "RoomList": (self._room_list, pb.RoomListRequest, pb.RoomListResponse),
            "RoomMemberList": (
                self._room_member_list, pb.RoomMemberListRequest, pb.RoomMemberListResponse,
            ),
            "RoomMemberPayload": (
                self._room_member_payload,
                pb.RoomMemberPayloadRequest,
                pb.RoomMemberPayloadResponse,
            ),
            "MessagePayload": (
                self._message_payload, pb.MessagePayloadRequest, pb.MessagePayloadResponse,
            ),
            "MessageSendText": (
                self._message_send_text, pb.MessageSendTextRequest, pb.MessageSendTextResponse,
            ),
            "MessageSendFile": (
                self._message_send_file, pb.MessageSendFileRequest, pb.MessageSendFileResponse,
            ),
            "DirtyPayload": (
                self._dirty_payload, pb.DirtyPayloadRequest, pb.DirtyPayloadResponse,
            ),
        }  # fmt: skip
        mapping = {
            f"/wechaty.Puppet/{name}": Handler(
                self._unary(name, func), Cardinality.UNARY_UNARY, request_type, reply_type
            )
            for name, (func, request_type, reply_type) in unary.items()
        }
        mapping["/wechaty.Puppet/Event"] = Handler(
            self._event, Cardinality.UNARY_STREAM, pb.EventRequest, pb.EventResponse
        )
        return mapping

    def _unary(self, name: str, func: Callable[[Any], Any]) -> Callable[[Stream[Any, Any]], Any]:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            self.requests.append(Recorded(name, request))
            await self._answering.wait()
            try:
                reply = func(request)
            finally:
                await self._touch()
            await stream.send_message(reply)

        return handle

    async def _event(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        self.requests.append(Recorded("Event", request))
        queue: asyncio.Queue[object] = asyncio.Queue()
        if self.logged_in:
            # A new subscriber learns at once who is logged in, as with wechaty's own services.
            queue.put_nowait(
                pb.EventResponse(
                    type=pb.EventType.EVENT_TYPE_LOGIN,
                    payload=json.dumps({"contactId": self.self_id}),
                )
            )
        for event in self._backlog:
            queue.put_nowait(event)
        self._backlog.clear()
        self._streams.add(queue)
        self.event_streams_opened += 1
        await self._touch()
        try:
            while True:
                item = await queue.get()
                await self._answering.wait()
                if item is _END:
                    return
                if item is _DROP:
                    raise GRPCError(Status.UNAVAILABLE, "event stream dropped")
                await stream.send_message(item)
        finally:
            self._streams.discard(queue)
            await self._touch()

    def _start(self, _: pb.StartRequest) -> pb.StartResponse:
        return pb.StartResponse()

    def _stop(self, _: pb.StopRequest) -> pb.StopResponse:
        return pb.StopResponse()

    def _logout(self, _: pb.LogoutRequest) -> pb.LogoutResponse:
        self.logout()
        return pb.LogoutResponse()

    def _ding(self, request: pb.DingRequest) -> pb.DingResponse:
        self.emit(pb.EventType.EVENT_TYPE_DONG, {"data": request.data})
        return pb.DingResponse()

    def _version(self, _: pb.VersionRequest) -> pb.VersionResponse:
        return pb.VersionResponse(version="0.0.0-fake")

    def _dirty_payload(self, _: pb.DirtyPayloadRequest) -> pb.DirtyPayloadResponse:
        return pb.DirtyPayloadResponse()

    def _contact_payload(self, request: pb.ContactPayloadRequest) -> pb.ContactPayloadResponse:
        try:
            return self.contacts[request.id]
        except KeyError:
            raise GRPCError(Status.NOT_FOUND, f"no contact {request.id}") from None

    def _contact_list(self, _: pb.ContactListRequest) -> pb.ContactListResponse:
        return pb.ContactListResponse(ids=[i for i, c in self.contacts.items() if c.friend])

    def _room_payload(self, request: pb.RoomPayloadRequest) -> pb.RoomPayloadResponse:
        try:
            return self.rooms[request.id]
        except KeyError:
            raise GRPCError(Status.NOT_FOUND, f"no room {request.id}") from None

    def _room_list(self, _: pb.RoomListRequest) -> pb.RoomListResponse:
        return pb.RoomListResponse(ids=list(self.rooms))

    def _room_member_list(self, request: pb.RoomMemberListRequest) -> pb.RoomMemberListResponse:
        room = self._room_payload(pb.RoomPayloadRequest(id=request.id))
        return pb.RoomMemberListResponse(member_ids=room.member_ids)

    def _room_member_payload(
        self, request: pb.RoomMemberPayloadRequest
    ) -> pb.RoomMemberPayloadResponse:
        room = self._room_payload(pb.RoomPayloadRequest(id=request.id))
        if request.member_id not in room.member_ids:
            raise GRPCError(Status.NOT_FOUND, f"{request.member_id} is not in {request.id}")
        contact = self.contacts.get(request.member_id) or pb.ContactPayloadResponse()
        return pb.RoomMemberPayloadResponse(
            id=request.member_id,
            name=contact.name,
            room_alias=self.room_aliases.get((request.id, request.member_id), ""),
        )

    def _message_payload(self, request: pb.MessagePayloadRequest) -> pb.MessagePayloadResponse:
        try:
            return self.messages[request.id]
        except KeyError:
            raise GRPCError(Status.NOT_FOUND, f"no message {request.id}") from None

    def _check_conversation(self, conversation_id: str) -> tuple[str, str]:
        """(room id, to id) of a conversation the bot may write to, like a real account."""
        if conversation_id in self.rooms:
            if self.self_id not in self.rooms[conversation_id].member_ids:
                raise GRPCError(Status.PERMISSION_DENIED, "the bot is not in this room")
            return conversation_id, ""
        contact = self.contacts.get(conversation_id)
        if contact is None or not contact.friend:
            raise GRPCError(Status.PERMISSION_DENIED, "not a contact of the bot")
        return "", conversation_id

    def _record_sent(self, sent: SentMessage, message_type: int) -> pb.MessageSendTextResponse:
        if self.fail_sends:
            raise GRPCError(self.fail_sends.pop(0), "the gateway failed to send")
        room_id, to_id = self._check_conversation(sent.conversation_id)
        self.sent.append(sent)
        self.messages[sent.id] = pb.MessagePayloadResponse(
            id=sent.id,
            text=sent.text,
            filename=sent.file_name,
            timestamp=int(time.time() * 1000),
            type=pb.MessageType(message_type),
            from_id=self.self_id,
            room_id=room_id,
            to_id=to_id,
            mention_ids=sent.mention_ids,
        )
        if self.echo_sent:
            self.emit(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": sent.id})
        return pb.MessageSendTextResponse(id=sent.id)

    def _message_send_text(self, request: pb.MessageSendTextRequest) -> pb.MessageSendTextResponse:
        sent = SentMessage(
            id=self.new_id("sent"),
            conversation_id=request.conversation_id,
            text=request.text,
            mention_ids=list(request.mentonal_ids),
        )
        return self._record_sent(sent, TS_MESSAGE_TYPE_TEXT)

    def _message_send_file(self, request: pb.MessageSendFileRequest) -> pb.MessageSendFileResponse:
        box = json.loads(request.filebox)
        sent = SentMessage(
            id=self.new_id("sent"),
            conversation_id=request.conversation_id,
            file_name=box["name"],
            file_content=base64.b64decode(box["base64"]),
        )
        reply = self._record_sent(sent, TS_MESSAGE_TYPE_ATTACHMENT)
        return pb.MessageSendFileResponse(id=reply.id)
