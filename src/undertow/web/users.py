"""Users, roles and API tokens: who may look at cases and who may decide them.

Roles: `admin` (everything, users included), `reviewer` (reads and decides cases, makes
referrals), `viewer` (reads only).  Passwords are stored as argon2id hashes (argon2-cffi's
defaults, the OWASP recommendation) and re-hashed when those defaults change; API tokens for
scripts are random 256-bit strings shown once and stored only as SHA-256 digests, so a
stolen database yields neither.  Adding, disabling and issuing tokens are audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from undertow.store import Store, schema
from undertow.triage import audit

ROLES = ("admin", "reviewer", "viewer")
MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so that a wrong name takes as long as a
# wrong password (no telling which names exist from the response time).
_DUMMY = _HASHER.hash("not a password of anyone")


class UserError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    disabled: bool
    created_at: int

    def may(self, action: str) -> bool:
        """Whether the role allows `action`: "read", "decide" or "admin"."""
        allowed = {"admin": {"read", "decide", "admin"}, "reviewer": {"read", "decide"}}
        return action in allowed.get(self.role, {"read"})


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    return User(int(row.id), row.username, row.role, bool(row.disabled), int(row.created_at))


def add_user(store: Store, username: str, password: str, role: str, *, actor: str) -> User:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise UserError(
            "a user name is 2-64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    u = schema.users
    with store.engine.begin() as conn:
        if conn.execute(sa.select(u.c.id).where(u.c.username == username)).first():
            raise UserError(f"user {username!r} exists already")
        now = int(time.time())
        conn.execute(
            u.insert().values(username=username, password_hash=_HASHER.hash(password),
                              role=role, disabled=False, created_at=now)
        )  # fmt: skip
        audit.append(conn, actor, "user.add", username, {"role": role})
        row = conn.execute(sa.select(u).where(u.c.username == username)).one()
    return _user(row)


def list_users(store: Store) -> list[User]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.users).order_by(schema.users.c.username))
        return [_user(row) for row in rows]


def get_user(conn: sa.Connection, username: str) -> User | None:
    row = conn.execute(
        sa.select(schema.users).where(schema.users.c.username == username.strip().lower())
    ).first()
    return _user(row) if row else None


def set_disabled(store: Store, username: str, disabled: bool, *, actor: str) -> None:
    u = schema.users
    with store.engine.begin() as conn:
        user = get_user(conn, username)
        if user is None:
            raise UserError(f"no user {username!r}")
        conn.execute(u.update().where(u.c.id == user.id).values(disabled=disabled))
        audit.append(conn, actor, "user.disable" if disabled else "user.enable", user.username)


def set_password(store: Store, username: str, password: str, *, actor: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    u = schema.users
    with store.engine.begin() as conn:
        user = get_user(conn, username)
        if user is None:
            raise UserError(f"no user {username!r}")
        conn.execute(
            u.update().where(u.c.id == user.id).values(password_hash=_HASHER.hash(password))
        )
        audit.append(conn, actor, "user.password", user.username)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user, if the password is right and the account enabled; else None."""
    u = schema.users
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(u).where(u.c.username == username.strip().lower())).first()
        stored = row.password_hash if row else _DUMMY
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        if _HASHER.check_needs_rehash(stored):
            conn.execute(
                u.update().where(u.c.id == row.id).values(password_hash=_HASHER.hash(password))
            )
        return _user(row)


def create_token(store: Store, username: str, name: str, *, actor: str) -> str:
    """A new API token for `username` (shown once; only its digest is kept)."""
    token = "utk_" + secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        user = get_user(conn, username)
        if user is None or user.disabled:
            raise UserError(f"no enabled user {username!r}")
        conn.execute(
            schema.api_tokens.insert().values(
                user_id=user.id, token_hash=_digest(token), name=name,
                created_at=int(time.time()), revoked=False,
            )
        )  # fmt: skip
        audit.append(conn, actor, "token.create", user.username, {"name": name})
    return token


def user_for_token(store: Store, token: str) -> User | None:
    t, u = schema.api_tokens, schema.users
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(u)
            .join(t, t.c.user_id == u.c.id)
            .where(t.c.token_hash == _digest(token), t.c.revoked.is_(False))
        ).first()
    if row is None or row.disabled:
        return None
    return _user(row)


def revoke_tokens(store: Store, username: str, *, actor: str) -> int:
    t = schema.api_tokens
    with store.engine.begin() as conn:
        user = get_user(conn, username)
        if user is None:
            raise UserError(f"no user {username!r}")
        count = conn.execute(
            t.update().where(t.c.user_id == user.id, t.c.revoked.is_(False)).values(revoked=True)
        ).rowcount
        audit.append(conn, actor, "token.revoke", user.username, {"tokens": count})
    return int(count)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
