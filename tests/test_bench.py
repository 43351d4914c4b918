"""The benchmark at a small scale, as a smoke test: the table comes out and the counts are right.

No time is asserted here; the figures are for `make bench` on a quiet machine.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import save, table
from bench.run import LATE_SHARE, run
from bench.school import SchoolSize, generate


def test_school_scales_in_proportion_and_is_the_same_for_a_seed() -> None:
    assert SchoolSize.scaled() == SchoolSize(67_000, 1_700, 30, 400)
    small = SchoolSize.scaled(2_000)
    assert (small.classes, small.colleges, small.counselors) == (51, 1, 12)
    a, b = generate(small, seed=7), generate(small, seed=7)
    assert a.roster == b.roster
    assert len(a.roster.students) == 2_000
    assert len(set(a.class_of.values())) == 51
    served = [c for t in a.roster.staff for c in t.classes]
    assert sorted(served) == sorted(a.class_codes)


async def test_small_run_checks_everyone_in_once_and_counts_right(
    database_url: str, tmp_path: Path
) -> None:
    # The burst's windows scaled down (1 s of check-ins, 0.2 s and 0.8 s windows): a smoke test.
    r = await run(
        2_000,
        fanout=5,
        database_url=database_url,
        workdir=tmp_path,
        burst=40,
        burst_windows=(1.0, 0.2, 0.8),
    )

    assert r.checkins == 2_000
    assert r.checkin_rows == 2_000
    assert r.missing_students == round(2_000 * LATE_SHARE)
    assert 0 < r.missing_classes <= 51
    assert r.reminders == r.missing_classes
    # Each counselor gets the 11:00 list of their classes.
    assert r.deadline_private == 12
    # 12 counselors, 1 college admin and the school admin each get a ledger.
    assert r.rollup_ledgers == 14
    # The college admin and the school admin each get a chart.
    assert r.rollup_charts == 2 and r.chart_bytes > 0 and r.chart_render_s > 0
    # The inline sends are timed within each job: part of it, never all of it.
    assert 0 < r.deadline_sends_s < r.deadline_s and 0 < r.rollup_sends_s < r.rollup_s
    assert r.school_ledger_rows == 2_000
    assert r.school_ledger_bytes > 0
    assert r.raw_inserts == 2_000 and r.raw_rate > 0
    # The floor: three samples before the day and three after, the median kept.
    assert len(r.floor_before) == 3 and len(r.floor_after) == 3
    assert min(r.floor_before + r.floor_after) <= r.raw_rate <= max(r.floor_before + r.floor_after)
    # The intake alone is timed inside the same check-ins, so it is faster than the whole.
    assert r.intake_rate > r.checkin_rate > 0 and r.intake_p50_ms <= r.checkin_p50_ms
    # The next morning's check-ins through the batch API: every one stored.
    assert r.batch_size == 40 and r.batch_checkins == r.batch_rows == 2_000 and r.batch_rate > 0
    # The roster went through its workbook, in a process of its own.
    assert r.import_rows == 2_000 + 12 + 1 + 1 and r.import_rss_mb > 0
    assert r.fanout_sent == 5
    if r.database == "postgresql":
        # One `classbot worker` process and then two handled every student's stored update.
        assert [(w.workers, w.updates) for w in r.workers] == [(1, 2_000), (2, 2_000)]
        assert all(w.seconds > 0 and w.workers_cpu_s > 0 for w in r.workers)
        assert "Workers over the stored updates" in table(r)
    else:
        assert r.workers == []
    assert r.peak_rss_mb > 0

    text = table(r)
    for measure in (
        "Check-in throughput",
        "p50 / p99",
        "intake only",
        "group commit",
        "Raw sqlite3 floor" if r.database == "sqlite" else "Raw psycopg floor",
        "median of 6 samples",
        "11:00 job",
        "12:00 job",
        "roster import",
        "load average",
    ):
        assert measure in text
    assert "2 PNG charts" in text
    assert "Peak RSS" in text and "Telegram fan-out, 5 groups" in text
    assert r.burst is not None and r.burst.all_named and r.burst.students == 40
    assert "Burst: 40 check-ins in one group" in text and "other private chats" in text
    saved = save(r, tmp_path / "results")
    assert saved.read_text().count('"checkins": 2000') == 1
    assert ('"workers": 2,' in saved.read_text()) == (r.database == "postgresql")
