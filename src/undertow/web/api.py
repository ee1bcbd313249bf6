"""The JSON API: `/api/cases`, `/api/channels`, `/api/signals`, decisions, health.

Every route but `/api/health` needs an API token (`Authorization: Bearer ...`) or a page
session; changes made with a session need its CSRF token in `X-CSRF-Token`.  Reading a
case and deciding one are written to the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from undertow.network.profile import channel_profile
from undertow.triage import audit
from undertow.triage.decisions import VERDICTS, DecisionError, decide
from undertow.web import queries
from undertow.web.security import api_user, check_csrf, require
from undertow.web.users import User

api = APIRouter(prefix="/api", tags=["api"])


class DecisionIn(BaseModel):
    verdict: str
    category: str | None = None
    note: str | None = None
    cover_lineage: bool = False


def caller(request: Request) -> tuple[User, bool]:
    return api_user(request, request.app.state.store)


Caller = Annotated[tuple[User, bool], Depends(caller)]


@api.get("/health")
def health() -> dict[str, str]:
    """Liveness, with no database work: the floor the benchmarks compare against."""
    return {"status": "ok"}


@api.get("/cases")
def get_cases(
    request: Request,
    who: Caller,
    status: str = "queue",
    kind: str | None = None,
    category: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    language: str | None = None,
    min_priority: float | None = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """The queue, highest priority first, with filters."""
    where = queries.CaseFilter(
        status=status, kind=kind, category=category, platform=platform, network=network,
        language=language, min_priority=min_priority, limit=limit, offset=offset,
    )  # fmt: skip
    with request.app.state.store.engine.connect() as conn:
        return queries.list_cases(conn, where)


@api.get("/cases/{case_id}")
def get_case(request: Request, case_id: str, who: Caller) -> dict[str, Any]:
    """One case: its items (every copy), signals, decisions and channel profile (audited)."""
    with request.app.state.store.engine.begin() as conn:
        case = queries.case_detail(conn, case_id)
        if case is None:
            raise HTTPException(status_code=404, detail=f"no case {case_id!r}")
        audit.append(conn, who[0].username, "case.view", case_id, {"via": "api"})
    return case


@api.post("/cases/{case_id}/decision")
def post_decision(request: Request, case_id: str, body: DecisionIn, who: Caller) -> dict[str, Any]:
    """Decide a case (reviewer or admin): covers every copy; see docs/user-guide.md."""
    user, with_session = who
    require("decide")(user)
    if with_session:
        check_csrf(request, request.headers.get("x-csrf-token"))
    if body.verdict not in VERDICTS:
        raise HTTPException(status_code=422, detail=f"verdict must be one of {VERDICTS}")
    try:
        result = decide(request.app.state.store, case_id, body.verdict, user.username,
                        category=body.category, note=body.note,
                        cover_lineage=body.cover_lineage)  # fmt: skip
    except DecisionError as exc:
        code = 404 if str(exc).startswith("no case") else 422
        raise HTTPException(status_code=code, detail=str(exc)) from exc
    return {"decision_id": result.decision_id, "case_id": result.case_id,
            "verdict": result.verdict, "items": result.items,
            "covered_cases": list(result.covered_cases)}  # fmt: skip


@api.get("/channels")
def get_channels(
    request: Request,
    who: Caller,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    with request.app.state.store.engine.connect() as conn:
        return queries.list_channels(conn, q, limit, offset)


@api.get("/channels/{channel_id}")
def get_channel(request: Request, channel_id: str, who: Caller) -> dict[str, Any]:
    with request.app.state.store.engine.connect() as conn:
        profile = channel_profile(conn, channel_id)
    if profile is None:
        raise HTTPException(status_code=404, detail=f"no channel {channel_id!r}")
    return profile


@api.get("/networks/{network_id:path}")
def get_network(request: Request, network_id: str, who: Caller) -> dict[str, Any]:
    """A mirror network: root, members and the mirror relations inside it."""
    with request.app.state.store.engine.connect() as conn:
        network = queries.network_detail(conn, network_id)
    if network is None:
        raise HTTPException(status_code=404, detail=f"no network {network_id!r}")
    return network


@api.get("/signals")
def get_signals(
    request: Request,
    who: Caller,
    detector: str | None = None,
    channel_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    with request.app.state.store.engine.connect() as conn:
        return queries.list_signals(conn, detector, channel_id, limit, offset)


@api.get("/search")
def get_search(request: Request, who: Caller, q: str) -> dict[str, list[dict[str, Any]]]:
    with request.app.state.store.engine.connect() as conn:
        return queries.search(conn, q)
