"""invitations remember a decline (R-ROOM-11: the invitation's accept / decline / calendar buttons)

Revision ID: 0008_invitation_declined
Revises: 0007_idempotency_expiry

One nullable column: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mediaserver.store.db

revision = "0008_invitation_declined"
down_revision = "0007_idempotency_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("declined_at", mediaserver.store.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("declined_at")
