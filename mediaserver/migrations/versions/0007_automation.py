"""automated events: the record of a start that failed (R-ROOM-4, R-AUTO-1)

Revision ID: 0007_automation
Revises: 0004_recordings

One nullable column: nothing existing is rebuilt. (Numbered 0007 to leave 0005 and 0006 to work done alongside;
when those land first, point down_revision at the newest of them.)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_automation'
down_revision = '0004_recordings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('automation', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('events', 'automation')     # SQLite 3.35+ drops a column in place (no table rebuild)
