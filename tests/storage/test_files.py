"""Files holding personal data are the owner's alone: 0600 files in 0700 folders."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
from pathlib import Path

from bot.adapters.console import ConsoleAdapter
from bot.messages import Attachment, ChatAddress, OutgoingMessage
from storage import db, files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "classbot.db"
    db.upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    for extra in path.parent.glob("classbot.db-*"):
        assert mode(extra) == 0o600, extra


def test_an_existing_world_readable_database_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    db.make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


def test_write_private_never_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "台账.xlsx"
    files.write_private(path, b"x")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    path.chmod(0o644)
    files.write_private(path, b"yy")
    assert mode(path) == 0o600 and path.read_bytes() == b"yy"


async def test_the_console_saves_ledgers_owner_only(tmp_path: Path) -> None:
    console = ConsoleAdapter(out=io.StringIO(), output_dir=tmp_path / "classbot-out")
    message = OutgoingMessage("台账", attachment=Attachment("台账.xlsx", b"PK"))
    await console.send(ChatAddress("console", "护理172", True), message)
    saved = tmp_path / "classbot-out" / "台账.xlsx"
    assert mode(saved) == 0o600 and mode(saved.parent) == 0o700


def test_cli_export_writes_the_ledger_owner_only(tmp_path: Path) -> None:
    env = {"CLASSBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'c.db'}", "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "bot"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    out = tmp_path / "ledger.xlsx"
    result = subprocess.run(
        [*run, "export", "--date", "2026-11-23", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert mode(out) == 0o600
