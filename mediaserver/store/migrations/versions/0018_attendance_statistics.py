"""the statistics of issue 20 (R-STAT-1): an attendance's leave time, seconds attended, browser, OS, device
and country (never the address), and the attendees' ratings of an event

Revision ID: 0018_attendance_statistics
Revises: 0017_board_steps

New columns (nullable, or with a server default: added in place on SQLite too: no table is rebuilt) and a new
table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mediaserver.store.db import UTCDateTime

revision = "0018_attendance_statistics"
down_revision = "0017_board_steps"
branch_labels = None
depends_on = None

_TEXT = (("browser", 64), ("os", 64), ("device", 16), ("country", 2))


def upgrade() -> None:
    op.add_column("attendances", sa.Column("left_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column(
        "attendances", sa.Column("seconds_attended", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("attendances", sa.Column("in_room_since", UTCDateTime(timezone=True), nullable=True))
    op.add_column("attendances", sa.Column("participant_ids", sa.JSON(), nullable=True))
    for name, length in _TEXT:
        op.add_column("attendances", sa.Column(name, sa.String(length=length), nullable=True))
    op.create_table(
        "event_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("rated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "email"),
    )
    op.create_index(op.f("ix_event_ratings_event_id"), "event_ratings", ["event_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_ratings_event_id"), table_name="event_ratings")
    op.drop_table("event_ratings")
    with op.batch_alter_table("attendances") as batch_op:
        for name in (
            "left_at",
            "seconds_attended",
            "in_room_since",
            "participant_ids",
            *(n for n, _ in _TEXT),
        ):
            batch_op.drop_column(name)
