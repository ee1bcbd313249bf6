"""cases, their items, decisions, suppressions and confirmed training examples

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(length=420), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("severity", sa.Float(), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=True),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("signals", sa.Integer(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
    )
    op.create_index("ix_cases_queue", "cases", ["status", "priority"])
    op.create_table(
        "case_items",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.String(length=420), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_case_items")),
    )
    op.create_index("ix_case_items_case", "case_items", ["case_id"])
    op.create_table(
        "decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=420), nullable=False),
        sa.Column("verdict", sa.String(length=30), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index("ix_decisions_case", "decisions", ["case_id"])
    op.create_table(
        "suppressions",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "training_examples",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=True),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_examples")),
    )


def downgrade() -> None:
    for table in ("training_examples", "suppressions", "decisions", "case_items", "cases"):
        op.drop_table(table)
