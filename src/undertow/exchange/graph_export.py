"""The channel graph as GEXF (Gephi) or GraphML (yEd, Cytoscape, networkx, igraph).

Attribute names are a public interface (docs/formats.md).  Values are made safe for both
formats: strings, integers, floats and booleans only; dicts and lists become JSON text, None
and non-finite numbers are left out, characters XML cannot hold are dropped, and one
attribute name has one type throughout a file.  Edge ids are `e0`, `e1`, ... in a fixed
order.  GEXF reserves an edge's `type` for its direction, so there the edge type is written
as `relation` (and as the edge's label); GraphML keeps `type`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any, BinaryIO

import networkx as nx

from undertow.network.graph import analyse, build_graph
from undertow.store import Store

GRAPH_FORMATS = ("gexf", "graphml")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Names networkx's GEXF writer turns into XML attributes of a node or edge.
_GEXF_RESERVED = ("id", "pid", "start", "end", "viz", "spells", "key")


def write_graph(store: Store, fmt: str, out: str | os.PathLike[str] | BinaryIO) -> dict[str, Any]:
    """Build and analyse the channel graph of `store` and write it to `out` (a path, or a
    binary stream) as `fmt` (`gexf` or `graphml`); returns `analyse`'s summary."""
    if fmt not in GRAPH_FORMATS:
        raise ValueError(f"unknown graph format {fmt!r}; choose one of {', '.join(GRAPH_FORMATS)}")
    with store.engine.connect() as conn:
        graph = build_graph(conn)
    summary = analyse(graph)
    dump_graph(graph, fmt, out)
    return summary


def dump_graph(graph: Any, fmt: str, out: str | os.PathLike[str] | BinaryIO) -> None:
    """Write an already built graph (see `write_graph`)."""
    if fmt not in GRAPH_FORMATS:
        raise ValueError(f"unknown graph format {fmt!r}; choose one of {', '.join(GRAPH_FORMATS)}")
    safe = portable_graph(graph, gexf=fmt == "gexf")
    if fmt == "gexf":
        nx.write_gexf(safe, out)
    else:
        nx.write_graphml(safe, out)


def portable_graph(graph: Any, *, gexf: bool = False) -> Any:
    """A copy of `graph` whose attributes every GEXF and GraphML reader accepts."""
    nodes = [(str(node), _safe_attrs(data)) for node, data in graph.nodes(data=True)]
    edges = [
        (str(u), str(v), _safe_attrs(data)) for u, v, data in graph.edges(keys=False, data=True)
    ]
    if gexf:
        for _, data in nodes:
            for name in _GEXF_RESERVED:
                data.pop(name, None)
        for *_, data in edges:
            for name in _GEXF_RESERVED:
                data.pop(name, None)
            if "type" in data:
                data["relation"] = data["label"] = data.pop("type")
    _unify_types(data for _, data in nodes)
    _unify_types(data for *_, data in edges)
    safe = nx.MultiDiGraph()
    safe.add_nodes_from(nodes)
    for index, (u, v, data) in enumerate(edges):
        safe.add_edge(u, v, key=f"e{index}", **data)
    return safe


def _safe_attrs(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        safe = _safe_value(value)
        if safe is not None:
            out[_clean(str(name))] = safe
    return out


def _safe_value(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        if isinstance(value, set | frozenset):
            value = sorted(value, key=str)
        return _clean(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))
    return _clean(str(value))


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _unify_types(records: Iterable[dict[str, Any]]) -> None:
    """One type per attribute name (GraphML declares it once per name): where ints and
    floats mix, all become floats; where anything else mixes, all become strings."""
    records = list(records)
    types: dict[str, set[type]] = {}
    for data in records:
        for name, value in data.items():
            types.setdefault(name, set()).add(type(value))
    for name, kinds in types.items():
        if len(kinds) < 2:
            continue
        cast: type = float if kinds <= {int, float} else str
        for data in records:
            if name in data:
                value = data[name]
                data[name] = str(value).lower() if isinstance(value, bool) else cast(value)
