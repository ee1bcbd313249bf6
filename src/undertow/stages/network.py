"""Stage: network intelligence over the whole store (mirrors, networks, rebrands, lineages).

1. Near-duplicate text: messages after the `network.neardup` watermark are signed and added
   to the MinHash-LSH index kept in `<data dir>/index/neardup/`; their pairs with everything
   before go to `text_copies`, and the hash of each one's cleaned text to `text_keys`
   (incremental; the index and the watermark are saved together every `SAVE_EVERY`
   messages).
2. Mirrors: every message's equivalents in other channels (identical or near-identical
   text, forwards resolved by title at the time, the same or near-identical picture) give
   carriages (`network.linking`); each channel's sources are chosen (`network.mirrors`) and
   grouped into networks named after their root.  `mirror_pairs` and `networks` are rebuilt
   each run: a relation is a property of whole timelines, and this pass is linear in the
   messages.
3. Rebrands: every title change with the content before and after (`network.rebrands`).
4. Lineages: channels that are one actor over time, with scored, explained links
   (`network.lineages`).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from undertow.gcpause import collector_paused
from undertow.network.lineages import Lineage, find_lineages
from undertow.network.linking import Post, link_posts
from undertow.network.minhash import clean_text
from undertow.network.mirrors import MIN_CARRIED, MirrorPair, assign_networks, choose_sources
from undertow.network.neardup import IndexFormatError, NearDuplicateIndex
from undertow.network.rebrands import Rebrand, find_rebrands
from undertow.network.titles import TitleIndex
from undertow.settings import Settings
from undertow.stages.watermarks import get_watermark, set_watermark
from undertow.store import Store, schema
from undertow.store.bulk import BulkStatement, dialect_insert

NEARDUP_STAGE = "network.neardup"
BATCH = 20_000
SAVE_EVERY = 8 * BATCH
BULK_FLOOR = 100_000
"""New messages at least this many, and as many as are indexed, are loaded in bulk."""
MIN_SIMILARITY = 0.6
MIN_KEY_CHARS = 20
REBRAND_LEAD = 7 * 86_400


@dataclass
class NetworkReport:
    new_messages: int = 0
    text_pairs: int = 0
    mirror_pairs: int = 0
    networks: int = 0
    rebrands: int = 0
    lineages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def analyse_network(
    store: Store, settings: Settings, *, progress: Callable[[int], None] | None = None
) -> NetworkReport:
    # Millions of posts, carriages and dictionary entries live through the mirror step and
    # form no cycles: the cyclic collector would walk them all again and again as they pile
    # up (decision 63).
    with _small_pages(), collector_paused():
        return _analyse(store, settings, progress)


@contextlib.contextmanager
def _small_pages() -> Iterator[None]:
    """NumPy asks the kernel for 2 MiB pages for its large arrays; where the kernel then
    compacts memory on demand (transparent huge pages set to "madvise"), each fresh array
    waits for it, more the more memory the process holds.  Measured on this stage
    (bench/network_scale.py): 270 s instead of 286-317 s at 4M messages, 65 s instead of 69-75 s
    at 1M, so it is switched off for the stage and restored after (decision 61)."""
    switch = getattr(np._core.multiarray, "_set_madvise_hugepage", None)  # type: ignore[attr-defined]
    if switch is None:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)


def _analyse(
    store: Store, settings: Settings, progress: Callable[[int], None] | None
) -> NetworkReport:
    report = NetworkReport()
    began = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal began
        now = time.perf_counter()
        report.seconds[name] = round(now - began, 2)
        began = now

    report.new_messages, report.text_pairs = _near_duplicates(store, settings, progress)
    lap("near_duplicates")
    with store.engine.begin() as conn:
        rebrands = find_rebrands(conn)
        report.rebrands = len(rebrands)
        lap("rebrands")
        pairs, networks = _mirrors(conn, rebrands)
        report.mirror_pairs, report.networks = len(pairs), len(networks)
        lap("mirrors")
        found = find_lineages(conn)
        report.lineages = len(found)
        _write_lineages(conn, found)
        lap("lineages")
        conn.execute(schema.rebrands.delete())
        if rebrands:
            conn.execute(
                schema.rebrands.insert(),
                [
                    {
                        "channel_id": r.channel_id,
                        "at": r.at,
                        "from_title": r.from_title,
                        "to_title": r.to_title,
                        "message_id": r.message_id,
                        "kind": r.kind,
                        "evidence": r.evidence,
                    }
                    for r in rebrands
                ],
            )
    return report


def _index_folder(settings: Settings) -> Path:
    return settings.data_dir / "index" / "neardup"


def _near_duplicates(
    store: Store, settings: Settings, progress: Callable[[int], None] | None
) -> tuple[int, int]:
    folder = _index_folder(settings)
    with store.engine.connect() as conn:
        low = get_watermark(conn, NEARDUP_STAGE)
    index = NearDuplicateIndex()
    if low and (folder / "neardup.json").exists():
        try:
            index = NearDuplicateIndex.load(folder, expect=index.params)
        except IndexFormatError:
            low = 0  # rebuild from scratch: the pairs are upserts, nothing is lost
    elif folder.exists():
        shutil.rmtree(folder)
        low = 0
    m = schema.messages
    with store.engine.connect() as conn:
        backlog = (conn.execute(sa.select(sa.func.max(m.c.id))).scalar() or 0) - low
    # Pairs point back to early messages at random, so inserting them one by one into the
    # index on `id_b` touches pages all over it: once it outgrows the database's cache, that
    # costs more per pair the larger the store.  A load at least as large as what is indexed
    # drops it and builds it once, sorted, at the end (also after a failure: nothing waits).
    reverse = next(i for i in schema.text_copies.indexes if i.name == "ix_text_copies_b")
    if backlog >= max(BULK_FLOOR, len(index)):
        with store.engine.begin() as conn:
            reverse.drop(conn, checkfirst=True)
        # Sized once for the whole load rather than doubling as it fills (decision 64).
        index.reserve(backlog)
    try:
        return _pair_new_messages(store, index, folder, low, progress)
    finally:
        with store.engine.begin() as conn:
            reverse.create(conn, checkfirst=True)


def _pair_new_messages(
    store: Store,
    index: NearDuplicateIndex,
    folder: Path,
    low: int,
    progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    m = schema.messages
    added = pairs_found = saved = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(m.c.id, m.c.text)
                .where(m.c.id > low, m.c.kind == "message")
                .order_by(m.c.id)
                .limit(BATCH)
            ).all()
        if not rows:
            break
        ids = np.array([row.id for row in rows], dtype=np.int64)
        texts = [row.text or "" for row in rows]
        # Cleaned once: for the signature and for the text key the mirror step compares.
        hasher = index.hasher
        cleaned = [clean_text(text, hasher.max_chars) for text in texts]
        signed = [hasher.clean(text, clean) for text, clean in zip(texts, cleaned, strict=True)]
        pairs = index.add_and_pair(ids, hasher.signatures_of_clean(signed))
        low = int(ids[-1])
        added += len(rows)
        pairs_found += len(pairs)
        # The index is saved, and the watermark moved, every SAVE_EVERY messages: saved after
        # each batch, most messages were written twice (their batch's run, then a merged
        # one).  Work after the last save is redone after a failure; its pairs are upserts.
        due = added - saved >= SAVE_EVERY
        with store.engine.begin() as conn:
            _write_copies(conn, pairs)
            _write_keys(conn, ids, cleaned)
            if due:
                index.save(folder)
                set_watermark(conn, NEARDUP_STAGE, low)
        if due:
            saved = added
        if progress is not None:
            progress(len(rows))
    if added > saved:
        with store.engine.begin() as conn:
            index.save(folder)
            set_watermark(conn, NEARDUP_STAGE, low)
    return added, pairs_found


def _write_copies(conn: sa.Connection, pairs: np.ndarray) -> None:
    if not len(pairs):
        return

    def build() -> sa.Insert:
        insert = dialect_insert(conn.dialect.name, schema.text_copies)
        return insert.on_conflict_do_nothing(index_elements=["id_a", "id_b"])  # type: ignore[no-any-return]

    rows = [
        (int(new), int(old), round(float(max(jaccard, containment)), 4))
        for new, old, jaccard, containment in pairs.tolist()
    ]
    BulkStatement(conn, "text_copies", build, ("id_a", "id_b", "similarity")).run(rows)


def _write_keys(conn: sa.Connection, ids: np.ndarray, cleaned: list[str]) -> None:
    """Text keys of messages whose cleaned text is long enough to be evidence: the first 64
    bits of its BLAKE2b (two different texts share one with a chance of n^2 / 2^65)."""
    rows = [
        (
            message_id,
            int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little", signed=True),
        )
        for message_id, text in zip(ids.tolist(), cleaned, strict=True)
        if len(text) >= MIN_KEY_CHARS
    ]

    def build() -> sa.Insert:
        insert = dialect_insert(conn.dialect.name, schema.text_keys)
        return insert.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=["id"], set_={"text_key": insert.excluded.text_key}
        )

    BulkStatement(conn, "text_keys", build, ("id", "text_key")).run(rows)


def _mirrors(
    conn: sa.Connection, rebrands: list[Rebrand]
) -> tuple[list[MirrorPair], dict[str, list[str]]]:
    titles = TitleIndex.load(conn)
    m, mm = schema.messages, schema.message_media
    media: dict[tuple[str, int], list[str]] = defaultdict(list)
    for channel_id, message_id, sha in conn.execute(
        sa.select(mm.c.channel_id, mm.c.message_id, mm.c.sha256).where(mm.c.sha256.is_not(None))
    ):
        media[(channel_id, message_id)].append(sha)
    posts: list[Post] = []
    resolved: dict[tuple[str, int], tuple[str, ...]] = {}
    keys = schema.text_keys
    for row in conn.execute(
        sa.select(
            m.c.id, m.c.channel_id, m.c.message_id, m.c.date, m.c.forwarded_from, keys.c.text_key
        )
        .select_from(m.outerjoin(keys, keys.c.id == m.c.id))
        .where(m.c.kind == "message")
        .order_by(m.c.id)
    ):
        forward: tuple[str, ...] = ()
        if row.forwarded_from:
            # Titles are resolved per day: forwards of one source on one day share the answer.
            key = (row.forwarded_from, row.date // 86_400)
            if key not in resolved:
                resolved[key] = tuple(titles.candidates(row.forwarded_from, row.date)[:1])
            forward = resolved[key]
        posts.append(
            Post(
                row.id,
                row.channel_id,
                row.date,
                row.text_key,
                tuple(media.get((row.channel_id, row.message_id), ())),
                forward,
                bool(row.forwarded_from),
            )
        )
    copies = conn.execute(sa.select(schema.text_copies.c.id_a, schema.text_copies.c.id_b))
    near = np.fromiter(itertools.chain.from_iterable(copies), dtype=np.int64).reshape(-1, 2)
    similar = conn.execute(
        sa.select(schema.media_matches.c.sha256_a, schema.media_matches.c.sha256_b)
    ).all()
    links = link_posts(posts, near, [tuple(r) for r in similar], min_posts=MIN_CARRIED)
    dates = {post.id: post.date for post in posts}
    post_dates: dict[str, list[int]] = defaultdict(list)
    for post in posts:
        post_dates[post.channel_id].append(post.date)
    for channel_dates in post_dates.values():  # cheaper than sorting every post by date
        channel_dates.sort()
    pairs = choose_sources(links, dates, post_dates)
    _since_rebrand(pairs, rebrands)
    networks = assign_networks(pairs)
    _write_mirrors(conn, pairs, networks)
    return pairs, networks


def _write_lineages(conn: sa.Connection, found: list[Lineage]) -> None:
    conn.execute(schema.lineage_links.delete())
    conn.execute(schema.lineages.delete())
    if not found:
        return
    conn.execute(
        schema.lineages.insert(),
        [
            {"lineage_id": x.lineage_id, "channels": x.channels, "lifetimes": x.lifetimes}
            for x in found
        ],
    )
    conn.execute(
        schema.lineage_links.insert(),
        [
            {
                "lineage_id": x.lineage_id,
                "from_id": link.source,
                "to_id": link.target,
                "score": link.score,
                "evidence": link.evidence,
            }
            for x in found
            for link in x.links
        ],
    )


def _since_rebrand(pairs: list[MirrorPair], rebrands: list[Rebrand]) -> None:
    """A channel that starts carrying a feed within days of taking a new name is a mirror
    since the rebrand: that is when it became one, even if the first copy came later."""
    by_channel: dict[str, list[int]] = defaultdict(list)
    for rebrand in rebrands:
        by_channel[rebrand.channel_id].append(rebrand.at)
    for pair in pairs:
        recent = [
            at for at in by_channel.get(pair.channel_id, ()) if 0 <= pair.since - at <= REBRAND_LEAD
        ]
        if recent:
            pair.since = max(recent)


def _write_mirrors(
    conn: sa.Connection, pairs: list[MirrorPair], networks: dict[str, list[str]]
) -> None:
    conn.execute(schema.mirror_pairs.delete())
    conn.execute(schema.networks.delete())
    if pairs:
        conn.execute(
            schema.mirror_pairs.insert(),
            [
                {
                    "channel_id": p.channel_id,
                    "source_id": p.source_id,
                    "carried": p.carried,
                    "eligible": p.eligible,
                    "share": p.share,
                    "median_lag_s": p.median_lag_s,
                    "lag_iqr_s": p.lag_iqr_s,
                    "methods": p.methods,
                    "since": p.since,
                    "until": p.until,
                    "network_id": p.network_id,
                }
                for p in pairs
            ],
        )
    if not networks:
        return
    f = schema.text_features
    scores = dict(
        conn.execute(
            sa.select(f.c.channel_id, sa.func.avg(f.c.propaganda)).group_by(f.c.channel_id)
        ).all()
    )
    conn.execute(
        schema.networks.insert(),
        [
            {
                "network_id": network_id,
                "root_id": members[0],
                "channels": members,
                "propaganda": scores.get(members[0]),
            }
            for network_id, members in networks.items()
        ],
    )
