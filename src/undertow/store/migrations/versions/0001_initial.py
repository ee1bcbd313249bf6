"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:13:46.353709
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "channels",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("source_type", sa.String(length=60), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("first_seen", sa.BigInteger(), nullable=True),
        sa.Column("last_seen", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("status_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channels")),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("chats", sa.Integer(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("media_stored", sa.Integer(), nullable=False),
        sa.Column("media_missing", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_table(
        "links",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_id", "position", name=op.f("pk_links")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "media",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(length=120), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("blob", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_media")),
    )
    op.create_table(
        "message_edits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("edited", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("replaced_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_edits")),
    )
    with op.batch_alter_table("message_edits", schema=None) as batch_op:
        batch_op.create_index("ix_message_edits_key", ["channel_id", "message_id"], unique=False)

    op.create_table(
        "message_media",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("mime", sa.String(length=120), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint(
            "channel_id", "message_id", "position", name=op.f("pk_message_media")
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("message_media", schema=None) as batch_op:
        batch_op.create_index("ix_message_media_sha256", ["sha256"], unique=False)

    op.create_table(
        "message_tags",
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "channel_id", "message_id", "kind", "tag", name=op.f("pk_message_tags")
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("message_tags", schema=None) as batch_op:
        batch_op.create_index("ix_message_tags_tag", ["kind", "tag"], unique=False)

    op.create_table(
        "stage_watermarks",
        sa.Column("stage", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stage", name=op.f("pk_stage_watermarks")),
    )
    op.create_table(
        "channel_titles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.channel_id"],
            name=op.f("fk_channel_titles_channel_id_channels"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_titles")),
        sa.UniqueConstraint("channel_id", "at", "title", "source", name="uq_channel_titles_key"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=True),
        sa.Column("author_channel_id", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "entities",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("edited", sa.BigInteger(), nullable=True),
        sa.Column("forwarded_from", sa.Text(), nullable=True),
        sa.Column("forwarded_from_id", sa.String(length=200), nullable=True),
        sa.Column("saved_from", sa.Text(), nullable=True),
        sa.Column("reply_to", sa.BigInteger(), nullable=True),
        sa.Column("service_action", sa.String(length=60), nullable=True),
        sa.Column(
            "action",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "extra",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("ingested_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.channel_id"], name=op.f("fk_messages_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("channel_id", "message_id", name="uq_messages_key"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_forwarded_from", ["forwarded_from"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_forwarded_from")

    op.drop_table("messages")
    op.drop_table("channel_titles")
    op.drop_table("stage_watermarks")
    with op.batch_alter_table("message_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_message_tags_tag")

    op.drop_table("message_tags")
    with op.batch_alter_table("message_media", schema=None) as batch_op:
        batch_op.drop_index("ix_message_media_sha256")

    op.drop_table("message_media")
    with op.batch_alter_table("message_edits", schema=None) as batch_op:
        batch_op.drop_index("ix_message_edits_key")

    op.drop_table("message_edits")
    op.drop_table("media")
    op.drop_table("links")
    op.drop_table("imports")
    op.drop_table("channels")
