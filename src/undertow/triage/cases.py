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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from undertow.store import Store, schema

OPEN, DECIDED, SUPPRESSED = "open", "decided", "suppressed"
BANK_SEVERITY = 0.9  # a confirmed hash or URL from a bank
DEFAULT_SEVERITY = 0.5
MIN_ACCOUNT_SIGNALS = 2  # signalled messages of one account before it gets a case of its own
WEIGHTS = {"confidence": 0.5, "severity": 0.3, "spread": 0.2}
ItemKey = tuple[str, int]


@dataclass
class CaseDraft:
    case_id: str
    kind: str
    channel_id: str
    message_id: int | None
    items: list[ItemKey] = field(default_factory=list)
    signals: list[Any] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


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


class _Groups:
    """Union-find over message keys."""

    def __init__(self) -> None:
        self.parent: dict[ItemKey, ItemKey] = {}

    def find(self, key: ItemKey) -> ItemKey:
        parent = self.parent.setdefault(key, key)
        if parent != key:
            root = self.find(parent)
            self.parent[key] = root
            return root
        return key

    def join(self, a: ItemKey, b: ItemKey) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def build_cases(store: Store) -> CaseReport:
    """Rebuild every case from the stored signals; decisions and suppressions stay."""
    report = CaseReport()
    with store.engine.begin() as conn:
        signals = _signals(conn)
        drafts = (
            _item_drafts(conn, signals, report)
            + _channel_drafts(conn, signals)
            + _account_drafts(conn, signals)
        )
        _write(conn, drafts, report)
    return report


def _signals(conn: sa.Connection) -> list[Any]:
    s = schema.signals
    return list(
        conn.execute(
            sa.select(s.c.id, s.c.detector, s.c.key, s.c.target_kind, s.c.channel_id,
                      s.c.message_id, s.c.sha256, s.c.score, s.c.category, s.c.explanation)
        )
    )  # fmt: skip


def _item_drafts(
    conn: sa.Connection, all_signals: list[Any], report: CaseReport
) -> list[CaseDraft]:
    signals = [row for row in all_signals if row.target_kind in ("message", "media")]
    groups = _Groups()
    by_item: dict[ItemKey, list[Any]] = defaultdict(list)
    mm = schema.message_media
    flagged_media = {row.sha256 for row in signals if row.target_kind == "media" and row.sha256}
    for sha in flagged_media:
        posts = conn.execute(
            sa.select(mm.c.channel_id, mm.c.message_id).where(mm.c.sha256 == sha)
        ).all()
        keys = [(row.channel_id, int(row.message_id)) for row in posts]
        for key in keys:
            groups.join(keys[0], key)
        for row in signals:
            if row.sha256 == sha and row.target_kind == "media" and keys:
                by_item[keys[0]].append(row)
    for row in signals:
        if row.target_kind == "message" and row.channel_id and row.message_id is not None:
            key = (row.channel_id, int(row.message_id))
            groups.find(key)
            by_item[key].append(row)
    report.signalled_items = len(by_item)
    _join_text_copies(conn, groups)
    members: dict[ItemKey, list[ItemKey]] = defaultdict(list)
    for key in list(groups.parent):
        members[groups.find(key)].append(key)
    dates = _dates(conn, groups.parent)
    drafts = []
    for items in members.values():
        found = [signal for item in items for signal in by_item.get(item, ())]
        if not found:
            continue
        items.sort(key=lambda key: (dates.get(key, 0), key))
        first = items[0]
        drafts.append(
            CaseDraft(
                case_id=f"item:{first[0]}:{first[1]}",
                kind="item",
                channel_id=first[0],
                message_id=first[1],
                items=items,
                signals=found,
            )
        )
    return drafts


def _join_text_copies(conn: sa.Connection, groups: _Groups) -> None:
    """Join near-duplicate copies of the signalled messages (and copies of copies)."""
    m, tc = schema.messages, schema.text_copies
    ids: dict[int, ItemKey] = {}
    wanted = list(groups.parent)
    for start in range(0, len(wanted), 500):
        keys = wanted[start : start + 500]
        condition = sa.or_(*[sa.and_(m.c.channel_id == c, m.c.message_id == n) for c, n in keys])
        for row in conn.execute(sa.select(m.c.id, m.c.channel_id, m.c.message_id).where(condition)):
            ids[int(row.id)] = (row.channel_id, int(row.message_id))
    frontier = set(ids)
    seen = set(ids)
    while frontier:
        batch = list(frontier)
        frontier = set()
        pairs: list[tuple[int, int]] = []
        for start in range(0, len(batch), 500):
            numbers = batch[start : start + 500]
            pairs += [
                (int(a), int(b))
                for a, b in conn.execute(
                    sa.select(tc.c.id_a, tc.c.id_b).where(
                        sa.or_(tc.c.id_a.in_(numbers), tc.c.id_b.in_(numbers))
                    )
                )
            ]
        fresh = {n for pair in pairs for n in pair if n not in seen}
        fresh_list = sorted(fresh)
        for start in range(0, len(fresh_list), 500):
            for row in conn.execute(
                sa.select(m.c.id, m.c.channel_id, m.c.message_id).where(
                    m.c.id.in_(fresh_list[start : start + 500])
                )
            ):
                ids[int(row.id)] = (row.channel_id, int(row.message_id))
        seen |= fresh
        frontier = fresh
        for a, b in pairs:
            if a in ids and b in ids:
                groups.join(ids[a], ids[b])


def _dates(conn: sa.Connection, keys: Iterable[ItemKey]) -> dict[ItemKey, int]:
    m = schema.messages
    by_channel: dict[str, list[int]] = defaultdict(list)
    for channel, number in keys:
        by_channel[channel].append(number)
    out: dict[ItemKey, int] = {}
    for channel, numbers in by_channel.items():
        for start in range(0, len(numbers), 500):
            for row in conn.execute(
                sa.select(m.c.message_id, m.c.date).where(
                    m.c.channel_id == channel, m.c.message_id.in_(numbers[start : start + 500])
                )
            ):
                out[(channel, int(row.message_id))] = int(row.date or 0)
    return out


def _channel_drafts(conn: sa.Connection, signals: list[Any]) -> list[CaseDraft]:
    drafts: dict[str, CaseDraft] = {}

    def draft(channel_id: str) -> CaseDraft:
        if channel_id not in drafts:
            drafts[channel_id] = CaseDraft(f"channel:{channel_id}", "channel", channel_id, None)
        return drafts[channel_id]

    for row in signals:
        if row.target_kind == "channel" and row.channel_id:
            draft(row.channel_id).signals.append(row)
    flagged = set(drafts)
    networks = {
        row.network_id: row.propaganda
        for row in conn.execute(
            sa.select(schema.networks.c.network_id, schema.networks.c.propaganda)
        )
    }
    mp = schema.mirror_pairs
    for row in conn.execute(
        sa.select(mp.c.channel_id, mp.c.source_id, mp.c.share, mp.c.network_id)
    ):
        score = networks.get(row.network_id) or 0.0
        if score >= 0.5 or row.source_id in flagged:
            draft(row.channel_id).reasons.append(
                f"mirrors {row.source_id} ({row.share:.0%} of its posts; network "
                f"{row.network_id}, propaganda {score:.2f})"
            )
    ll = schema.lineage_links
    for row in conn.execute(sa.select(ll.c.from_id, ll.c.to_id, ll.c.score)):
        if row.from_id in drafts or row.to_id in drafts:
            draft(row.to_id).reasons.append(
                f"re-creation of {row.from_id} (lineage link, score {row.score:.2f})"
            )
    rb = schema.rebrands
    for row in conn.execute(sa.select(rb.c.channel_id, rb.c.from_title, rb.c.to_title)):
        if row.channel_id in drafts:
            draft(row.channel_id).reasons.append(
                f"rebranded from {row.from_title!r} to {row.to_title!r}"
            )
    return list(drafts.values())


def _account_drafts(conn: sa.Connection, signals: list[Any]) -> list[CaseDraft]:
    """Accounts (pseudonymised authors in groups) whose own messages carry signals at least
    `MIN_ACCOUNT_SIGNALS` times: the person, not only the posts, may need action."""
    m, ch = schema.messages, schema.channels
    wanted = {
        (row.channel_id, int(row.message_id))
        for row in signals
        if row.target_kind == "message" and row.channel_id and row.message_id is not None
    }
    groups = {
        channel_id
        for (channel_id,) in conn.execute(sa.select(ch.c.channel_id).where(ch.c.kind != "channel"))
    }
    by_author: dict[str, list[Any]] = defaultdict(list)
    numbers: dict[str, list[int]] = defaultdict(list)
    for channel_id, number in wanted:
        if channel_id in groups:
            numbers[channel_id].append(number)
    for channel_id, chunk in numbers.items():
        query = sa.select(m.c.message_id, m.c.author).where(
            m.c.channel_id == channel_id, m.c.message_id.in_(chunk), m.c.author.is_not(None)
        )
        authors = {int(row.message_id): str(row.author) for row in conn.execute(query)}
        for row in signals:
            if row.channel_id == channel_id and row.message_id in authors:
                by_author[authors[row.message_id]].append(row)
    drafts = []
    for author, found in sorted(by_author.items()):
        messages = {(row.channel_id, row.message_id) for row in found}
        if len(messages) < MIN_ACCOUNT_SIGNALS:
            continue
        channels = sorted({channel for channel, _ in messages})
        draft = CaseDraft(f"account:{author}", "account", channels[0], None, signals=found)
        draft.reasons.append(
            f"posted {len(messages)} signalled messages in {len(channels)} group(s): "
            + ", ".join(channels[:5])
        )
        drafts.append(draft)
    return drafts


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
        from undertow.enrich.rules import SEVERITY_WEIGHT

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
