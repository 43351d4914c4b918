"""The classbot command line, run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from openpyxl import Workbook

from bot.dates import parse_day
from storage import db, roster
from tests.conftest import roster_from_template

# The newest schema revision: a fresh database is created at it.
HEAD = ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_heads()[0]


def classbot(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_writes_the_config_and_creates_the_database(tmp_path: Path) -> None:
    result = classbot(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    assert (
        (tmp_path / "config.toml")
        .read_text(encoding="utf-8")
        .startswith("# classbot configuration")
    )
    assert (tmp_path / "classbot.db").exists()
    again = classbot(tmp_path, "init")
    assert again.returncode == 0
    assert "config.toml 已存在，保留原文件（要覆盖请加 --force）。" in again.stdout


def test_bad_config_stops_the_bot_with_key_and_reason(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[schedule]\nrollup = "noon"\n', encoding="utf-8")
    result = classbot(tmp_path, "run", "--platform", "console")
    assert result.returncode == 2
    assert "schedule.rollup" in result.stderr


def test_roster_import_with_errors_reports_rows_and_imports_nothing(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    ws.append(["2020001", "李四", "医学院", "护理172", "学生"])
    wb.save(tmp_path / "r.xlsx")
    result = classbot(tmp_path, "roster", "import", "r.xlsx")
    assert result.returncode == 1
    assert "学生 第 3 行「学号」" in result.stderr and "未导入任何数据" in result.stderr
    ok = classbot(tmp_path, "roster", "template", "t.xlsx")
    assert ok.returncode == 0
    imported = classbot(tmp_path, "roster", "import", "t.xlsx")
    assert imported.returncode == 0 and "新建 0 人" in imported.stdout
    assert "跳过模板示例行 5 行" in imported.stdout


def write_roster(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    ws.append(["2020002", "李四", "医学院", "护理172", "班长"])
    staff = wb.create_sheet(roster.STAFF_SHEET)
    staff.append(roster.STAFF_HEADERS)
    staff.append(["T001", "王老师", "辅导员", "", "护理172"])
    wb.save(path)


def test_invite_prints_a_one_time_code_and_both_are_audited(tmp_path: Path) -> None:
    classbot(tmp_path, "db", "upgrade")
    write_roster(tmp_path / "r.xlsx")
    imported = classbot(tmp_path, "roster", "import", "r.xlsx")
    assert imported.returncode == 0 and "新建 3 人" in imported.stdout, imported.stderr
    result = classbot(tmp_path, "invite", "--person", "2020001")
    assert result.returncode == 0
    code = result.stdout.split()[0]
    assert len(code) == 8 and f"绑定 2020001 张三 {code}" in result.stdout
    assert "72 小时内有效" in result.stdout
    missing = classbot(tmp_path, "invite", "--person", "9999999")
    assert missing.returncode == 1
    log = classbot(tmp_path, "audit", "--since", "2000-01-01")
    lines = log.stdout.splitlines()
    assert any("roster_import  file:r.xlsx" in line and '"created": 3' in line for line in lines)
    assert any("invite  person:2020001" in line for line in lines)


def test_roster_import_prints_the_change_report_and_retires_missing(tmp_path: Path) -> None:
    classbot(tmp_path, "db", "upgrade")
    write_roster(tmp_path / "r.xlsx")
    classbot(tmp_path, "roster", "import", "r.xlsx")
    wb = Workbook()
    ws = wb.active
    ws.title = roster.STUDENT_SHEET
    ws.append(roster.STUDENT_HEADERS)
    ws.append(["2020001", "张三", "医学院", "护理172", "学生"])
    wb.save(tmp_path / "r2.xlsx")
    report = classbot(tmp_path, "roster", "import", "r2.xlsx")
    assert report.returncode == 0
    assert "无变化 1" in report.stdout and "李四（2020002）" in report.stdout
    assert "--retire-missing" in report.stdout
    retired = classbot(tmp_path, "roster", "import", "r2.xlsx", "--retire-missing")
    assert "已停用（离校/休学或不在表中） 1 人：李四（2020002）（不在表中）" in retired.stdout


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "args",
    [
        ("roster", "import", "t.xlsx"),
        ("run",),
        ("export", "--date", "今天", "-o", "x.xlsx"),
        ("invite", "--person", "2020001"),
        ("purge",),
        ("audit", "--since", "今天"),
    ],
)
def test_a_command_before_init_says_to_run_init_and_leaves_no_database_behind(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    roster.write_template(tmp_path / "t.xlsx")
    result = classbot(tmp_path, *args)
    assert result.returncode == 2
    assert lines(result.stderr) == [
        "还没有数据库：请先运行 classbot init（已有 config.toml 时运行 classbot db upgrade）。"
    ]
    assert not (tmp_path / "classbot.db").exists()
    assert not (tmp_path / "x.xlsx").exists()


def test_a_database_with_no_schema_yet_says_to_create_it(tmp_path: Path) -> None:
    from storage import db

    db.upgrade(f"sqlite:///{tmp_path / 'classbot.db'}", "base")
    result = classbot(tmp_path, "invite", "--person", "2020001")
    assert result.returncode == 2
    assert lines(result.stderr) == [
        "还没有数据库：请先运行 classbot init（已有 config.toml 时运行 classbot db upgrade）。"
    ]


def test_db_upgrade_says_it_created_the_database_then_that_it_is_up_to_date(
    tmp_path: Path,
) -> None:
    first = classbot(tmp_path, "db", "upgrade")
    assert first.returncode == 0
    assert first.stdout.startswith(f"已创建数据库（结构版本 {HEAD}）：sqlite:///classbot.db")
    assert (tmp_path / "classbot.db").stat().st_mode & 0o777 == 0o600
    again = classbot(tmp_path, "db", "upgrade")
    assert again.stdout.startswith(f"数据库已是最新（结构版本 {HEAD}）")


def test_export_into_a_missing_folder_creates_it_for_the_owner_only(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    result = classbot(tmp_path, "export", "--date", "2026-11-23", "-o", "out/sub/x.xlsx")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("已写入 out/sub/x.xlsx（")
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "out" / "sub").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "out" / "sub" / "x.xlsx").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql+psycopg://classbot@127.0.0.1:1/classbot", "psycopg"),
        ("postgresql+psycopg2://classbot:secret@127.0.0.1:1/classbot", "psycopg2"),
    ],
)
def test_a_postgresql_url_without_its_driver_says_which_extra_installs_it(
    tmp_path: Path, url: str, driver: str
) -> None:
    # The driver is made unimportable, as in an install without the postgres extra.
    script = (
        f"import sys; sys.modules[{driver!r}] = None; sys.argv = ['classbot', 'db', 'upgrade']; "
        "from bot.cli import main; main()"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBOT_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**base, "CLASSBOT_DATABASE__URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    [line] = lines(result.stderr)
    assert f"需要驱动 {driver}" in line and "make install EXTRAS=postgres" in line
    assert "pip install -e '.[postgres]'" in line and "secret" not in line


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {"CLASSBOT_DATABASE__URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = classbot(tmp_path, "db", "upgrade", env=env)
    assert result.returncode == 2
    [line] = lines(result.stderr)
    assert line.startswith("连不上数据库 postgresql+psycopg://nobody@127.0.0.1:1/none：")


def _with_roster(tmp_path: Path, language: str = "zh") -> None:
    (tmp_path / "config.toml").write_text(f'[bot]\nlanguage = "{language}"\n', encoding="utf-8")
    classbot(tmp_path, "db", "upgrade")
    roster_from_template(tmp_path / "t.xlsx")
    assert classbot(tmp_path, "roster", "import", "t.xlsx").returncode == 0


def test_invite_finds_a_number_typed_in_lower_case_or_full_width(tmp_path: Path) -> None:
    _with_roster(tmp_path)
    for typed in ("t001", "Ｔ００１", " T001 "):
        result = classbot(tmp_path, "invite", "--person", typed)
        assert result.returncode == 0, result.stderr
        code = result.stdout.split()[0]
        assert f"绑定 T001 王老师 {code}" in result.stdout


def test_invite_answers_in_the_configured_language(tmp_path: Path) -> None:
    _with_roster(tmp_path, "en")
    missing = classbot(tmp_path, "invite", "--person", "9999")
    assert missing.returncode == 1
    assert lines(missing.stderr) == ["9999 is not on the roster."]
    found = classbot(tmp_path, "invite", "--person", "2020001")
    code = found.stdout.split()[0]
    assert f"in private chat: /bind 2020001 张三 {code}" in found.stdout


def test_invite_of_someone_not_on_the_roster_says_so_in_chinese(tmp_path: Path) -> None:
    _with_roster(tmp_path)
    missing = classbot(tmp_path, "invite", "--person", "9999")
    assert missing.returncode == 1 and lines(missing.stderr) == ["花名册里没有 9999。"]


@pytest.mark.parametrize("typed", ["2026-11-23", "11-23", "11月23日", "１１－２３"])
def test_export_takes_the_dates_chat_takes(tmp_path: Path, typed: str) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    result = classbot(tmp_path, "export", "--date", typed, "-o", "x.xlsx")
    assert result.returncode == 0, result.stderr
    audit = classbot(tmp_path, "audit", "--since", "今天", "--action", "export")
    assert audit.returncode == 0, audit.stderr
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    expected = "2026-11-23" if "2026" in typed else f"{parse_day('11-23', today):%Y-%m-%d}"
    assert f'"date": "{expected}"' in audit.stdout


def test_a_date_that_is_not_one_is_refused_with_the_forms_that_work(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    bad = classbot(tmp_path, "export", "--date", "下个月", "-o", "x.xlsx")
    assert bad.returncode == 2
    assert lines(bad.stderr) == [
        "--date '下个月' 看不懂：可以写 2026-12-02、12-02、12月2日、今天或昨天。"
    ]
    impossible = classbot(tmp_path, "audit", "--since", "2026-02-30")
    assert impossible.returncode == 2
    assert lines(impossible.stderr) == ["--since：没有「2026-02-30」这一天。"]
    assert not (tmp_path / "x.xlsx").exists()


def test_help_lists_the_commands_in_deployment_order(tmp_path: Path) -> None:
    from bot.cli import COMMAND_ORDER

    result = classbot(tmp_path, "--help")
    assert result.returncode == 0
    shown = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1].isalpha()
    ]
    listed = [name for name in shown if name in COMMAND_ORDER]
    assert listed[:6] == ["init", "db", "roster", "invite", "run", "demo"]
    assert listed == sorted(listed, key=COMMAND_ORDER.index)
    assert listed.index("export") < listed.index("purge") < listed.index("audit")


def test_init_for_a_platform_writes_only_that_platforms_section_readable_by_the_owner(
    tmp_path: Path,
) -> None:
    import tomllib

    result = classbot(tmp_path, "init", "--platform", "telegram")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "config.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert "telegram" in data and "wechat" not in data and "console" not in data
    assert {"bot", "database", "checkin", "schedule", "privacy"} <= set(data)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "classbot.db").stat().st_mode & 0o777 == 0o600
    assert f"已创建数据库（结构版本 {HEAD}）" in result.stdout


def test_init_without_a_terminal_or_a_platform_writes_the_console_section(
    tmp_path: Path,
) -> None:
    import tomllib

    assert classbot(tmp_path, "init").returncode == 0
    data = tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))
    assert "console" in data and "telegram" not in data and "wechat" not in data


def test_init_for_an_unknown_platform_lists_the_ones_there_are(tmp_path: Path) -> None:
    result = classbot(tmp_path, "init", "--platform", "icq")
    assert result.returncode == 2
    assert "没有 'icq' 这个平台，可选：telegram、wechat、wecom、dingtalk、console" in result.stderr
    assert not (tmp_path / "config.toml").exists() and not (tmp_path / "classbot.db").exists()


def test_platform_sections_are_found_by_their_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import cli

    example = (
        "# top\n[bot]\nname = 'x'\n\n[dingtalk]\n# app key\nclient_id = 'a'\n\n"
        "[wecom]\nbot_id = 'b'\n[schedule]\nprompt = '07:00'\n"
    )
    monkeypatch.setattr(cli, "example_config", lambda: example)
    monkeypatch.setattr(cli, "platforms", lambda: ["dingtalk", "wecom"])
    assert cli.config_for("dingtalk") == (
        "# top\n[bot]\nname = 'x'\n\n[dingtalk]\n# app key\nclient_id = 'a'\n\n"
        "[schedule]\nprompt = '07:00'\n"
    )


def test_run_on_a_platform_that_does_not_exist_lists_the_ones_there_are(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    result = classbot(tmp_path, "run", "--platform", "icq")
    assert result.returncode == 2
    assert lines(result.stderr) == [
        "没有 'icq' 这个平台，可选：telegram、wechat、wecom、dingtalk、console"
    ]


def test_a_bad_environment_value_stops_the_cli_naming_the_variable(tmp_path: Path) -> None:
    result = classbot(tmp_path, "db", "upgrade", env={"CLASSBOT_SCHEDULE__DEADLINE": "25:00"})
    assert result.returncode == 2
    assert "环境变量 CLASSBOT_SCHEDULE__DEADLINE: schedule.deadline" in result.stderr
    assert not (tmp_path / "classbot.db").exists()


def test_a_misspelt_environment_variable_is_warned_about(tmp_path: Path) -> None:
    result = classbot(
        tmp_path,
        "db",
        "upgrade",
        env={"CLASSBOT_DATABSE__URL": "sqlite:///other.db", "CLASSBOT_TEST_DATABASE_URL": "x"},
    )
    assert result.returncode == 0
    assert lines(result.stderr) == [
        "环境变量 CLASSBOT_DATABSE__URL 不是 classbot 的设置项，已忽略；是不是 CLASSBOT_DATABASE__URL？"
    ]
    assert (tmp_path / "classbot.db").exists() and not (tmp_path / "other.db").exists()


def test_log_times_are_in_the_configured_zone_with_the_offset_shown() -> None:
    import logging
    from datetime import UTC, datetime

    from bot.cli import _ZonedFormatter
    from bot.config import load_config

    formatter = _ZonedFormatter("%(asctime)s %(message)s", load_config(None).tz)
    record = logging.LogRecord("classbot", logging.INFO, __file__, 1, "hello", None, None)
    record.created = datetime(2026, 11, 23, 3, 0, 5, tzinfo=UTC).timestamp()
    record.msecs = 250
    assert formatter.format(record) == "2026-11-23 11:00:05,250 +0800 hello"


def test_init_at_a_terminal_asks_which_platform(tmp_path: Path) -> None:
    import pty
    import tomllib

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBOT_")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: classbot init on a terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "bot", "init"], env)
    seen = b""
    while b"[console]:" not in seen:
        seen += os.read(fd, 1024)
    os.write(fd, b"wechat\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child has exited and closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "用哪个聊天平台？ (telegram, wechat, wecom, dingtalk, console)" in seen.decode()
    data = tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))
    assert "wechat" in data and "telegram" not in data


def test_a_telegram_server_that_cannot_be_reached_at_start_is_one_line(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    env = {
        "CLASSBOT_TELEGRAM__TOKEN": "123:abc",
        "CLASSBOT_TELEGRAM__BASE_URL": "http://127.0.0.1:9/bot",
    }
    result = classbot(tmp_path, "run", "--platform", "telegram", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert lines(result.stderr)[-1].startswith("连不上 Telegram（http://127.0.0.1:9/bot）：")


def test_export_to_a_folder_or_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    (tmp_path / "out").mkdir()
    folder = classbot(tmp_path, "export", "--date", "今天", "-o", "out")
    assert folder.returncode == 2
    assert lines(folder.stderr) == ["-o out 是一个文件夹：请给出文件名，如 -o out/台账.xlsx"]
    (tmp_path / "file").write_text("")
    blocked = classbot(tmp_path, "export", "--date", "今天", "-o", "file/x.xlsx")
    assert blocked.returncode == 1
    [line] = lines(blocked.stderr)
    assert line.startswith("无法写入 file/x.xlsx：")


CJK_TEXT = re.compile(r"[\u4e00-\u9fff]")


def _language(tmp_path: Path, lang: str) -> None:
    (tmp_path / "config.toml").write_text(f'[bot]\nlanguage = "{lang}"\n', encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "zh", "en"),
    [
        (("export",), "错误：缺少选项 '--date'。", "Error: Missing option '--date'."),
        (("export", "--date"), "错误：选项 --date 后面要写一个值。", "requires an argument"),
        (("export", "--bogus"), "错误：没有 --bogus 这个选项。", "Error: No such option: --bogus."),
        (
            ("expor",),
            "错误：没有 expor 这个命令。你是不是想用：'export'？",
            "Did you mean 'export'?",
        ),
        (("purge", "--older-than", "0"), "的值不对：应不小于 1", "must be at least 1"),
        (("purge", "--older-than", "x"), "的值不对：应是整数", "must be a whole number"),
        (("roster", "import"), "错误：缺少参数 'file'。", "Error: Missing argument 'file'."),
    ],
)
def test_usage_errors_follow_the_configured_language(
    tmp_path: Path, args: tuple[str, ...], zh: str, en: str
) -> None:
    chinese = classbot(tmp_path, *args)
    assert chinese.returncode == 2
    assert zh in chinese.stderr, chinese.stderr
    assert "Traceback" not in chinese.stderr and "Error:" not in chinese.stderr
    _language(tmp_path, "en")
    english = classbot(tmp_path, *args)
    assert english.returncode == 2
    assert en in english.stderr and "Traceback" not in english.stderr
    assert not CJK_TEXT.search(english.stderr), english.stderr


def test_a_usage_error_names_the_usage_and_the_help_in_chinese(tmp_path: Path) -> None:
    result = classbot(tmp_path, "export")
    assert lines(result.stderr)[:2] == [
        "用法：python -m bot export [OPTIONS]",
        "运行 python -m bot export --help 查看帮助。",
    ]


def test_a_usage_error_reads_the_language_of_the_config_named_on_the_command_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "english.toml").write_text('[bot]\nlanguage = "en"\n', encoding="utf-8")
    result = classbot(tmp_path, "export", "--config", "english.toml")
    assert "Error: Missing option '--date'." in result.stderr


def test_cli_replies_are_english_under_english(tmp_path: Path) -> None:
    _language(tmp_path, "en")
    created = classbot(tmp_path, "db", "upgrade")
    assert created.stdout.startswith("created the database")
    again = classbot(tmp_path, "db", "upgrade")
    assert again.stdout.startswith("the database is up to date")
    bad = classbot(tmp_path, "export", "--date", "someday", "-o", "x.xlsx")
    assert bad.returncode == 2 and "--date 'someday': write a date" in bad.stderr
    both = classbot(
        tmp_path, "export", "--date", "today", "-o", "x.xlsx", "--class", "a", "--college", "b"
    )
    assert lines(both.stderr) == ["give --class or --college, not both"]
    for result in (created, again, bad, both):
        assert not CJK_TEXT.search(result.stdout + result.stderr)


def test_cli_replies_are_chinese_under_chinese(tmp_path: Path) -> None:
    created = classbot(tmp_path, "db", "upgrade")
    assert created.stdout.startswith("已创建数据库")
    both = classbot(
        tmp_path, "export", "--date", "今天", "-o", "x.xlsx", "--class", "a", "--college", "b"
    )
    assert lines(both.stderr) == ["--class 和 --college 只能给一个。"]


def test_the_roster_change_report_follows_the_configured_language(tmp_path: Path) -> None:
    _language(tmp_path, "en")
    classbot(tmp_path, "db", "upgrade")
    roster_from_template(tmp_path / "t.xlsx")
    english = classbot(tmp_path, "roster", "import", "t.xlsx")
    assert english.returncode == 0, english.stderr
    first = lines(english.stdout)[0]
    assert first.startswith("imported: ") and " created, " in first
    assert not CJK_TEXT.search(first)
    _language(tmp_path, "zh")
    again = classbot(tmp_path, "roster", "import", "t.xlsx")
    assert lines(again.stdout)[0].startswith("导入完成：新建 0 人，更新 ")


def test_worker_on_sqlite_refuses_because_sqlite_runs_one_process(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    result = classbot(tmp_path, "worker", "--platform", "telegram")
    assert result.returncode == 2
    assert lines(result.stderr) == [
        "classbot worker 需要 PostgreSQL：SQLite 数据库只由一个 classbot run 进程使用。"
    ]


def test_worker_refuses_a_platform_on_a_long_connection_saying_why(tmp_path: Path) -> None:
    result = classbot(tmp_path, "worker", "--platform", "dingtalk")
    assert result.returncode == 2
    assert lines(result.stderr) == [
        "dingtalk 平台不能分给多个 worker：消息由长连接直接交给持有连接的进程，"
        "不先存入收件箱；请只运行一个 classbot run"
    ]
    assert classbot(tmp_path, "worker", "--platform", "console").returncode == 2


def test_intake_only_is_for_telegram(tmp_path: Path) -> None:
    assert classbot(tmp_path, "db", "upgrade").returncode == 0
    result = classbot(tmp_path, "run", "--platform", "console", "--intake-only")
    assert result.returncode == 2
    assert lines(result.stderr) == ["--intake-only 只用于 telegram 平台"]


def test_a_kept_config_and_an_impossible_date_are_said_in_english_under_english(
    tmp_path: Path,
) -> None:
    _language(tmp_path, "en")
    kept = classbot(tmp_path, "init")
    assert kept.returncode == 0, kept.stderr
    assert "config.toml exists; keeping it (use --force to overwrite)." in kept.stdout
    impossible = classbot(tmp_path, "audit", "--since", "2026-02-30")
    assert impossible.returncode == 2
    assert lines(impossible.stderr) == ["--since: There is no such day as '2026-02-30'."]
    for result in (kept, impossible):
        assert not CJK_TEXT.search(result.stdout + result.stderr), result.stdout + result.stderr


def test_under_english_a_malformed_argument_and_a_success_are_english(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[bot]\nlanguage = "en"\n', encoding="utf-8")
    created = classbot(tmp_path, "db", "upgrade")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() and not re.search(r"[\u4e00-\u9fff]", created.stdout)
    bad = classbot(tmp_path, "export", "--date", "next month", "-o", "x.xlsx")
    assert bad.returncode == 2
    (line,) = lines(bad.stderr)
    assert line.startswith("--date 'next month'") and not re.search(r"[\u4e00-\u9fff]", line)
    env = {
        "CLASSBOT_TELEGRAM__TOKEN": "123:abc",
        "CLASSBOT_TELEGRAM__BASE_URL": "http://127.0.0.1:9/bot",
    }
    down = classbot(tmp_path, "run", "--platform", "telegram", env=env)
    assert down.returncode == 2
    assert lines(down.stderr)[-1].startswith("cannot reach Telegram at http://127.0.0.1:9/bot: ")
