"""changes.image_tag (links one deploy across sources) and incident_changes.linked_sources

Revision ID: 0002_change_image_tag
Revises: 0001
Create Date: 2026-11-24 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_change_image_tag"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("image_tag", sa.String(length=300), nullable=True))
        batch.create_index("ix_changes_image_tag", ["image_tag"], unique=False)
    with op.batch_alter_table("incident_changes") as batch:
        batch.add_column(sa.Column("linked_sources", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_changes") as batch:
        batch.drop_column("linked_sources")
    with op.batch_alter_table("changes") as batch:
        batch.drop_index("ix_changes_image_tag")
        batch.drop_column("image_tag")
