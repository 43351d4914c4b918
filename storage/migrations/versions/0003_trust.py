"""abnormal readings stay all day; the 心理委员 flag on a roster person

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-02 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkins") as batch:
        batch.add_column(
            sa.Column(
                "abnormal_today", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    op.execute("UPDATE checkins SET abnormal_today = abnormal")
    with op.batch_alter_table("people") as batch:
        batch.add_column(
            sa.Column("psych_rep", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("psych_rep")
    with op.batch_alter_table("checkins") as batch:
        batch.drop_column("abnormal_today")
