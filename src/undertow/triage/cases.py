"""Cases: the signals grouped into what one reviewer decides, ordered by priority.

**Item cases** cover every copy of one item.  Messages are joined when their texts are near
duplicates (`text_copies`, found by the network stage) or when they post a picture or video
a signal flagged (same SHA-256); every group holding at least one signal becomes a case named
after its earliest message (the original post).  One decision then covers all its copies,
and copies that appear later join the decided case.

**Channel cases** cover one channel for what the channel-level analysis says: indicators in
its titles or bio, mirroring a flagged network, being a lineage successor of a flagged
channel, a sleeper's rebrand.  **Account cases** cover a pseudonymised member of a group
whose own messages carry signals at least twice.

Priority (0-100) weighs confidence (the noisy-OR of each detector's best score), severity
(how grave the strongest signal is: the matched rule's severity, 0.9 for a hash-bank or URL
bank match) and spread (how many channels carry the item), as hash-sharing tools weigh match
confidence with the bank's severity; every case lists the reasons in words.

Cases are rebuilt from the signals on every run; decided cases keep their decision and
status, and items cleared by a "not violating" decision open no case again.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from undertow.enrich.rules import SEVERITY_WEIGHT
from undertow.store import Store, schema
from undertow.triage.case_sources import (
    CaseDraft,
    account_drafts,
    channel_drafts,
    item_drafts,
    load_signals,
)

OPEN, DECIDED, SUPPRESSED = "open", "decided", "suppressed"
BANK_SEVERITY = 0.9  # a confirmed hash or URL from a bank
DEFAULT_SEVERITY = 0.5
WEIGHTS = {"confidence": 0.5, "severity": 0.3, "spread": 0.2}


@dataclass
class CaseReport:
    item_cases: int = 0
    channel_cases: int = 0
    account_cases: int = 0
    signalled_items: int = 0
    covered_items: int = 0
    suppressed: int = 0

    @property
    def decisions_saved(self) -> int:
        """Reviewer decisions the grouping saves: one per signalled message, against one
        per case."""
        return max(0, self.signalled_items - self.item_cases)


def build_cases(store: Store) -> CaseReport:
    """Rebuild every case from the stored signals; decisions and suppressions stay."""
    report = CaseReport()
    with store.engine.begin() as conn:
        signals = load_signals(conn)
        items, report.signalled_items = item_drafts(conn, signals)
        drafts = items + channel_drafts(conn, signals) + account_drafts(conn, signals)
        _write(conn, drafts, report)
    return report


def _score(draft: CaseDraft, channels: int) -> dict[str, Any]:
    best: dict[str, float] = {}
    severity = 0.0
    categories: dict[str, int] = defaultdict(int)
    reasons = list(draft.reasons)
    for signal in draft.signals:
        best[signal.detector] = max(best.get(signal.detector, 0.0), float(signal.score))
        severity = max(severity, _severity(signal))
        if signal.category:
            categories[signal.category] += 1
    for detector, score in sorted(best.items(), key=lambda pair: -pair[1]):
        reasons.insert(0, f"{detector}: {score:.2f}" + _detail(draft.signals, detector))
    if draft.reasons and not draft.signals:
        best["network"] = 0.7
        severity = max(severity, DEFAULT_SEVERITY)
    confidence = 1 - math.prod(1 - min(score, 0.999) for score in best.values())
    spread = min(1.0, math.log10(max(channels, 1)) / 2)
    if channels > 1:
        reasons.append(f"posted in {channels} channels")
    priority = 100 * (
        WEIGHTS["confidence"] * confidence
        + WEIGHTS["severity"] * severity
        + WEIGHTS["spread"] * spread
    )
    return {
        "priority": round(priority, 2),
        "confidence": round(confidence, 4),
        "severity": round(severity, 4),
        "category": max(categories, key=lambda c: categories[c]) if categories else None,
        "reasons": reasons,
    }


def _severity(signal: Any) -> float:
    explanation = signal.explanation or {}
    if signal.detector in ("hashmatch", "urlbank"):
        return BANK_SEVERITY
    rule_severity = explanation.get("severity") if isinstance(explanation, dict) else None
    if rule_severity is not None:
        return SEVERITY_WEIGHT.get(str(rule_severity), DEFAULT_SEVERITY)
    return DEFAULT_SEVERITY * float(signal.score)


def _detail(signals: list[Any], detector: str) -> str:
    rules = sorted(
        {
            str(s.explanation.get("rule"))
            for s in signals
            if s.detector == detector
            and isinstance(s.explanation, dict)
            and s.explanation.get("rule")
        }
    )
    return f" ({', '.join(rules[:5])})" if rules else ""


def _write(conn: sa.Connection, drafts: list[CaseDraft], report: CaseReport) -> None:
    c, ci = schema.cases, schema.case_items
    decided = {
        row.case_id: row.status
        for row in conn.execute(sa.select(c.c.case_id, c.c.status).where(c.c.status != OPEN))
    }
    decided_items = {
        (row.channel_id, int(row.message_id)): row.case_id
        for row in conn.execute(
            sa.select(ci.c.channel_id, ci.c.message_id, ci.c.case_id).where(
                ci.c.case_id.in_(list(decided) or [""])
            )
        )
    }
    suppressed = {
        (row.channel_id, int(row.message_id))
        for row in conn.execute(sa.select(schema.suppressions.c.channel_id,
                                          schema.suppressions.c.message_id))
    }  # fmt: skip
    conn.execute(ci.delete())
    conn.execute(c.delete().where(c.c.status == OPEN))
    now = int(time.time())
    rows, item_rows = [], []
    for draft in drafts:
        # A group holding items of a decided case is that case, grown by new copies.
        earlier = next((decided_items[i] for i in draft.items if i in decided_items), None)
        case_id = earlier or draft.case_id
        status = decided.get(case_id, OPEN)
        if status == OPEN and draft.items and any(item in suppressed for item in draft.items):
            status = SUPPRESSED
            report.suppressed += 1
        channels = len({channel for channel, _ in draft.items}) if draft.items else 1
        row = {
            "case_id": case_id,
            "kind": draft.kind,
            "channel_id": draft.channel_id,
            "message_id": draft.message_id,
            "signals": len(draft.signals),
            "copies": len(draft.items),
            "channels": channels,
            "status": status,
            "updated_at": now,
            **_score(draft, channels),
        }
        rows.append(row)
        item_rows += [
            {"channel_id": channel, "message_id": number, "case_id": case_id}
            for channel, number in draft.items
        ]
        if draft.kind == "item":
            report.item_cases += 1
            report.covered_items += len(draft.items)
        elif draft.kind == "account":
            report.account_cases += 1
        else:
            report.channel_cases += 1
    kept = set(decided)
    fresh = [row for row in rows if row["case_id"] not in kept]
    for row in rows:
        if row["case_id"] in kept:
            values = {k: v for k, v in row.items() if k not in ("case_id", "status")}
            conn.execute(c.update().where(c.c.case_id == row["case_id"]).values(**values))
    for start in range(0, len(fresh), 1000):
        conn.execute(c.insert(), fresh[start : start + 1000])
    seen: set[tuple[Any, Any]] = set()
    unique = []
    for item in item_rows:
        key = (item["channel_id"], item["message_id"])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    for start in range(0, len(unique), 1000):
        conn.execute(ci.insert(), unique[start : start + 1000])
