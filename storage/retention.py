"""Retention: health details and each request kind's details are deleted once their time is
up; only anonymous per-class daily counts (DailyCount) stay. Every purge is written to the
audit log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage import audit, care, inbound, outbox, prompts, reports
from storage.db import rows_affected
from storage.models import (
    CheckIn,
    CheckInRevision,
    DailyCount,
    Person,
    Request,
    RequestEvent,
    Role,
    SchoolClass,
)
from storage.requests import RequestKind
from storage.workflows import WORKFLOWS

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)
# The inbound log only needs to outlive a platform's redelivery of the same message.
INBOUND_KEEP = timedelta(days=7)


@dataclass(frozen=True)
class PurgeResult:
    checkins: int = 0
    revisions: int = 0
    # Request kinds: notes deleted (病因追查), requests whose text was cleared (请假 reasons),
    # requests deleted whole (补助).
    notes: int = 0
    cleared: int = 0
    deleted: int = 0
    daily_counts: int = 0
    # Outbox rows whose body (and file) was dropped: alerts and ledgers carry health data.
    messages: int = 0

    def total(self) -> int:
        return sum(asdict(self).values())


def _roster_sizes(session: Session, class_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(Person.class_id, func.count())
        .where(
            Person.class_id.in_(class_ids),
            Person.role.in_(STUDENT_ROLES),
            Person.active.is_(True),
        )
        .group_by(Person.class_id)
    )
    return {int(cid): int(n) for cid, n in rows if cid is not None}


def _upsert_counts(session: Session, rows: list[dict[str, Any]], keep_roster: bool) -> int:
    """Write daily counts; `keep_roster` keeps a roster size already recorded for that day."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(DailyCount).values(rows)
    excluded = stmt.excluded
    updates = {
        "checked_in": excluded.checked_in,
        "late": excluded.late,
        "abnormal": excluded.abnormal,
    }
    if not keep_roster:
        updates["roster"] = excluded.roster
    session.execute(stmt.on_conflict_do_update(index_elements=["class_id", "day"], set_=updates))
    return len(rows)


def record_daily_counts(session: Session, day: date) -> int:
    """Snapshot every class's anonymous counts for one day (roster as it is now)."""
    class_ids = list(session.scalars(select(SchoolClass.id)))
    roster = _roster_sizes(session, class_ids)
    counts = reports.checkin_counts(session, CheckIn.day == day)
    rows = [
        {
            "class_id": cid,
            "day": day,
            "roster": roster.get(cid, 0),
            **asdict(counts.get((cid, day), reports.DayCounts())),
        }
        for cid in class_ids
    ]
    return _upsert_counts(session, rows, keep_roster=False)


def purge_health(session: Session, before: date) -> PurgeResult:
    """Delete check-in details of days before `before` and their history; the days' counts
    are kept in DailyCount first."""
    counts = reports.checkin_counts(session, CheckIn.day < before)
    roster = _roster_sizes(session, list({cid for cid, _ in counts}))
    rows = [
        {"class_id": cid, "day": day, "roster": roster.get(cid, 0), **asdict(c)}
        for (cid, day), c in counts.items()
    ]
    written = _upsert_counts(session, rows, keep_roster=True)
    revisions = session.execute(delete(CheckInRevision).where(CheckInRevision.day < before))
    checkins = session.execute(delete(CheckIn).where(CheckIn.day < before))
    return PurgeResult(
        checkins=rows_affected(checkins), revisions=rows_affected(revisions), daily_counts=written
    )


def purge_requests(
    session: Session, kind: RequestKind[Any], before_day: date, before: datetime
) -> PurgeResult:
    """One kind's details past its retention, as its declaration says."""
    rule = kind.retention
    of_kind = select(Request.id).where(Request.kind == kind.name)
    if rule.delete:
        final = [name for name, s in kind.states.items() if s.final]
        deleted = session.execute(
            delete(Request).where(
                Request.kind == kind.name,
                Request.status.in_(final),
                Request.closed_at < before,
            )
        )
        return PurgeResult(deleted=rows_affected(deleted))
    notes = 0
    if rule.notes:
        notes = rows_affected(
            session.execute(
                delete(RequestEvent).where(
                    RequestEvent.request_id.in_(of_kind),
                    RequestEvent.action.in_(rule.notes),
                    RequestEvent.at < before,
                )
            )
        )
    cleared = 0
    if rule.text_fields:
        # A request with days ends with its last day; one without, when it closed.
        ended = list(
            session.scalars(
                select(Request).where(
                    Request.kind == kind.name,
                    or_(
                        Request.ends_on < before_day,
                        and_(Request.ends_on.is_(None), Request.closed_at < before),
                    ),
                )
            )
        )
        for request in ended:
            if all(not request.payload.get(f) for f in rule.text_fields):
                continue
            request.payload = {**request.payload, **dict.fromkeys(rule.text_fields, "")}
            cleared += 1
        ids = [r.id for r in ended]
        for i in range(0, len(ids), 500):
            session.execute(
                update(RequestEvent)
                .where(
                    RequestEvent.request_id.in_(ids[i : i + 500]), RequestEvent.note.is_not(None)
                )
                .values(note=None)
            )
        session.flush()
    return PurgeResult(notes=notes, cleared=cleared)


def purge(
    session: Session,
    *,
    now: datetime,
    tz: ZoneInfo,
    retention_days: int,
    subsidy_retention_days: int,
    actor_label: str,
) -> PurgeResult:
    """Everything past retention, in one transaction, recorded in the audit log."""
    today = now.astimezone(tz).date()
    before = today - timedelta(days=retention_days)
    subsidy_before = now - timedelta(days=subsidy_retention_days)
    totals = asdict(purge_health(session, before))
    # A kind on the health period goes by the same local day; the subsidy period by the
    # moment its decision is that old.
    periods = {
        "health": (before, datetime.combine(before, time(0), tzinfo=tz)),
        "subsidy": (subsidy_before.astimezone(tz).date(), subsidy_before),
    }
    for kind in WORKFLOWS:
        before_day, before_time = periods[kind.retention.setting]
        for key, n in asdict(purge_requests(session, kind, before_day, before_time)).items():
            totals[key] += n
    # Message bodies and queued files carry health data: they go with the health period.
    totals["messages"], files = outbox.purge_bodies(session, periods["health"][1])
    for path in files:
        Path(path).unlink(missing_ok=True)
    result = PurgeResult(**totals)
    audit.record(
        session,
        at=now,
        actor=None,
        actor_label=actor_label,
        action="purge",
        target=f"before:{before.isoformat()}",
        detail={
            "retention_days": retention_days,
            "subsidy_retention_days": subsidy_retention_days,
            "subsidy_before": subsidy_before.isoformat(),
            **asdict(result),
        },
    )
    return result


def housekeeping(
    session: Session,
    *,
    now: datetime,
    tz: ZoneInfo,
    retention_days: int,
    subsidy_retention_days: int,
    care_retention_days: int | None = None,
) -> PurgeResult:
    """The daily job: yesterday's counts, the purge, pruning the inbound log, dropping the
    questions nobody answered in time (their state may hold a half-filled form); care
    records (心理预警, 心理委员 reports) go by their own period."""
    yesterday = now.astimezone(tz).date() - timedelta(days=1)
    record_daily_counts(session, yesterday)
    result = purge(
        session,
        now=now,
        tz=tz,
        retention_days=retention_days,
        subsidy_retention_days=subsidy_retention_days,
        actor_label="schedule:purge",
    )
    inbound.prune(session, now - INBOUND_KEEP)
    prompts.purge_expired(session, now)
    if care_retention_days is not None:
        care.purge(session, now - timedelta(days=care_retention_days), now=now)
    return result
