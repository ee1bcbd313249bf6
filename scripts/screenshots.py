"""Screenshots of the review app's main pages for docs/screenshots/, taken in headless
Chromium on the demo world (seed 1).  Needs /usr/bin/chromium and the dev extras.

    python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from undertow.ingest import ingest_paths
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import open_store
from undertow.web.app import create_app
from undertow.web.users import add_user

PASSWORD = "screenshots-only-password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="undertow-shots-"))
    simulate_world(folder / "world", seed=1, scale=1)
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    run_stages(store, settings, workers=1)
    add_user(store, "reviewer", PASSWORD, "reviewer", actor="screenshots")
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/login")
        page.screenshot(path=str(args.out / "login.png"))
        page.fill("input[name=username]", "reviewer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/queue")
        page.screenshot(path=str(args.out / "queue.png"))
        page.locator("table.queue tbody tr a").first.click()
        page.wait_for_selector("#decide")
        page.screenshot(path=str(args.out / "case.png"), full_page=False)
        page.locator("p.meta a").first.click()
        page.wait_for_load_state()
        page.screenshot(path=str(args.out / "channel.png"))
        page.goto(f"{base}/search?q=Amaq")
        page.screenshot(path=str(args.out / "search.png"))
        browser.close()
    server.should_exit = True
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
