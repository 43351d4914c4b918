"""Crash safety: `classbot run` killed with SIGKILL in the middle of the 12:00 roll-up, then
restarted, has sent every delivery exactly once and lost no check-in."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from bot.app import build_app
from schedules.runner import SLOW_DELIVERY_ENV
from storage import demo
from storage.models import CheckIn, Delivery
from tests.conftest import make_config

CLOCK = "2026-11-23T10:50"
CHECKERS = ["2020001", "2020003", "2020004", "2020031", "2020032"]
# "[私聊 → 王芳(T001)] 🤖 📊 …" or "[群 护理172] 🤖 ⏰ …": one line opens each message.
SENT = re.compile(
    r"^\[(?:群 (?P<group>[^\]]+)|私聊 → [^(]*\((?P<person>[^)]+)\))\] 🤖 (?P<text>.*)"
)
BOT = [sys.executable, "-m", "bot", "run", "--platform", "console"]
ROLLUP_RECIPIENTS = {"T001", "T002", "T003", "T009"}


class Bot:
    """`classbot run --platform console` in a subprocess, its output read line by line."""

    def __init__(self, config: Path, clock: str, cwd: Path) -> None:
        env = {**os.environ, SLOW_DELIVERY_ENV: "0.4", "PYTHONIOENCODING": "utf-8"}
        env.pop("CLASSBOT_TEST_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [*BOT, "-c", str(config), "--clock", clock],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{line}\n" for line in lines))
        self.proc.stdin.flush()

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if pattern in line:
                return line
        raise AssertionError(f"{pattern!r} never came; output:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 30) -> None:
        """Close stdin and read everything until the process exits."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        if self.proc.returncode != 0:
            assert self.proc.stderr is not None
            raise AssertionError(self.proc.stderr.read())

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


def sent(lines: list[str], marker: str) -> Counter[str]:
    """How many messages starting with `marker` went to each group or person."""
    out: Counter[str] = Counter()
    for line in lines:
        m = SENT.match(line)
        if m and m.group("text").startswith(marker):
            out[m.group("group") or m.group("person")] += 1
    return out


def test_killed_during_the_rollup_and_restarted_sends_each_delivery_once(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, console={"output_dir": str(tmp_path / "out")})
    app = build_app(config, scheduler=False)
    with app.uow() as session:
        demo.seed(session, app.clock.now(), platforms=("console",))
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[console]\noutput_dir = "{tmp_path / "out"}"\n',
        encoding="utf-8",
    )

    first = Bot(path, CLOCK, tmp_path)
    second: Bot | None = None
    try:
        for number in CHECKERS:
            first.type(f":as {number}", "打卡 36.6")
            first.wait_for("已打卡")
        first.type(":time 12:00")
        first.wait_for("🤖 📊")
        # Killed while it pauses between two roll-up deliveries.
        time.sleep(0.1)
        first.kill()
        before_restart = sent(first.lines, "📊")
        assert 1 <= sum(before_restart.values()) < len(ROLLUP_RECIPIENTS), first.lines

        second = Bot(path, "2026-11-23T12:05", tmp_path)
        second.finish()
    finally:
        first.close()
        if second is not None:
            second.close()
    lines = first.lines + second.lines
    assert sent(lines, "📊") == dict.fromkeys(ROLLUP_RECIPIENTS, 1)
    # The 11:00 reminders went out before the crash and not again after it.
    assert sent(lines, "⏰") == {"护理172": 1, "检验172": 1, "T001": 1, "T002": 1}
    assert sent(second.lines, "⏰") == {}

    with app.uow(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(CheckIn)) == len(CHECKERS)
        statuses = Counter(
            session.scalars(
                select(Delivery.status).where(
                    Delivery.job == "rollup", Delivery.day == date(2026, 11, 23)
                )
            )
        )
    assert statuses == {"sent": len(ROLLUP_RECIPIENTS)}
    app.engine.dispose()
