"""polls and tests of events, their live runs and the answers per attendee (R-INT-3, R-STAT-1, issue 16)

Revision ID: 0011_polls
Revises: 0010_chat_history

New tables only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mediaserver.store.db import UTCDateTime

revision = "0011_polls"
down_revision = "0010_chat_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_polls_account_id", "polls", ["account_id"])
    op.create_index("ix_polls_event_id", "polls", ["event_id"])
    op.create_table(
        "poll_launches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_poll_launches_poll_id", "poll_launches", ["poll_id"])
    op.create_index("ix_poll_launches_event_id", "poll_launches", ["event_id"])
    op.create_table(
        "poll_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("launch_id", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["launch_id"], ["poll_launches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("launch_id", "person_key"),
    )
    op.create_index("ix_poll_answers_launch_id", "poll_answers", ["launch_id"])


def downgrade() -> None:
    op.drop_index("ix_poll_answers_launch_id", "poll_answers")
    op.drop_table("poll_answers")
    op.drop_index("ix_poll_launches_event_id", "poll_launches")
    op.drop_index("ix_poll_launches_poll_id", "poll_launches")
    op.drop_table("poll_launches")
    op.drop_index("ix_polls_event_id", "polls")
    op.drop_index("ix_polls_account_id", "polls")
    op.drop_table("polls")
