"""pending prompts: the question a chat account is expected to answer next

Revision ID: 0009
Revises: 0002
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("sender_id", sa.String(length=100), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("expect", sa.String(length=100), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_prompts")),
        sa.UniqueConstraint(
            "platform",
            "chat_id",
            "sender_id",
            name=op.f("uq_pending_prompts_platform_chat_id_sender_id"),
        ),
    )
    with op.batch_alter_table("pending_prompts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_prompts_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("pending_prompts")
