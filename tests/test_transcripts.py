"""The console transcripts in the README and docs/ are replayed through the demo and must match.

A transcript is a fenced block right after a marker line `<!-- transcript: NAME ARGS -->`.
Blocks with the same NAME in one file are one demo session, in order; ARGS (on the first
block of a session) are the `classbot demo` options, such as `--date 2026-11-22`. The lines
`> …` are typed in; every other line is what the bot must print. A `…` in a line stands for
text cut short: it matches anything, and lets the output run on (the rest of a long message,
or whole messages) until the next line of the transcript matches.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
MARKER = re.compile(r"^<!-- transcript: (\S+)(.*?) -->$")
FENCE = re.compile(r"^```(\w*)$")
# Lines that only a console transcript has.
CONSOLE_LINE = re.compile(r"^(# )?(> :|\[群 |\[私聊 → )")
DATA_DIR = re.compile(r"数据在 \S+（")


@dataclass
class Session:
    doc: Path
    name: str
    args: list[str]
    lines: list[str] = field(default_factory=list)
    # `$ printf '%s\n' … | classbot demo …` commands shown with the transcript.
    commands: list[str] = field(default_factory=list)

    @property
    def inputs(self) -> list[str]:
        return [line[2:] for line in self.lines if line.startswith("> ")]


def _blocks(doc: Path) -> list[tuple[str | None, str, list[str]]]:
    """(marker or None, fence language, lines) of every fenced block in a document."""
    found = []
    marker: str | None = None
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            m = MARKER.match(lines[i])
            marker = lines[i] if m else (marker if not lines[i].strip() else None)
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j] == "```")
        found.append((marker, fence.group(1), lines[i + 1 : end]))
        marker = None
        i = end + 1
    return found


def sessions() -> list[Session]:
    found: dict[tuple[Path, str], Session] = {}
    for doc in DOCS:
        for marker, language, lines in _blocks(doc):
            if marker is None:
                continue
            m = MARKER.match(marker)
            assert m is not None
            name, args = m.group(1), shlex.split(m.group(2))
            session = found.setdefault((doc, name), Session(doc, name, args))
            assert not args or args == session.args, f"{doc.name}: {name} given two ways"
            if language == "sh":  # a shell example with the transcript in comments
                session.commands += [line for line in lines if not line.startswith("#")]
                lines = [line[2:] for line in lines if line.startswith("# ")]
            command: list[str] = []
            for line in lines:
                if line.startswith("$ ") or (command and command[-1].endswith("\\")):
                    command.append(line)
                    continue
                if command:
                    session.commands.append(" ".join(c.rstrip("\\") for c in command))
                    command = []
                session.lines.append(line)
    return list(found.values())


def unmarked() -> list[str]:
    """Console transcripts that no marker puts under test."""
    return [
        f"{doc.name}: {lines[0] if lines else ''}"
        for doc in DOCS
        for marker, _language, lines in _blocks(doc)
        if marker is None and any(CONSOLE_LINE.match(line) for line in lines)
    ]


def _pattern(expected: str) -> re.Pattern[str]:
    parts = DATA_DIR.sub("数据在 …（", expected).split("…")
    # The spaces around a `…` belong to it; the line's own indentation stays exact.
    trimmed = [
        (p.lstrip() if i else p).rstrip() if i < len(parts) - 1 else (p.lstrip() if i else p)
        for i, p in enumerate(parts)
    ]
    return re.compile("^" + ".*".join(re.escape(p) for p in trimmed) + "$")


def mismatch(expected: list[str], output: list[str]) -> str | None:
    """Where the output departs from the transcript, or None when it matches."""
    at = 0 if expected and expected[0].startswith("classbot demo —") else 1
    running_on = False
    for n, line in enumerate(expected):
        pattern = _pattern(line)
        if running_on:
            while at < len(output) and not pattern.match(output[at]):
                at += 1
        if at >= len(output) or not pattern.match(output[at]):
            got = output[at] if at < len(output) else "(end of output)"
            return f"transcript line {n + 1}:\n  expected: {line}\n  printed:  {got}"
        running_on = "…" in line
        at += 1
    if not running_on and at < len(output):
        return f"the demo printed more than the transcript shows: {output[at]}"
    return None


def replay(session: Session, tmp_path: Path) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", *session.args],
        input="".join(f"{line}\n" for line in session.inputs),
        cwd=tmp_path,
        env={**base, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout.splitlines()


SESSIONS = sessions()


def test_every_console_transcript_in_the_docs_is_replayed() -> None:
    assert unmarked() == []
    names = {(s.doc.name, s.name) for s in SESSIONS}
    assert {"README.md", "workflows.md", "attendance.md"} <= {doc for doc, _ in names}
    assert all(s.inputs for s in SESSIONS)


@pytest.mark.parametrize("session", SESSIONS, ids=[f"{s.doc.name}:{s.name}" for s in SESSIONS])
def test_a_transcript_matches_what_the_demo_prints(session: Session, tmp_path: Path) -> None:
    for command in session.commands:
        # The command shown types exactly the transcript's lines into the same demo.
        words = shlex.split(command.removeprefix("$ "))
        pipe = words.index("|")
        assert words[0] == "printf" and words[pipe + 1 :] == [
            ".venv/bin/classbot",
            "demo",
            *session.args,
        ], f"{session.doc.name}: {command}"
        if words[1] == "%s\\n":
            typed = words[2:pipe]
        else:
            typed = [line for line in words[1].split("\\n") if line]
        assert typed == session.inputs, f"{session.doc.name}: the printf command types other lines"
    problem = mismatch(session.lines, replay(session, tmp_path))
    assert problem is None, f"{session.doc.name} ({session.name}): {problem}"


def test_the_matcher_refuses_a_line_that_differs_or_is_missing() -> None:
    printed = ["classbot demo — 2026-11-22 06:30，数据在 /tmp/x（…）", "> :as 1", "a", "b", "c"]
    assert mismatch(["> :as 1", "a", "b", "c"], printed) is None
    assert mismatch(["> :as 1", "a …", "c"], printed) is None
    assert mismatch(["> :as 1", "a", "c"], printed) is not None
    assert mismatch(["> :as 1", "a", "b"], printed) is not None
    assert mismatch(["> :as 1", "a", "b", "c", "d"], printed) is not None
    assert mismatch(["> :as 2", "a …"], printed) is not None
