"""The fake DingTalk answers plain HTTP and WebSocket clients the way DingTalk documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from tests.fakes.dingtalk_api import BOT_TOPIC, CLIENT_ID, CLIENT_SECRET, FakeDingtalk


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingtalk]:
    fake = FakeDingtalk()
    fake.add_member("u1", "张三", job_number="2020001", mobile="13800138000")
    fake.add_group("cid1", "护理172班", ["u1"])
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def token(fake: FakeDingtalk, http: httpx.AsyncClient) -> str:
    answer = await http.post(
        fake.base_url + "/v1.0/oauth2/accessToken",
        json={"appKey": CLIENT_ID, "appSecret": CLIENT_SECRET},
    )
    assert answer.json()["expireIn"] == 7200
    return str(answer.json()["accessToken"])


def text(content: str) -> str:
    return json.dumps({"content": content})


async def test_a_bad_token_is_http_400_invalid_authentication(
    fake: FakeDingtalk, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        fake.base_url + "/v1.0/robot/groupMessages/send",
        headers={"x-acs-dingtalk-access-token": "nope"},
        json={"robotCode": CLIENT_ID, "openConversationId": "cid1", "msgKey": "sampleText",
              "msgParam": text("hi")},
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["code"] == "InvalidAuthentication"


async def test_batch_send_is_200_and_lists_who_it_could_not_reach(
    fake: FakeDingtalk, http: httpx.AsyncClient
) -> None:
    headers = {"x-acs-dingtalk-access-token": await token(fake, http)}
    fake.add_member("u2", "李四")
    fake.flow_control("u2")
    answer = await http.post(
        fake.base_url + "/v1.0/robot/oToMessages/batchSend",
        headers=headers,
        json={"robotCode": CLIENT_ID, "userIds": ["u1", "u2", "ghost"], "msgKey": "sampleText",
              "msgParam": text("hi")},
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["invalidStaffIdList"] == ["ghost"]
    assert answer.json()["flowControlledStaffIdList"] == ["u2"]
    assert [s.to for s in fake.sent] == ["u1"]
    too_many = await http.post(
        fake.base_url + "/v1.0/robot/oToMessages/batchSend",
        headers=headers,
        json={"robotCode": CLIENT_ID, "userIds": [f"u{i}" for i in range(21)],
              "msgKey": "sampleText", "msgParam": text("hi")},
    )  # fmt: skip
    assert too_many.status_code == 400


async def test_group_send_has_no_at_field_and_a_size_limit(
    fake: FakeDingtalk, http: httpx.AsyncClient
) -> None:
    headers = {"x-acs-dingtalk-access-token": await token(fake, http)}
    body = {"robotCode": CLIENT_ID, "openConversationId": "cid1", "msgKey": "sampleText"}
    ok = await http.post(
        fake.base_url + "/v1.0/robot/groupMessages/send",
        headers=headers,
        json={**body, "msgParam": text("hi"), "at": {"atUserIds": ["u1"]}},
    )
    assert ok.status_code == 200
    assert fake.sent[-1].at_user_ids == []  # an "at" here is simply ignored
    too_long = await http.post(
        fake.base_url + "/v1.0/robot/groupMessages/send",
        headers=headers,
        json={**body, "msgParam": text("字" * 5001)},  # 15,003 bytes of UTF-8
    )
    assert too_long.status_code == 400


async def test_oapi_errors_are_http_200_with_an_errcode(
    fake: FakeDingtalk, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        fake.base_url + "/topapi/v2/user/get",
        params={"access_token": "nope"},
        json={"userid": "u1"},
    )
    assert (answer.status_code, answer.json()["errcode"]) == (200, 40014)
    found = await http.post(
        fake.base_url + "/topapi/v2/user/get",
        params={"access_token": await token(fake, http)},
        json={"userid": "u1"},
    )
    assert found.json()["result"]["job_number"] == "2020001"


async def test_the_stream_gateway_redelivers_what_was_not_acknowledged(
    fake: FakeDingtalk, http: httpx.AsyncClient
) -> None:
    async def open_socket() -> str:
        answer = await http.post(
            fake.gateway_url,
            json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                  "subscriptions": [{"type": "CALLBACK", "topic": BOT_TOPIC}]},
        )  # fmt: skip
        return f"{answer.json()['endpoint']}?ticket={answer.json()['ticket']}"

    uri = await open_socket()
    async with websockets.connect(uri) as ws:
        await fake.wait_for(lambda: fake.open_sockets == 1)
        msg_id = await fake.private_message("u1", "我的")
        frame = json.loads(await ws.recv())
        assert (frame["type"], frame["headers"]["topic"]) == ("CALLBACK", BOT_TOPIC)
        data = json.loads(frame["data"])
        assert (data["msgId"], data["senderStaffId"], data["text"]["content"]) == (
            msg_id, "u1", "我的",
        )  # fmt: skip
        assert data["sessionWebhookExpiredTime"] > 0
    # Not acknowledged: it comes again on the next connection, where it is acknowledged.
    async with websockets.connect(await open_socket()) as ws:
        again = json.loads(await ws.recv())
        assert again["headers"]["messageId"] == frame["headers"]["messageId"]
        await ws.send(json.dumps({"code": 200, "headers": again["headers"], "message": "OK",
                                  "data": "{}"}))  # fmt: skip
        await fake.wait_for(lambda: len(fake.acked) == 1)
    async with websockets.connect(await open_socket()) as ws:
        await fake.wait_for(lambda: fake.open_sockets == 1)
        await fake.ping()
        ping = json.loads(await ws.recv())
        assert (ping["type"], ping["headers"]["topic"]) == ("SYSTEM", "ping")


async def test_a_ticket_works_once(fake: FakeDingtalk, http: httpx.AsyncClient) -> None:
    answer = await http.post(
        fake.gateway_url,
        json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
              "subscriptions": [{"type": "CALLBACK", "topic": BOT_TOPIC}]},
    )  # fmt: skip
    uri = f"{answer.json()['endpoint']}?ticket={answer.json()['ticket']}"
    async with websockets.connect(uri):
        pass
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(uri):
            pass
