"""Decisions on cases, and what a decision feeds back.

A decision covers every item of its case (all copies).  Then:

- **violating**: the case is decided; its media go into the internal hash bank
  `undertow-confirmed` (SHA-256, MD5 and PDQ, so later copies match by hash); its distinct
  texts become positive training examples (`training_examples`) for the classifier;
- **not violating**: the case is decided; its items are suppressed (their future copies open
  no case) and its texts become negative training examples, the hard negatives that matter;
- **escalate**, **needs translation**: the case stays in the queue, marked.

A decision on a channel case can cover the channel's lineage (`cover_lineage`): every other
incarnation's open channel case gets the same verdict, noted as covered by this decision.

Every decision is written to the audit log in the same transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from undertow.enrich.rules import category_ids
from undertow.store import Store, schema
from undertow.triage import audit
from undertow.triage.cases import DECIDED

VERDICTS = ("violating", "not_violating", "escalate", "needs_translation")
CONFIRMED_BANK = "undertow-confirmed"
_STATUS = {
    "violating": DECIDED,
    "not_violating": DECIDED,
    "escalate": "escalated",
    "needs_translation": "translation",
}


class DecisionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class DecisionResult:
    decision_id: int
    case_id: str
    verdict: str
    items: int
    bank_entries: int
    training_examples: int
    suppressed: int
    covered_cases: tuple[str, ...] = ()


def decide(
    store: Store,
    case_id: str,
    verdict: str,
    reviewer: str,
    *,
    category: str | None = None,
    note: str | None = None,
    cover_lineage: bool = False,
) -> DecisionResult:
    """Record `reviewer`'s decision on `case_id`, covering all its items, with its feedback;
    for a channel case with `cover_lineage`, also every open case of its lineage."""
    if verdict not in VERDICTS:
        raise DecisionError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if category is not None and category not in category_ids():
        raise DecisionError(f"unknown category {category!r} (see `undertow rules list`)")
    c, ci = schema.cases, schema.case_items
    now = int(time.time())
    with store.engine.begin() as conn:
        case = conn.execute(sa.select(c).where(c.c.case_id == case_id)).first()
        if case is None:
            raise DecisionError(f"no case {case_id!r}")
        items = [
            (row.channel_id, int(row.message_id))
            for row in conn.execute(
                sa.select(ci.c.channel_id, ci.c.message_id).where(ci.c.case_id == case_id)
            )
        ]
        decision_id = int(
            conn.execute(
                schema.decisions.insert().values(
                    case_id=case_id, verdict=verdict, category=category or case.category,
                    note=note, reviewer=reviewer, at=now, items=max(len(items), 1),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )  # fmt: skip
        conn.execute(c.update().where(c.c.case_id == case_id).values(status=_STATUS[verdict]))
        bank = examples = suppressed = 0
        if verdict == "violating":
            bank = _confirm_media(conn, items, category or case.category, case_id, now)
            examples = _examples(conn, items, True, category or case.category, decision_id)
        elif verdict == "not_violating":
            examples = _examples(conn, items, False, None, decision_id)
            for channel_id, message_id in items:
                conn.execute(
                    schema.suppressions.insert().values(
                        channel_id=channel_id, message_id=message_id, decision_id=decision_id
                    )
                )
            suppressed = len(items)
        audit.append(
            conn, reviewer, "decision", case_id,
            {"verdict": verdict, "category": category, "note": note, "items": len(items),
             "decision_id": decision_id},
        )  # fmt: skip
        covered: tuple[str, ...] = ()
        if cover_lineage and case.kind == "channel":
            covered = _cover_lineage(conn, case.channel_id, verdict, category or case.category,
                                     reviewer, decision_id, now)  # fmt: skip
    return DecisionResult(
        decision_id, case_id, verdict, len(items), bank, examples, suppressed, covered
    )


def _cover_lineage(
    conn: sa.Connection,
    channel_id: str,
    verdict: str,
    category: str | None,
    reviewer: str,
    decision_id: int,
    now: int,
) -> tuple[str, ...]:
    """Give the open channel cases of `channel_id`'s other incarnations the same verdict."""
    c = schema.cases
    members: set[str] = set()
    for (channels,) in conn.execute(sa.select(schema.lineages.c.channels)):
        if channel_id in (channels or []):
            members.update(channels)
    members.discard(channel_id)
    covered = []
    for member in sorted(members):
        member_case = f"channel:{member}"
        status = conn.execute(sa.select(c.c.status).where(c.c.case_id == member_case)).scalar()
        if status not in ("open", "escalated", "translation"):
            continue
        note = f"covered by decision {decision_id} on channel:{channel_id} (same lineage)"
        conn.execute(
            schema.decisions.insert().values(
                case_id=member_case, verdict=verdict, category=category, note=note,
                reviewer=reviewer, at=now, items=1,
            )
        )  # fmt: skip
        conn.execute(c.update().where(c.c.case_id == member_case).values(status=_STATUS[verdict]))
        audit.append(conn, reviewer, "decision", member_case,
                     {"verdict": verdict, "covered_by": decision_id})  # fmt: skip
        covered.append(member_case)
    return tuple(covered)


def _confirm_media(
    conn: sa.Connection,
    items: list[tuple[str, int]],
    category: str | None,
    case_id: str,
    now: int,
) -> int:
    mm, mh, b, e = schema.message_media, schema.media_hashes, schema.banks, schema.bank_entries
    shas: set[str] = set()
    for channel_id, message_id in items:
        shas.update(
            sha
            for (sha,) in conn.execute(
                sa.select(mm.c.sha256).where(
                    mm.c.channel_id == channel_id, mm.c.message_id == message_id,
                    mm.c.sha256.is_not(None),
                )
            )
        )  # fmt: skip
    if not shas:
        return 0
    bank_id = conn.execute(sa.select(b.c.id).where(b.c.name == CONFIRMED_BANK)).scalar()
    if bank_id is None:
        bank_id = conn.execute(
            b.insert().values(
                name=CONFIRMED_BANK, source="reviewers' decisions", category=None,
                licence="internal", enabled=True, created_at=now, updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
    existing = {
        (row.hash_type, row.value)
        for row in conn.execute(sa.select(e.c.hash_type, e.c.value).where(e.c.bank_id == bank_id))
    }
    added = 0
    for row in conn.execute(
        sa.select(mh.c.sha256, mh.c.md5, mh.c.pdq).where(mh.c.sha256.in_(sorted(shas)))
    ):
        for hash_type, value in (("sha256", row.sha256), ("md5", row.md5), ("pdq", row.pdq)):
            if value and (hash_type, value) not in existing:
                existing.add((hash_type, value))
                conn.execute(
                    e.insert().values(
                        bank_id=bank_id, hash_type=hash_type, value=value, category=category,
                        note=f"confirmed in {case_id}", added_at=now,
                    )
                )  # fmt: skip
                added += 1
    return added


def _examples(
    conn: sa.Connection,
    items: list[tuple[str, int]],
    label: bool,
    category: str | None,
    decision_id: int,
) -> int:
    m = schema.messages
    texts: dict[str, str] = {}
    for channel_id, message_id in items:
        text = conn.execute(
            sa.select(m.c.text).where(m.c.channel_id == channel_id, m.c.message_id == message_id)
        ).scalar()
        if text and text.strip() and text not in texts:
            texts[text] = channel_id
    for text, channel_id in texts.items():
        conn.execute(
            schema.training_examples.insert().values(
                text=text, label=label, category=category, channel_id=channel_id,
                decision_id=decision_id,
            )
        )  # fmt: skip
    return len(texts)
