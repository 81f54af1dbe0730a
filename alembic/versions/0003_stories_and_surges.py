"""stories (near-duplicate groups), LSH bands, hourly counts for surges, cases per story/surge

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("representative_item_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("outlets", _JSON, nullable=False),
        sa.Column("outlet_count", sa.Integer(), nullable=False),
        sa.Column("max_severity", sa.String(length=16), nullable=False),
        sa.Column("sentiment_counts", _JSON, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_first_seen_at"), ["first_seen_at"])
        batch_op.create_index(batch_op.f("ix_stories_last_seen_at"), ["last_seen_at"])
        batch_op.create_index(batch_op.f("ix_stories_max_severity"), ["max_severity"])
    op.create_table(
        "item_bands",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("band", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_bands_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", "position", name=op.f("pk_item_bands")),
    )
    with op.batch_alter_table("item_bands", schema=None) as batch_op:
        batch_op.create_index("ix_item_bands_band", ["band"])
        batch_op.create_index(batch_op.f("ix_item_bands_seen_at"), ["seen_at"])
    op.create_table(
        "hourly_counts",
        sa.Column("hour", _WHEN, nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "dimension", "key", name=op.f("pk_hourly_counts")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("text_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("minhash", sa.LargeBinary(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_items_story_id_stories"),
            "stories",
            ["story_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_items_story_id"), ["story_id"])
        batch_op.create_index(batch_op.f("ix_items_text_hash"), ["text_hash"])
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("surge_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("notified_severity", sa.String(length=16), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_story_id_stories"),
            "stories",
            ["story_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_unique_constraint(batch_op.f("uq_cases_story_id"), ["story_id"])
        batch_op.create_index(batch_op.f("ix_cases_surge_key"), ["surge_key"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM case_events WHERE case_id IN (SELECT id FROM cases WHERE kind = 'surge')"
    )
    op.execute("DELETE FROM cases WHERE kind = 'surge'")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_surge_key"))
        batch_op.drop_constraint(batch_op.f("uq_cases_story_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_cases_story_id_stories"), type_="foreignkey")
        for column in ("notified_severity", "surge_key", "story_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_text_hash"))
        batch_op.drop_index(batch_op.f("ix_items_story_id"))
        batch_op.drop_constraint(batch_op.f("fk_items_story_id_stories"), type_="foreignkey")
        for column in ("minhash", "text_hash", "story_id"):
            batch_op.drop_column(column)
    op.drop_table("hourly_counts")
    with op.batch_alter_table("item_bands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_bands_seen_at"))
        batch_op.drop_index("ix_item_bands_band")
    op.drop_table("item_bands")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_max_severity"))
        batch_op.drop_index(batch_op.f("ix_stories_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_stories_first_seen_at"))
    op.drop_table("stories")
