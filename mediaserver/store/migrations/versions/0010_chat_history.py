"""chat history kept with the event's session (issue 16, R-INT-1) and on-demand viewers' messages to the
organiser (R-AUTO-2)

Revision ID: 0010_chat_history
Revises: 0009_secrets_at_rest

Two new tables: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mediaserver.store.db

revision = "0010_chat_history"
down_revision = "0009_secrets_at_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = mediaserver.store.db.UTCDateTime(timezone=True)
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=24), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("sender_name", sa.String(length=120), nullable=False),
        sa.Column("sender_role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("to_name", sa.String(length=120), nullable=True),
        sa.Column("sent_at", when, nullable=False),
        sa.Column("deleted_at", when, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["event_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("chat_messages_by_session", "chat_messages", ["event_id", "session_id", "sent_at"])
    op.create_index("chat_messages_by_id", "chat_messages", ["event_id", "message_id"])
    op.create_table(
        "viewer_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", when, nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["answered_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_viewer_messages_event_id", "viewer_messages", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_viewer_messages_event_id", "viewer_messages")
    op.drop_table("viewer_messages")
    op.drop_index("chat_messages_by_id", "chat_messages")
    op.drop_index("chat_messages_by_session", "chat_messages")
    op.drop_table("chat_messages")
