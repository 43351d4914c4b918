"""Retention: health and subsidy details are deleted once their time is up; only anonymous
per-class daily counts (DailyCount) stay. Every purge is written to the audit log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage import audit, inbound
from storage.models import (
    CheckIn,
    CheckInRevision,
    DailyCount,
    LeaveFollowUp,
    LeaveRequest,
    Person,
    Role,
    SchoolClass,
    SubsidyApplication,
)

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)
OPEN_SUBSIDY = ("pending_counselor", "pending_college")
# The inbound log only needs to outlive a platform's redelivery of the same message.
INBOUND_KEEP = timedelta(days=7)


@dataclass(frozen=True)
class PurgeResult:
    checkins: int = 0
    revisions: int = 0
    followups: int = 0
    leave_reasons: int = 0
    subsidies: int = 0
    daily_counts: int = 0

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
    counts = _checkin_counts(session, CheckIn.day == day)
    rows = [
        {
            "class_id": cid,
            "day": day,
            "roster": roster.get(cid, 0),
            **counts.get((cid, day), {"checked_in": 0, "late": 0, "abnormal": 0}),
        }
        for cid in class_ids
    ]
    return _upsert_counts(session, rows, keep_roster=False)


def _checkin_counts(session: Session, where: Any) -> dict[tuple[int, date], dict[str, int]]:
    rows = session.execute(
        select(
            CheckIn.class_id,
            CheckIn.day,
            func.count(),
            func.sum(case((CheckIn.late, 1), else_=0)),
            func.sum(case((CheckIn.abnormal_today, 1), else_=0)),
        )
        .where(where)
        .group_by(CheckIn.class_id, CheckIn.day)
    )
    return {
        (int(cid), day): {
            "checked_in": int(n),
            "late": int(late or 0),
            "abnormal": int(abnormal or 0),
        }
        for cid, day, n, late, abnormal in rows
    }


def purge_health(session: Session, before: date, tz: ZoneInfo) -> PurgeResult:
    """Delete check-in details of days before `before`, their history, 病因追查 notes and
    reasons of leave that ended before then; the days' counts are kept in DailyCount first."""
    counts = _checkin_counts(session, CheckIn.day < before)
    roster = _roster_sizes(session, list({cid for cid, _ in counts}))
    rows = [
        {"class_id": cid, "day": day, "roster": roster.get(cid, 0), **c}
        for (cid, day), c in counts.items()
    ]
    written = _upsert_counts(session, rows, keep_roster=True)
    cutoff = datetime.combine(before, time(0), tzinfo=tz)
    revisions = session.execute(delete(CheckInRevision).where(CheckInRevision.day < before))
    checkins = session.execute(delete(CheckIn).where(CheckIn.day < before))
    followups = session.execute(delete(LeaveFollowUp).where(LeaveFollowUp.created_at < cutoff))
    reasons = session.execute(
        update(LeaveRequest)
        .where(
            LeaveRequest.end_date < before,
            LeaveRequest.reason != "",
        )
        .values(reason="", decision_note=None)
    )
    return PurgeResult(
        checkins=_count(checkins),
        revisions=_count(revisions),
        followups=_count(followups),
        leave_reasons=_count(reasons),
        daily_counts=written,
    )


def purge_subsidies(session: Session, before: datetime) -> int:
    """Delete decided subsidy applications whose last decision is older than `before`."""
    decided = func.coalesce(
        SubsidyApplication.college_at,
        SubsidyApplication.counselor_at,
        SubsidyApplication.created_at,
    )
    result = session.execute(
        delete(SubsidyApplication).where(
            SubsidyApplication.status.not_in(OPEN_SUBSIDY), decided < before
        )
    )
    return _count(result)


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
    health = purge_health(session, before, tz)
    subsidy_before = now - timedelta(days=subsidy_retention_days)
    result = PurgeResult(
        **{**asdict(health), "subsidies": purge_subsidies(session, subsidy_before)}
    )
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
) -> PurgeResult:
    """The daily job: yesterday's counts, the purge, and pruning the inbound log."""
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
    return result


def _count(result: Any) -> int:
    return int(result.rowcount or 0)
