"""`classbot run --platform wechat`: config, the login QR code, and a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import qrcode

from bot.adapters.wechat import WechatAdapter, render_qr
from bot.config import ConfigError, load_config
from tests.fakes.wechaty_puppet import FakePuppetService

TOKEN = "insecure_cli_secret"


def test_wechat_needs_an_endpoint_or_a_token() -> None:
    with pytest.raises(ConfigError, match=r"wechat\.endpoint"):
        WechatAdapter.from_config(load_config(None).wechat)


def test_wechat_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSBOT_WECHAT__TOKEN", TOKEN)
    section = load_config(None, wechat={"endpoint": "127.0.0.1:1"}).wechat
    adapter = WechatAdapter.from_config(section)
    assert adapter.endpoint == "127.0.0.1:1"
    assert TOKEN not in repr(section)


@pytest.fixture
async def service() -> AsyncIterator[FakePuppetService]:
    service = FakePuppetService()
    await service.start()
    try:
        yield service
    finally:
        await service.close()


async def test_run_wechat_prints_the_qr_code_and_stops_on_ctrl_c(
    service: FakePuppetService, database_url: str, tmp_path: Path
) -> None:
    workdir = os.path.join(tmp_path, "run")
    os.mkdir(workdir)
    env = {
        **os.environ,
        "CLASSBOT_DATABASE__URL": database_url,
        "CLASSBOT_WECHAT__ENDPOINT": service.endpoint,
        "CLASSBOT_WECHAT__TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--platform", "wechat",
        cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        await service.wait_for(lambda: service.open_streams == 1, 30)
        service.scan("https://login.weixin.qq.com/l/cli-test")
        async with asyncio.timeout(10):
            while b"wechaty.js.org/qrcode/" not in await process.stdout.readline():
                pass
        service.login()
        async with asyncio.timeout(10):
            while b"logged in as" not in (line := await process.stderr.readline()):
                assert line, "the bot exited"
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            _, rest = await process.communicate()
    assert process.returncode == 0, rest.decode()
    assert TOKEN.encode() not in rest
    assert [r.method for r in service.requests].count("Stop") >= 2  # stopped cleanly
    assert os.listdir(workdir) == []  # no cache folder left in the working directory


def test_terminal_qr_code_has_every_module() -> None:
    data = "https://login.weixin.qq.com/l/abc123"
    drawn = render_qr(data).split("\n")
    qr = qrcode.QRCode(border=2)
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    halves = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
    light: list[list[bool]] = []
    for line in drawn:
        light.append([halves[c][0] for c in line])
        light.append([halves[c][1] for c in line])
    assert light[: len(matrix)] == [[not m for m in row] for row in matrix]
