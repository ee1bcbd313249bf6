"""Tables of the review side: the audit log, cases and their items, decisions, suppressions,
confirmed training examples, users and API tokens, referrals.  Import them from
`undertow.store.schema`, which re-exports them with every other table."""

from __future__ import annotations

import sqlalchemy as sa

from undertow.store.metadata import JSONType, metadata

# The audit log (triage/audit.py): append-only, each entry commits to the previous entry's
# hash; `seq` is assigned by the writer (last + 1), so two concurrent writers cannot both
# extend the same entry: the primary key refuses the second.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.String(400)),
    sa.Column("details", JSONType, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# The newest entry's number and hash, written with every entry: deleting the last entries
# of the log leaves the head pointing past the end.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Cases (triage/cases.py): what one reviewer decides.  An item case covers every copy of one
# item (near-duplicate texts, messages posting one flagged picture); a channel case one
# channel.  `case_items` lists the copies; an item belongs to one case at a time.
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.String(420), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("channel_id", sa.String(200), nullable=False),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("priority", sa.Float, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("severity", sa.Float, nullable=False),
    sa.Column("category", sa.String(120)),
    sa.Column("reasons", JSONType, nullable=False),
    sa.Column("signals", sa.Integer, nullable=False),
    sa.Column("copies", sa.Integer, nullable=False),
    sa.Column("channels", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
sa.Index("ix_cases_queue", cases.c.status, cases.c.priority, cases.c.case_id)
sa.Index("ix_cases_priority", cases.c.priority, cases.c.case_id)

case_items = sa.Table(
    "case_items",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("case_id", sa.String(420), nullable=False),
)
sa.Index("ix_case_items_case", case_items.c.case_id)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("case_id", sa.String(420), nullable=False),
    sa.Column("verdict", sa.String(30), nullable=False),
    sa.Column("category", sa.String(120)),
    sa.Column("note", sa.Text),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
)
sa.Index("ix_decisions_case", decisions.c.case_id)

# Items a "not violating" decision cleared: their future copies open no case.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("decision_id", sa.BigInteger, nullable=False),
)

# Confirmed texts, for retraining the classifier (`undertow model train` reads them back).
training_examples = sa.Table(
    "training_examples",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("label", sa.Boolean, nullable=False),
    sa.Column("category", sa.String(120)),
    sa.Column("channel_id", sa.String(200), nullable=False),
    sa.Column("decision_id", sa.BigInteger, nullable=False),
)

# People who use the review app and the API (web/ and `undertow user`); passwords are argon2
# hashes, API tokens are stored as SHA-256 digests only.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(120), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

# Referral packages (triage/referrals.py): decided items sent to one recipient, each with the
# status the recipient's action left it in.
referrals = sa.Table(
    "referrals",
    metadata,
    sa.Column("referral_id", sa.String(80), primary_key=True),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("cases", sa.Integer, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("package", sa.Text, nullable=False),
)

referral_items = sa.Table(
    "referral_items",
    metadata,
    sa.Column("referral_id", sa.String(80), primary_key=True),
    sa.Column("channel_id", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("case_id", sa.String(420), nullable=False),
    sa.Column("permalink", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_at", sa.BigInteger, nullable=False),
)
