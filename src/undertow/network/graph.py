"""The channel graph: channels, outside destinations, handles and accounts joined by typed,
weighted, timed edges, and its analysis (distributor hubs, communities, busy accounts).

Nodes carry `kind`: `channel` (id = channel id), `destination` (`dest:<platform>:<target>`,
a room or server on another platform), `handle` (`handle:<name>`, a Telegram name no stored
channel answers to) and `account` (`account:<pseudonym>`, a group member).  Edges are keyed
by their `type`: `forward`, `copy`, `media` (mirror -> source), `mention`, `link` (channel ->
channel or handle), `migration` (channel -> destination), `lineage` (predecessor ->
successor) and `posted_in` (account -> channel).  Every edge has an integer `weight`; times
are ISO 8601 UTC (`first`, `last`).  No attribute is ever None: unknown values are left out.
Nothing is computed over all pairs; every step is linear in rows or edges.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import networkx as nx
import sqlalchemy as sa

from undertow.enrich.normalise import matching_form
from undertow.exchange.records_export import iso
from undertow.store import schema

CONTENT_TYPES = frozenset({"forward", "copy", "media"})
"""Edge types that carry a channel's posts; the hub measure runs over these alone."""
COMMUNITY_SEED = 20_240_601
"""Louvain is randomised: a fixed seed gives the same communities on every run."""
PAGERANK_ALPHA = 0.85
TOP = 10
"""Hubs and accounts listed in `analyse`'s summary."""
_TELEGRAM_KINDS = ("channel", "message", "bot", "invite")  # contacts are phone numbers: left out
_NOT_ALNUM = re.compile(r"[\W_]+")

EdgeKey = tuple[str, str, str]


def match_key(name: str) -> str:
    """How handles and titles are compared: the matching form (case, homoglyphs, leet and
    spaced-out letters folded) with everything but letters and digits removed."""
    return _NOT_ALNUM.sub("", matching_form(_NOT_ALNUM.sub(" ", name)))


class _EdgeBook:
    """Edges gathered while reading, merged by (source, target, type) before the graph is
    built, so several rows for one relation (two spellings of one handle) become one edge."""

    def __init__(self) -> None:
        self.edges: dict[EdgeKey, dict[str, Any]] = {}

    def add(
        self, u: str, v: str, kind: str, weight: int, first: int | None, last: int | None, /,
        **attrs: Any,
    ) -> None:  # fmt: skip
        edge = self.edges.get((u, v, kind))
        if edge is None:
            self.edges[(u, v, kind)] = {"weight": weight, "first": first, "last": last, **attrs}
            return
        edge["weight"] += weight
        edge["first"] = min((t for t in (edge["first"], first) if t is not None), default=None)
        edge["last"] = max((t for t in (edge["last"], last) if t is not None), default=None)

    def add_to(self, graph: Any) -> None:
        for (u, v, kind), edge in sorted(self.edges.items()):
            edge["first"], edge["last"] = iso(edge["first"]), iso(edge["last"])
            attrs = {key: value for key, value in edge.items() if value is not None}
            graph.add_edge(u, v, key=kind, type=kind, **attrs)


class HandleResolver:
    """Telegram names (`t.me/<name>`, `@name`, `t.me/c/<id>`) resolved to stored channels:
    by the channel's own handle, by its numeric id, else by a title (any it ever had) with the
    same `match_key`, trying the name without its purely numeric parts last
    (`amaq_agency_40` -> "Amaq Agency").  A name is only resolved when one channel fits:
    look-alike titles are shared by whole families of channels."""

    def __init__(self, conn: sa.Connection) -> None:
        c, t = schema.channels, schema.channel_titles
        self.by_handle: dict[str, str] = {}
        self.by_native: dict[str, str] = {}
        self.by_title: dict[str, set[str]] = defaultdict(set)
        for row in conn.execute(sa.select(c.c.channel_id, c.c.platform, c.c.native_id,
                                          c.c.handle, c.c.title)):  # fmt: skip
            if row.platform != "telegram":
                continue
            self.by_native[row.native_id.lstrip("-")] = row.channel_id
            if row.handle:
                self.by_handle[row.handle.lower().lstrip("@")] = row.channel_id
            if row.title:
                self.by_title[match_key(row.title)].add(row.channel_id)
        telegram = set(self.by_native.values())
        for channel_id, title in conn.execute(sa.select(t.c.channel_id, t.c.title).distinct()):
            if channel_id in telegram:
                self.by_title[match_key(title)].add(channel_id)
        self.by_title.pop("", None)

    def resolve(self, target: str) -> tuple[str | None, str]:
        """(channel id or None, how it was resolved)."""
        name = target.lower()
        if name.startswith("c/"):
            channel_id = self.by_native.get(name[2:])
            return (channel_id, "id") if channel_id else (None, "unresolved")
        if name in self.by_handle:
            return self.by_handle[name], "handle"
        loose = "_".join(part for part in name.split("_") if not part.isdigit())
        for key, how in ((match_key(name), "title"), (match_key(loose), "title_loose")):
            found = self.by_title.get(key, set())
            if len(found) == 1:
                return next(iter(found)), how
        return None, "unresolved"


def build_graph(conn: sa.Connection) -> Any:
    """The channel graph of everything in the store (a `networkx.MultiDiGraph`)."""
    graph = nx.MultiDiGraph()
    book = _EdgeBook()
    _add_channels(conn, graph)
    _add_mirrors(conn, graph, book)
    _add_telegram_links(conn, graph, book)
    _add_migrations(conn, graph, book)
    _add_lineage(conn, graph, book)
    _add_accounts(conn, graph, book)
    book.add_to(graph)
    return graph


def _add_channels(conn: sa.Connection, graph: Any) -> None:
    c, m, tf, n = schema.channels, schema.messages, schema.text_features, schema.networks
    count_query = sa.select(m.c.channel_id, sa.func.count()).group_by(m.c.channel_id)
    counts: dict[str, int] = {row[0]: row[1] for row in conn.execute(count_query)}
    scores = {
        row.channel_id: (float(row.mean), int(row.scored))
        for row in conn.execute(
            sa.select(tf.c.channel_id, sa.func.avg(tf.c.propaganda).label("mean"),
                      sa.func.count().label("scored")).group_by(tf.c.channel_id)
        )
    }  # fmt: skip
    networks = {
        channel_id: network_id
        for network_id, members in conn.execute(sa.select(n.c.network_id, n.c.channels))
        for channel_id in members or ()
    }
    for row in conn.execute(sa.select(c).order_by(c.c.channel_id)):
        attrs: dict[str, Any] = {
            "kind": "channel", "label": row.title or row.channel_id, "title": row.title or "",
            "platform": row.platform, "chat_type": row.kind, "public": bool(row.public),
            "status": row.status, "messages": int(counts.get(row.channel_id, 0)),
            "handle": row.handle, "first_seen": iso(row.first_seen),
            "last_seen": iso(row.last_seen), "network_id": networks.get(row.channel_id),
        }  # fmt: skip
        if row.channel_id in scores:
            attrs["propaganda"], attrs["scored"] = scores[row.channel_id]
        graph.add_node(row.channel_id, **{k: v for k, v in attrs.items() if v is not None})


def _ensure_channel(graph: Any, channel_id: str) -> None:
    # Relations may name a channel whose row is gone (store edited by hand): keep the edge.
    if channel_id not in graph:
        graph.add_node(channel_id, kind="channel", label=channel_id, title="", messages=0)


def _add_mirrors(conn: sa.Connection, graph: Any, book: _EdgeBook) -> None:
    p = schema.mirror_pairs
    for row in conn.execute(sa.select(p).order_by(p.c.channel_id, p.c.source_id)):
        _ensure_channel(graph, row.channel_id)
        _ensure_channel(graph, row.source_id)
        for method, count in sorted((row.methods or {}).items()):
            if count:
                book.add(row.channel_id, row.source_id, method, int(count), row.since, row.until,
                         share=float(row.share), carried=int(row.carried),
                         median_lag_s=row.median_lag_s, network_id=row.network_id)  # fmt: skip


def _link_rows(conn: sa.Connection, where: Any, *group: Any) -> Any:
    """Links grouped by (channel, *group): distinct posts, first and last post date."""
    ml, m = schema.message_links, schema.messages
    return conn.execute(
        sa.select(ml.c.channel_id, *group, sa.func.min(ml.c.kind).label("kind"),
                  sa.func.count(sa.distinct(ml.c.message_id)).label("posts"),
                  sa.func.min(m.c.date).label("first"), sa.func.max(m.c.date).label("last"))
        .join(m, sa.and_(m.c.channel_id == ml.c.channel_id, m.c.message_id == ml.c.message_id))
        .where(where)
        .group_by(ml.c.channel_id, *group)
        .order_by(ml.c.channel_id, *group)
    )  # fmt: skip


def _add_telegram_links(conn: sa.Connection, graph: Any, book: _EdgeBook) -> None:
    ml = schema.message_links
    resolver = HandleResolver(conn)
    is_mention = (ml.c.source == "mention").label("is_mention")
    where = sa.and_(ml.c.platform == "telegram", ml.c.kind.in_(_TELEGRAM_KINDS),
                    ml.c.target.is_not(None))  # fmt: skip
    for row in _link_rows(conn, where, ml.c.target, is_mention):
        invite = row.kind == "invite"  # an invite's hash names no channel
        target, how = (None, "unresolved") if invite else resolver.resolve(row.target)
        if target is None:
            name = f"+{row.target}" if invite else row.target
            target = f"handle:{name}"
            if target not in graph:
                link_kind = row.kind if row.kind in ("bot", "invite") else "channel"
                graph.add_node(target, kind="handle", label=f"t.me/{name}", platform="telegram",
                               target=name, link_kind=link_kind)  # fmt: skip
        if target == row.channel_id:
            continue  # a channel advertising itself
        _ensure_channel(graph, row.channel_id)
        kind = "mention" if row.is_mention else "link"
        book.add(row.channel_id, target, kind, row.posts, row.first, row.last, resolved=how)


def _add_migrations(conn: sa.Connection, graph: Any, book: _EdgeBook) -> None:
    ml = schema.message_links
    dest = sa.func.coalesce(ml.c.target, ml.c.normalized_url).label("dest")
    where = ml.c.platform.not_in(("web", "telegram"))
    for row in _link_rows(conn, where, ml.c.platform, dest):
        node = f"dest:{row.platform}:{row.dest}"
        if node not in graph:
            graph.add_node(node, kind="destination", label=row.dest, platform=row.platform,
                           target=row.dest, link_kind=row.kind)  # fmt: skip
        _ensure_channel(graph, row.channel_id)
        book.add(row.channel_id, node, "migration", row.posts, row.first, row.last)


def _add_lineage(conn: sa.Connection, graph: Any, book: _EdgeBook) -> None:
    """Predecessor -> successor, timed at the successor's first post, with score and evidence."""
    links, lineages = schema.lineage_links, schema.lineages
    first_posts: dict[str, int] = {}
    for (lifetimes,) in conn.execute(sa.select(lineages.c.lifetimes)):
        for life in lifetimes:
            if isinstance(life.get("first_post"), int):
                first_posts[life["channel_id"]] = life["first_post"]
    for row in conn.execute(sa.select(links)):
        at = first_posts.get(row.to_id)
        _ensure_channel(graph, row.from_id)
        _ensure_channel(graph, row.to_id)
        book.add(row.from_id, row.to_id, "lineage", 1, at, at, lineage_id=row.lineage_id,
                 score=row.score, evidence=row.evidence)  # fmt: skip


def _add_accounts(conn: sa.Connection, graph: Any, book: _EdgeBook) -> None:
    m, c = schema.messages, schema.channels
    service = sa.func.sum(sa.case((m.c.kind == "service", 1), else_=0)).label("service")
    query = (
        sa.select(m.c.author, m.c.channel_id, sa.func.count().label("posts"), service,
                  sa.func.min(m.c.date).label("first"), sa.func.max(m.c.date).label("last"))
        .join(c, c.c.channel_id == m.c.channel_id)
        .where(c.c.kind == "group", m.c.author.is_not(None))
        .group_by(m.c.author, m.c.channel_id)
        .order_by(m.c.author, m.c.channel_id)
    )  # fmt: skip
    for row in conn.execute(query):
        node = f"account:{row.author}"
        if node not in graph:
            graph.add_node(node, kind="account", label=row.author, messages=0)
        graph.nodes[node]["messages"] += row.posts
        book.add(node, row.channel_id, "posted_in", row.posts, row.first, row.last,
                 service=int(row.service or 0))  # fmt: skip


def analyse(graph: Any, *, seed: int = COMMUNITY_SEED, top: int = TOP) -> dict[str, Any]:
    """Add analysis attributes to `graph`'s nodes and return a summary.

    Every node: `in_weight`, `out_weight` (weighted degree over all edges), `community`
    (Louvain over the undirected channel-to-channel projection; other nodes join the community
    they are most tied to, -1 if none).  Channels: `hub_score` (PageRank over content edges,
    which point from mirror to source, so rank gathers at outlets and distributors),
    `hub_rank` (1 = strongest), `carried_by` (channels carrying its posts), `accounts`.
    Accounts: `channels` (channels they post in)."""
    _weighted_degrees(graph)
    _hub_scores(graph)
    communities = _communities(graph, seed)
    for node, data in graph.nodes(data=True):
        if data["kind"] == "account":
            data["channels"] = len(set(graph.successors(node)))
        elif data["kind"] == "channel":
            data["accounts"] = sum(
                1 for u in graph.predecessors(node) if graph.nodes[u]["kind"] == "account"
            )
    channels = [(n, d) for n, d in graph.nodes(data=True) if d["kind"] == "channel"]
    accounts = [(n, d) for n, d in graph.nodes(data=True) if d["kind"] == "account"]
    hubs = sorted(channels, key=lambda item: item[1]["hub_rank"])[:top]
    busy = sorted(accounts, key=lambda item: (-item[1]["channels"], -item[1]["messages"],
                                              item[0]))[:top]  # fmt: skip
    return {
        "nodes": dict(sorted(Counter(d["kind"] for _, d in graph.nodes(data=True)).items())),
        "edges": dict(sorted(Counter(t for *_, t in graph.edges(data="type")).items())),
        "communities": communities,
        "hubs": [{"node": n, "label": d["label"], "hub_score": d["hub_score"],
                  "carried_by": d["carried_by"]} for n, d in hubs],
        "accounts": [{"node": n, "channels": d["channels"], "messages": d["messages"]}
                     for n, d in busy],
    }  # fmt: skip


def _weighted_degrees(graph: Any) -> None:
    incoming: Counter[str] = Counter()
    outgoing: Counter[str] = Counter()
    for u, v, weight in graph.edges(data="weight", default=1):
        outgoing[u] += weight
        incoming[v] += weight
    for node, data in graph.nodes(data=True):
        data["in_weight"], data["out_weight"] = int(incoming[node]), int(outgoing[node])


def _hub_scores(graph: Any) -> None:
    content = nx.DiGraph()
    content.add_nodes_from(n for n, kind in graph.nodes(data="kind") if kind == "channel")
    for u, v, data in graph.edges(data=True):
        if data["type"] in CONTENT_TYPES and u != v:
            weight = content[u][v]["weight"] if content.has_edge(u, v) else 0
            content.add_edge(u, v, weight=weight + data["weight"])
    if not content:
        return
    try:
        scores = nx.pagerank(content, alpha=PAGERANK_ALPHA, weight="weight", max_iter=500)
    except nx.PowerIterationFailedConvergence:
        # Never seen in practice; weighted in-degree still orders outlets and distributors.
        total = sum(w for *_, w in content.edges(data="weight")) or 1
        scores = {n: w / total for n, w in content.in_degree(weight="weight")}
    order = sorted(content, key=lambda n: (-scores[n], n))
    for rank, node in enumerate(order, start=1):
        data = graph.nodes[node]
        data["hub_score"], data["hub_rank"] = float(scores[node]), rank
        data["carried_by"] = int(content.in_degree(node))


def _communities(graph: Any, seed: int) -> int:
    """Louvain communities of channels, numbered largest first; returns how many."""
    projection = nx.Graph()
    projection.add_nodes_from(n for n, kind in graph.nodes(data="kind") if kind == "channel")
    for u, v, weight in graph.edges(data="weight", default=1):
        if u != v and u in projection and v in projection:
            old = projection[u][v]["weight"] if projection.has_edge(u, v) else 0
            projection.add_edge(u, v, weight=old + weight)
    found = nx.community.louvain_communities(projection, weight="weight", seed=seed)
    found = sorted((sorted(c) for c in found), key=lambda c: (-len(c), c[0]))
    community = {node: index for index, members in enumerate(found) for node in members}
    for node, data in graph.nodes(data=True):
        if node in community:
            data["community"] = community[node]
            continue
        ties: Counter[int] = Counter()
        for u, v, weight in [*graph.in_edges(node, data="weight"),
                             *graph.out_edges(node, data="weight")]:  # fmt: skip
            other = v if u == node else u
            if other in community:
                ties[community[other]] += weight
        best = min(ties.items(), key=lambda item: (-item[1], item[0]), default=(-1, 0))
        data["community"] = best[0]
    return len(found)
