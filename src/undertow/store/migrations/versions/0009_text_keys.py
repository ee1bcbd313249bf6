"""text keys: each message's cleaned text hashed once, by the near-duplicate step, for the
mirror step; the near-duplicate watermark is reset so that the next run writes the keys of the
messages already indexed (its pairs are upserts: nothing is lost)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("text_key", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_keys")),
    )
    op.execute("DELETE FROM stage_watermarks WHERE stage = 'network.neardup'")


def downgrade() -> None:
    op.drop_table("text_keys")
