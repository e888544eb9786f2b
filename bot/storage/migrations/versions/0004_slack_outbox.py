"""Slack outbox: what the bot means to say, cards as desired state, per-channel sender leases

Revision ID: 0004_slack_outbox
Revises: 0003_incident_change_status
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0004_slack_outbox"
down_revision: str | None = "0003_incident_change_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lane", sa.String(80), nullable=False),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("channel_id", sa.String(40), nullable=True),
        sa.Column("op", sa.String(20), nullable=False),
        sa.Column("card", sa.String(40), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=True, unique=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_outbox_lane", "slack_outbox", ["lane", "status", "id"])
    op.create_index("ix_outbox_status", "slack_outbox", ["status"])
    op.create_table(
        "slack_cards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("lane", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sent_version", sa.Integer(), nullable=False),
        sa.Column("ts", sa.String(40), nullable=True),
        sa.Column("pin", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("incident_id", "kind", name="uq_slack_card"),
    )
    op.create_index("ix_slack_cards_dirty", "slack_cards", ["lane", "sent_version", "version"])
    op.create_table(
        "slack_lanes",
        sa.Column("lane", sa.String(80), primary_key=True),
        sa.Column("leased_by", sa.String(80), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("not_before", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("slack_lanes")
    op.drop_index("ix_slack_cards_dirty", table_name="slack_cards")
    op.drop_table("slack_cards")
    op.drop_index("ix_outbox_status", table_name="slack_outbox")
    op.drop_index("ix_outbox_lane", table_name="slack_outbox")
    op.drop_table("slack_outbox")
