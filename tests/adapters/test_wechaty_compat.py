"""The wechaty SDK loads on Python 3.11 through the compat module, and talks to a puppet service."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from bot.adapters import wechaty_compat
from tests.fakes.wechaty_puppet import FakePuppetService


def _run(code: str) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter, so the import really happens (this process may have wechaty loaded).
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_wechaty_imports_through_the_compat_module() -> None:
    result = _run(
        "import bot.adapters.wechaty_compat as c; "
        "import wechaty; "
        "assert c.Wechaty is wechaty.Wechaty; "
        "print('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_bare_wechaty_import_fails_on_this_python() -> None:
    """Why the compat module exists: without its fix wechaty 0.10.7 does not import on 3.11+."""
    result = _run(
        "import warnings; warnings.simplefilter('ignore', DeprecationWarning); import wechaty"
    )
    assert result.returncode != 0
    assert "mutable default" in result.stderr


@pytest.fixture
async def puppet_service() -> AsyncIterator[FakePuppetService]:
    service = FakePuppetService()
    await service.start()
    try:
        yield service
    finally:
        await service.close()


class _Bot(wechaty_compat.Wechaty):
    def __init__(self) -> None:
        super().__init__()
        self.logins: asyncio.Queue[str] = asyncio.Queue()
        self.messages: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()

    async def on_login(self, contact: wechaty_compat.Contact) -> None:
        self.logins.put_nowait(contact.contact_id)

    async def on_message(self, msg: wechaty_compat.Message) -> None:
        room = msg.room()
        topic = await room.topic() if room is not None else ""
        self.messages.put_nowait((msg.talker().name, topic or "", msg.text()))


async def test_bare_wechaty_client_logs_in_and_receives_a_room_message(
    puppet_service: FakePuppetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", puppet_service.endpoint)
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "insecure_test")
    puppet_service.add_contact("wxid_zhang", "张三")
    puppet_service.add_room("room1@chatroom", "护理172", ["wxid_classbot", "wxid_zhang"])

    bot = _Bot()
    # The plugin manager's web server and scheduler are not part of this test.
    bot._plugin_manager.start = _nothing
    running = asyncio.create_task(bot.start())
    try:
        await puppet_service.wait_for(lambda: puppet_service.event_streams_opened == 1)
        puppet_service.login()
        assert await asyncio.wait_for(bot.logins.get(), 10) == "wxid_classbot"

        puppet_service.room_message("room1@chatroom", "wxid_zhang", "打卡 36.5")
        assert await asyncio.wait_for(bot.messages.get(), 10) == ("张三", "护理172", "打卡 36.5")

        dongs: asyncio.Queue[str] = asyncio.Queue()
        bot.on("dong", dongs.put_nowait)
        await bot.puppet.ding("ping")
        assert await asyncio.wait_for(dongs.get(), 10) == "ping"
        assert (await bot.puppet.puppet_stub.version()).version == "0.0.0-fake"
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await bot.stop()

    methods = [r.method for r in puppet_service.requests]
    assert methods[:3] == ["Stop", "Start", "Event"]
    assert {"MessagePayload", "ContactPayload", "RoomPayload"} <= set(methods)


async def _nothing() -> None:
    return None
