"""Drills: the scenario, clock and scorecard of each drill incident; changes a drill injected

Revision ID: 0005_drills
Revises: 0004_slack_outbox
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0005_drills"
down_revision: str | None = "0004_slack_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("scenario_name", sa.String(80), nullable=False),
        sa.Column("scenario", sa.JSON(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("started_by", sa.String(120), nullable=True),
        sa.Column("start_key", sa.String(200), nullable=True, unique=True),
        sa.Column("fixed_at", UTCDateTime(), nullable=True),
        sa.Column("fixed_by_playbook", sa.String(120), nullable=True),
        sa.Column("scorecard", sa.JSON(), nullable=True),
    )
    op.create_index("ix_drills_scenario_name", "drills", ["scenario_name"])
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("drill_incident_id", sa.Integer(), nullable=True))
    op.create_index("ix_changes_drill_incident_id", "changes", ["drill_incident_id"])


def downgrade() -> None:
    op.drop_index("ix_changes_drill_incident_id", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("drill_incident_id")
    op.drop_index("ix_drills_scenario_name", table_name="drills")
    op.drop_table("drills")
