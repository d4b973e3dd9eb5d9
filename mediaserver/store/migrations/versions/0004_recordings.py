"""recordings of event rooms (R-REC-1..4, R-ROOM-14)

Revision ID: 0004_recordings
Revises: 0003_tickets

A new table only: nothing existing is rebuilt (on SQLite a batch rebuild of a referenced table would cascade).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mediaserver.store.db

revision = "0004_recordings"
down_revision = "0003_tickets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("started_at", mediaserver.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", mediaserver.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=False),
        sa.Column("public_token", sa.String(length=64), nullable=True),
        sa.Column("published_at", mediaserver.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trimmed_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["trimmed_from"], ["recordings.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_token"),
    )
    op.create_index("ix_recordings_account_id", "recordings", ["account_id"])
    op.create_index("ix_recordings_event_id", "recordings", ["event_id"])
    op.create_index("ix_recordings_file_id", "recordings", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_recordings_file_id", "recordings")
    op.drop_index("ix_recordings_event_id", "recordings")
    op.drop_index("ix_recordings_account_id", "recordings")
    op.drop_table("recordings")
