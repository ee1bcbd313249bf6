"""Tables of the canonical records (DESIGN.md §4) that ingest fills.

Times are stored as integer Unix seconds (UTC): portable between SQLite and PostgreSQL, cheap
to write in bulk and to compare.  Messages are addressed by (channel_id, message_id), the
platform's own identity, so that re-imports are upserts and child rows need no surrogate keys.
Later stages (signals, lineages, ...) add their own tables by migration and point at
messages, channels and media by these same keys; the review side's tables (cases, decisions,
users, referrals, audit) are in `review_schema.py` and re-exported here.
"""

from __future__ import annotations

import sqlalchemy as sa

from undertow.store.metadata import JSONType as JSONType
from undertow.store.metadata import metadata as metadata

# The review side's tables, defined in review_schema.py, are part of this schema too
# (`x as x`: re-exported, see ruff's per-file ignores in pyproject.toml).
from undertow.store.review_schema import (
    api_tokens as api_tokens,
)
from undertow.store.review_schema import (
    audit_head as audit_head,
)
from undertow.store.review_schema import (
    audit_log as audit_log,
)
from undertow.store.review_schema import (
    case_items as case_items,
)
from undertow.store.review_schema import (
    cases as cases,
)
from undertow.store.review_schema import (
    decisions as decisions,
)
from undertow.store.review_schema import (
    referral_items as referral_items,
)
from undertow.store.review_schema import (
    referrals as referrals,
)
from undertow.store.review_schema import (
    suppressions as suppressions,
)
from undertow.store.review_schema import (
    training_examples as training_examples,
)
from undertow.store.review_schema import (
    users as users,
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("platform", sa.String(40), nullable=False),
    sa.Column("native_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("source_type", sa.String(60)),
    sa.Column("public", sa.Boolean, nullable=False, default=True),
    sa.Column("handle", sa.String(200)),
    sa.Column("title", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("first_seen", sa.BigInteger),
    sa.Column("last_seen", sa.BigInteger),
    sa.Column("status", sa.String(40), nullable=False, default="active"),
    sa.Column("status_at", sa.BigInteger),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

channel_titles = sa.Table(
    "channel_titles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.String(200), sa.ForeignKey("channels.channel_id"), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("message_id", sa.BigInteger),
    sa.UniqueConstraint("channel_id", "at", "title", "source", name="uq_channel_titles_key"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("channel_id", sa.String(200), sa.ForeignKey("channels.channel_id"), nullable=False),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("date", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("author", sa.String(80)),
    sa.Column("author_channel_id", sa.String(200)),
    sa.Column("text", sa.Text, nullable=False, default=""),
    sa.Column("entities", JSONType),
    sa.Column("edited", sa.BigInteger),
    sa.Column("forwarded_from", sa.Text),
    sa.Column("forwarded_from_id", sa.String(200)),
    sa.Column("saved_from", sa.Text),
    sa.Column("reply_to", sa.BigInteger),
    sa.Column("service_action", sa.String(60)),
    sa.Column("action", JSONType),
    sa.Column("extra", JSONType),
    sa.Column("ingested_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("channel_id", "message_id", name="uq_messages_key"),
)
sa.Index("ix_messages_forwarded_from", messages.c.forwarded_from)

message_edits = sa.Table(
    "message_edits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.String(200), nullable=False),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("edited", sa.BigInteger),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("replaced_at", sa.BigInteger, nullable=False),
)
sa.Index("ix_message_edits_key", message_edits.c.channel_id, message_edits.c.message_id)

media = sa.Table(
    "media",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mime", sa.String(120)),
    sa.Column("kind", sa.String(40)),
    sa.Column("blob", sa.Text, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
)

# Child tables of messages are keyed by (channel_id, message_id, ...) alone and, on SQLite,
# stored WITHOUT ROWID: one B-tree per table instead of two makes bulk imports much cheaper.
message_media = sa.Table(
    "message_media",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("path", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("mime", sa.String(120)),
    sa.Column("file_name", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("duration_s", sa.Integer),
    sqlite_with_rowid=False,
)
sa.Index("ix_message_media_sha256", message_media.c.sha256)

links = sa.Table(
    "links",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("url", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

message_tags = sa.Table(
    "message_tags",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("tag", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_message_tags_tag", message_tags.c.kind, message_tags.c.tag)

imports = sa.Table(
    "imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(60), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger, nullable=False),
    sa.Column("chats", sa.Integer, nullable=False),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("media_stored", sa.Integer, nullable=False),
    sa.Column("media_missing", sa.Integer, nullable=False),
)

stage_watermarks = sa.Table(
    "stage_watermarks",
    metadata,
    sa.Column("stage", sa.String(80), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# -- hashes, banks and signals (media issue) ---------------------------------------------------

media_hashes = sa.Table(
    "media_hashes",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("md5", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("pdq", sa.String(64)),
    sa.Column("pdq_quality", sa.Integer),
    sa.Column("pdq_dihedral", sa.Text),
    sa.Column("vpdq", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("hashed_at", sa.BigInteger, nullable=False),
)
sa.Index("ix_media_hashes_md5", media_hashes.c.md5)

banks = sa.Table(
    "banks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("source", sa.Text),
    sa.Column("category", sa.String(120)),
    sa.Column("licence", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

bank_entries = sa.Table(
    "bank_entries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("bank_id", sa.Integer, sa.ForeignKey("banks.id"), nullable=False),
    sa.Column("hash_type", sa.String(20), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("category", sa.String(120)),
    sa.Column("note", sa.Text),
    sa.Column("added_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("bank_id", "hash_type", "value", name="uq_bank_entries_key"),
)
sa.Index("ix_bank_entries_value", bank_entries.c.hash_type, bank_entries.c.value)

signals = sa.Table(
    "signals",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("detector", sa.String(80), nullable=False),
    sa.Column("detector_version", sa.String(40), nullable=False),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("target_kind", sa.String(20), nullable=False),
    sa.Column("channel_id", sa.String(200)),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("category", sa.String(120)),
    sa.Column("explanation", JSONType, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("detector", "key", name="uq_signals_key"),
)
sa.Index("ix_signals_target", signals.c.channel_id, signals.c.message_id)

media_matches = sa.Table(
    "media_matches",
    metadata,
    sa.Column("sha256_a", sa.String(64), primary_key=True),
    sa.Column("sha256_b", sa.String(64), primary_key=True),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("distance", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_media_matches_b", media_matches.c.sha256_b)

# -- text and link signals (text issue) ----------------------------------------------------

message_links = sa.Table(
    "message_links",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("normalized_url", sa.Text, nullable=False),
    sa.Column("platform", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("target", sa.Text),
    sa.Column("source", sa.String(20), nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_message_links_normalized_url", message_links.c.normalized_url)
sa.Index("ix_message_links_platform", message_links.c.platform, message_links.c.kind)

text_features = sa.Table(
    "text_features",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("language", sa.String(12)),
    sa.Column("classifier", sa.Float),
    sa.Column("indicator_weight", sa.Float, nullable=False),
    sa.Column("propaganda", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

channel_text_stats = sa.Table(
    "channel_text_stats",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("marked", sa.BigInteger, nullable=False),
    sa.Column("classifier_sum", sa.Float, nullable=False),
    sa.Column("title_weight", sa.Float, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# -- network intelligence (network issue) ------------------------------------------------------

text_copies = sa.Table(
    "text_copies",
    metadata,
    sa.Column("id_a", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id_b", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("similarity", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_text_copies_b", text_copies.c.id_b)

text_keys = sa.Table(
    "text_keys",
    metadata,
    # A message's cleaned text, hashed to 64 bits when long enough to be evidence: equal keys,
    # identical texts.  Written with the message's signature (the near-duplicate step), so
    # the mirror step neither reads nor cleans any text.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("text_key", sa.BigInteger, nullable=False),
)

mirror_pairs = sa.Table(
    "mirror_pairs",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("source_id", sa.String(200), primary_key=True),
    sa.Column("carried", sa.Integer, nullable=False),
    sa.Column("eligible", sa.Integer, nullable=False),
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("median_lag_s", sa.BigInteger),
    sa.Column("lag_iqr_s", sa.BigInteger),
    sa.Column("methods", JSONType, nullable=False),
    sa.Column("since", sa.BigInteger, nullable=False),
    sa.Column("until", sa.BigInteger, nullable=False),
    sa.Column("network_id", sa.String(220)),
)

networks = sa.Table(
    "networks",
    metadata,
    sa.Column("network_id", sa.String(220), primary_key=True),
    sa.Column("root_id", sa.String(200), nullable=False),
    sa.Column("channels", JSONType, nullable=False),
    sa.Column("propaganda", sa.Float),
)

rebrands = sa.Table(
    "rebrands",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("at", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("from_title", sa.Text, nullable=False),
    sa.Column("to_title", sa.Text, nullable=False),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
)

lineages = sa.Table(
    "lineages",
    metadata,
    sa.Column("lineage_id", sa.String(220), primary_key=True),
    sa.Column("channels", JSONType, nullable=False),
    sa.Column("lifetimes", JSONType, nullable=False),
)

lineage_links = sa.Table(
    "lineage_links",
    metadata,
    sa.Column("lineage_id", sa.String(220), primary_key=True),
    sa.Column("from_id", sa.String(200), primary_key=True),
    sa.Column("to_id", sa.String(200), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
)
