"""an event session's Q&A questions and call-to-action clicks, from the rooms' journal (R-INT-2, R-INT-4,
issue 16)

Revision ID: 0012_qa_clicks
Revises: 0011_polls

New tables only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mediaserver.store.db import UTCDateTime

revision = "0012_qa_clicks"
down_revision = "0011_polls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = UTCDateTime(timezone=True)
    op.create_table(
        "session_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("question_id", sa.String(length=24), nullable=False),
        sa.Column("message_id", sa.String(length=24), nullable=True),
        sa.Column("asker_id", sa.String(length=64), nullable=False),
        sa.Column("asker_name", sa.String(length=120), nullable=False),
        sa.Column("asker_role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("asked_at", when, nullable=False),
        sa.Column("published_at", when, nullable=True),
        sa.Column("closed_at", when, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "session_questions_by_session", "session_questions", ["event_id", "session_id", "asked_at"]
    )
    op.create_index("session_questions_by_id", "session_questions", ["event_id", "question_id"])
    op.create_table(
        "cta_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("cta_id", sa.String(length=24), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("clicked_at", when, nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("cta_clicks_by_session", "cta_clicks", ["event_id", "session_id"])


def downgrade() -> None:
    op.drop_index("cta_clicks_by_session", "cta_clicks")
    op.drop_table("cta_clicks")
    op.drop_index("session_questions_by_id", "session_questions")
    op.drop_index("session_questions_by_session", "session_questions")
    op.drop_table("session_questions")
