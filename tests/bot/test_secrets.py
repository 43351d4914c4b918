"""Tokens never reach a log or a reply; a config file that exposes one is warned about."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.clock import ManualClock
from bot.config import exposed_secrets_warning, load_config
from bot.redact import REDACTED
from tests.conftest import make_config, start_app

TOKEN = "987654321:AAHsecret-token-never-in-logs"
WEBHOOK_SECRET = "webhook-secret-never-in-logs"


async def test_tokens_never_appear_in_logs_or_replies(
    database_url: str,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = make_config(database_url, telegram={"token": TOKEN, "secret_token": WEBHOOK_SECRET})
    app, bot = await start_app(cfg, clock)
    try:
        replies = []
        replies += await bot.say("2020001", "打卡 36.5", group="护理172")
        replies += await bot.say("2020001", f"打卡 99 {TOKEN}")

        import handlers.checkin

        def leaky(*args: object, **kwargs: object) -> object:
            # What an HTTP library's error looks like: the URL carries the bot token.
            raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage: 502")

        monkeypatch.setattr(handlers.checkin.checkins, "record_many", leaky)
        replies += await bot.say("2020003", "打卡 36.5", group="护理172")
        assert "抱歉" in replies[-1].text
        logging.getLogger("httpx").info(
            "HTTP Request: POST https://api.telegram.org/bot%s/getUpdates %s", TOKEN, WEBHOOK_SECRET
        )
        try:
            raise ValueError(f"secret_token mismatch: {WEBHOOK_SECRET}")
        except ValueError:
            logging.getLogger("bot.adapters.telegram").exception("webhook refused")
    finally:
        await app.stop()
        app.engine.dispose()

    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "command checkin failed" in caplog.text
    assert "Traceback" in caplog.text and REDACTED in caplog.text
    for secret in (TOKEN, WEBHOOK_SECRET):
        assert secret not in logged
        # The user typed it themselves; the bot still never repeats it.
        assert all(secret not in s.text for s in replies)


def test_a_config_file_readable_by_others_with_a_secret_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLASSBOT_TELEGRAM__TOKEN", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(f'[telegram]\ntoken = "{TOKEN}"\n', encoding="utf-8")
    cfg = load_config(path)
    os.chmod(path, 0o644)
    warning = exposed_secrets_warning(path, cfg)
    assert warning is not None and "chmod 600" in warning and TOKEN not in warning
    os.chmod(path, 0o600)
    assert exposed_secrets_warning(path, cfg) is None


def test_a_secret_from_the_environment_needs_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[bot]\nlanguage = "zh"\n', encoding="utf-8")
    os.chmod(path, 0o644)
    monkeypatch.setenv("CLASSBOT_TELEGRAM__TOKEN", TOKEN)
    cfg = load_config(path)
    assert cfg.secrets() == [TOKEN]
    assert exposed_secrets_warning(path, cfg) is None


def test_classbot_run_warns_about_an_exposed_config(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[telegram]\ntoken = "{TOKEN}"\n'
        f'[console]\noutput_dir = "{tmp_path / "out"}"\n',
        encoding="utf-8",
    )
    os.chmod(path, 0o644)
    result = CliRunner().invoke(
        cli, ["run", "--platform", "console", "-c", str(path), "--clock", "2026-11-23T06:00"]
    )
    assert result.exit_code == 0, result.output
    assert "other users can read it" in caplog.text and "chmod 600" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in result.output
