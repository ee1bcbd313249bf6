"""`undertow demo` ends by serving the review app with a demo login a user can log in with."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx


def test_demo_serves_the_app_and_the_printed_login_works(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    undertow = Path(sys.executable).with_name("undertow")
    process = subprocess.Popen(
        [str(undertow), "demo", "--workdir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        password = None
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"log in as demo / (\S+);", line)
            if found:
                password = found.group(1)
                break
        assert password, "the demo printed no login"
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, follow_redirects=False) as client:
            for _ in range(200):
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            answer = client.post("/login", data={"username": "demo", "password": password,
                                                 "csrf": token, "next": "/queue"})  # fmt: skip
            assert answer.status_code == 303
            queue = client.get("/queue")
            assert queue.status_code == 200 and "/cases/item" in queue.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
