"""Configuration: config.toml, overridden by CLASSBOT_<SECTION>__<KEY> environment variables."""

from __future__ import annotations

import re
import stat
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad key and why."""


def parse_duration(value: Any) -> timedelta:
    """Accept minutes as a number, or '2h', '90m', '1h30m'."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(minutes=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and (m.group(1) or m.group(2)):
            return timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))
    raise ValueError("expected a duration such as '2h', '90m' or a number of minutes")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSection(_Section):
    name: str = "classbot"
    language: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v


class DatabaseSection(_Section):
    url: str = "sqlite:///classbot.db"
    echo: bool = False


class CheckinSection(_Section):
    min_temperature: float = 35.0
    max_temperature: float = 42.0
    abnormal_temperature: float = 37.3
    symptoms: list[str] = Field(
        default_factory=lambda: [
            "发热",
            "咳嗽",
            "乏力",
            "咽痛",
            "流涕",
            "腹泻",
            "头痛",
            "肌肉酸痛",
            "呼吸困难",
            "嗅觉味觉减退",
        ]
    )
    # Everyday words students write, mapped to the configured symptoms above (which also
    # match themselves). A word matches anywhere in the check-in, the note included, unless
    # negated (不发烧, 没有咳嗽, 已退烧); a one-character word only as a word of its own or
    # after 有点, 低, 发 or 高.
    symptom_words: dict[str, str] = Field(
        default_factory=lambda: {
            "发烧": "发热",
            "烧": "发热",
            "低烧": "发热",
            "高烧": "发热",
            "发高烧": "发热",
            "体温高": "发热",
            "嗓子疼": "咽痛",
            "嗓子痛": "咽痛",
            "嗓子哑": "咽痛",
            "嗓子有点疼": "咽痛",
            "嗓子不舒服": "咽痛",
            "喉咙疼": "咽痛",
            "喉咙痛": "咽痛",
            "咽喉痛": "咽痛",
            "咳": "咳嗽",
            "有点咳嗽": "咳嗽",
            "干咳": "咳嗽",
            "流鼻涕": "流涕",
            "鼻塞": "流涕",
            "鼻涕": "流涕",
            "拉肚子": "腹泻",
            "拉稀": "腹泻",
            "没力气": "乏力",
            "没劲": "乏力",
            "浑身无力": "乏力",
            "头疼": "头痛",
            "闻不到": "嗅觉味觉减退",
            "尝不出味道": "嗅觉味觉减退",
            "尝不出": "嗅觉味觉减退",
            "没有味觉": "嗅觉味觉减退",
            "没有嗅觉": "嗅觉味觉减退",
            "浑身酸痛": "肌肉酸痛",
            "全身酸痛": "肌肉酸痛",
            "身上疼": "肌肉酸痛",
            "喘不上气": "呼吸困难",
            "胸闷": "呼吸困难",
        }
    )
    skip_dates: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _words_name_symptoms(self) -> CheckinSection:
        unknown = sorted({s for s in self.symptom_words.values() if s not in self.symptoms})
        if unknown:
            raise ValueError(
                f"symptom_words maps to {', '.join(unknown)}, which are not in symptoms"
            )
        return self


class CollegeTimes(_Section):
    prompt: time | None = None
    deadline: time | None = None
    rollup: time | None = None


class ScheduleSection(_Section):
    prompt: time = time(7, 0)
    deadline: time = time(11, 0)
    rollup: time = time(12, 0)
    weekly_attendance_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    weekly_attendance: time = time(9, 0)
    grace: timedelta = timedelta(hours=2)
    skip_dates: list[date] = Field(default_factory=list)
    # Per-college overrides, keyed by college name: [schedule.colleges."医学院"]
    colleges: dict[str, CollegeTimes] = Field(default_factory=dict)

    @field_validator("grace", mode="before")
    @classmethod
    def _grace(cls, v: Any) -> timedelta:
        return parse_duration(v)


class LeaveSection(_Section):
    max_days_ahead: int = Field(default=14, ge=0)
    max_days: int = Field(default=30, ge=1)
    # A sick leave may be reported afterwards, starting up to this many days ago.
    max_days_back: int = Field(default=3, ge=0)


class SubsidySection(_Section):
    max_amount: int = Field(default=3000, ge=1)


class AttendanceSection(_Section):
    alert_absences: int = Field(default=3, ge=1)


class PrivacySection(_Section):
    retention_days: int = Field(default=180, ge=1)
    subsidy_retention_days: int = Field(default=1095, ge=1)
    notice_version: int = Field(default=1, ge=1)
    contact: str = "the college student affairs office (学工部)"
    # The daily purge of details past retention (and of the inbound log); None: at the
    # schedule's prompt time.
    purge_time: time | None = None


class TelegramSection(_Section):
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_url: str | None = None
    webhook_path: str = "/telegram"
    secret_token: SecretStr | None = None


class WechatSection(_Section):
    endpoint: str | None = None
    token: SecretStr | None = None
    name: str = "classbot"


class WecomSection(_Section):
    """企业微信 智能机器人 on its long connection (docs/wecom.md)."""

    bot_id: str | None = None
    secret: SecretStr | None = None
    url: str = "wss://openws.work.weixin.qq.com"
    # The robot's name as members see it in groups: taken off the front of an @-message.
    name: str = ""


class DingtalkSection(_Section):
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # The robot's code; DingTalk gives an app robot its app's client id.
    robot_code: str | None = None
    name: str = "classbot"
    gateway_url: str = "https://api.dingtalk.com/v1.0/gateway/connections/open"
    api_url: str = "https://api.dingtalk.com"
    oapi_url: str = "https://oapi.dingtalk.com"
    # Bind members by the org directory's job number or mobile (needs the app permission).
    directory: bool = True


RoleName = Literal[
    "student", "monitor", "counselor", "head_teacher", "college_admin", "school_admin"
]


def _role_synonyms() -> dict[str, RoleName]:
    return {
        "团支书": "student",
        "团支部书记": "student",
        "副班长": "monitor",
        "学委": "monitor",
        "生活委员": "student",
        "体育委员": "student",
        "文艺委员": "student",
        "宣传委员": "student",
        "组织委员": "student",
    }


class RosterSection(_Section):
    # Role names a roster may use beyond the built-in ones (学生, 班长, 学习委员, 辅导员,
    # 班主任, 学工办, 学工部), each mapped to a roster role. 心理委员 is not a role but a
    # flag beside one: write it in the 角色 cell too (班长、心理委员).
    role_synonyms: dict[str, RoleName] = Field(default_factory=_role_synonyms)


class ConsoleSection(_Section):
    output_dir: Path = Path("classbot-out")


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLASSBOT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    bot: BotSection = Field(default_factory=BotSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    checkin: CheckinSection = Field(default_factory=CheckinSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    leave: LeaveSection = Field(default_factory=LeaveSection)
    subsidy: SubsidySection = Field(default_factory=SubsidySection)
    attendance: AttendanceSection = Field(default_factory=AttendanceSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    roster: RosterSection = Field(default_factory=RosterSection)
    telegram: TelegramSection = Field(default_factory=TelegramSection)
    wechat: WechatSection = Field(default_factory=WechatSection)
    wecom: WecomSection = Field(default_factory=WecomSection)

    dingtalk: DingtalkSection = Field(default_factory=DingtalkSection)
    console: ConsoleSection = Field(default_factory=ConsoleSection)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, which is passed in as init values.
        return (env_settings, init_settings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.bot.timezone)

    def secrets(self) -> list[str]:
        """Every secret value in this config, so logs and replies can be checked for them."""
        found = [
            self.telegram.token,
            self.telegram.secret_token,
            self.wechat.token,
            self.wecom.secret,
            self.dingtalk.client_secret,
        ]
        values = [s.get_secret_value() for s in found if s is not None]
        return [v for v in values if v]


def exposed_secrets_warning(path: Path | None, config: Config) -> str | None:
    """A warning when the config file holds a secret that other users on the machine can read."""
    if path is None or not config.secrets():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    if not any(secret in text for secret in config.secrets()):
        return None
    return (
        f"{path} holds a secret and other users can read it (mode {stat.S_IMODE(mode):o}); "
        f"run: chmod 600 {path}, or pass secrets in the environment (CLASSBOT_TELEGRAM__TOKEN)"
    )


def _describe(error: ValidationError) -> str:
    lines = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        reason = e["msg"]
        if e["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"  {key}: {reason}")
    return "\n".join(lines)


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Load config.toml (if given) with environment overrides; raise ConfigError when unusable."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: file not found") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    try:
        return Config(**data)
    except ValidationError as e:
        where = str(path) if path else "configuration"
        raise ConfigError(f"{where} has invalid settings:\n{_describe(e)}") from None


def times_for(schedule: ScheduleSection, college: str | None) -> CollegeTimes:
    """The prompt, deadline and roll-up times for one college, with its overrides applied."""
    override = schedule.colleges.get(college or "") or CollegeTimes()
    return CollegeTimes(
        prompt=override.prompt or schedule.prompt,
        deadline=override.deadline or schedule.deadline,
        rollup=override.rollup or schedule.rollup,
    )
