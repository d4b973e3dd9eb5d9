"""idempotency keys of public requests, and their 24-hour expiry

Revision ID: 0007_idempotency_expiry
Revises: 0006_automation

R-API-1 (issue 7, item 7): every creating POST takes an Idempotency-Key, also the public ones without a user
(a ticket order): user_id becomes nullable and a partial unique index keeps those keys unique; an index on
created_at serves the sweep of keys older than 24 hours. Only idempotency_keys is rebuilt on SQLite (no table
refers to it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_idempotency_expiry"
down_revision = "0006_automation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
    op.create_index(
        "idempotency_public_key",
        "idempotency_keys",
        ["key"],
        unique=True,
        sqlite_where=sa.text("user_id IS NULL"),
        postgresql_where=sa.text("user_id IS NULL"),
    )
    op.create_index("idempotency_created_at", "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idempotency_created_at", table_name="idempotency_keys")
    op.drop_index("idempotency_public_key", table_name="idempotency_keys")
    op.execute("DELETE FROM idempotency_keys WHERE user_id IS NULL")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
