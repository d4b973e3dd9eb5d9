"""secrets at rest (issue 14 finding 11): host keys, invitation tokens, webhook and payment provider
secrets, the stored answers of Idempotency-Keys and the e-mails of the outbox are sealed
(mediaserver.store.sealed); invitations are found by the SHA-256 of their token; a stored answer that showed
a secret once (a new API key, a webhook's or a payment provider's secret) is replaced by the refusal a
replay now gets, so the key leaves the database.

Revision ID: 0009_secrets_at_rest
Revises: 0008_invitation_declined

Existing rows are converted in place with the server's sealing key (sealing.key in the data directory,
registered by mediaserver.store.db.Database): sealed values are unreadable without that file, so it is backed
up apart from the database. Links and keys already handed out keep working (the clear values are the same).
Downgrading unseals them again.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from mediaserver.store import sealed

revision = "0009_secrets_at_rest"
down_revision = "0008_invitation_declined"
branch_labels = None
depends_on = None

#: (table, column, its type before) of the sealed columns
SEALED = (
    ("events", "host_key", sa.String(length=32)),
    ("invitations", "token", sa.String(length=64)),
    ("webhooks", "secret", sa.String(length=64)),
    ("payment_providers", "secret", sa.String(length=128)),
    ("idempotency_keys", "response", sa.Text()),
    ("emails", "body_text", sa.Text()),  # invitations, activation links and tickets carry tokens
    ("emails", "body_html", sa.Text()),
)
#: what a replay answers instead of a stored answer that carried a secret shown once
WITHHELD = json.dumps(
    {
        "error": {
            "code": "secret_not_replayed",
            "message": "the first request with this Idempotency-Key created this; its secret is shown only "
            "once and is not kept, so a retry cannot show it again: use it if it was saved, else delete "
            "what was created and create it again with a new key",
        }
    }
)


def _shows_secret(response: str) -> bool:
    """A stored answer that showed a secret once: a new API key, a webhook's or a provider's secret."""
    try:
        body = json.loads(response)
    except ValueError:
        return False
    return isinstance(body, dict) and (
        str(body.get("key") or "").startswith("msk_") or bool(body.get("secret"))
    )


def _batch(table: str) -> Any:
    # SQLite rebuilds the table to change a type, from its reflection, which misses the ON DELETE of the
    # inline REFERENCES of events.video_file_id (0002): given here, so the rebuilt table keeps it
    keep = (
        (sa.Column("video_file_id", sa.Integer(), sa.ForeignKey("files.id", ondelete="SET NULL")),)
        if table == "events"
        else ()
    )
    return op.batch_alter_table(table, schema=None, reflect_args=keep)


def upgrade() -> None:
    bind = op.get_bind()
    for table, column, before in SEALED:
        if not isinstance(before, sa.Text):
            with _batch(table) as batch_op:
                batch_op.alter_column(column, existing_type=before, type_=sa.Text())
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))

    for table, column, _ in SEALED:
        rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
        for row_id, value in rows:
            if sealed.is_sealed(value):
                continue
            status = None
            if table == "idempotency_keys" and _shows_secret(value):
                value, status = WITHHELD, 409
            values: dict[str, object] = {"id": row_id, "v": sealed.seal(bind.dialect, value)}
            extra = ""
            if table == "invitations":
                values["h"], extra = sealed.digest(value), ", token_hash = :h"
            if status is not None:
                values["s"], extra = status, ", status_code = :s"
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :v{extra} WHERE id = :id"), values)

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.alter_column("token_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("invitations_token_hash_key", ["token_hash"])


def downgrade() -> None:
    bind = op.get_bind()
    for table, column, _ in SEALED:
        rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
        for row_id, value in rows:
            if sealed.is_sealed(value):
                bind.execute(
                    sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                    {"id": row_id, "v": sealed.unseal(bind.dialect, value)},
                )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint("invitations_token_hash_key", type_="unique")
        batch_op.drop_column("token_hash")
    for table, column, before in SEALED:
        if not isinstance(before, sa.Text):
            with _batch(table) as batch_op:
                batch_op.alter_column(column, existing_type=sa.Text(), type_=before)
