"""The `classbot` command line."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from typer._click import exceptions as click  # typer carries its own copy of click
from typer.core import TyperGroup

from bot.adapters.base import StartFailed
from bot.app import App, build_app
from bot.clock import Clock, ManualClock, SystemClock
from bot.config import (
    Config,
    ConfigError,
    environment_warnings,
    exposed_secrets_warning,
    load_config,
)
from bot.dates import try_parse_date
from bot.texts import Catalogue, Text
from storage import db, demo, files, identity, roster
from storage.errors import BadArguments


class CliTexts(Catalogue):
    cannot_write = Text("写不了 {path}：{reason}", "cannot write {path}: {reason}")
    db_help = Text("数据库结构", "Database schema.")
    roster_help = Text("花名册", "The roster.")
    collect_help = Text("信息收集", "Collections.")
    scope_help = Text("班级代码、学院名称，或 全部", "class code, college name, or all")
    person_help = Text("学号或工号", "student or staff number")
    date_help = Text("2026-12-02、12-02、12月2日、今天 …", "2026-12-02, 12-02, today …")
    since_help = Text(
        "本地日期：2026-12-02、12-02、今天 …", "a local date: 2026-12-02, 12-02, today …"
    )
    no_driver = Text(
        "数据库 {url} 需要驱动 {driver}，它还没有安装。请在 classbot 源码目录运行 "
        "make install EXTRAS={extra}（或 pip install -e '.[{extra}]'）。",
        "the database {url} needs the driver {driver}, which is not installed. In the "
        "classbot checkout run: make install EXTRAS={extra} (or pip install -e '.[{extra}]').",
    )
    unreachable = Text("连不上数据库 {url}：{reason}", "cannot reach the database {url}: {reason}")
    no_database = Text(
        "还没有数据库：请先运行 classbot init（已有 config.toml 时运行 classbot db upgrade）。",
        "there is no database yet: run classbot init first "
        "(or classbot db upgrade if config.toml already exists).",
    )
    behind = Text(
        "数据库结构是版本 {current}，本程序需要 {head}：请先运行 classbot db upgrade。",
        "the database schema is at {current} and this program needs {head}: "
        "run classbot db upgrade first.",
    )
    created = Text(
        "已创建数据库（结构版本 {head}）：{url}", "created the database (schema {head}): {url}"
    )
    up_to_date = Text(
        "数据库已是最新（结构版本 {head}）：{url}",
        "the database is up to date (schema {head}): {url}",
    )
    upgraded = Text(
        "数据库已从版本 {current} 升级到 {head}：{url}",
        "upgraded the database from {current} to {head}: {url}",
    )
    option_error = Text("{option}：{error}", "{option}: {error}")
    bad_day = Text(
        "{option} {value!r} 看不懂：可以写 2026-12-02、12-02、12月2日、今天或昨天。",
        "{option} {value!r}: write a date such as 2026-12-02, 12-02, today or yesterday.",
    )
    which_platform = Text("用哪个聊天平台？ ({choices})", "Which chat platform? ({choices})")
    unknown_platform = Text(
        "没有 {platform!r} 这个平台，可选：{choices}",
        "unknown platform {platform!r}; choose one of {choices}",
    )
    unavailable_platform = Text(
        "没有 {platform!r} 这个平台，可选：{choices}",
        "platform {platform!r} is not available in this build; choose one of {choices}",
    )
    separator = Text("、", ", ")
    kept = Text(
        "{path} 已存在，保留原文件（要覆盖请加 --force）。",
        "{path} exists; keeping it (use --force to overwrite).",
    )
    wrote_config = Text(
        "已写入 {path}（平台 {platform}，仅本人可读写）",
        "wrote {path} (platform {platform}, readable by its owner only)",
    )
    wrote = Text("已写入 {path}", "wrote {path}")
    no_file = Text("找不到文件 {path}", "no such file: {path}")
    roster_errors = Text(
        "名单有 {count} 处错误，未导入任何数据：", "{count} errors in the roster, nothing imported:"
    )
    imported = Text("导入完成：{summary}", "imported: {summary}")
    not_on_roster = Text("花名册里没有 {person}。", "{person} is not on the roster.")
    invite = Text(
        "请 {name} 私聊机器人发送：绑定 {number} {name} {code}（72 小时内有效，只能用一次）",
        "Ask {name} to send the bot, in private chat: /bind {number} {name} {code}"
        " (valid for 72 hours, once)",
    )
    no_telegram_token = Text(
        "没有设置 telegram.token（或环境变量 CLASSBOT_TELEGRAM__TOKEN）。",
        "telegram.token is not set (or CLASSBOT_TELEGRAM__TOKEN)",
    )
    config_error = Text("配置错误：{error}", "configuration error: {error}")
    missing_platform = Text(
        "{platform} 平台需要的库 {module} 还没有安装。请在 classbot 源码目录运行 "
        "make run PLATFORM={platform}（或 pip install -e '.[{platform}]'）。",
        "the {platform} platform needs {module}, which is not installed. In the classbot "
        "checkout run: make run PLATFORM={platform} (or pip install -e '.[{platform}]').",
    )
    cannot_run = Text("{platform} 平台还不能运行", "platform {platform!r} cannot run yet")
    intake_help = Text(
        "只接收消息（写入收件箱）并运行定时任务，由 classbot worker 处理",
        "only take in updates (into the inbox) and run the scheduler; classbot worker handles them",
    )
    worker_needs_postgres = Text(
        "classbot worker 需要 PostgreSQL：SQLite 数据库只由一个 classbot run 进程使用。",
        "classbot worker needs PostgreSQL: a SQLite database is used by one classbot run "
        "process only.",
    )
    worker_platform = Text(
        "{platform} 平台不能分给多个 worker：{reason}",
        "the {platform} platform cannot be shared by workers: {reason}",
    )
    worker_console = Text("控制台只在一个进程里运行", "the console runs in one process")
    worker_connected = Text(
        "消息由长连接直接交给持有连接的进程，不先存入收件箱；请只运行一个 classbot run",
        "messages come over the long connection to the process that holds it, not through "
        "an inbox; run one classbot run",
    )
    intake_telegram_only = Text(
        "--intake-only 只用于 telegram 平台", "--intake-only is for the telegram platform only"
    )
    bad_start = Text("--start {start!r}：应为 HH:MM，如 06:30", "--start {start!r}: expected HH:MM")
    demo_banner = Text(
        "classbot demo — {now}，数据在 {workdir}（:help 查看控制台命令）",
        "classbot demo — {now}, data in {workdir} (:help lists the console commands)",
    )
    output_is_folder = Text(
        "-o {output} 是一个文件夹：请给出文件名，如 -o {example}",
        "-o {output} is a folder: give a file name, e.g. -o {example}",
    )
    ledger_file = Text("台账.xlsx", "ledger.xlsx")
    class_or_college = Text(
        "--class 和 --college 只能给一个。", "give --class or --college, not both"
    )
    not_found = Text("找不到 {name}。", "not found: {name}")
    cannot_write = Text("无法写入 {path}：{reason}", "cannot write {path}: {reason}")
    wrote_ledger = Text(
        "已写入 {path}（{rows} 行，sha256 {digest}…）",
        "wrote {path} ({rows} rows, sha256 {digest}…)",
    )
    purged = Text(
        "已删除：打卡 {checkins}，历史版本 {revisions}，申请备注 {notes}，清除事由 {cleared}，"
        "删除申请 {deleted}，消息正文 {messages}；"
        "保留匿名日统计 {daily_counts} 条（超过 {days} 天；补助超过 {subsidy_days} 天）",
        "purged: check-ins {checkins}, revisions {revisions}, request notes {notes}, "
        "reasons cleared {cleared}, requests deleted {deleted}, message bodies {messages}; "
        "{daily_counts} anonymous daily counts kept "
        "(older than {days} days; subsidies older than {subsidy_days} days)",
    )
    outbox_clear = Text(
        "outbox：最近 {days} 天没有待发和失败的消息",
        "outbox: nothing pending, nothing failed in the last {days} day(s)",
    )
    audit_count = Text("（共 {count} 条）", "({count} entries)")
    usage = Text("用法：{usage}", "Usage: {usage}")
    try_help = Text("运行 {command} --help 查看帮助。", "Try '{command} --help' for help.")
    error = Text("错误：{message}", "Error: {message}")
    no_such_option = Text("没有 {option} 这个选项。", "No such option: {option}.")
    did_you_mean = Text("你是不是想用：{like}？", " Did you mean {like}?")
    missing_option = Text("缺少选项 {name}。", "Missing option {name}.")
    missing_argument = Text("缺少参数 {name}。", "Missing argument {name}.")
    bad_value = Text("{name} 的值不对：{detail}", "Invalid value for {name}: {detail}")
    bad_option = Text("选项 {option} 用法不对：{detail}", "Invalid use of {option}: {detail}")
    needs_value = Text("选项 {option} 后面要写一个值。", "Option {option} requires an argument.")
    no_such_command = Text("没有 {name} 这个命令。", "No such command '{name}'.")
    usage_error = Text("命令行用法不对：{detail}", "{detail}")
    value_at_least = Text("应不小于 {n}", "must be at least {n}")
    value_at_most = Text("应不大于 {n}", "must be at most {n}")
    value_integer = Text("应是整数", "must be a whole number")
    value_number = Text("应是数字", "must be a number")
    aborted = Text("已取消。", "Aborted!")


def both(text: Text) -> str:
    """A help line of the command line, read before any configuration: both languages."""
    return " / ".join(text.pair)


# `--help` lists the commands in the order a deployment uses them; others follow.
COMMAND_ORDER = (
    "init",
    "db",
    "roster",
    "invite",
    "run",
    "demo",
    "export",
    "outbox",
    "collect",
    "purge",
    "audit",
)


class _DeploymentOrder(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Usage errors (a missing option, an unknown command) in the deployment's language,
        in one short message and never a traceback."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click.NoArgsIsHelpError as e:
            e.show()
            sys.exit(e.exit_code)
        except click.ClickException as e:
            _show_usage_error(e, _language_of(argv))
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo(CliTexts.aborted(_language_of(argv)), err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _language_of(argv: list[str]) -> str:
    """The `[bot] language` of the configuration the command line names (or would read)."""
    path: Path | None = None
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            path = Path(argv[i + 1])
        elif arg.startswith("--config="):
            path = Path(arg.split("=", 1)[1])
    if path is None and os.environ.get("CLASSBOT_CONFIG"):
        path = Path(os.environ["CLASSBOT_CONFIG"])
    try:
        return load_config(_config_path(path)).bot.language
    except (ConfigError, OSError, ValueError):
        try:
            return load_config(None).bot.language
        except (ConfigError, ValueError):
            return "zh"


_NEEDS_VALUE = re.compile(r"Option '.+' requires (?:an argument|\d+ arguments)\.")
# What click says when a command line names a command that does not exist.
_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<name>.+?)'\.(?: Did you mean (?P<like>.+)\?)?")


# What the option parser says of a bad value, and the catalogue text saying it in `lang`.
_VALUE_PROBLEMS = (
    (re.compile(r"Input should be greater than or equal to (?P<n>\S+)"), "at_least"),
    (re.compile(r"Input should be less than or equal to (?P<n>\S+)"), "at_most"),
    (re.compile(r"Input should be a valid integer.*"), "integer"),
    (re.compile(r"Input should be a valid number.*"), "number"),
)


def _value_problem(message: str, lang: str) -> str:
    for pattern, name in _VALUE_PROBLEMS:
        found = pattern.fullmatch(message.strip())
        if found:
            text: Text = getattr(CliTexts, f"value_{name}")
            return text(lang, **found.groupdict())
    return message


def _usage_error_message(e: click.ClickException, lang: str) -> str:
    if isinstance(e, click.NoSuchOption):
        text = CliTexts.no_such_option(lang, option=e.option_name)
        if e.possibilities:
            text += CliTexts.did_you_mean(lang, like=", ".join(sorted(e.possibilities)))
        return text
    if isinstance(e, click.MissingParameter):
        hint = e.param.get_error_hint() if e.param is not None else ""
        missing = (
            CliTexts.missing_argument
            if getattr(e.param, "param_type_name", "") == "argument"
            else CliTexts.missing_option
        )
        return missing(lang, name=hint)
    if isinstance(e, click.BadParameter):
        hint = e.param.get_error_hint() if e.param is not None else ""
        return CliTexts.bad_value(lang, name=hint, detail=_value_problem(e.message, lang))
    if isinstance(e, click.BadOptionUsage):
        if _NEEDS_VALUE.fullmatch(e.message):
            return CliTexts.needs_value(lang, option=e.option_name)
        return CliTexts.bad_option(lang, option=e.option_name, detail=e.message)
    found = _NO_SUCH_COMMAND.fullmatch(e.message)
    if found:
        text = CliTexts.no_such_command(lang, name=found["name"])
        if found["like"]:
            text += CliTexts.did_you_mean(lang, like=found["like"])
        return text
    return CliTexts.usage_error(lang, detail=e.format_message())


def _show_usage_error(e: click.ClickException, lang: str) -> None:
    """Click's usage error, with its usage line and help hint, in `lang`."""
    lines = []
    ctx = e.ctx if isinstance(e, click.UsageError) else None
    if ctx is not None:
        usage = ctx.command.collect_usage_pieces(ctx)
        lines.append(CliTexts.usage(lang, usage=" ".join([ctx.command_path, *usage])))
        if ctx.command.get_help_option(ctx) is not None:
            lines.append(CliTexts.try_help(lang, command=ctx.command_path))
        lines.append("")
    lines.append(CliTexts.error(lang, message=_usage_error_message(e, lang)))
    typer.echo("\n".join(lines), err=True)


app = typer.Typer(
    cls=_DeploymentOrder,
    help="classbot: daily student affairs in class group chats.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help=both(CliTexts.db_help), no_args_is_help=True)
roster_app = typer.Typer(help=both(CliTexts.roster_help), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")
collect_app = typer.Typer(help=both(CliTexts.collect_help), no_args_is_help=True)
app.add_typer(collect_app, name="collect")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config.toml (default: ./config.toml if present)",
        envvar="CLASSBOT_CONFIG",
    ),
]

log = logging.getLogger("classbot")


def _config_path(path: Path | None) -> Path | None:
    if path is None and Path("config.toml").exists():
        return Path("config.toml")
    return path


def _config(path: Path | None) -> Config:
    path = _config_path(path)
    try:
        cfg = load_config(path)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    for warning in environment_warnings(cfg.bot.language):
        typer.echo(warning, err=True)
    return cfg


def _t(cfg: Config, text: Text, **params: object) -> str:
    return text(cfg.bot.language, **params)


def _fail(cfg: Config, text: Text, code: int = 1, **params: object) -> NoReturn:
    _refuse(_t(cfg, text, **params), code)


def _refuse(message: str, code: int) -> NoReturn:
    """Say an already rendered refusal (a domain error's) and stop."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


# A database URL's driver, and the extra of this package that installs it.
# The scope words that address the whole school (read, not said).
WHOLE_SCHOOL = frozenset({"全部", "all"})

_DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres"}


@contextmanager
def _database_errors(cfg: Config) -> Iterator[None]:
    """Say in one line what is wrong with reaching the database, instead of a traceback."""
    url = make_url(cfg.database.url).render_as_string(hide_password=True)
    try:
        yield
    except ModuleNotFoundError as e:
        driver = (e.name or "").split(".")[0]
        extra = _DRIVER_EXTRAS.get(driver)
        if extra is None:
            raise
        _fail(cfg, CliTexts.no_driver, 2, url=url, driver=driver, extra=extra)
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        _fail(cfg, CliTexts.unreachable, 2, url=url, reason=reason)


def _require_schema(cfg: Config) -> None:
    """Stop with what to run when the database was never created or is behind the code."""
    with _database_errors(cfg):
        state = db.schema_state(cfg.database.url)
    if not state.exists or state.current is None:
        _fail(cfg, CliTexts.no_database, 2)
    if state.current != state.head:
        _fail(cfg, CliTexts.behind, 2, current=state.current, head=state.head)


def _open(cfg: Config) -> App:
    """The app without its scheduler, for a one-off command, once the schema is there."""
    _require_schema(cfg)
    return build_app(cfg, scheduler=False)


def _upgrade(cfg: Config) -> str:
    """Apply the migrations and say what that did."""
    with _database_errors(cfg):
        before = db.schema_state(cfg.database.url)
        db.upgrade(cfg.database.url)
    path = db.sqlite_file(cfg.database.url)
    if path is not None and not before.exists:
        path.chmod(0o600)
    url = make_url(cfg.database.url).render_as_string(hide_password=True)
    if before.current is None:
        return _t(cfg, CliTexts.created, head=before.head, url=url)
    if before.current == before.head:
        return _t(cfg, CliTexts.up_to_date, head=before.head, url=url)
    return _t(cfg, CliTexts.upgraded, current=before.current, head=before.head, url=url)


def _day(cfg: Config, option: str, value: str) -> date:
    """A day given on the command line, in any form chat accepts (2026-12-02, 12-02, 今天)."""
    today = datetime.now(cfg.tz).date()
    try:
        day = try_parse_date(value, today)
    except BadArguments as e:
        _fail(cfg, CliTexts.option_error, 2, option=option, error=e.render(cfg.bot.language))
    if day is None:
        _fail(cfg, CliTexts.bad_day, 2, option=option, value=value)
    return day


class _ZonedFormatter(logging.Formatter):
    """Log times in the configured zone, with the offset shown."""

    def __init__(self, fmt: str, tz: object) -> None:
        super().__init__(fmt)
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        when = datetime.fromtimestamp(record.created, self.tz)  # type: ignore[arg-type]
        return f"{when:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d} {when:%z}"


def _logging(cfg: Config, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ZonedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", cfg.tz))
    logging.basicConfig(level=level, handlers=[handler])


def example_config() -> str:
    return resources.files("bot").joinpath("config.example.toml").read_text(encoding="utf-8")


_HEADER = re.compile(r"^\[([A-Za-z0-9_-]+)[].]")


def platforms() -> list[str]:
    """The chat platforms this build has an adapter for and the example configures."""
    adapters = resources.files("bot.adapters")
    return [
        name
        for name in _sections(example_config())
        if name and adapters.joinpath(f"{name}.py").is_file()
    ]


def _sections(text: str) -> dict[str, str]:
    """The example split at its top-level [section] headers ("" holds what comes first)."""
    chunks: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line)
        if m:
            current = m.group(1)
            chunks.setdefault(current, [])
        chunks[current].append(line)
    return {name: "".join(lines) for name, lines in chunks.items()}


def config_for(platform: str) -> str:
    """The example with only `platform`'s section among the platform sections."""
    others = set(platforms()) - {platform}
    return "".join(text for name, text in _sections(example_config()).items() if name not in others)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path.chmod(0o600)


@app.command()
def init(
    config: ConfigOption = None,
    platform: Annotated[
        str | None, typer.Option(help="the chat platform (asked when not given)")
    ] = None,
    force: bool = typer.Option(False, help="overwrite config.toml"),
) -> None:
    """写 config.toml 并建数据库 / Write config.toml for one platform and create the database."""
    path = config or Path("config.toml")
    choices = platforms()
    kept = path.exists() and not force
    if not kept:
        # Nothing is configured yet: the language is the environment's, or Chinese.
        lang = _config(None).bot.language
        if platform is None and sys.stdin.isatty():
            platform = typer.prompt(
                CliTexts.which_platform(lang, choices=", ".join(choices)), default="console"
            )
        platform = (platform or "console").strip().lower()
        if platform not in choices:
            typer.echo(
                CliTexts.unknown_platform(
                    lang, platform=platform, choices=CliTexts.separator(lang).join(choices)
                ),
                err=True,
            )
            raise typer.Exit(2)
        _write_private(path, config_for(platform))
    cfg = _config(path)
    if kept:
        typer.echo(_t(cfg, CliTexts.kept, path=path))
    else:
        typer.echo(_t(cfg, CliTexts.wrote_config, path=path, platform=platform))
    typer.echo(_upgrade(cfg))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """建表或升级数据库结构 / Create or upgrade the database schema."""
    cfg = _config(config)
    typer.echo(_upgrade(cfg))


@roster_app.command("template")
def roster_template(file: Path, config: ConfigOption = None) -> None:
    """写一份花名册模板 / Write a roster .xlsx template with Chinese headers and example rows."""
    cfg = _config(config)
    file.parent.mkdir(parents=True, exist_ok=True)
    roster.write_template(file, cfg.bot.language)
    typer.echo(_t(cfg, CliTexts.wrote, path=file))


@roster_app.command("import")
def roster_import(
    file: Path,
    retire_missing: Annotated[
        bool,
        typer.Option(
            "--retire-missing",
            help="deactivate people missing from the sheet (in the classes and colleges it lists)",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """导入花名册：全部成功或全不导入，逐行报错并列出变化 / Import the roster: all or nothing, with a row-by-row error report and a change report."""
    from storage import audit

    cfg = _config(config)
    if not file.is_file():
        _fail(cfg, CliTexts.no_file, 2, path=file)
    bot = _open(cfg)
    data, errors = roster.read_roster(file)
    try:
        if not errors:
            with bot.uow() as session:
                summary = roster.import_roster(
                    session,
                    data,
                    bot.clock.now(),
                    role_synonyms=cfg.roster.role_synonyms,
                    retire_missing=retire_missing,
                )
                audit.record(
                    session,
                    at=bot.clock.now(),
                    actor=None,
                    actor_label=_cli_actor(),
                    action="roster_import",
                    target=f"file:{file.name}"[:100],
                    detail={
                        "created": summary.created,
                        "updated": summary.updated,
                        "moved": len(summary.moved),
                        "changed": len(summary.changed),
                        "unchanged": summary.unchanged,
                        "missing": len(summary.missing),
                        "retired": len(summary.retired),
                        "skipped_examples": summary.skipped_examples,
                    },
                )
    except roster.RosterInvalid as e:
        errors = e.errors
    finally:
        bot.engine.dispose()
    if errors:
        typer.echo(_t(cfg, CliTexts.roster_errors, count=len(errors)), err=True)
        for err in errors:
            typer.echo(f"  {err.in_language(cfg.bot.language)}", err=True)
        raise typer.Exit(1)
    lines = summary.report(cfg.bot.language)
    typer.echo(_t(cfg, CliTexts.imported, summary=lines[0]))
    for line in lines[1:]:
        typer.echo(f"  {line}")


def _roster_number(typed: str) -> list[str]:
    """The forms a typed 学号/工号 may be stored in: as typed (NFKC), upper and lower case."""
    text = unicodedata.normalize("NFKC", typed).strip()
    return list(dict.fromkeys([text, text.upper(), text.lower()]))


@app.command()
def invite(
    person: Annotated[str, typer.Option("--person", help=both(CliTexts.person_help))],
    config: ConfigOption = None,
) -> None:
    """打印一次性绑定码（72 小时、仅限此人）/ Print a one-time code (72 h, this person only) for binding an account in private chat."""
    from storage import audit

    cfg = _config(config)
    bot = _open(cfg)
    try:
        with bot.uow() as session:
            found = next(
                (p for n in _roster_number(person) if (p := identity.find_person(session, n))),
                None,
            )
            if found is None:
                _fail(cfg, CliTexts.not_on_roster, person=person)
            code = identity.issue_code(session, found.id, None, bot.clock.now())
            audit.record(
                session,
                at=bot.clock.now(),
                actor=None,
                actor_label=_cli_actor(),
                action="invite",
                target=f"person:{found.number}",
            )
    finally:
        bot.engine.dispose()
    typer.echo(
        code + "\n" + _t(cfg, CliTexts.invite, name=found.name, number=found.number, code=code)
    )


def _parse_clock(value: str | None, tz: object) -> Clock:
    if value is None:
        return SystemClock()
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)  # type: ignore[arg-type]
    return ManualClock(when)


async def _run_console(bot: App, output_dir: Path) -> None:
    from bot.adapters.console import ConsoleAdapter

    console = ConsoleAdapter(output_dir=output_dir)
    bot.add_adapter(console)
    await bot.start()
    try:
        await console.repl()
    finally:
        await bot.stop()


async def _run_telegram(bot: App, role: str = "all") -> None:
    from bot.adapters.telegram import TelegramAdapter

    if bot.config.telegram.token is None:
        _fail(bot.config, CliTexts.no_telegram_token, 2)
    bot.add_adapter(TelegramAdapter(role=role))
    await _serve_until_signalled(bot)


async def _run_wechat(bot: App) -> None:
    from bot.adapters.wechat import WechatAdapter

    try:
        adapter = WechatAdapter.from_config(bot.config.wechat)
    except ConfigError as e:
        _fail(bot.config, CliTexts.config_error, 2, error=e)
    bot.add_adapter(adapter)
    # The adapter reconnects to the puppet service on its own until stopped.
    await _serve_until_signalled(bot)


# Platforms on a long connection that keeps itself up until stopped: module, adapter.
_CONNECTED = {
    "wecom": ("bot.adapters.wecom", "WecomAdapter"),
    "dingtalk": ("bot.adapters.dingtalk", "DingtalkAdapter"),
}


async def _run_connected(bot: App, platform: str) -> None:
    module_name, class_name = _CONNECTED[platform]
    # A missing extra raises ModuleNotFoundError, which `run` answers with how to install it.
    module = importlib.import_module(module_name)
    try:
        adapter = getattr(module, class_name).from_config(getattr(bot.config, platform))
    except ConfigError as e:
        _fail(bot.config, CliTexts.config_error, 2, error=e)
    bot.add_adapter(adapter)
    await _serve_until_signalled(bot)


async def _serve_until_signalled(bot: App) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bot.start()
    try:
        await stop.wait()
    finally:
        await bot.stop()


# The platform extra each adapter's library comes in (pyproject's optional dependencies).
def _missing_platform(cfg: Config, platform: str, error: ModuleNotFoundError) -> NoReturn:
    _fail(cfg, CliTexts.missing_platform, 2, platform=platform, module=error.name)


@app.command()
def run(
    platform: Annotated[
        str, typer.Option(help="console, telegram, wechat, dingtalk or wecom")
    ] = "console",
    config: ConfigOption = None,
    clock: Annotated[
        str | None, typer.Option(help="start a movable clock at this local time (ISO)")
    ] = None,
    intake_only: Annotated[bool, typer.Option(help=both(CliTexts.intake_help))] = False,
) -> None:
    """运行机器人和定时任务 / Run the bot and its scheduler."""
    cfg = _config(config)
    _known_platform(cfg, platform)
    if intake_only and platform != "telegram":
        _fail(cfg, CliTexts.intake_telegram_only, 2)
    _require_schema(cfg)
    _logging(cfg, logging.WARNING if platform == "console" else logging.INFO)
    warning = exposed_secrets_warning(_config_path(config), cfg)
    if warning:
        log.warning(warning)
    bot = build_app(cfg, _parse_clock(clock, cfg.tz))
    try:
        if platform == "console":
            asyncio.run(_run_console(bot, cfg.console.output_dir))
        elif platform == "telegram":
            asyncio.run(_run_telegram(bot, "intake" if intake_only else "all"))
        elif platform == "wechat":
            asyncio.run(_run_wechat(bot))
        elif platform in _CONNECTED:
            asyncio.run(_run_connected(bot, platform))
        else:
            _fail(cfg, CliTexts.cannot_run, 2, platform=platform)
    except ModuleNotFoundError as e:
        _missing_platform(cfg, platform, e)
    except StartFailed as e:
        typer.echo(e.render(cfg.bot.language), err=True)
        raise typer.Exit(2) from None
    finally:
        bot.engine.dispose()


def _known_platform(cfg: Config, platform: str) -> None:
    if platform not in platforms():
        _fail(
            cfg,
            CliTexts.unavailable_platform,
            2,
            platform=platform,
            choices=_t(cfg, CliTexts.separator).join(platforms()),
        )


@app.command()
def worker(
    platform: Annotated[str, typer.Option(help="telegram")] = "telegram",
    config: ConfigOption = None,
) -> None:
    """处理已收到的消息并发送发件箱（PostgreSQL，可运行多个）/ Handle stored updates and
    send the outbox (PostgreSQL; run several)."""
    cfg = _config(config)
    _known_platform(cfg, platform)
    if platform != "telegram":
        reason = CliTexts.worker_console if platform == "console" else CliTexts.worker_connected
        _fail(cfg, CliTexts.worker_platform, 2, platform=platform, reason=_t(cfg, reason))
    if make_url(cfg.database.url).get_backend_name() != "postgresql":
        _fail(cfg, CliTexts.worker_needs_postgres, 2)
    _require_schema(cfg)
    _logging(cfg)
    # No scheduler: the `classbot run --intake-only` process runs it, once.
    bot = build_app(cfg, scheduler=False)
    try:
        asyncio.run(_run_telegram(bot, "worker"))
    except StartFailed as e:
        typer.echo(e.render(cfg.bot.language), err=True)
        raise typer.Exit(2) from None
    finally:
        bot.engine.dispose()


@app.command("demo")
def demo_cmd(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="keep the demo database here")
    ] = None,
    day: Annotated[
        str | None,
        typer.Option("--date", help="the day the demo starts on (default today), e.g. 2026-11-22"),
    ] = None,
    start: Annotated[str, typer.Option(help="local time the demo clock starts at")] = "06:30",
) -> None:
    """演示：控制台机器人和一所演示学校 / The console bot on a fresh SQLite database with the
    seeded demo school."""
    # A fresh demo has "missed" yesterday's jobs; saying so would only confuse a tour.
    defaults = load_config(None)
    _logging(defaults, logging.ERROR)
    first = _day(defaults, "--date", day) if day else datetime.now(defaults.tz).date()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", start.strip())
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        _fail(defaults, CliTexts.bad_start, 2, start=start)
    workdir = directory or Path(tempfile.mkdtemp(prefix="classbot-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    dbfile = workdir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dbfile}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{dbfile}"
    # Files the bot sends (ledgers) outlive a throw-away demo: they go to ./classbot-out.
    out_dir = str(workdir / "out") if directory else "classbot-out"
    cfg = load_config(None, database={"url": url}, console={"output_dir": out_dir})
    db.upgrade(url)
    clock = ManualClock(
        datetime.combine(first, time(int(m.group(1)), int(m.group(2))), tzinfo=cfg.tz)
    )
    bot = build_app(cfg, clock)
    with bot.uow() as session:
        demo.seed(
            session, clock.now(), platforms=("console",), consent_version=cfg.privacy.notice_version
        )
        demo.seed_care(session, clock.now())
    print(
        _t(cfg, CliTexts.demo_banner, now=f"{clock.now():%Y-%m-%d %H:%M}", workdir=workdir),
        flush=True,
    )
    try:
        asyncio.run(_run_console(bot, cfg.console.output_dir))
    finally:
        bot.engine.dispose()
        if directory is None and not os.environ.get("CLASSBOT_KEEP_DEMO"):
            shutil.rmtree(workdir, ignore_errors=True)


@app.command("export")
def export_cmd(
    day: Annotated[str, typer.Option("--date", help=both(CliTexts.date_help))],
    output: Annotated[Path, typer.Option("-o", "--output", help="the .xlsx to write")],
    class_code: Annotated[str | None, typer.Option("--class", help="one class")] = None,
    college: Annotated[str | None, typer.Option("--college", help="one college")] = None,
    config: ConfigOption = None,
) -> None:
    """导出某天的台账 / Write the day's ledger (台账) for a class, a college or the school."""
    from storage import audit, ledger

    cfg = _config(config)
    when = _day(cfg, "--date", day)
    if output.is_dir():
        example = output / _t(cfg, CliTexts.ledger_file)
        _fail(cfg, CliTexts.output_is_folder, 2, output=output, example=example)
    if class_code and college:
        _fail(cfg, CliTexts.class_or_college, 2)
    bot = _open(cfg)
    try:
        with bot.uow() as session:
            if class_code:
                scope = ledger.scope_for_class(session, class_code)
            elif college:
                scope = ledger.scope_for_college(session, college)
            else:
                scope = ledger.SCHOOL
            if scope is None:
                name = class_code or college
                _fail(cfg, CliTexts.not_found, name=name)
            book = ledger.build(session, when, scope, cfg.tz, lang=cfg.bot.language)
            audit.record(
                session,
                at=bot.clock.now(),
                actor=None,
                actor_label=_cli_actor(),
                action="export",
                target=f"ledger:{scope.label}",
                detail={"date": when.isoformat(), "rows": book.rows, "sha256": book.sha256},
            )
    finally:
        bot.engine.dispose()
    # The ledger holds health data: its folder and the file are for the owner only.
    try:
        files.write_private(output, book.content)
    except OSError as e:
        _fail(cfg, CliTexts.cannot_write, path=output, reason=e.strerror)
    typer.echo(_t(cfg, CliTexts.wrote_ledger, path=output, rows=book.rows, digest=book.sha256[:12]))


@app.command()
def purge(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than", min=1, help="days of check-in details to keep (privacy.retention_days)"
        ),
    ] = None,
    subsidy_older_than: Annotated[
        int | None,
        typer.Option(
            "--subsidy-older-than",
            min=1,
            help="days of decided subsidy records to keep (privacy.subsidy_retention_days)",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """删除过了保存期的健康和补助详情 / Delete health and subsidy details past retention."""
    from storage import retention

    cfg = _config(config)
    days = older_than or cfg.privacy.retention_days
    subsidy_days = subsidy_older_than or cfg.privacy.subsidy_retention_days
    bot = _open(cfg)
    try:
        with bot.uow() as session:
            result = retention.purge(
                session,
                now=bot.clock.now(),
                tz=cfg.tz,
                retention_days=days,
                subsidy_retention_days=subsidy_days,
                actor_label=_cli_actor(),
            )
    finally:
        bot.engine.dispose()
    typer.echo(
        _t(
            cfg,
            CliTexts.purged,
            checkins=result.checkins,
            revisions=result.revisions,
            notes=result.notes,
            cleared=result.cleared,
            deleted=result.deleted,
            messages=result.messages,
            daily_counts=result.daily_counts,
            days=days,
            subsidy_days=subsidy_days,
        )
    )


@app.command("outbox")
def outbox_cmd(
    days: Annotated[
        int, typer.Option("--days", min=1, help="failures of the last DAYS days are listed")
    ] = 1,
    config: ConfigOption = None,
) -> None:
    """What the bot has not (yet) delivered: pending, retrying, expired and unreachable
    messages by platform and reason. Metadata only, never a message's text."""
    from storage import outbox

    cfg = _config(config)
    bot = build_app(cfg, scheduler=False)
    try:
        with bot.uow(readonly=True) as session:
            lines = outbox.overview(session, bot.clock.now() - timedelta(days=days))
    finally:
        bot.engine.dispose()
    if not lines:
        typer.echo(_t(cfg, CliTexts.outbox_clear, days=days))
        return
    for line in lines:
        reason = f"  {line.reason}" if line.reason else ""
        typer.echo(f"{line.platform:<10} {line.state:<12} {line.kind:<9} {line.count:>6}{reason}")


@app.command("audit")
def audit_cmd(
    since: Annotated[str, typer.Option("--since", help=both(CliTexts.since_help))],
    action: Annotated[
        str | None, typer.Option("--action", help="only this action, e.g. export")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """列出审计日志 / List the audit log from a date on: who did what, to which record, when."""
    import json

    from sqlalchemy import select

    from storage.models import AuditEntry

    cfg = _config(config)
    start = datetime.combine(_day(cfg, "--since", since), time(0), tzinfo=cfg.tz)
    bot = _open(cfg)
    try:
        with bot.uow(readonly=True) as session:
            query = select(AuditEntry).where(AuditEntry.at >= start)
            if action:
                query = query.where(AuditEntry.action == action)
            entries = list(session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))
    finally:
        bot.engine.dispose()
    for e in entries:
        change = f" {e.from_state or ''}→{e.to_state or ''}" if e.from_state or e.to_state else ""
        detail = f" {json.dumps(e.detail, ensure_ascii=False, sort_keys=True)}" if e.detail else ""
        typer.echo(
            f"{e.at.astimezone(cfg.tz):%Y-%m-%d %H:%M:%S}  {e.actor}  {e.action}"
            f"  {e.target or '-'}{change}{detail}"
        )
    typer.echo(_t(cfg, CliTexts.audit_count, count=len(entries)), err=True)


@collect_app.command("template")
def collect_template(file: Path, config: ConfigOption = None) -> None:
    """写出空白的信息收集表单（.xlsx）/ Write a blank collection form sheet (.xlsx)."""
    from handlers.collect_texts import CollectTexts
    from storage import forms

    cfg = _config(config)
    try:
        forms.write_template_xlsx(file)
    except OSError as e:
        _fail(cfg, CliTexts.cannot_write, 2, path=file, reason=e.strerror)
    typer.echo(CollectTexts.cli_template(cfg.bot.language, path=file))


@collect_app.command("create")
def collect_create(
    file: Annotated[str, typer.Argument(help="a .toml or .xlsx template, or a template's name")],
    scope: Annotated[str, typer.Option("--scope", help=both(CliTexts.scope_help))],
    deadline: Annotated[str, typer.Option("--deadline", help='e.g. "2027-01-10 18:00" or 1-10')],
    title: Annotated[str | None, typer.Option("--title", help="instead of the template's")] = None,
    config: ConfigOption = None,
) -> None:
    """按模板发起信息收集，并排队发到各班级群 / Start a collection from a template and queue its posts."""
    from handlers import collect
    from handlers.collect_texts import CollectTexts
    from storage import audit, campaigns, forms
    from storage import identity as people
    from storage.campaigns import Audience
    from storage.errors import DomainError

    cfg = _config(config)
    lang = cfg.bot.language
    path = Path(file)
    try:
        if path.suffix.lower() in forms.TEMPLATE_SUFFIXES or path.exists():
            template = forms.load_template(path)
        else:
            template = collect.named_template(cfg, file)
    except DomainError as e:
        _refuse(e.render(lang), 2)
    bot = _open(cfg)
    try:
        with bot.uow() as session:
            now = bot.clock.now()
            today = now.astimezone(cfg.tz).date()
            try:
                due, rest = collect.read_deadline(deadline.split(), today, cfg.tz)
            except DomainError:
                due, rest = None, []
            if due is None or rest:
                _fail(cfg, CollectTexts.cli_bad_deadline, 2, deadline=deadline)
            word = scope.strip()
            audience: Audience | None = None
            if word.lower() in WHOLE_SCHOOL:
                audience = Audience(school=True)
            elif (cls := people.class_by_code(session, word)) is not None:
                audience = Audience(class_ids=frozenset({cls.id}))
            elif (college := campaigns.college_by_name(session, word)) is not None:
                audience = Audience(college_id=college.id)
            if audience is None:
                _fail(cfg, CollectTexts.cli_bad_scope, 2, scope=scope)
            platforms = people.platforms_in_use(session)
            try:
                launched = collect.launch(
                    session,
                    cfg,
                    template,
                    audience,
                    due,
                    now=now,
                    created_by=None,
                    sender="classbot",
                    platforms=platforms,
                    title=title,
                )
            except DomainError as e:
                _refuse(e.render(lang), 2)
            c = launched.campaign
            bot.outbox.platforms = lambda: platforms
            bot.outbox.queue(session, launched.envelopes, cause=f"cli:collect:{c.ref}", now=now)
            audit.record(
                session,
                at=now,
                actor=None,
                actor_label=_cli_actor(),
                action="collect",
                target=c.ref,
                detail={"template": template.name, "students": launched.students},
            )
    finally:
        bot.engine.dispose()
    typer.echo(
        CollectTexts.cli_created(
            lang,
            ref=c.ref,
            title=c.title,
            groups=launched.groups,
            students=launched.students,
            deadline=collect.when(c.deadline, cfg),
        )
    )


def _cli_actor() -> str:
    return f"cli:{os.environ.get('USER', 'unknown')}"


def main() -> None:
    app()
