"""open conversations: chats a platform lets the bot write to unprompted

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-02 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("is_group", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_conversations")),
        sa.UniqueConstraint(
            "platform",
            "chat_id",
            "is_group",
            name=op.f("uq_open_conversations_platform_chat_id_is_group"),
        ),
    )


def downgrade() -> None:
    op.drop_table("open_conversations")
