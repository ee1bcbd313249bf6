"""The review app in-process over httpx against a real store built from a simulated world:
API and pages, access control, CSRF, login limits, audit of views and decisions."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from undertow.settings import load_settings, sqlite_url
from undertow.store import schema
from undertow.triage import audit
from undertow.web import users
from undertow.web.api import api
from undertow.web.app import create_app

PASSWORD = "correct horse battery"
OPEN_API = {"/api/health", "/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}


@pytest.fixture(scope="module")
def analysed(analysed_world: Any) -> Path:
    return Path(analysed_world.folder) / "u.db"


@pytest.fixture
def env(analysed: Path, tmp_path: Path) -> Any:
    db = tmp_path / "u.db"
    db.write_bytes(analysed.read_bytes())
    shutil.copytree(analysed.parent / "data", tmp_path / "data")
    settings = load_settings(sqlite_url(db), tmp_path / "data")
    app = create_app(settings)
    store = app.state.store
    for name, role in (("rita", "reviewer"), ("vera", "viewer"), ("adam", "admin")):
        users.add_user(store, name, PASSWORD, role, actor="test")
    with TestClient(app) as client:
        yield app, client, store


def _token(store: Any, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {users.create_token(store, name, 't', actor='test')}"}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def _login(client: TestClient, name: str) -> str:
    token = _csrf(client.get("/login").text)
    answer = client.post("/login", data={"username": name, "password": PASSWORD, "csrf": token,
                                         "next": "/queue"}, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/queue"
    return _csrf(client.get("/queue").text)


def test_every_api_route_refuses_strangers(env: Any) -> None:
    _, client, _ = env
    routes = list(api.routes)
    checked = 0
    for route in routes:
        if route.path in OPEN_API:
            continue
        path = route.path.replace("{case_id}", "x").replace("{channel_id}", "x")
        for method in route.methods - {"HEAD", "OPTIONS"}:
            answer = client.request(method, path, json={"verdict": "violating"})
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert client.request(method, path, headers={"Authorization": "Bearer nope"},
                                  json={}).status_code == 401  # fmt: skip
            checked += 1
    assert checked >= 6
    assert client.get("/api/health").json() == {"status": "ok"}
    spec = client.get("/api/openapi.json").json()
    assert {"/api/cases", "/api/channels", "/api/signals"} <= set(spec["paths"])


def test_api_queue_case_and_decision(env: Any) -> None:
    _, client, store = env
    rita = _token(store, "rita")
    cases = client.get("/api/cases", headers=rita, params={"limit": 20}).json()
    assert len(cases) == 20
    assert [c["priority"] for c in cases] == sorted((c["priority"] for c in cases), reverse=True)
    top = next(c for c in cases if c["kind"] == "item" and c["copies"] >= 3)
    detail = client.get(f"/api/cases/{top['case_id']}", headers=rita).json()
    assert len(detail["items"]) == top["copies"] and detail["signals"]
    vera = _token(store, "vera")
    refused = client.post(f"/api/cases/{top['case_id']}/decision", headers=vera,
                          json={"verdict": "violating"})  # fmt: skip
    assert refused.status_code == 403
    verdict = {"verdict": "violating", "category": "branded-publication"}
    done = client.post(f"/api/cases/{top['case_id']}/decision", headers=rita, json=verdict)
    assert done.status_code == 200 and done.json()["items"] == top["copies"]
    assert client.post(f"/api/cases/{top['case_id']}/decision", headers=rita,
                       json={"verdict": "perhaps"}).status_code == 422  # fmt: skip
    assert client.get("/api/cases/none", headers=rita).status_code == 404
    assert client.get("/api/signals", headers=rita, params={"limit": 5}).status_code == 200
    assert client.get("/api/channels", headers=rita).json()
    assert "channels" in client.get("/api/search", headers=rita, params={"q": "amaq"}).json()
    with store.engine.connect() as conn:
        actions = [(e.actor, e.action, e.target) for e in audit.entries(conn)]
        assert audit.verify(conn).ok
    assert ("rita", "case.view", top["case_id"]) in actions
    assert ("rita", "decision", top["case_id"]) in actions


def test_pages_login_queue_decide_with_csrf(env: Any) -> None:
    _, client, store = env
    assert client.get("/queue", follow_redirects=False).status_code == 303
    token = _csrf(client.get("/login").text)
    bad = client.post("/login", data={"username": "rita", "password": PASSWORD, "csrf": "x"})
    assert bad.status_code == 403
    assert token
    csrf = _login(client, "rita")
    queue = client.get("/queue").text
    first = re.search(r'href="/cases/([^"]+)"', queue)
    assert first
    case_id = first.group(1).replace("%3A", ":")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'data-key="v"' in page.text and "blurred" in page.text
    no_csrf = client.post(f"/cases/{case_id}/decide", data={"verdict": "escalate"})
    assert no_csrf.status_code == 403
    api_no_csrf = client.post(f"/api/cases/{case_id}/decision", json={"verdict": "escalate"})
    assert api_no_csrf.status_code == 403
    api_ok = client.post(f"/api/cases/{case_id}/decision", json={"verdict": "escalate"},
                         headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert api_ok.status_code == 200
    done = client.post(f"/cases/{case_id}/decide", data={"verdict": "violating", "csrf": csrf},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and "decided=" in done.headers["location"]
    with store.engine.connect() as conn:
        status = conn.execute(
            sa.select(schema.cases.c.status).where(schema.cases.c.case_id == case_id)
        ).scalar()
    assert status == "decided"


def test_a_viewer_cannot_decide_on_the_pages(env: Any) -> None:
    _, client, _ = env
    csrf = _login(client, "vera")
    case_id = re.search(r'href="/cases/([^"]+)"', client.get("/queue").text).group(1)  # type: ignore[union-attr]
    case_id = case_id.replace("%3A", ":")
    assert 'id="decide"' not in client.get(f"/cases/{case_id}").text
    answer = client.post(f"/cases/{case_id}/decide", data={"verdict": "violating", "csrf": csrf})
    assert answer.status_code == 403


def test_login_is_rate_limited_and_redirects_stay_local(env: Any) -> None:
    _, client, _ = env
    token = _csrf(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"username": "rita", "password": "nope" * 4,
                                            "csrf": token})  # fmt: skip
        assert wrong.status_code == 200 and "Wrong user name" in wrong.text
    blocked = client.post("/login", data={"username": "rita", "password": PASSWORD,
                                          "csrf": token})  # fmt: skip
    assert blocked.status_code == 429
    client.app.state.limiter = type(client.app.state.limiter)()  # another address, fresh
    other = TestClient(client.app)
    token = _csrf(other.get("/login").text)
    form = {"username": "adam", "password": PASSWORD, "csrf": token, "next": "//evil.example/"}
    answer = other.post("/login", data=form, follow_redirects=False)
    assert answer.headers["location"] == "/queue"


def test_hostile_text_is_escaped(env: Any) -> None:
    _, client, store = env
    with store.engine.begin() as conn:
        case = conn.execute(sa.select(schema.cases).limit(1)).first()
        conn.execute(schema.channels.update().where(schema.channels.c.channel_id ==
                     case.channel_id).values(title="<script>alert(1)</script>"))  # fmt: skip
    _login(client, "rita")
    html = client.get(f"/cases/{case.case_id}").text
    at = html.find("<script>alert(1)")
    assert at < 0, html[max(0, at - 300) : at + 50]
    assert "&lt;script&gt;" in html


def test_media_needs_a_login_and_comes_from_the_evidence_store(env: Any) -> None:
    _, client, store = env
    with store.engine.connect() as conn:
        sha = conn.execute(
            sa.select(schema.message_media.c.sha256)
            .where(
                schema.message_media.c.mime.like("image/%"),
                schema.message_media.c.sha256.is_not(None),
            )
            .limit(1)
        ).scalar()
    assert sha
    assert client.get(f"/media/{sha}").status_code == 401
    _login(client, "vera")
    answer = client.get(f"/media/{sha}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/media/../../etc/passwd").status_code == 404
    assert client.get("/media/" + "0" * 64).status_code == 404


def test_channel_and_network_pages_draw_their_charts(env: Any) -> None:
    _, client, store = env
    with store.engine.connect() as conn:
        network = conn.execute(
            sa.select(schema.networks.c.network_id, schema.networks.c.root_id).limit(1)
        ).first()
    assert network
    _login(client, "vera")
    page = client.get(f"/channels/{network.root_id}")
    assert page.status_code == 200 and "<svg" in page.text and "posts per day" in page.text
    graph = client.get(f"/networks/{network.network_id}")
    assert graph.status_code == 200 and "<svg" in graph.text and "<line" in graph.text
    assert client.get("/networks/net:none").status_code == 404
    token = {"Authorization": f"Bearer {users.create_token(store, 'vera', 't', actor='t')}"}
    detail = client.get(f"/api/networks/{network.network_id}", headers=token).json()
    assert detail["root_id"] == network.root_id and detail["edges"]
