"""network intelligence: near-duplicate text pairs, mirror relations, networks, rebrands,
lineages

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "text_copies",
        sa.Column("id_a", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id_b", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id_a", "id_b", name=op.f("pk_text_copies")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_text_copies_b", "text_copies", ["id_b"], unique=False)
    op.create_table(
        "mirror_pairs",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("carried", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("median_lag_s", sa.BigInteger(), nullable=True),
        sa.Column("lag_iqr_s", sa.BigInteger(), nullable=True),
        sa.Column("methods", JSON, nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.String(length=220), nullable=True),
        sa.PrimaryKeyConstraint("channel_id", "source_id", name=op.f("pk_mirror_pairs")),
    )
    op.create_table(
        "networks",
        sa.Column("network_id", sa.String(length=220), nullable=False),
        sa.Column("root_id", sa.String(length=200), nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("propaganda", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("network_id", name=op.f("pk_networks")),
    )
    op.create_table(
        "rebrands",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("from_title", sa.Text(), nullable=False),
        sa.Column("to_title", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "at", name=op.f("pk_rebrands")),
    )

    op.create_table(
        "lineages",
        sa.Column("lineage_id", sa.String(length=220), nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("lifetimes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("lineage_id", name=op.f("pk_lineages")),
    )
    op.create_table(
        "lineage_links",
        sa.Column("lineage_id", sa.String(length=220), nullable=False),
        sa.Column("from_id", sa.String(length=200), nullable=False),
        sa.Column("to_id", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.PrimaryKeyConstraint("lineage_id", "from_id", "to_id", name=op.f("pk_lineage_links")),
    )


def downgrade() -> None:
    op.drop_table("lineage_links")
    op.drop_table("lineages")
    op.drop_table("rebrands")
    op.drop_table("networks")
    op.drop_table("mirror_pairs")
    op.drop_index("ix_text_copies_b", table_name="text_copies")
    op.drop_table("text_copies")
