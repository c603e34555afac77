"""Accounts of the API server: users, API keys and sessions, the audit log, alert notes.

The tables live in the store's database (migration ``0002``) but only this module reads
or writes them; domain data stays behind :class:`sitewatch.store.base.Store`. Passwords are
hashed with argon2id; API keys and session tokens are random 256-bit secrets of which only a
SHA-256 digest is stored (a slow hash adds nothing to a secret that cannot be guessed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from sitewatch.errors import InputError, NotFoundError
from sitewatch.store.sql import make_engine
from sitewatch.store.types import UTCDateTime

#: Roles in increasing order of power; each can do everything the ones before it can.
ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")
#: Prefix that makes a leaked key easy to recognise (e.g. by secret scanners).
KEY_PREFIX = "swk"
MIN_PASSWORD_LENGTH = 10
USER_NAME = r"^[A-Za-z0-9._-]+$"

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("name", String, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

tokens = Table(
    "api_keys",
    metadata,
    Column("id", String, primary_key=True),
    Column("user", String, ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String, nullable=False),  # "key" | "session"
    Column("digest", String, nullable=False),
    Column("label", String, nullable=False, default=""),
    Column("created", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("user", String),
    Column("method", String, nullable=False),
    Column("path", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("detail", JSON, nullable=False),
)

alert_notes = Table(
    "alert_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String, nullable=False, index=True),
    Column("user", String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String, nullable=False),  # "ack" | "comment"
    Column("text", Text, nullable=False, default=""),
)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created: dt.datetime
    disabled: bool = False


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and through which credential."""

    user: str
    role: str
    via: str  # "key" | "session"
    token_id: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class IssuedToken:
    """A new key or session; ``secret`` is shown once and never stored."""

    id: str
    secret: str
    user: str
    role: str
    expires: dt.datetime | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    user: str | None
    method: str
    path: str
    status: int
    detail: dict[str, Any]


@dataclass(frozen=True)
class AlertNote:
    id: int
    alert_id: str
    user: str
    at: dt.datetime
    kind: str
    text: str


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", fix=f"use one of {', '.join(ROLES)}")
    return role


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """``swk_<id>_<secret>`` -> ``(id, secret)``; None for anything else."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class Accounts:
    """Users, credentials, audit log and alert notes on the store's database."""

    def __init__(self, url: str, *, hasher: PasswordHasher | None = None) -> None:
        self._engine: Engine = make_engine(url)
        self._hasher = hasher or PasswordHasher()
        # Verifying against this when the user is unknown keeps login time the same either way.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    def close(self) -> None:
        self._engine.dispose()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction that takes the SQLite write lock at BEGIN, where waits are retried.

        A deferred one would upgrade from a read lock on its first write, which SQLite
        refuses at once (no busy wait) when another writer committed in between.
        """
        with self._engine.connect() as conn, conn.execution_options(sqlite_begin="IMMEDIATE").begin():
            yield conn

    # -- users ---------------------------------------------------------------
    def add_user(self, name: str, password: str, role: str) -> User:
        check_role(role)
        if not re.fullmatch(USER_NAME, name):
            raise InputError(f"invalid user name {name!r}", fix="use letters, digits, '-', '_' or '.'")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InputError(f"password shorter than {MIN_PASSWORD_LENGTH} characters", fix="choose a longer one")
        user = User(name, role, _now())
        with self._write() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first():
                raise InputError(f"user {name!r} already exists", fix="pick another name")
            conn.execute(
                insert(users).values(
                    name=name,
                    password_hash=self._hasher.hash(password),
                    role=role,
                    created=user.created,
                    disabled=False,
                )
            )
        return user

    def list_users(self) -> list[User]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [User(r.name, r.role, r.created, bool(r.disabled)) for r in rows]

    def get_user(self, name: str) -> User:
        with self._engine.connect() as conn:
            r = conn.execute(select(users).where(users.c.name == name)).first()
        if r is None:
            raise NotFoundError(f"no user {name!r}", fix="create it with `sitewatch users add`")
        return User(r.name, r.role, r.created, bool(r.disabled))

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if ``password`` is right and the account enabled, else None."""
        with self._engine.connect() as conn:
            r = conn.execute(select(users).where(users.c.name == name)).first()
        try:
            self._hasher.verify(r.password_hash if r else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if r is None or r.disabled:
            return None
        if self._hasher.check_needs_rehash(r.password_hash):
            with self._write() as conn:
                new_hash = self._hasher.hash(password)
                conn.execute(update(users).where(users.c.name == name).values(password_hash=new_hash))
        return User(r.name, r.role, r.created, bool(r.disabled))

    # -- keys and sessions ---------------------------------------------------
    def issue(self, user: str, *, kind: str = "key", label: str = "", ttl: dt.timedelta | None = None) -> IssuedToken:
        """A new API key (``kind="key"``) or session token for ``user``."""
        account = self.get_user(user)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expires = _now() + ttl if ttl else None
        with self._write() as conn:
            conn.execute(
                insert(tokens).values(
                    id=token_id,
                    user=user,
                    kind=kind,
                    digest=_digest(secret),
                    label=label,
                    created=_now(),
                    expires=expires,
                )
            )
        return IssuedToken(token_id, f"{KEY_PREFIX}_{token_id}_{secret}", user, account.role, expires)

    def resolve(self, token: str) -> Principal | None:
        """The principal a key or session token stands for; None if unknown, expired or disabled."""
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        q = select(tokens, users.c.role, users.c.disabled).join(users, users.c.name == tokens.c.user)
        with self._engine.connect() as conn:
            r = conn.execute(q.where(tokens.c.id == token_id)).first()
        if r is None or r.disabled or not hmac.compare_digest(r.digest, _digest(secret)):
            return None
        if r.expires is not None and r.expires <= _now():
            return None
        return Principal(r.user, r.role, r.kind, r.id)

    def revoke(self, token_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(tokens).where(tokens.c.id == token_id))

    # -- audit log -----------------------------------------------------------
    def audit(
        self, user: str | None, method: str, path: str, status: int, detail: dict[str, Any] | None = None
    ) -> None:
        with self._write() as conn:
            conn.execute(
                insert(audit_log).values(
                    at=_now(), user=user, method=method, path=path, status=status, detail=detail or {}
                )
            )

    def list_audit(self, *, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        with self._engine.connect() as conn:
            rows = conn.execute(q).all()
        return [AuditEntry(r.id, r.at, r.user, r.method, r.path, r.status, dict(r.detail)) for r in rows]

    # -- alert notes ---------------------------------------------------------
    def add_note(self, alert_id: str, user: str, kind: str, text: str = "") -> AlertNote:
        at = _now()
        row = {"alert_id": alert_id, "user": user, "at": at, "kind": kind, "text": text}
        with self._write() as conn:
            new_id = conn.execute(insert(alert_notes).values(row)).inserted_primary_key[0]  # type: ignore[index]
        return AlertNote(int(new_id), alert_id, user, at, kind, text)

    def notes(self, alert_ids: list[str]) -> dict[str, list[AlertNote]]:
        """Notes of each alert, oldest first."""
        if not alert_ids:
            return {}
        q = select(alert_notes).where(alert_notes.c.alert_id.in_(alert_ids)).order_by(alert_notes.c.id)
        out: dict[str, list[AlertNote]] = {}
        with self._engine.connect() as conn:
            for r in conn.execute(q):
                out.setdefault(r.alert_id, []).append(AlertNote(r.id, r.alert_id, r.user, r.at, r.kind, r.text))
        return out
