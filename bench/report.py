"""The benchmark's table, and its figures as JSON in bench/results/."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from bench.run import FLOOR_SPREAD, Results

RESULTS = Path(__file__).with_name("results")


def table(r: Results) -> str:
    """The figures as a Markdown table: what was measured, the figure, the target."""
    met = r.met()
    t = r.targets
    floor_name = "sqlite3" if r.database == "sqlite" else "psycopg"

    def mark(key: str) -> str:
        return "✓" if met.get(key) else "✗"

    def samples(values: list[float]) -> str:
        return ", ".join(f"{v:,.0f}" for v in values)

    spread = f"spread {r.floor_spread:.0%}" + (
        f" > {FLOOR_SPREAD:.0%}: ⚠ NOISY RUN, the ratios are unreliable"
        if r.floor_flagged
        else f" ≤ {FLOOR_SPREAD:.0%}"
    )
    rows = [
        (
            "Check-in throughput (router + storage + inline sends)",
            f"{r.checkin_rate:,.0f} msg/s ({r.checkins:,} messages in {r.checkin_s:.1f} s; "
            f"CPU {r.checkin_cpu_s:.1f} s = {r.checkins / max(r.checkin_cpu_s, 1e-9):,.0f} msg/CPU-s)"
            f"; ÷ floor {r.raw_ratio:.3f}",
            f"≥ {t['checkin_rate']:,.0f} msg/s {mark('checkin_rate')}",
        ),
        (
            "Check-in latency p50 / p99",
            f"{r.checkin_p50_ms:.2f} ms / {r.checkin_p99_ms:.2f} ms",
            f"p99 ≤ {t['checkin_p99_ms']:.0f} ms {mark('checkin_p99_ms')}",
        ),
        (
            "Check-in intake only (router + storage, no sending)",
            f"{r.intake_rate:,.0f} msg/s (p50 {r.intake_p50_ms:.2f} ms / p99 "
            f"{r.intake_p99_ms:.2f} ms); ÷ floor {r.intake_ratio:.3f}",
            "-",
        ),
        (
            f"Check-in intake, group commit ({r.batch_size} to a commit, the next morning's "
            f"first {r.batch_checkins:,})",
            f"{r.batch_rate:,.0f} msg/s; ÷ floor {r.batch_ratio:.3f}",
            "-",
        ),
        (
            f"Raw {floor_name} floor (1 row per transaction), median of "
            f"{len(r.floor_before) + len(r.floor_after)} samples of {r.raw_inserts:,} rows",
            f"{r.raw_rate:,.0f} rows/s (before the day: {samples(r.floor_before)}; after: "
            f"{samples(r.floor_after)}; {spread}; {r.raw_settings})",
            "-",
        ),
        (
            "11:00 job (overdue + reminders)",
            f"{r.deadline_s:.2f} s ({r.reminders:,} group reminders for "
            f"{r.missing_students:,} missing in {r.missing_classes:,} classes; "
            f"{r.deadline_private:,} staff lists; CPU {r.deadline_cpu_s:.2f} s; of it the "
            f"test adapter's inline sends {r.deadline_sends_s:.2f} s)",
            f"≤ {t['deadline_s']:.0f} s {mark('deadline_s')}",
        ),
        (
            "12:00 job (summaries + all ledgers)",
            f"{r.rollup_s:.2f} s ({r.rollup_ledgers:,} ledgers; school ledger "
            f"{r.school_ledger_rows:,} rows, {r.school_ledger_bytes / 1e6:.1f} MB; "
            f"CPU {r.rollup_cpu_s:.2f} s; {r.rollup_charts:,} PNG charts, "
            f"drawing them {r.chart_render_s:.2f} s, CPU {r.chart_render_cpu_s:.2f} s, "
            f"largest {r.chart_bytes / 1e3:.0f} kB; of it the inline sends "
            f"{r.rollup_sends_s:.2f} s)",
            f"≤ {t['rollup_s']:.0f} s {mark('rollup_s')}",
        ),
        (
            "Peak RSS, the bot's day",
            f"{r.peak_rss_mb:,.0f} MB",
            f"≤ {t['peak_rss_mb']:.0f} MB {mark('peak_rss_mb')}",
        ),
        (
            f"Peak RSS, roster import from its workbook ({r.import_rows:,} rows, own process)",
            f"{r.import_rss_mb:,.0f} MB",
            f"≤ {t['import_rss_mb']:.0f} MB {mark('import_rss_mb')}",
        ),
    ]
    if r.fanout:
        rows.append(
            (
                f"Telegram fan-out, {r.fanout} groups (outbox sender)",
                f"{r.fanout_s:.2f} s vs floor {r.fanout_floor_s:.2f} s at 30 msg/s "
                f"= {r.fanout_ratio:.2f}×",
                f"≤ {t['fanout_ratio']}× {mark('fanout_ratio')}",
            )
        )
    if r.workers:
        rows.append(_workers_row(r))
    if r.burst is not None:
        b = r.burst
        rows += [
            (
                f"Burst: {b.students} check-ins in one group within {b.spread_s:g} s",
                f"{b.group_messages} group messages; acknowledgement p50 {b.ack_p50_s:.1f} s / "
                f"p99 {b.ack_p99_s:.1f} s{'' if b.all_named else ' (some names missing)'}",
                f"floor, one message each at 20/min per group: p50 {b.floor_p50_s:.1f} s / "
                f"p99 {b.floor_p99_s:.1f} s",
            ),
            (
                f"Burst: replies to {b.others} other private chats meanwhile",
                f"p50 {b.reply_p50_s:.2f} s / p99 {b.reply_p99_s:.2f} s",
                "floor 0 s (1 msg/s per chat, 30 msg/s overall)",
            ),
        ]
    header = (
        f"School: {r.students:,} students, {r.classes:,} classes, {r.colleges} colleges, "
        f"{r.counselors} counselors; database: {r.database}; seeded in {r.seed_s:.1f} s"
    )
    lines = [header, "", "| Measure | Result | Target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    m = r.machine
    lines += [
        "",
        f"Machine: {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('memory')} RAM, "
        f"Python {m.get('python')}, SQLite {m.get('sqlite')}, {m.get('platform')}; "
        f"load average {_load(r.load_before)} before the run, {_load(r.load_after)} after",
    ]
    return "\n".join(lines)


def _workers_row(r: Results) -> tuple[str, str, str]:
    """One and then two `classbot worker` processes: updates a second, and the CPU used."""
    one = r.workers[0]
    cells = []
    for w in r.workers:
        gain = f" = {w.rate / one.rate:.2f}× one" if w is not one and one.rate else ""
        cells.append(
            f"{w.workers}: {w.rate:,.0f} updates/s{gain} ({w.updates:,} in {w.seconds:.1f} s; "
            f"workers' CPU {w.workers_cpu_s:.1f} s; the machine {w.machine_busy:.0%} busy)"
        )
    cores = int(r.machine.get("nproc") or 0)
    target = "2 workers ≥ 1.8× one, on ≥ 4 cores"
    if len(r.workers) > 1 and cores >= 4 and one.rate:
        target += " ✓" if r.workers[1].rate >= 1.8 * one.rate else " ✗"
    else:
        target += f" (this machine: {cores} CPUs)"
    return ("Workers over the stored updates (`classbot worker`)", "; ".join(cells), target)


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in load)


def comparison(results: list[Results]) -> str:
    """Both databases side by side: each figure with its ratio to that database's floor."""
    head = "| Measure | " + " | ".join(r.database for r in results) + " |"
    lines = [head, "|---|" + "---|" * len(results)]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("Raw single-row-commit floor", [f"{r.raw_rate:,.0f} rows/s" for r in results])
    row(
        "Check-in with inline sends",
        [f"{r.checkin_rate:,.0f} msg/s = {r.raw_ratio:.3f} of floor" for r in results],
    )
    row(
        "Check-in intake only",
        [f"{r.intake_rate:,.0f} msg/s = {r.intake_ratio:.3f} of floor" for r in results],
    )
    row(
        "Check-in intake, group commit",
        [f"{r.batch_rate:,.0f} msg/s = {r.batch_ratio:.3f} of floor" for r in results],
    )
    row("Check-in p99", [f"{r.checkin_p99_ms:.2f} ms" for r in results])
    row(
        "11:00 job (of it inline sends)",
        [f"{r.deadline_s:.2f} s ({r.deadline_sends_s:.2f} s)" for r in results],
    )
    row(
        "12:00 job (of it inline sends)",
        [f"{r.rollup_s:.2f} s ({r.rollup_sends_s:.2f} s)" for r in results],
    )
    row(
        "Peak RSS: day / import",
        [f"{r.peak_rss_mb:,.0f} / {r.import_rss_mb:,.0f} MB" for r in results],
    )
    row(
        "Workers: 1 / 2",
        [
            " / ".join(f"{w.rate:,.0f}" for w in r.workers) + " updates/s" if r.workers else "-"
            for r in results
        ],
    )
    row("Floor spread", [f"{r.floor_spread:.0%}{' ⚠' if r.floor_flagged else ''}" for r in results])
    return "\n".join(lines)


def save(r: Results, directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"bench-{r.students}-{r.database}-{stamp}.json"
    path.write_text(json.dumps(r.as_json(), ensure_ascii=False, indent=2) + "\n")
    return path
