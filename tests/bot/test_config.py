"""Configuration loading and its error reports."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    environment_warnings,
    load_config,
    suggest_zone,
    times_for,
    unknown_environment,
)

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


@pytest.fixture(autouse=True)
def _no_classbot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("CLASSBOT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[schedule]\ndeadline = "25:00"\n',
            'schedule.deadline: 应为 00:00–23:59 的时间，如 "07:00"',
        ),
        ('[bot]\ntimezone = "Mars/Olympus"\n', "bot.timezone: 没有叫 'Mars/Olympus' 的时区"),
        ("[subsidy]\nmax_amount = -5\n", "subsidy.max_amount: 应 ≥ 1"),
        ('[subsidy]\nmax_amount = "many"\n', "subsidy.max_amount: 应为整数"),
        ('[schedule]\ngrace = "soon"\n', 'schedule.grace: 应为一段时长，如 "2h"'),
        ("[checkin]\nfoo = 1\n", "checkin.foo: 没有这个设置项"),
        ("[checkin]\nmax_temprature = 41\n", "是不是 checkin.max_temperature？"),
        ('[bot]\nlanguage = "fr"\n', "bot.language: 只能是 'zh' or 'en'"),
        ("[bot\n", "不是有效的 TOML"),
    ],
)
def test_bad_config_names_the_file_the_key_and_the_reason_in_chinese(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert expected in str(exc.value)
    assert str(path) in str(exc.value)
    assert "Input should" not in str(exc.value)


def test_bad_config_is_explained_in_english_when_the_bot_speaks_english(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[bot]\nlanguage = "en"\ntimezone = "Beijing"\n[leave]\nmax_days = "x"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = str(exc.value)
    assert "bot.timezone: unknown time zone 'Beijing'; did you mean 'Asia/Shanghai'?" in text
    assert "leave.max_days: should be a whole number" in text


def test_unknown_time_zone_suggests_the_one_meant() -> None:
    assert suggest_zone("Beijing") == "Asia/Shanghai"
    assert suggest_zone("北京") == "Asia/Shanghai"
    assert suggest_zone("tokyo") == "Asia/Tokyo"
    assert suggest_zone("Asia/Shangai") == "Asia/Shanghai"
    assert suggest_zone("Mars/Olympus") is None


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[checkin]\nmin_temperature = 38.0\n",
            "checkin: 应满足 min_temperature < abnormal_temperature < max_temperature，现在是 38.0 / 37.3 / 42.0",
        ),
        ("[checkin]\nabnormal_temperature = 43.0\n", "35.0 / 43.0 / 42.0"),
        (
            '[schedule]\ndeadline = "06:30"\n',
            "schedule: 应满足 prompt < deadline < rollup（提醒早于截止，截止早于汇总），现在是 07:00 / 06:30 / 12:00",
        ),
        ('[schedule]\nrollup = "10:00"\n', "07:00 / 11:00 / 10:00"),
        (
            '[schedule.colleges."医学院"]\nprompt = "11:30"\n',
            "schedule: colleges.医学院：应满足 prompt < deadline < rollup",
        ),
    ],
)
def test_impossible_settings_are_refused(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert expected in str(exc.value)


def test_possible_orderings_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[checkin]\nmin_temperature = 34.0\nabnormal_temperature = 37.0\n"
        '[schedule]\nprompt = "06:00"\ndeadline = "06:01"\nrollup = "11:00"\n'
        '[schedule.colleges."医学院"]\ndeadline = "10:30"\n',
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.checkin.abnormal_temperature == 37.0
    assert times_for(cfg.schedule, "医学院").deadline == time(10, 30)


def test_a_bad_environment_value_is_blamed_on_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[leave]\nmax_days = 30\n")
    monkeypatch.setenv("CLASSBOT_LEAVE__MAX_DAYS", "thirty")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = str(exc.value)
    assert "环境变量 CLASSBOT_LEAVE__MAX_DAYS: leave.max_days: 应为整数" in text
    assert str(path) not in text


def test_an_undecodable_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLASSBOT_CHECKIN__SYMPTOMS", "发热,咳嗽")
    with pytest.raises(ConfigError) as exc:
        load_config(None)
    assert "环境变量 CLASSBOT_CHECKIN__SYMPTOMS" in str(exc.value)


def test_a_misspelt_classbot_variable_is_warned_about_with_the_likely_name() -> None:
    environ = {
        "CLASSBOT_DATABSE__URL": "sqlite:///x.db",
        "CLASSBOT_DATABASE__URL": "sqlite:///y.db",
        "CLASSBOT_TELEGRAM__TOKN": "1:a",
        "CLASSBOT_SCHEDULE__COLLEGES__医学院__DEADLINE": "10:30",
        "classbot_bot__language": "en",
        "HOME": "/root",
    }
    assert unknown_environment(environ) == [
        ("CLASSBOT_DATABSE__URL", "CLASSBOT_DATABASE__URL"),
        ("CLASSBOT_TELEGRAM__TOKN", "CLASSBOT_TELEGRAM__TOKEN"),
    ]
    assert environment_warnings("zh", environ)[0] == (
        "环境变量 CLASSBOT_DATABSE__URL 不是 classbot 的设置项，已忽略；是不是 CLASSBOT_DATABASE__URL？"
    )
    assert "is not a classbot setting" in environment_warnings("en", environ)[1]


def test_the_projects_own_test_and_bench_variables_are_not_warned_about() -> None:
    environ = {
        "CLASSBOT_TEST_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/test",
        "CLASSBOT_TEST_SLOW_DELIVERY": "1",
        "CLASSBOT_BENCH_DATABASE_URL": "sqlite:///b.db",
        "CLASSBOT_CONFIG": "config.toml",
        "CLASSBOT_KEEP_DEMO": "1",
    }
    assert unknown_environment(environ) == []


def test_privacy_contact_defaults_to_chinese_in_the_chinese_notice() -> None:
    from handlers.privacy import notice

    cfg = load_config(None)
    assert cfg.privacy.contact is None
    zh = notice(cfg)
    assert "联系：学院学工办。" in zh and "office" not in zh
    en = notice(load_config(None, bot={"language": "en"}))
    assert "Questions: the college student affairs office." in en
    assert "联系：医学院学工办 8888。" in notice(
        load_config(None, privacy={"contact": "医学院学工办 8888"})
    )


def test_college_times_override_the_school_times(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[schedule.colleges."医学院"]\ndeadline = "10:30"\n')
    cfg = load_config(path)
    assert times_for(cfg.schedule, "医学院").deadline == time(10, 30)
    assert times_for(cfg.schedule, "医学院").rollup == time(12, 0)
    assert times_for(cfg.schedule, "文学院").deadline == time(11, 0)
