"""`undertow serve`, and the review app at the end of `undertow demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from undertow.cli.common import err, open_store_or_exit, state
from undertow.settings import Settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes (one per core serves most reviewers).")
    ] = 1,
) -> None:
    """Serve the review app and its JSON API (log in with a user from `undertow user add`)."""
    settings = state.settings()
    open_store_or_exit(settings).close()  # clear error now if the store cannot be opened
    err.print(f"review app on http://{host}:{port}/ (API docs at /api/docs)")
    run_app(settings, host, port, workers)


def run_app(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import os
    import socket

    import uvicorn

    from undertow.web.app import create_app
    from undertow.web.security import session_key

    session_key(settings)  # made once here, not raced for by the workers
    if workers <= 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        return
    os.environ["UNDERTOW_DB"] = settings.db_url
    os.environ["UNDERTOW_DATA_DIR"] = str(settings.data_dir)
    # The listening socket is made here with TCP_NODELAY, which accepted connections inherit:
    # on the socket uvicorn's worker processes make themselves, every response waited 40 ms
    # (Nagle's algorithm against the client's delayed acknowledgement).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    uvicorn.run("undertow.web.app:app_from_env", factory=True, fd=listener.fileno(),
                workers=workers, log_level="warning")  # fmt: skip


def serve_demo(settings: Settings, host: str, port: int) -> None:
    """Serve the app on the demo's store with a `demo` reviewer and a fresh password."""
    import secrets

    from undertow.web.users import UserError, add_user, set_password

    password = secrets.token_urlsafe(12)
    store = open_store_or_exit(settings)
    try:
        try:
            set_password(store, "demo", password, actor="demo")
        except UserError:  # the first demo on this store
            add_user(store, "demo", password, "reviewer", actor="demo")
    finally:
        store.close()
    typer.echo(
        f"\nReview app: http://{host}:{port}/  (log in as demo / {password}; Ctrl-C stops it)"
    )
    run_app(settings, host, port)
