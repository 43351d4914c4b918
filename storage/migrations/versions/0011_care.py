"""care records: 心理预警, 心理委员 reports, separate consents

Revision ID: 0011
Revises: 0002
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["people.id"],
            name=op.f("fk_care_alerts_assignee_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_care_alerts_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["people.id"],
            name=op.f("fk_care_alerts_reporter_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["people.id"],
            name=op.f("fk_care_alerts_student_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_alerts")),
    )
    with op.batch_alter_table("care_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_alerts_class_id"), ["class_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_care_alerts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_care_alerts_student_id"), ["student_id"], unique=False)

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

    op.create_table(
        "care_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_care_consents_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_consents")),
        sa.UniqueConstraint(
            "person_id", "purpose", name=op.f("uq_care_consents_person_id_purpose")
        ),
    )


def downgrade() -> None:
    op.drop_table("care_consents")
    with op.batch_alter_table("psych_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_psych_reports_period_start"))
        batch_op.drop_index(batch_op.f("ix_psych_reports_class_id"))
    op.drop_table("psych_reports")
    with op.batch_alter_table("care_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_alerts_student_id"))
        batch_op.drop_index(batch_op.f("ix_care_alerts_created_at"))
        batch_op.drop_index(batch_op.f("ix_care_alerts_class_id"))
    op.drop_table("care_alerts")
