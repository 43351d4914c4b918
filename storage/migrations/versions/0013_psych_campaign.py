"""心理委员 reports move onto the campaign engine: one psych campaign per period

Every psych_reports row becomes a response (with its first version) of the psych campaign
of its period, numbered by the period's first day (P20261123); the table goes. The
downgrade recreates it and moves the responses back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:40:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND = "psych"
# The school's local time and the default [care] psych_reminder_time: a moved period's
# deadline is its reminder day (Friday, or the 25th) at 16:00.
TZ = ZoneInfo("Asia/Shanghai")
REMINDER = time(16, 0)
FORM = [
    {
        "key": "abnormal",
        "label": "有无异常",
        "label_en": "Anything abnormal",
        "type": "yesno",
        "required": True,
        "sensitive": True,
    },
    {
        "key": "text",
        "label": "情况",
        "label_en": "What was seen",
        "type": "longtext",
        "required": False,
        "sensitive": True,
    },
]

psych_reports = sa.table(
    "psych_reports",
    sa.column("id", sa.Integer),
    sa.column("reporter_id", sa.Integer),
    sa.column("class_id", sa.Integer),
    sa.column("period_start", sa.Date),
    sa.column("abnormal", sa.Boolean),
    sa.column("text", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
campaigns = sa.table(
    "campaigns",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("number", sa.Integer),
    sa.column("title", sa.String),
    sa.column("form", sa.JSON),
    sa.column("audience", sa.JSON),
    sa.column("opens_at", sa.DateTime(timezone=True)),
    sa.column("deadline", sa.DateTime(timezone=True)),
    sa.column("period", sa.String),
    sa.column("remind_before", sa.Integer),
    sa.column("in_groups", sa.Boolean),
    sa.column("created_by", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("status", sa.String),
    sa.column("closed_at", sa.DateTime(timezone=True)),
)
responses = sa.table(
    "campaign_responses",
    sa.column("campaign_id", sa.Integer),
    sa.column("period_key", sa.String),
    sa.column("person_id", sa.Integer),
    sa.column("class_id", sa.Integer),
    sa.column("answers", sa.JSON),
    sa.column("first_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("revision", sa.Integer),
)
revisions = sa.table(
    "campaign_response_revisions",
    sa.column("campaign_id", sa.Integer),
    sa.column("period_key", sa.String),
    sa.column("person_id", sa.Integer),
    sa.column("revision", sa.Integer),
    sa.column("answers", sa.JSON),
    sa.column("at", sa.DateTime(timezone=True)),
)


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _utc(value: datetime, dialect: str) -> datetime:
    """An aware datetime as the column takes it (naive UTC on SQLite, as the models write)."""
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if dialect == "sqlite" else value


def _period(start: date) -> tuple[str, str, date]:
    """(period, period key, reminder day) of a stored period start: a Monday is a week, any
    other 1st a month."""
    if start.weekday() != 0 and start.day == 1:
        return "monthly", f"{start:%Y-%m}", start.replace(day=25)
    year, week, _ = start.isocalendar()
    return "weekly", f"{year}-W{week:02d}", start + timedelta(days=4)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    rows = bind.execute(sa.select(psych_reports).order_by(psych_reports.c.id)).mappings().all()
    now = datetime.now(UTC)
    made: dict[date, tuple[int, str]] = {}
    for row in rows:
        start = _day(row["period_start"])
        if start not in made:
            period, key, due = _period(start)
            deadline = datetime.combine(due, REMINDER, tzinfo=TZ)
            closed = deadline <= now
            campaign_id = bind.execute(
                sa.insert(campaigns)
                .values(
                    kind=KIND,
                    number=int(start.strftime("%Y%m%d")),
                    title=f"心理委员报告（{start.isoformat()} 起）",
                    form=FORM,
                    audience={"school": True},
                    opens_at=_utc(datetime.combine(start, time(), tzinfo=TZ), dialect),
                    deadline=_utc(deadline, dialect),
                    period=period,
                    remind_before=0,
                    in_groups=False,
                    created_by=None,
                    created_at=_utc(now, dialect),
                    status="closed" if closed else "open",
                    closed_at=_utc(deadline, dialect) if closed else None,
                )
                .returning(campaigns.c.id)
            ).scalar_one()
            made[start] = (int(campaign_id), key)
        campaign_id, key = made[start]
        answers = {"abnormal": bool(row["abnormal"]), "text": row["text"]}
        bind.execute(
            sa.insert(responses).values(
                campaign_id=campaign_id,
                period_key=key,
                person_id=row["reporter_id"],
                class_id=row["class_id"],
                answers=answers,
                first_at=row["created_at"],
                updated_at=row["updated_at"],
                revision=1,
            )
        )
        bind.execute(
            sa.insert(revisions).values(
                campaign_id=campaign_id,
                period_key=key,
                person_id=row["reporter_id"],
                revision=1,
                answers=answers,
                at=row["updated_at"],
            )
        )
    with op.batch_alter_table("psych_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_psych_reports_period_start"))
        batch_op.drop_index(batch_op.f("ix_psych_reports_class_id"))
    op.drop_table("psych_reports")


def downgrade() -> None:
    op.create_table(
        "psych_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("abnormal", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_psych_reports_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["people.id"],
            name=op.f("fk_psych_reports_reporter_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psych_reports")),
        sa.UniqueConstraint(
            "reporter_id",
            "period_start",
            name=op.f("uq_psych_reports_reporter_id_period_start"),
        ),
    )
    with op.batch_alter_table("psych_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_psych_reports_class_id"), ["class_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_psych_reports_period_start"), ["period_start"], unique=False
        )
    bind = op.get_bind()
    psych = sa.select(campaigns.c.id).where(campaigns.c.kind == KIND)
    rows = bind.execute(
        sa.select(responses, campaigns.c.number)
        .join(campaigns, campaigns.c.id == responses.c.campaign_id)
        .where(campaigns.c.kind == KIND)
        .order_by(responses.c.first_at)
    ).mappings()
    for row in rows.all():
        number = str(row["number"])
        answers = dict(row["answers"] or {})
        bind.execute(
            sa.insert(psych_reports).values(
                reporter_id=row["person_id"],
                class_id=row["class_id"],
                period_start=date(int(number[:4]), int(number[4:6]), int(number[6:])),
                abnormal=bool(answers.get("abnormal")),
                text=answers.get("text"),
                created_at=row["first_at"],
                updated_at=row["updated_at"],
            )
        )
    bind.execute(sa.delete(revisions).where(revisions.c.campaign_id.in_(psych)))
    bind.execute(sa.delete(responses).where(responses.c.campaign_id.in_(psych)))
    bind.execute(sa.delete(campaigns).where(campaigns.c.kind == KIND))
