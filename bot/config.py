"""Configuration: config.toml, overridden by CLASSBOT_<SECTION>__<KEY> environment variables."""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.texts import Catalogue, PerLanguage, Text

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


class ConfigTexts(Catalogue):
    unknown_zone = Text(
        "没有叫 {zone!r} 的时区（写法如 'Asia/Shanghai'）",
        "unknown time zone {zone!r} (e.g. 'Asia/Shanghai')",
    )
    unknown_zone_like = Text(
        "没有叫 {zone!r} 的时区，是不是 {hint!r}？",
        "unknown time zone {zone!r}; did you mean {hint!r}?",
    )
    separator = Text("、", ", ")
    unknown_symptoms = Text(
        "symptom_words 对应到了 symptoms 里没有的症状：{symptoms}",
        "symptom_words maps to {symptoms}, which are not in symptoms",
    )
    temperatures_out_of_order = Text(
        "应满足 min_temperature < abnormal_temperature < max_temperature，现在是 {got}",
        "needs min_temperature < abnormal_temperature < max_temperature, got {got}",
    )
    duration = Text(
        '应为一段时长，如 "2h"、"90m" 或分钟数',
        "expected a duration such as '2h', '90m' or a number of minutes",
    )
    in_college = Text("colleges.{college}：", "colleges.{college}: ")
    times_out_of_order = Text(
        "{where}应满足 prompt < deadline < rollup（提醒早于截止，截止早于汇总），现在是 {got}",
        "{where}needs prompt < deadline < rollup, got {got}",
    )
    unknown_key = Text("没有这个设置项", "unknown key")
    whole_number = Text("应为整数", "should be a whole number")
    number = Text("应为数字，如 37.3", "should be a number, e.g. 37.3")
    boolean = Text("应为 true 或 false", "should be true or false")
    time_of_day = Text(
        '应为 00:00–23:59 的时间，如 "07:00"', 'should be a time 00:00–23:59, e.g. "07:00"'
    )
    time = Text('应为时间，如 "07:00"', 'should be a time, e.g. "07:00"')
    date = Text('应为日期，如 "2026-10-01"', 'should be a date, e.g. "2026-10-01"')
    text = Text("应为用引号括起的文字", "should be text in quotes")
    list = Text('应为列表，如 ["2026-10-01"]', 'should be a list, e.g. ["2026-10-01"]')
    table = Text("应为一个表（[section]）", "should be a table ([section])")
    bound = Text("应 {sign} {bound}", "must be {sign} {bound}")
    one_of = Text("只能是 {expected}", "must be one of {expected}")
    invalid = Text("取值无效（{message}）", "{message}")
    top_level = Text("（顶层）", "(top level)")
    did_you_mean = Text("，是不是 {hint}？", "; did you mean {hint}?")
    variable = Text("环境变量 {name}", "environment variable {name}")
    settings = Text("设置", "settings")
    unknown_variable = Text(
        "环境变量 {name} 不是 classbot 的设置项，已忽略",
        "environment variable {name} is not a classbot setting and is ignored",
    )
    variable_like = Text("；是不是 {close}？", "; did you mean {close}?")
    no_file = Text("找不到配置文件 {path}", "{path}: file not found")
    not_toml = Text(
        "{path} 不是有效的 TOML（not valid TOML）：{error}", "{path}: not valid TOML: {error}"
    )
    invalid_settings = Text("设置有误：", "invalid settings:")
    unreadable_variable = Text(
        "环境变量 {name} 的值无法读取（{error}）",
        "environment variable {name}: cannot be read ({error})",
    )
    exposed_secret = Text(
        "{path} 里有密钥，而且其他用户可以读取（权限 {mode}）；请运行 chmod 600 {path}，"
        "或用环境变量传入密钥（CLASSBOT_TELEGRAM__TOKEN）",
        "{path} holds a secret and other users can read it (mode {mode}); "
        "run: chmod 600 {path}, or pass secrets in the environment (CLASSBOT_TELEGRAM__TOKEN)",
    )


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad key and why."""


class Invalid(ValueError):
    """A reason a value is refused, a catalogue text with its parameters."""

    def __init__(self, text: Text, **params: object) -> None:
        self.phrase = text.bind(**params)
        super().__init__(self.phrase("en"))

    def text(self, lang: str) -> str:
        return self.phrase(lang)


# Names people write for China's one zone that the zone database does not know.
_ZONE_ALIASES = {
    "beijing": "Asia/Shanghai",
    "北京": "Asia/Shanghai",
    "上海": "Asia/Shanghai",
    "中国": "Asia/Shanghai",
    "china": "Asia/Shanghai",
    "cst": "Asia/Shanghai",
    "utc+8": "Asia/Shanghai",
    "gmt+8": "Asia/Shanghai",
    "+08:00": "Asia/Shanghai",
}


def suggest_zone(name: str) -> str | None:
    """The zone someone most likely meant by `name` (Beijing → Asia/Shanghai)."""
    key = name.strip().lower()
    if key in _ZONE_ALIASES:
        return _ZONE_ALIASES[key]
    zones = sorted(available_timezones())
    by_city = {z.rsplit("/", 1)[-1].lower(): z for z in zones if "/" in z}
    if key.replace(" ", "_") in by_city:
        return by_city[key.replace(" ", "_")]
    close = difflib.get_close_matches(name, zones, n=1, cutoff=0.8)
    return close[0] if close else None


_DURATION_HINT = "expected a duration such as '2h', '90m' or a number of minutes"


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
    raise ValueError(_DURATION_HINT)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSection(_Section):
    name: str = "classbot"
    language: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    # How long a question the bot asked (驳回's reason, a form's next field) waits for its
    # answer before it lapses.
    prompt_timeout_minutes: int = Field(default=10, ge=1, le=24 * 60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            hint = suggest_zone(v)
            if hint:
                raise Invalid(ConfigTexts.unknown_zone_like, zone=v, hint=hint) from e
            raise Invalid(ConfigTexts.unknown_zone, zone=v) from e
        return v


class DatabaseSection(_Section):
    url: str = "sqlite:///classbot.db"
    echo: bool = False


# Defaults that are data, not texts: the symptoms a check-in records, the everyday words
# mapped to them, and the class-committee titles a roster may use for a role.
DEFAULT_SYMPTOMS = (
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
)
DEFAULT_SYMPTOM_WORDS = {
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
DEFAULT_ROLE_SYNONYMS: dict[str, RoleName] = {
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


class CheckinSection(_Section):
    min_temperature: float = 35.0
    max_temperature: float = 42.0
    abnormal_temperature: float = 37.3
    symptoms: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMPTOMS))
    # Everyday words students write, mapped to the configured symptoms above (which also
    # match themselves). A word matches anywhere in the check-in, the note included, unless
    # negated (不发烧, 没有咳嗽, 已退烧); a one-character word only as a word of its own or
    # after 有点, 低, 发 or 高.
    symptom_words: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SYMPTOM_WORDS))
    skip_dates: list[date] = Field(default_factory=list)
    # False turns the daily health check-in off: the 07:00 prompt and the 11:00 lists stop,
    # and the 12:00 roll-up covers only the campaigns open that day.
    enabled: bool = True

    @model_validator(mode="after")
    def _words_name_symptoms(self) -> Self:
        unknown = sorted({s for s in self.symptom_words.values() if s not in self.symptoms})
        if unknown:
            raise Invalid(
                ConfigTexts.unknown_symptoms,
                symptoms=PerLanguage(lambda lang: ConfigTexts.separator(lang).join(unknown)),
            )
        return self

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.min_temperature < self.abnormal_temperature < self.max_temperature:
            got = f"{self.min_temperature} / {self.abnormal_temperature} / {self.max_temperature}"
            raise Invalid(ConfigTexts.temperatures_out_of_order, got=got)
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
        try:
            return parse_duration(v)
        except ValueError:
            raise Invalid(ConfigTexts.duration) from None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for college in (None, *self.colleges):
            t = times_for(self, college)
            assert t.prompt is not None and t.deadline is not None and t.rollup is not None
            if not t.prompt < t.deadline < t.rollup:
                where = ConfigTexts.in_college.bind(college=college) if college else ""
                got = f"{t.prompt:%H:%M} / {t.deadline:%H:%M} / {t.rollup:%H:%M}"
                raise Invalid(ConfigTexts.times_out_of_order, where=where, got=got)
        return self


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
    # Who to ask, in the privacy notice; None: 学院学工办 / the college student affairs office.
    contact: str | None = None
    # The daily purge of details past retention (and of the inbound log); None: at the
    # schedule's prompt time.
    purge_time: time | None = None
    # The legal basis for care records (诉求 aside): "duty", a school's public duty (PIPL
    # Art. 13(3)); or "consent", recorded only for a student who gave the separate consent.
    care_basis: Literal["duty", "consent"] = "duty"


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
    return dict(DEFAULT_ROLE_SYNONYMS)


class RosterSection(_Section):
    # Role names a roster may use beyond the built-in ones (学生, 班长, 学习委员, 辅导员,
    # 班主任, 学工办, 学工部), each mapped to a roster role. 心理委员 is not a role but a
    # flag beside one: write it in the 角色 cell too (班长、心理委员).
    role_synonyms: dict[str, RoleName] = Field(default_factory=_role_synonyms)


class ConsoleSection(_Section):
    output_dir: Path = Path("classbot-out")
    # `:time` / `:date` run every job of every day they pass; a longer jump is refused.
    max_jump_days: int = Field(default=14, ge=1)


class OutboxSection(_Section):
    """How long each kind of message is worth trying, and how the sender paces and retries."""

    reply_deadline: timedelta = timedelta(minutes=10)
    alert_deadline: timedelta = timedelta(hours=2)
    # A scheduled delivery is tried until its due time plus schedule.grace, and at least this
    # long after it was queued.
    scheduled_min_deadline: timedelta = timedelta(minutes=30)
    # Seconds. Group acknowledgements: the first waits this long in a quiet group, the next
    # one comes at most once per ack_interval.
    ack_wait: float = Field(default=5.0, ge=0)
    ack_interval: float = Field(default=20.0, ge=0)
    # Seconds. Retries after a transient failure: first_retry, doubling up to max_retry.
    first_retry: float = Field(default=1.0, gt=0)
    max_retry: float = Field(default=60.0, gt=0)
    # Seconds a claim or a send of a process that stopped answering is held before another
    # process (or the restarted one) takes it over.
    claim_lease: float = Field(default=120.0, gt=0)
    # Seconds between looks at the table for rows other processes queued.
    poll: float = Field(default=1.0, gt=0)
    # Seconds a stop waits for sends in flight.
    stop_grace: float = Field(default=10.0, ge=0)
    # Files (ledgers) are written here when queued, readable by the bot's user only.
    files_dir: Path = Path("classbot-data/outbox")

    @field_validator("reply_deadline", "alert_deadline", "scheduled_min_deadline", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> timedelta:
        return parse_duration(v)


class MattersSection(_Section):
    """诉求: matters a student raises, tracked to closure."""

    # A student may reopen a closed matter this many days after it closed.
    reopen_days: int = Field(default=7, ge=0)
    # The daily digest to counselors and college admins.
    digest_time: time = time(18, 0)
    # An item open this long without a change goes to the college admin (重点问题不隔日).
    escalate_after_hours: int = Field(default=24, ge=1)


class CareSection(_Section):
    """Care records: 心理预警 and 心理委员 reports."""

    # College name → the 工号 of its mental-health contact(s), checked against the roster.
    mental_health_contacts: dict[str, list[str]] = Field(default_factory=dict)
    # How often each class's 心理委员 reports.
    psych_report: Literal["weekly", "monthly"] = "weekly"
    # When 心理委员 who have not reported are reminded, privately (Fridays; monthly: the 25th).
    psych_reminder_time: time = time(16, 0)
    # Care records are deleted this many days after they were made.
    retention_days: int = Field(default=365, ge=1)


class NoticesSection(_Section):
    """通知: notices staff send, which each student confirms with 收到."""

    # Also send each student of the audience the notice privately.
    private: bool = False
    # A notice without 截止 is due this long after it is sent.
    deadline: timedelta = timedelta(hours=24)
    # The first reminder, this long before the deadline (the last is at it).
    remind_before: timedelta = timedelta(hours=2)

    @field_validator("deadline", "remind_before", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> timedelta:
        return parse_duration(v)


class CollectSection(_Section):
    """信息收集: where named templates live, and how a collection reaches students."""

    # Every .toml or .xlsx file here is a template usable by name from chat (收集 <模板名>).
    # None: the templates shipped with classbot (storage/templates).
    templates_dir: Path | None = None
    # Also send each collection privately to every student it asks (a template may ask for
    # it too); otherwise it is posted in the class groups only.
    private: bool = False


# The default 重点学生 categories and their contact cadence in days: names counselors type
# and the bot reads (#未就业), so data rather than texts.
CARE_CATEGORIES = {
    "家庭经济困难": 14,
    "心理关注": 7,
    "未就业": 14,
    "学业困难": 14,
    "身体健康关注": 7,
    "隔离/滞留": 3,
}


def _care_categories() -> dict[str, int]:
    return dict(CARE_CATEGORIES)


class KeyStudentsSection(_Section):
    """重点学生 files: tag categories with their contact cadence, and 云跟踪."""

    # Category → days between contacts (云家访 / 谈心谈话) a tagged student is due.
    categories: dict[str, int] = Field(default_factory=_care_categories)
    # An abnormal check-in opens a daily 云跟踪 of the student by itself.
    track_abnormal: bool = False
    # When the responsible staff hear of contacts and follow-ups due or overdue; unset: with
    # the morning prompt (schedule.prompt).
    reminder_time: time | None = None
    # When a student under 云跟踪 is asked how they feel; unset: with the morning prompt.
    track_prompt_time: time | None = None
    # Removed tags, contact logs, done follow-ups and ended 云跟踪 are deleted this long after.
    retention_days: int = Field(default=730, ge=1)

    @field_validator("categories")
    @classmethod
    def _cadences(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [name for name, days in v.items() if days < 1 or not name.strip()]
        if bad:
            raise ValueError(f"cadence must be at least 1 day: {', '.join(bad)}")
        return v


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
    outbox: OutboxSection = Field(default_factory=OutboxSection)
    matters: MattersSection = Field(default_factory=MattersSection)
    care: CareSection = Field(default_factory=CareSection)
    notices: NoticesSection = Field(default_factory=NoticesSection)
    collect: CollectSection = Field(default_factory=CollectSection)
    keystudents: KeyStudentsSection = Field(default_factory=KeyStudentsSection)

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
    # Logged at start, and the log is in English whatever the deployment's language.
    return ConfigTexts.exposed_secret("en", path=path, mode=f"{stat.S_IMODE(mode):o}")


ENV_PREFIX = "CLASSBOT_"
# The project's own variables that are not settings: the CLI's config path, the demo's
# keep-the-files switch, and the test suite's and the benchmark's knobs.
_NOT_SETTINGS = ("CLASSBOT_CONFIG", "CLASSBOT_KEEP_DEMO")
_NOT_SETTINGS_PREFIXES = ("CLASSBOT_TEST_", "CLASSBOT_BENCH_")


def _env_name(loc: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p) for p in loc).upper()


def _from_environment(loc: tuple[str | int, ...], environ: Mapping[str, str]) -> str | None:
    """The environment variable that set the value at `loc` (or a section holding it)."""
    names = {k.upper(): k for k in environ}
    for n in range(len(loc), 0, -1):
        found = names.get(_env_name(loc[:n]))
        if found is not None:
            return found
    return None


# Pydantic's error types, and how an operator reads each.
_REASONS = {
    "extra_forbidden": ConfigTexts.unknown_key,
    "int_parsing": ConfigTexts.whole_number,
    "int_type": ConfigTexts.whole_number,
    "int_from_float": ConfigTexts.whole_number,
    "float_parsing": ConfigTexts.number,
    "float_type": ConfigTexts.number,
    "bool_parsing": ConfigTexts.boolean,
    "bool_type": ConfigTexts.boolean,
    "time_parsing": ConfigTexts.time_of_day,
    "time_type": ConfigTexts.time,
    "date_parsing": ConfigTexts.date,
    "date_from_datetime_parsing": ConfigTexts.date,
    "date_type": ConfigTexts.date,
    "string_type": ConfigTexts.text,
    "list_type": ConfigTexts.list,
    "dict_type": ConfigTexts.table,
    "model_type": ConfigTexts.table,
}
_BOUNDS = {
    "greater_than_equal": "≥",
    "greater_than": ">",
    "less_than_equal": "≤",
    "less_than": "<",
}


def _reason(e: Any, lang: str) -> str:
    """Pydantic's reason for one bad value, said for an operator in their language."""
    kind, ctx = e["type"], e.get("ctx") or {}
    error = ctx.get("error")
    if isinstance(error, Invalid):
        return error.text(lang)
    simple = _REASONS.get(kind)
    if simple is not None:
        return simple(lang)
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()), "")
        return ConfigTexts.bound(lang, sign=_BOUNDS[kind], bound=bound)
    if kind == "literal_error":
        return ConfigTexts.one_of(lang, expected=ctx.get("expected"))
    return ConfigTexts.invalid(lang, message=e["msg"])


def _describe(
    error: ValidationError, path: Path | None, lang: str, environ: Mapping[str, str]
) -> str:
    lines = []
    for e in error.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or ConfigTexts.top_level(lang)
        reason = _reason(e, lang)
        if e["type"] == "extra_forbidden":
            hint = _close_key(loc)
            if hint:
                reason += ConfigTexts.did_you_mean(lang, hint=hint)
        var = _from_environment(loc, environ)
        if var is not None:
            where = ConfigTexts.variable(lang, name=var)
        elif path is not None:
            where = str(path)
        else:
            where = ConfigTexts.settings(lang)
        lines.append(f"  {where}: {key}: {reason}")
    return "\n".join(lines)


def _known_keys() -> dict[str, set[str]]:
    return {
        name: set(field.annotation.model_fields)  # type: ignore[union-attr]
        for name, field in Config.model_fields.items()
    }


def _close_key(loc: tuple[str | int, ...]) -> str | None:
    known = _known_keys()
    if len(loc) == 1:
        close = difflib.get_close_matches(str(loc[0]), known, n=1)
        return f"[{close[0]}]" if close else None
    if len(loc) == 2 and str(loc[0]) in known:
        close = difflib.get_close_matches(str(loc[1]), known[str(loc[0])], n=1)
        return f"{loc[0]}.{close[0]}" if close else None
    return None


def _language(data: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    names = {k.upper(): v for k, v in environ.items()}
    bot = data.get("bot")
    value = names.get("CLASSBOT_BOT__LANGUAGE") or (
        bot.get("language") if isinstance(bot, dict) else None
    )
    return "en" if value == "en" else "zh"


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """CLASSBOT_ variables that set nothing (a misspelt name), each with the name it resembles."""
    environ = os.environ if environ is None else environ
    known = _known_keys()
    valid = [_env_name((section, key)) for section, keys in known.items() for key in keys]
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in _NOT_SETTINGS:
            continue
        if upper.startswith(_NOT_SETTINGS_PREFIXES):
            continue
        section, _, rest = upper[len(ENV_PREFIX) :].partition("__")
        keys = known.get(section.lower())
        if keys is not None and (not rest or rest.partition("__")[0].lower() in keys):
            continue
        close = difflib.get_close_matches(upper, valid, n=1, cutoff=0.8)
        found.append((name, close[0] if close else None))
    return found


def environment_warnings(lang: str, environ: Mapping[str, str] | None = None) -> list[str]:
    lines = []
    for name, close in unknown_environment(environ):
        line = ConfigTexts.unknown_variable(lang, name=name)
        if close:
            line += ConfigTexts.variable_like(lang, close=close)
        lines.append(line)
    return lines


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Load config.toml (if given) with environment overrides; raise ConfigError when unusable.

    The error names each bad key, where its value came from (the file or an environment
    variable) and why, in the configured language."""
    environ = os.environ
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as e:
            lang = _language({}, environ)
            raise ConfigError(ConfigTexts.no_file(lang, path=path)) from e
        except tomllib.TOMLDecodeError as e:
            lang = _language({}, environ)
            raise ConfigError(ConfigTexts.not_toml(lang, path=path, error=e)) from e
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    lang = _language(data, environ)
    try:
        return Config(**data)
    except ValidationError as e:
        head = ConfigTexts.invalid_settings(lang)
        raise ConfigError(f"{head}\n{_describe(e, path, lang, environ)}") from None
    except SettingsError as e:
        # A value pydantic-settings could not even decode (a list or table given as text).
        var = next(
            (
                k
                for k in environ
                if k.upper().startswith(ENV_PREFIX)
                and f'"{k.lower()[len(ENV_PREFIX) :].split("__")[0]}"' in str(e)
            ),
            None,
        )
        unreadable = ConfigTexts.unreadable_variable(lang, name=var or "CLASSBOT_…", error=e)
        raise ConfigError(unreadable) from None


def care_times(config: Config) -> tuple[time, time]:
    """(reminders, 云跟踪 prompts): the configured times, or the morning prompt's."""
    ks, prompt = config.keystudents, config.schedule.prompt
    return ks.reminder_time or prompt, ks.track_prompt_time or prompt


def times_for(schedule: ScheduleSection, college: str | None) -> CollegeTimes:
    """The prompt, deadline and roll-up times for one college, with its overrides applied."""
    override = schedule.colleges.get(college or "") or CollegeTimes()
    return CollegeTimes(
        prompt=override.prompt or schedule.prompt,
        deadline=override.deadline or schedule.deadline,
        rollup=override.rollup or schedule.rollup,
    )
