"""Review app latency at 100,000 cases, on SQLite and PostgreSQL, against the health floor.

For each backend a store is filled directly in bulk with synthetic rows (2,000 channels,
3 messages per case of neutral placeholder text, 100,000 open item cases of 1-4 copies each
and 1-3 signals per case), then the app runs under uvicorn in a separate process and this
process loads it with C concurrent httpx clients (keep-alive, one connection each), one
endpoint at a time: a warm-up of 50 requests per client, then N timed requests per client.

Endpoints: `GET /api/health` (no database work: the floor), `GET /queue` (the HTML queue
page, 100 cases, with a logged-in session), `GET /api/cases?limit=50` and
`GET /api/cases/<id>` for random cases (API token; each view is written to the audit log).
Reports p50/p95/p99 latency and requests/s per endpoint.  Goal: the queue page's p95 under
10 x the health floor's p95 and under 100 ms.  PostgreSQL is a throwaway server (initdb +
pg_ctl in a temporary folder, stopped at the end) unless UNDERTOW_BENCH_PG names one (a
database `undertow_web_bench` is then made and dropped on it).  Writes
bench/results/web_latency.json.

    python bench/web_latency.py [--cases 100000] [--clients 8] [--requests 200]
                                [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa

from undertow.store import open_store, schema
from undertow.web.users import add_user, create_token

from common import WORK, write_result

FOLDER = WORK / "web_latency"
CHANNELS = 2_000
CHUNK = 5_000
WARMUP = 50
PASSWORD = "a long bench password"
CATEGORIES = ("glorification", "branded-publication", "radicalisation-recruitment-instruction",
              "allegiance-marker", "tat-url")  # fmt: skip
REASONS = ("indicator rule matched", "bank hash match", "classifier score 0.9",
           "copied across channels", "known outlet name")  # fmt: skip
DETECTORS = ("text_indicators", "text_classifier", "pdq_bank")
WORDS = ("harbour", "weather", "market", "library", "railway", "garden", "festival", "bridge")
BASE_TIME = 1_700_000_000


# -- building the store ---------------------------------------------------------------------


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        conn.execute(table.insert(), chunk)


def build_store(url: str, cases: int, seed: int = 7) -> dict[str, Any]:
    """Fill an empty store with synthetic channels, messages, cases, items and signals;
    add the reviewer `bench` with an API token.  Returns counts, timings and the token."""
    started = time.perf_counter()
    store = open_store(url)
    rng = random.Random(seed)
    now = int(time.time())
    channel_ids = [f"telegram:{1_000_000 + i}" for i in range(CHANNELS)]
    message_count = 3 * cases
    per_channel = -(-message_count // CHANNELS)
    keys = [(channel_ids[i // per_channel], i % per_channel + 1) for i in range(message_count)]
    counts = {"channels": CHANNELS, "messages": message_count, "cases": cases}
    with store.engine.begin() as conn:
        _insert(conn, schema.channels, [
            {"channel_id": cid, "platform": "telegram", "native_id": cid.split(":")[1],
             "kind": "channel", "public": True, "handle": f"bulletin_{i}",
             "title": f"Bench bulletin {i}", "first_seen": BASE_TIME, "last_seen": now,
             "status": "active", "updated_at": now}
            for i, cid in enumerate(channel_ids)
        ])  # fmt: skip
        messages = []
        for n, (cid, number) in enumerate(keys):
            word = WORDS[n % len(WORDS)]
            messages.append({
                "channel_id": cid, "message_id": number, "date": BASE_TIME + 600 * number,
                "kind": "message", "text": f"Daily bulletin {n} about the {word}",
                "ingested_at": now,
            })  # fmt: skip
            if len(messages) >= CHUNK:
                conn.execute(schema.messages.insert(), messages)
                messages = []
        if messages:
            conn.execute(schema.messages.insert(), messages)
    # Each message belongs to at most one case: cases take disjoint slices of a shuffle.
    order = list(range(message_count))
    rng.shuffle(order)
    position = 0
    case_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    signal_rows: list[dict[str, Any]] = []
    for _ in range(cases):
        copies = rng.randint(1, 4)
        members = [keys[i] for i in order[position : position + copies]]
        position += copies
        first = members[0]
        case_id = f"item:{first[0]}:{first[1]}"
        category = rng.choice(CATEGORIES)
        signals = rng.randint(1, 3)
        case_rows.append({
            "case_id": case_id, "kind": "item", "channel_id": first[0], "message_id": first[1],
            "priority": round(rng.uniform(0, 100), 3), "confidence": round(rng.random(), 3),
            "severity": round(rng.random(), 3), "category": category,
            "reasons": rng.sample(REASONS, rng.randint(1, 3)), "signals": signals,
            "copies": copies, "channels": len({cid for cid, _ in members}),
            "status": "open" if rng.random() < 0.9 else "escalated", "updated_at": now,
        })  # fmt: skip
        item_rows.extend(
            {"channel_id": cid, "message_id": number, "case_id": case_id} for cid, number in members
        )
        for s in range(signals):
            cid, number = members[s % copies]
            detector = DETECTORS[s]
            signal_rows.append({
                "detector": detector, "detector_version": "bench",
                "key": f"{cid}:{number}:{s}", "target_kind": "message", "channel_id": cid,
                "message_id": number, "score": round(rng.random(), 3), "category": category,
                "explanation": {"note": "synthetic benchmark signal", "rule": f"r{s}"},
                "created_at": now,
            })  # fmt: skip
    with store.engine.begin() as conn:
        _insert(conn, schema.cases, case_rows)
        _insert(conn, schema.case_items, item_rows)
        _insert(conn, schema.signals, signal_rows)
    counts.update(case_items=len(item_rows), signals=len(signal_rows))
    if store.dialect == "postgresql":
        # Autovacuum would analyse these fresh tables soon after a real import; do it now so
        # that the timings do not depend on when it happens to run.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    add_user(store, "bench", PASSWORD, "reviewer", actor="bench")
    token = create_token(store, "bench", "web latency benchmark", actor="bench")
    store.close()
    return {
        "rows": counts,
        "build_s": round(time.perf_counter() - started, 1),
        "token": token,
        "case_ids": [row["case_id"] for row in case_rows],
    }


# -- serving --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


WORKERS = 2  # one server process per core of the 2-core machine, as `undertow serve` advises


@contextlib.contextmanager
def serve(url: str, data_dir: Path, log: Path) -> Iterator[str]:
    """The app under uvicorn in a child process; yields its base URL once /api/health answers."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        undertow = Path(sys.executable).with_name("undertow")
        command = [str(undertow), "--db", url, "--data-dir", str(data_dir), "serve",
                   "--port", str(port), "--workers", str(WORKERS)]  # fmt: skip
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- load -----------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrf"')


async def login(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    page.raise_for_status()
    found = CSRF.search(page.text)
    if not found:
        raise RuntimeError("no csrf input on /login")
    form = {"username": "bench", "password": PASSWORD, "csrf": found.group(1) or found.group(2),
            "next": "/queue"}  # fmt: skip
    answer = await client.post("/login", data=form)
    if answer.status_code != 303 or "undertow_session" not in client.cookies:
        raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:200]}")


async def one_client(
    client: httpx.AsyncClient,
    paths: list[str],
    headers: dict[str, str],
    latencies: list[float],
    errors: list[str],
) -> None:
    for n, path in enumerate(paths):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            errors.append(f"{path}: {response.status_code}")
        elif n >= WARMUP:
            latencies.append(elapsed)


async def load(
    base: str, token: str, case_ids: list[str], clients: int, requests: int, seed: int = 11
) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)
    total = WARMUP + requests
    auth = {"Authorization": f"Bearer {token}"}
    endpoints: dict[str, tuple[Any, bool]] = {
        "health": (lambda: "/api/health", False),
        "queue": (lambda: "/queue", True),
        "api_cases": (lambda: "/api/cases?limit=50", False),
        "api_case": (lambda: f"/api/cases/{rng.choice(case_ids)}", False),
    }
    pool = [
        httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=1))
        for _ in range(clients)
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        for client in pool:
            await login(client)
        for name, (make_path, session) in endpoints.items():
            latencies: list[float] = []
            errors: list[str] = []
            jobs = []
            for client in pool:
                headers = {} if session or name == "health" else auth
                paths = [make_path() for _ in range(total)]
                jobs.append(one_client(client, paths, headers, latencies, errors))
            started = time.perf_counter()
            await asyncio.gather(*jobs)
            wall = time.perf_counter() - started
            results[name] = summarise(latencies, errors, wall, clients * total)
            print(f"  {name}: {results[name]}", flush=True)
    finally:
        for client in pool:
            await client.aclose()
    return results


def percentile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(latencies: list[float], errors: list[str], wall: float, sent: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    ms = [1000 * x for x in ordered] or [float("nan")]
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        # Warm-up requests included: all clients run them concurrently with the timed ones.
        "requests_per_s": round(sent / wall, 1),
    }


# -- backends -------------------------------------------------------------------------------


def pg_bin() -> Path | None:
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True,
                         key=lambda p: int(re.sub(r"\D", "", p) or 0)):  # fmt: skip
        if Path(folder, "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, str]]:
    """A PostgreSQL server URL (admin database) and a description; started if needed."""
    if os.environ.get("UNDERTOW_BENCH_PG"):
        yield os.environ["UNDERTOW_BENCH_PG"], "UNDERTOW_BENCH_PG"
        return
    binaries = pg_bin()
    if binaries is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl)")
    folder = Path(tempfile.mkdtemp(prefix="undertow-bench-pg."))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")  # fmt: skip
    try:
        subprocess.run(
            [*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-locale"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
             "-w", "-o", options, "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        version = subprocess.run(
            [str(binaries / "postgres"), "--version"], check=True, capture_output=True, text=True
        ).stdout.split()[2]
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", f"throwaway {version}"
    finally:
        subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    """A fresh database `undertow_web_bench` on the server, dropped afterwards."""
    engine = sa.create_engine("postgresql+psycopg://" + admin_url.split("://", 1)[1],
                              isolation_level="AUTOCOMMIT")  # fmt: skip
    url = sa.engine.make_url(admin_url).set(database="undertow_web_bench")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS undertow_web_bench WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE undertow_web_bench"))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS undertow_web_bench WITH (FORCE)"))
        engine.dispose()


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"{name}: building {args.cases} cases", flush=True)
    built = build_store(url, args.cases)
    print(f"{name}: built in {built['build_s']} s: {built['rows']}", flush=True)
    with serve(url, FOLDER / f"{name}-data", FOLDER / f"{name}-server.log") as base:
        endpoints = asyncio.run(
            load(base, built["token"], built["case_ids"], args.clients, args.requests)
        )
    floor = endpoints["health"]["p95_ms"]
    queue = endpoints["queue"]["p95_ms"]
    return {
        "build_s": built["build_s"],
        "rows": built["rows"],
        "endpoints": endpoints,
        "queue_p95_over_health_p95": round(queue / floor, 2),
        "api_cases_p95_over_health_p95": round(endpoints["api_cases"]["p95_ms"] / floor, 2),
        "api_case_p95_over_health_p95": round(endpoints["api_case"]["p95_ms"] / floor, 2),
        "goal_queue_p95_under_10x_floor": queue < 10 * floor,
        "goal_queue_p95_under_100ms": queue < 100,
        "all_200": all(e["errors"] == 0 for e in endpoints.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per client")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])  # fmt: skip
    args = parser.parse_args()
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    started = time.perf_counter()
    backends: dict[str, Any] = {}
    if "sqlite" in args.backends:
        backends["sqlite"] = run_backend("sqlite", f"sqlite:///{FOLDER / 'undertow.db'}", args)
    if "postgres" in args.backends:
        try:
            with postgres_server() as (admin, where), bench_database(admin) as url:
                backends["postgres"] = {"server": where, **run_backend("postgres", url, args)}
        except FileNotFoundError as exc:
            backends["postgres"] = {"skipped": str(exc)}
    result = {
        "cases": args.cases,
        "clients": args.clients,
        "warmup_per_client": WARMUP,
        "requests_per_client": args.requests,
        "server": f"`undertow serve --workers {WORKERS}` (uvicorn), a child process",
        "client": "httpx AsyncClient, one keep-alive connection per client, in this process",
        "goal": "queue page p95 < 10 x /api/health p95 and < 100 ms, at 100,000 cases",
        "backends": backends,
        "total_s": round(time.perf_counter() - started, 1),
        "notes": (
            f"{os.cpu_count()} CPU cores shared by the server, the load generator, PostgreSQL "
            "and whatever else runs on the machine (other work may have been running): "
            "latencies include queueing of C concurrent requests behind one server process. "
            "SQLite is not ANALYZEd (the app never does); PostgreSQL is, after the bulk load. "
            "Each /api/cases/<id> request also appends to the audit log (a write)."
        ),
    }
    write_result("web_latency", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
