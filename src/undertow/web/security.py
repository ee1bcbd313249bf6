"""Who is asking: sessions for the pages (signed cookie, CSRF token), API tokens for scripts,
and a limit on login attempts.

A page session is Starlette's signed cookie holding the user's id and a random CSRF token;
the cookie is HttpOnly and SameSite=Lax, and every state-changing page request must send
the token back (form field `csrf`).  API calls with a session cookie send it as the
`X-CSRF-Token` header; calls with `Authorization: Bearer <token>` need none (a browser never
adds that header by itself).  The signing key lives in `<data dir>/session.key`, made on
first use.  Login attempts are limited per client address and per user name.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import HTTPException, Request

from undertow.enrich.pseudonym import load_or_create_key
from undertow.settings import Settings
from undertow.store import Store
from undertow.web.users import User, get_user, user_for_token

MAX_ATTEMPTS = 5
ATTEMPT_WINDOW_S = 60.0


def session_key(settings: Settings) -> str:
    return load_or_create_key(settings.data_dir / "session.key").hex()


class LoginLimiter:
    """At most `MAX_ATTEMPTS` failed logins per key (address, user name) per window."""

    def __init__(self, attempts: int = MAX_ATTEMPTS, window: float = ATTEMPT_WINDOW_S) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.attempts for key in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")


def session_user(request: Request, store: Store) -> User | None:
    user_id = request.session.get("user")
    if not isinstance(user_id, str):
        return None
    with store.engine.connect() as conn:
        user = get_user(conn, user_id)
    return user if user is not None and not user.disabled else None


def api_user(request: Request, store: Store) -> tuple[User, bool]:
    """The caller of an API route and whether it came with a session (which needs CSRF on
    changes); 401 when neither a token nor a session identifies an enabled user."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(store, header[7:].strip())
        if user is None:
            raise HTTPException(status_code=401, detail="invalid or revoked API token")
        return user, False
    user = session_user(request, store)
    if user is None:
        raise HTTPException(status_code=401, detail="log in or send an API token")
    return user, True


def require(action: str) -> Callable[[User], None]:
    def check(user: User) -> None:
        if not user.may(action):
            raise HTTPException(status_code=403, detail=f"the {user.role} role may not {action}")

    return check


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
