"""on-demand events play a library file (R-ROOM-4, R-AUTO-2); library files say where they came from

Revision ID: 0002_ondemand
Revises: 0001_control_plane
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ondemand"
down_revision = "0001_control_plane"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # upload | recording: a recording of the future recording module is a library file like an upload
    op.add_column("files", sa.Column("source", sa.String(length=16), nullable=False, server_default="upload"))
    if op.get_bind().dialect.name == "sqlite":
        # No batch mode here: re-creating "events" would drop the old table, and with foreign keys on that
        # deletes (cascades) every invitation, registration and session. SQLite adds a nullable column with a
        # REFERENCES clause in place.
        op.execute(
            "ALTER TABLE events ADD COLUMN video_file_id INTEGER REFERENCES files (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("events", sa.Column("video_file_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "events_video_file_id_fkey", "events", "files", ["video_file_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    # On SQLite this re-creates both tables: run it with foreign keys off (PRAGMA foreign_keys=OFF outside a
    # transaction), or dropping the old "events" cascades into its invitations, registrations and sessions.
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("events") as batch_op:
            batch_op.drop_column("video_file_id")
    else:
        op.drop_constraint("events_video_file_id_fkey", "events", type_="foreignkey")
        op.drop_column("events", "video_file_id")
    with op.batch_alter_table("files") as batch_op:
        batch_op.drop_column("source")
