"""an event session's whiteboard, saved from the rooms' journal (issue 17, R-INT-5)

Revision ID: 0013_boards
Revises: 0012_qa_clicks

A new table only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mediaserver.store.db import UTCDateTime

revision = "0013_boards"
down_revision = "0012_qa_clicks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_boards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("saved_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id"),
    )


def downgrade() -> None:
    op.drop_table("session_boards")
