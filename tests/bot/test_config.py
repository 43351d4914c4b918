"""Configuration loading and its error reports."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, times_for

EXAMPLE = Path(__file__).parents[2] / "config.example.toml"


def test_example_config_loads_with_the_documented_defaults() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg == load_config(None)
    assert cfg.schedule.deadline == time(11, 0)
    assert cfg.schedule.grace == timedelta(hours=2)
    assert cfg.bot.timezone == "Asia/Shanghai"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///file.db"\n[subsidy]\nmax_amount = 500\n')
    monkeypatch.setenv("CLASSBOT_DATABASE__URL", "sqlite:///env.db")
    monkeypatch.setenv("CLASSBOT_TELEGRAM__TOKEN", "123:abc")
    cfg = load_config(path)
    assert cfg.database.url == "sqlite:///env.db"
    assert cfg.subsidy.max_amount == 500
    assert cfg.telegram.token is not None and cfg.telegram.token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(cfg)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[schedule]\ndeadline = "25:00"\n', "schedule.deadline"),
        ('[bot]\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
        ("[subsidy]\nmax_amount = -5\n", "subsidy.max_amount"),
        ('[schedule]\ngrace = "soon"\n', "schedule.grace"),
        ("[checkin]\nfoo = 1\n", "checkin.foo: unknown key"),
        ("[bot\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key_and_the_reason(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert expected in str(exc.value)


def test_college_times_override_the_school_times(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[schedule.colleges."医学院"]\ndeadline = "10:30"\n')
    cfg = load_config(path)
    assert times_for(cfg.schedule, "医学院").deadline == time(10, 30)
    assert times_for(cfg.schedule, "医学院").rollup == time(12, 0)
    assert times_for(cfg.schedule, "文学院").deadline == time(11, 0)
