"""The review app in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
log in, open the queue, decide a case with the keyboard, and see every copy covered."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from undertow.ingest import ingest_paths
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import open_store, schema
from undertow.web import users
from undertow.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/test.sh installs it)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import uvicorn

    folder = tmp_path_factory.mktemp("browser")
    simulate_world(folder / "world", seed=8, scale=1)
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    run_stages(store, settings, workers=1)
    users.add_user(store, "rita", PASSWORD, "reviewer", actor="test")
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def test_log_in_decide_with_the_keyboard_and_see_the_copies(server: Any, browser: Any) -> None:
    base, app = server
    page = browser.new_page()
    page.goto(f"{base}/queue")
    assert page.url.startswith(f"{base}/login")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() >= 10
    link = page.locator("table.queue tbody tr a").first
    case_id = link.inner_text()
    link.click()
    page.wait_for_selector("#decide")
    copies = page.locator("ol.items > li").count()
    media = page.locator(".media")
    if media.count():
        assert "blurred" in (media.first.get_attribute("class") or "")
        media.first.click()
        assert "blurred" not in (media.first.get_attribute("class") or "")
    page.keyboard.press("v")
    page.wait_for_url(lambda url: "decided=" in url)
    with app.state.store.engine.connect() as conn:
        status = conn.execute(
            sa.select(schema.cases.c.status, schema.cases.c.copies).where(
                schema.cases.c.case_id == case_id
            )
        ).one()
        verdicts = conn.execute(
            sa.select(schema.decisions.c.verdict, schema.decisions.c["items"]).where(
                schema.decisions.c.case_id == case_id
            )
        ).all()
    assert status.status == "decided"
    assert verdicts == [("violating", status.copies)] and copies == status.copies
    page.close()


def test_typing_in_the_note_does_not_decide(server: Any, browser: Any) -> None:
    base, app = server
    with app.state.store.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(schema.decisions)).scalar()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue")
    page.locator("table.queue tbody tr a").first.click()
    page.wait_for_selector("#decide")
    url = page.url
    page.click("input[name=note]")
    page.keyboard.type("vent")  # v, e, n and t are shortcuts everywhere but in the form
    page.wait_for_timeout(300)
    assert page.url == url
    with app.state.store.engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(schema.decisions)).scalar()
    assert after == before
    context.close()
