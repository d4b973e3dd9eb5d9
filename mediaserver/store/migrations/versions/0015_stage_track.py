"""what was on an event session's stage, and when: the track a recording's watch page plays beside the video
(issue 17 item 4)

Revision ID: 0015_stage_track
Revises: 0014_documents

A new table only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mediaserver.store.db import UTCDateTime

revision = "0015_stage_track"
down_revision = "0014_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("session_stage_by_session", "session_stage", ["event_id", "session_id", "at"])


def downgrade() -> None:
    op.drop_index("session_stage_by_session", table_name="session_stage")
    op.drop_table("session_stage")
