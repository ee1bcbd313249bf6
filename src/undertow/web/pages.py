"""The reviewer's pages: login, the queue, a case (decide with the keyboard), a channel,
search.  Every view of a case and every decision is audited; changes need the CSRF token."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from undertow.enrich.evidence import EvidenceStore
from undertow.enrich.rules import category_ids
from undertow.network.profile import channel_profile
from undertow.store import schema
from undertow.triage import audit
from undertow.triage.decisions import VERDICTS, DecisionError, decide
from undertow.web import queries
from undertow.web.charts import activity_svg, network_svg
from undertow.web.security import check_csrf, client_address, csrf_token, session_user
from undertow.web.users import User, authenticate

pages = APIRouter(include_in_schema=False)
_SHA256 = re.compile(r"[0-9a-f]{64}")
QUEUE_PAGE = 50
FILTERS = ("status", "kind", "category", "platform", "network", "language", "min_priority")


def _render(
    request: Request, name: str, user: User | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, name, {"user": user, "csrf": csrf_token(request), **context},
        status_code=status_code,
    )  # fmt: skip
    return response


def _login_first(request: Request) -> RedirectResponse:
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return RedirectResponse(f"/login?next={target}", status_code=303)


def _user(request: Request) -> User | None:
    return session_user(request, request.app.state.store)


@pages.get("/login")
def login_form(request: Request, next: str = "/queue") -> Response:
    return _render(request, "login.html", None, next=_safe_next(next), error=None)


@pages.post("/login")
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    csrf: str = Form(""),
    next: str = Form("/queue"),
) -> Response:
    check_csrf(request, csrf)
    limiter = request.app.state.limiter
    keys = (f"ip:{client_address(request)}", f"user:{username.strip().lower()}")
    if limiter.blocked(*keys):
        return _render(request, "login.html", None, next=_safe_next(next),
                       error="Too many attempts: wait a minute.", status_code=429)  # fmt: skip
    user = authenticate(request.app.state.store, username, password)
    if user is None:
        limiter.failed(*keys)
        return _render(request, "login.html", None, next=_safe_next(next),
                       error="Wrong user name or password.")  # fmt: skip
    request.session.clear()
    request.session["user"] = user.username
    csrf_token(request)
    with request.app.state.store.engine.begin() as conn:
        audit.append(conn, user.username, "login", None, {"address": client_address(request)})
    return RedirectResponse(_safe_next(next), status_code=303)


@pages.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@pages.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


@pages.get("/queue")
def queue(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _login_first(request)
    params = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
    where = queries.CaseFilter(
        status=params.get("status", "queue"),
        kind=params.get("kind"),
        category=params.get("category"),
        platform=params.get("platform"),
        network=params.get("network"),
        language=params.get("language"),
        min_priority=_float(params.get("min_priority")),
        limit=QUEUE_PAGE,
        offset=_int(request.query_params.get("offset")),
    )
    with request.app.state.store.engine.connect() as conn:
        cases = queries.list_cases(conn, where)
    return _render(request, "queue.html", user, cases=cases, filters=params,
                   categories=category_ids(), query=urlencode(params), offset=where.offset,
                   page=QUEUE_PAGE)  # fmt: skip


@pages.get("/cases/{case_id}")
def case_page(request: Request, case_id: str) -> Response:
    user = _user(request)
    if user is None:
        return _login_first(request)
    with request.app.state.store.engine.begin() as conn:
        case = queries.case_detail(conn, case_id)
        if case is None:
            raise HTTPException(status_code=404, detail="no such case")
        audit.append(conn, user.username, "case.view", case_id, {"via": "page"})
    activity = Markup(activity_svg((case.get("channel") or {}).get("activity") or []))
    return _render(request, "case.html", user, case=case, verdicts=VERDICTS,
                   categories=category_ids(), activity=activity)  # fmt: skip


@pages.post("/cases/{case_id}/decide")
def decide_page(
    request: Request,
    case_id: str,
    verdict: str = Form(...),
    category: str = Form(""),
    note: str = Form(""),
    cover_lineage: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    user = _user(request)
    if user is None:
        return _login_first(request)
    check_csrf(request, csrf)
    if not user.may("decide"):
        raise HTTPException(status_code=403, detail=f"the {user.role} role may not decide")
    try:
        decide(request.app.state.store, case_id, verdict, user.username,
               category=category or None, note=note or None,
               cover_lineage=bool(cover_lineage))  # fmt: skip
    except DecisionError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    with request.app.state.store.engine.connect() as conn:
        following = queries.list_cases(conn, queries.CaseFilter(status="open", limit=1))
    target = f"/cases/{quote(following[0]['case_id'])}" if following else "/queue"
    return RedirectResponse(f"{target}?decided={quote(case_id)}", status_code=303)


@pages.get("/media/{sha256}")
def media(request: Request, sha256: str) -> Response:
    """A preserved media file, for logged-in users (the page shows it blurred first)."""
    user = _user(request)
    if user is None:
        raise HTTPException(status_code=401, detail="log in first")
    if not _SHA256.fullmatch(sha256):
        raise HTTPException(status_code=404, detail="no such media")
    mm = schema.message_media
    with request.app.state.store.engine.connect() as conn:
        mime = conn.execute(sa.select(mm.c.mime).where(mm.c.sha256 == sha256).limit(1)).scalar()
    path = EvidenceStore(request.app.state.settings.evidence_dir).blob_path(sha256)
    if not path.is_file():
        raise HTTPException(status_code=404, detail="no such media")
    return FileResponse(path, media_type=mime or "application/octet-stream",
                        headers={"Cache-Control": "private, no-store",
                                 "X-Content-Type-Options": "nosniff"})  # fmt: skip


@pages.get("/channels/{channel_id}")
def channel_page(request: Request, channel_id: str) -> Response:
    user = _user(request)
    if user is None:
        return _login_first(request)
    with request.app.state.store.engine.connect() as conn:
        profile = channel_profile(conn, channel_id)
        cases = queries.list_cases(
            conn, queries.CaseFilter(status="all", limit=20, channel_id=channel_id)
        )
    if profile is None:
        raise HTTPException(status_code=404, detail="no such channel")
    return _render(request, "channel.html", user, profile=profile, cases=cases,
                   activity=Markup(activity_svg(profile.get("activity") or [])))  # fmt: skip


@pages.get("/networks/{network_id:path}")
def network_page(request: Request, network_id: str) -> Response:
    user = _user(request)
    if user is None:
        return _login_first(request)
    with request.app.state.store.engine.connect() as conn:
        network = queries.network_detail(conn, network_id)
    if network is None:
        raise HTTPException(status_code=404, detail="no such network")
    graph = network_svg(network["root_id"], network["edges"], network["titles"])
    return _render(request, "network.html", user, network=network, graph=Markup(graph))


@pages.get("/search")
def search_page(request: Request, q: str = "") -> Response:
    user = _user(request)
    if user is None:
        return _login_first(request)
    found: dict[str, list[dict[str, Any]]] = {"channels": [], "messages": []}
    if q.strip():
        with request.app.state.store.engine.connect() as conn:
            found = queries.search(conn, q.strip())
    return _render(request, "search.html", user, q=q, found=found)


def _safe_next(target: str) -> str:
    """Only paths on this site (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/queue"


def _int(value: str | None) -> int:
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        return 0


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
