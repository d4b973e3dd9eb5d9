"""the whiteboard's drawing over time: a recording's watch page draws the board as it was at each moment
(issue 17 item 4)

Revision ID: 0017_board_steps
Revises: 0016_room_files_event

A new table only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mediaserver.store.db import UTCDateTime

revision = "0017_board_steps"
down_revision = "0016_room_files_event"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_board_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("update", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("session_board_steps_by_session", "session_board_steps", ["event_id", "session_id", "at"])


def downgrade() -> None:
    op.drop_index("session_board_steps_by_session", table_name="session_board_steps")
    op.drop_table("session_board_steps")
