"""The `classbot` command line."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from datetime import datetime, time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from bot.app import App, build_app
from bot.clock import Clock, ManualClock, SystemClock
from bot.config import Config, ConfigError, exposed_secrets_warning, load_config
from storage import db, demo, files, identity, roster

app = typer.Typer(
    help="classbot: daily student affairs in class group chats.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
roster_app = typer.Typer(help="The roster (花名册).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")

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
        return load_config(path)
    except ConfigError as e:
        typer.echo(f"配置错误 / configuration error: {e}", err=True)
        raise typer.Exit(2) from None


def _logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def example_config() -> str:
    return resources.files("bot").joinpath("config.example.toml").read_text(encoding="utf-8")


@app.command()
def init(
    config: ConfigOption = None, force: bool = typer.Option(False, help="overwrite config.toml")
) -> None:
    """Write config.toml from the example and create the database."""
    path = config or Path("config.toml")
    if path.exists() and not force:
        typer.echo(f"{path} exists; keeping it (use --force to overwrite).")
    else:
        path.write_text(example_config(), encoding="utf-8")
        typer.echo(f"wrote {path}")
    cfg = _config(path)
    db.upgrade(cfg.database.url)
    typer.echo(f"database ready: {cfg.database.url}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply schema migrations."""
    cfg = _config(config)
    db.upgrade(cfg.database.url)
    typer.echo("database is up to date")


@roster_app.command("template")
def roster_template(file: Path) -> None:
    """Write a roster .xlsx template with Chinese headers and example rows."""
    roster.write_template(file)
    typer.echo(f"wrote {file}")


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
    """Import the roster: all or nothing, with a row-by-row error report and a change report."""
    from storage import audit

    cfg = _config(config)
    data, errors = roster.read_roster(file)
    bot = build_app(cfg, scheduler=False)
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
        typer.echo(f"名单有 {len(errors)} 处错误，未导入任何数据 / nothing imported:", err=True)
        for err in errors:
            typer.echo(f"  {err}", err=True)
        raise typer.Exit(1)
    lines = summary.report()
    typer.echo(f"导入完成 / imported: {lines[0]}")
    for line in lines[1:]:
        typer.echo(f"  {line}")


@app.command()
def invite(
    person: Annotated[str, typer.Option("--person", help="学号 or 工号")],
    config: ConfigOption = None,
) -> None:
    """Print a one-time code (72 h, this person only) for binding an account in private chat."""
    from storage import audit

    cfg = _config(config)
    bot = build_app(cfg, scheduler=False)
    try:
        with bot.uow() as session:
            found = identity.find_person(session, person)
            if found is None:
                typer.echo(f"{person} is not on the roster", err=True)
                raise typer.Exit(1)
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
        f"{code}\n请 {found.name} 私聊机器人发送：绑定 {person} {found.name} {code}"
        "（72 小时内有效，只能用一次）"
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


async def _run_telegram(bot: App) -> None:
    from bot.adapters.telegram import TelegramAdapter

    if bot.config.telegram.token is None:
        typer.echo("telegram.token is not set (or CLASSBOT_TELEGRAM__TOKEN)", err=True)
        raise typer.Exit(2)
    bot.add_adapter(TelegramAdapter())
    await _serve_until_signalled(bot)


async def _run_wechat(bot: App) -> None:
    from bot.adapters.wechat import WechatAdapter

    try:
        adapter = WechatAdapter.from_config(bot.config.wechat)
    except ConfigError as e:
        typer.echo(f"配置错误 / configuration error: {e}", err=True)
        raise typer.Exit(2) from None
    bot.add_adapter(adapter)
    # The adapter reconnects to the puppet service on its own until stopped.
    await _serve_until_signalled(bot)


# Platforms on a long connection that keeps itself up until stopped: module, adapter, label.
_CONNECTED = {
    "wecom": ("bot.adapters.wecom", "WecomAdapter", "WeCom"),
    "dingtalk": ("bot.adapters.dingtalk", "DingtalkAdapter", "DingTalk"),
}


async def _run_connected(bot: App, platform: str) -> None:
    module_name, class_name, label = _CONNECTED[platform]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        typer.echo(f"{label} needs its extra: pip install 'classbot[{platform}]'", err=True)
        raise typer.Exit(2) from None
    try:
        adapter = getattr(module, class_name).from_config(getattr(bot.config, platform))
    except ConfigError as e:
        typer.echo(f"配置错误 / configuration error: {e}", err=True)
        raise typer.Exit(2) from None
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


@app.command()
def run(
    platform: Annotated[
        str, typer.Option(help="console, telegram, wechat, dingtalk or wecom")
    ] = "console",
    config: ConfigOption = None,
    clock: Annotated[
        str | None, typer.Option(help="start a movable clock at this local time (ISO)")
    ] = None,
) -> None:
    """Run the bot and its scheduler."""
    cfg = _config(config)
    _logging(logging.WARNING if platform == "console" else logging.INFO)
    warning = exposed_secrets_warning(_config_path(config), cfg)
    if warning:
        log.warning(warning)
    bot = build_app(cfg, _parse_clock(clock, cfg.tz))
    try:
        if platform == "console":
            asyncio.run(_run_console(bot, cfg.console.output_dir))
        elif platform == "telegram":
            asyncio.run(_run_telegram(bot))
        elif platform == "wechat":
            asyncio.run(_run_wechat(bot))
        elif platform in _CONNECTED:
            asyncio.run(_run_connected(bot, platform))
        else:
            typer.echo(f"platform {platform!r} is not available in this build", err=True)
            raise typer.Exit(2)
    finally:
        bot.engine.dispose()


@app.command("demo")
def demo_cmd(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="keep the demo database here")
    ] = None,
    start: Annotated[str, typer.Option(help="local time the demo clock starts at")] = "06:30",
) -> None:
    """The console bot on a fresh SQLite database with the seeded demo school."""
    # A fresh demo has "missed" yesterday's jobs; saying so would only confuse a tour.
    _logging(logging.ERROR)
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
    hh, mm = (int(x) for x in start.split(":"))
    today = datetime.now(cfg.tz).date()
    clock = ManualClock(datetime.combine(today, time(hh, mm), tzinfo=cfg.tz))
    bot = build_app(cfg, clock)
    with bot.uow() as session:
        demo.seed(
            session, clock.now(), platforms=("console",), consent_version=cfg.privacy.notice_version
        )
    print(
        f"classbot demo — {today:%Y-%m-%d} {start}，数据在 {workdir}（:help 查看控制台命令）",
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
    day: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the .xlsx to write")],
    class_code: Annotated[str | None, typer.Option("--class", help="one class")] = None,
    college: Annotated[str | None, typer.Option("--college", help="one college")] = None,
    config: ConfigOption = None,
) -> None:
    """Write the day's ledger (台账) for a class, a college or (by default) the school."""
    from datetime import date as date_type

    from storage import audit, ledger

    cfg = _config(config)
    try:
        when = date_type.fromisoformat(day)
    except ValueError:
        typer.echo(f"--date {day!r}: expected YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    if class_code and college:
        typer.echo("give --class or --college, not both", err=True)
        raise typer.Exit(2)
    bot = build_app(cfg, scheduler=False)
    try:
        with bot.uow() as session:
            if class_code:
                scope = ledger.scope_for_class(session, class_code)
            elif college:
                scope = ledger.scope_for_college(session, college)
            else:
                scope = ledger.SCHOOL
            if scope is None:
                typer.echo(f"not found: {class_code or college}", err=True)
                raise typer.Exit(1)
            book = ledger.build(session, when, scope, cfg.tz)
            audit.record(
                session,
                at=bot.clock.now(),
                actor=None,
                actor_label=f"cli:{os.environ.get('USER', 'unknown')}",
                action="export",
                target=f"ledger:{scope.label}",
                detail={"date": when.isoformat(), "rows": book.rows, "sha256": book.sha256},
            )
    finally:
        bot.engine.dispose()
    files.write_private(output, book.content)
    typer.echo(f"wrote {output} ({book.rows} rows, sha256 {book.sha256[:12]}…)")


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
    """Delete health and subsidy details past retention; anonymous daily counts stay."""
    from storage import retention

    cfg = _config(config)
    days = older_than or cfg.privacy.retention_days
    subsidy_days = subsidy_older_than or cfg.privacy.subsidy_retention_days
    bot = build_app(cfg, scheduler=False)
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
        f"已删除 / purged: 打卡 {result.checkins}，历史版本 {result.revisions}，"
        f"申请备注 {result.notes}，清除事由 {result.cleared}，删除申请 {result.deleted}；"
        f"保留匿名日统计 {result.daily_counts} 条（超过 {days} 天；补助超过 {subsidy_days} 天）"
    )


@app.command("audit")
def audit_cmd(
    since: Annotated[str, typer.Option("--since", help="YYYY-MM-DD (local date)")],
    action: Annotated[
        str | None, typer.Option("--action", help="only this action, e.g. export")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """List the audit log from a date on: who did what, to which record, and when."""
    import json
    from datetime import date as date_type

    from sqlalchemy import select

    from storage.models import AuditEntry

    cfg = _config(config)
    try:
        start = datetime.combine(date_type.fromisoformat(since), time(0), tzinfo=cfg.tz)
    except ValueError:
        typer.echo(f"--since {since!r}: expected YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    bot = build_app(cfg, scheduler=False)
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
    typer.echo(f"({len(entries)} entries)", err=True)


def _cli_actor() -> str:
    return f"cli:{os.environ.get('USER', 'unknown')}"


def main() -> None:
    app()
