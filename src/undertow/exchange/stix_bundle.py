"""The STIX 2.1 form of a referral: the bundle threat-intelligence platforms import.

Per case: URL and file observables (the items' permalinks and media SHA-256s), the observed
data, an indicator whose pattern matches any of them, and a note carrying the decision, its
reasons and the reviewer's note; all created by one `Identity` naming the referral and its
recipient.  A case with neither links nor hashes gets only the note.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import stix2

from undertow import __version__
from undertow.triage.evidence_package import is_sha256
from undertow.triage.referral_records import ReferralCase, iso_utc


def bundle(cases: list[ReferralCase], referral_id: str, recipient: str) -> Any:
    """The STIX 2.1 bundle of the cases referred as `referral_id` to `recipient`."""
    creator = stix2.Identity(
        name="Undertow", identity_class="system",
        description=f"Undertow {__version__}: referral {referral_id} to {recipient}",
    )  # fmt: skip
    objects: list[Any] = [creator]
    for case in cases:
        objects += _case_objects(case, creator.id)
    return stix2.Bundle(objects=_unique(objects), allow_custom=False)


def _case_objects(case: ReferralCase, creator: str) -> list[Any]:
    urls = sorted({item.permalink for item in case.items if item.permalink})
    hashes = sorted({m.sha256 for i in case.items for m in i.media if is_sha256(m.sha256)})
    observables: list[Any] = [stix2.URL(value=url) for url in urls]
    observables += [stix2.File(hashes={"SHA-256": sha}) for sha in hashes]
    objects: list[Any] = list(observables)
    refs: list[str] = [creator]
    if observables:
        observed = _observed(case, creator, [o.id for o in observables])
        indicator = stix2.Indicator(
            created_by_ref=creator, name=f"Undertow case {case.case_id}",
            description=f"Confirmed violating ({case.category or 'uncategorised'}) by a "
            "reviewer; every copy of the item.",
            indicator_types=["malicious-activity"], pattern=_pattern(urls, hashes),
            pattern_type="stix", valid_from=_when(case.decided_at),
            labels=[case.category] if case.category else None,
        )  # fmt: skip
        based_on = stix2.Relationship(indicator.id, "based-on", observed.id,
                                      created_by_ref=creator)  # fmt: skip
        objects += [observed, indicator, based_on]
        refs = [indicator.id, observed.id]
    objects.append(
        stix2.Note(
            created_by_ref=creator, abstract=f"Case {case.case_id}", content=_note_text(case),
            authors=[case.reviewer], object_refs=refs,
        )
    )  # fmt: skip
    return objects


def _observed(case: ReferralCase, creator: str, refs: list[str]) -> Any:
    seen = [item.posted_at for item in case.items if item.posted_at is not None]
    first, last = (min(seen), max(seen)) if seen else (case.decided_at, case.decided_at)
    return stix2.ObservedData(
        created_by_ref=creator, first_observed=_when(first), last_observed=_when(last),
        number_observed=max(1, len(case.items)), object_refs=refs,
    )  # fmt: skip


def _pattern(urls: Iterable[str], hashes: Iterable[str]) -> str:
    parts = [f"[url:value = '{_quote(url)}']" for url in urls]
    parts += [f"[file:hashes.'SHA-256' = '{sha}']" for sha in hashes]
    return " OR ".join(parts)


def _quote(value: str) -> str:
    """A STIX pattern string literal's contents: backslashes and quotes escaped."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _note_text(case: ReferralCase) -> str:
    reasons = "\n".join(f"- {reason}" for reason in case.reasons) or "- (none recorded)"
    lines = [
        f"Decision: violating ({case.category or 'uncategorised'}) by {case.reviewer} "
        f"at {iso_utc(case.decided_at)}; {len(case.items)} item(s).",
        f"Reasons:\n{reasons}",
    ]
    if case.note:
        lines.append(f"Reviewer's note: {case.note}")
    return "\n\n".join(lines)


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _unique(objects: list[Any]) -> list[Any]:
    """Drop repeated observables (their ids derive from their values)."""
    seen: set[str] = set()
    out = []
    for obj in objects:
        if obj.id not in seen:
            seen.add(obj.id)
            out.append(obj)
    return out
