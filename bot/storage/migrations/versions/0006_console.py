"""The web console: sign-ins under way (state and nonce)

Revision ID: 0006_console
Revises: 0005_drills
Create Date: 2026-12-01 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0006_console"
down_revision: str | None = "0005_drills"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sign_ins",
        sa.Column("state", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("next_path", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_console_sign_ins_created_at", "console_sign_ins", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sign_ins_created_at", table_name="console_sign_ins")
    op.drop_table("console_sign_ins")
