"""incident_changes.status: the merged status of a deploy reported by several tools

Revision ID: 0003_incident_change_status
Revises: 0002_change_image_tag
Create Date: 2026-11-24 12:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_incident_change_status"
down_revision: str | None = "0002_change_image_tag"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident_changes") as batch:
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_changes") as batch:
        batch.drop_column("status")
