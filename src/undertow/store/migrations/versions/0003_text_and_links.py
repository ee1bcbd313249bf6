"""text and link signals: classified links, per-message text features, channel text stats

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_links",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("normalized_url", sa.Text(), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint(
            "channel_id", "message_id", "position", name=op.f("pk_message_links")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_message_links_normalized_url", "message_links", ["normalized_url"], unique=False
    )
    op.create_index(
        "ix_message_links_platform", "message_links", ["platform", "kind"], unique=False
    )
    op.create_table(
        "text_features",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=12), nullable=True),
        sa.Column("classifier", sa.Float(), nullable=True),
        sa.Column("indicator_weight", sa.Float(), nullable=False),
        sa.Column("propaganda", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_text_features")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "channel_text_stats",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("marked", sa.BigInteger(), nullable=False),
        sa.Column("classifier_sum", sa.Float(), nullable=False),
        sa.Column("title_weight", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_text_stats")),
    )


def downgrade() -> None:
    op.drop_table("channel_text_stats")
    op.drop_table("text_features")
    op.drop_index("ix_message_links_platform", table_name="message_links")
    op.drop_index("ix_message_links_normalized_url", table_name="message_links")
    op.drop_table("message_links")
