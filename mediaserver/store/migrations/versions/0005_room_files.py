"""files uploaded straight into an event's room (R-FILE-2): the room's files

Revision ID: 0005_room_files
Revises: 0004_recordings

A new table only: nothing existing is rebuilt (on SQLite a batch rebuild of a referenced table would cascade).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_room_files"
down_revision = "0004_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_files",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id"),
    )
    op.create_index("ix_room_files_event_id", "room_files", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_room_files_event_id", "room_files")
    op.drop_table("room_files")
