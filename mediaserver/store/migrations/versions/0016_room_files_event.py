"""a library file in the rooms of several events (issue 17): room_files keyed by (file_id, event_id)

Revision ID: 0016_room_files_event
Revises: 0015_stage_track

room_files was keyed by the file alone, so a deck could be in one event's room only. The rows are kept: on
PostgreSQL the primary key is swapped in place; SQLite changes a primary key only by rebuilding the table
(batch mode: a copy, DROP, RENAME; nothing refers to room_files, so the DROP cascades nowhere), from the
table's new shape given here. The downgrade keeps, of a file in several rooms, its link to the oldest event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_room_files_event"
down_revision = "0015_stage_track"
branch_labels = None
depends_on = None


def _shape(key: tuple[str, ...]) -> sa.Table:
    return sa.Table(
        "room_files",
        sa.MetaData(),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*key),
        sa.Index("ix_room_files_event_id", "event_id"),
    )


def _key(key: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("room_files", recreate="always", copy_from=_shape(key)):
            pass
    else:
        op.drop_constraint("room_files_pkey", "room_files", type_="primary")
        op.create_primary_key("room_files_pkey", "room_files", list(key))


def upgrade() -> None:
    _key(("file_id", "event_id"))


def downgrade() -> None:
    op.execute(
        "DELETE FROM room_files WHERE event_id > "
        "(SELECT MIN(r.event_id) FROM room_files r WHERE r.file_id = room_files.file_id)"
    )
    _key(("file_id",))
