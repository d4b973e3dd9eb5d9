"""automated events: the record of a start that failed (R-ROOM-4, R-AUTO-1)

Revision ID: 0006_automation
Revises: 0005_room_files

One nullable column: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_automation"
down_revision = "0005_room_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("automation", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "automation")  # SQLite 3.35+ drops a column in place (no table rebuild)
