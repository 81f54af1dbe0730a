"""source health, adapter cursors, cases about sources

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cursor", _JSON, nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("health", sa.String(length=16), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("health_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("health_changed_at", sa.DateTime(timezone=True)))
        batch_op.add_column(
            sa.Column("failure_score", sa.Double(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_new_item_at", sa.DateTime(timezone=True)))
    # Sources crawled before this revision: their last new item is the newest item they stored, so
    # one that was already dead can be flagged silent.
    op.execute(
        "UPDATE sources SET last_new_item_at = "
        "(SELECT max(items.fetched_at) FROM items WHERE items.source_id = sources.id)"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="item")
        )
        batch_op.add_column(sa.Column("source_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_source_id_sources"),
            "sources",
            ["source_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_cases_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    # Cases about sources have no item; the older schema has no place for them.
    op.execute(
        "DELETE FROM case_events WHERE case_id IN (SELECT id FROM cases WHERE kind = 'source')"
    )
    op.execute("DELETE FROM cases WHERE kind = 'source'")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_source_id"))
        batch_op.drop_constraint(batch_op.f("fk_cases_source_id_sources"), type_="foreignkey")
        batch_op.drop_column("source_id")
        batch_op.drop_column("kind")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        for column in (
            "last_new_item_at",
            "failure_score",
            "health_changed_at",
            "health_reason",
            "health",
            "cursor",
        ):
            batch_op.drop_column(column)
