"""Care-team accounts and console sessions.

- Passwords are hashed with argon2id (the `argon2-cffi` package, a maintained implementation of
  the password-hashing competition's winner); a login needs the right email and password, and
  after MAX_FAILED misses the account is locked for LOCK_MINUTES (a lock that ends does not reset
  the count of the next misses until a success).
- A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure over TLS); the store
  keeps only its SHA-256. It ends after IDLE_MINUTES without use, or at logout. Each session has a
  CSRF token that every changing request must send back (X-CSRF-Token).
- Roles: coordinator, nurse, admin (only an admin adds staff from the console; the command line,
  `carenav staff add`, is the operator's).
Logs carry the staff id, never a password or a token.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import List, Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.store import models as m

log = logging.getLogger(__name__)

ROLES = ("coordinator", "nurse", "admin")
MAX_FAILED = 5
LOCK_MINUTES = 15
IDLE_MINUTES = 30
COOKIE = "carenav_staff"  # the session cookie, Path=/staff (the pages and the JSON API share it)
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Staff:
    id: int
    email: str
    role: str


@dataclass(frozen=True)
class SessionInfo:
    staff: Staff
    csrf: str


class AccountError(ValueError):
    """A staff account cannot be made as asked (the message says why)."""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffAccounts:
    def __init__(self, db) -> None:
        self.db = db

    def add(self, email: str, password: str, role: str, now: Optional[dt.datetime] = None) -> Staff:
        email = (email or "").strip().lower()
        if "@" not in email or len(email) > 254:
            raise AccountError("the email must look like name@clinic.example")
        if role not in ROLES:
            raise AccountError(f"the role must be one of {', '.join(ROLES)}")
        if len(password or "") < 12:
            raise AccountError("the password must be at least 12 characters")
        from sqlalchemy import select

        with self.db.session() as s:
            if s.execute(select(m.StaffUser).where(m.StaffUser.email == email)).scalar_one_or_none():
                raise AccountError(f"{email} already has an account")
            user = m.StaffUser(email=email, password_hash=_hasher.hash(password), role=role,
                               failed_logins=0, created_at=now or dt.datetime.now())
            s.add(user)
            s.flush()
            log.info("staff account %s added (%s)", user.id, role)
            return Staff(user.id, email, role)

    def login(self, email: str, password: str, now: Optional[dt.datetime] = None) -> Optional[str]:
        """A new session token, or None (wrong email or password, or the account is locked)."""
        from sqlalchemy import select

        now = now or dt.datetime.now()
        email = (email or "").strip().lower()
        with self.db.session() as s:
            user = s.execute(select(m.StaffUser).where(m.StaffUser.email == email)).scalar_one_or_none()
            if user is None:
                _hasher.hash(password or "x")  # the same work as a real check: no timing hint
                return None
            if user.locked_until and user.locked_until > now:
                log.warning("staff %s: login while locked", user.id)
                return None
            try:
                _hasher.verify(user.password_hash, password or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                user.failed_logins = (user.failed_logins or 0) + 1
                if user.failed_logins >= MAX_FAILED:
                    user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
                    log.warning("staff %s locked for %s minutes after %s failed logins", user.id, LOCK_MINUTES,
                                user.failed_logins)
                return None
            user.failed_logins, user.locked_until = 0, None
            token = secrets.token_urlsafe(32)
            s.add(m.StaffSession(token_hash=_hash_token(token), user_id=user.id, csrf=secrets.token_urlsafe(24),
                                 created_at=now, last_seen=now))
            log.info("staff %s signed in", user.id)
            return token

    def session(self, token: Optional[str], now: Optional[dt.datetime] = None) -> Optional[SessionInfo]:
        """Who a session token belongs to (and it is used now), or None: unknown, or idle too long."""
        if not token or len(token) > 128:
            return None
        now = now or dt.datetime.now()
        with self.db.session() as s:
            row = s.get(m.StaffSession, _hash_token(token))
            if row is None:
                return None
            if now - row.last_seen > dt.timedelta(minutes=IDLE_MINUTES):
                s.delete(row)
                return None
            row.last_seen = now
            user = s.get(m.StaffUser, row.user_id)
            return SessionInfo(Staff(user.id, user.email, user.role), row.csrf)

    def all(self) -> List[Staff]:
        from sqlalchemy import select

        with self.db.session() as s:
            return [Staff(u.id, u.email, u.role)
                    for u in s.execute(select(m.StaffUser).order_by(m.StaffUser.email)).scalars()]

    def logout(self, token: Optional[str]) -> None:
        if not token:
            return
        with self.db.session() as s:
            row = s.get(m.StaffSession, _hash_token(token))
            if row is not None:
                s.delete(row)


DEMO_ADMIN = "admin@demo.clinic.example"


def demo_admin(db, password_file) -> Optional[Tuple[str, str]]:
    """Demo mode only (`make run`): an admin account for trying the console, made once with a random
    password kept in `password_file` (readable by its owner only). None when the account exists but
    its password file is gone (then use `carenav staff add`)."""
    from pathlib import Path

    path = Path(password_file)
    from sqlalchemy import select

    with db.session() as s:
        exists = s.execute(select(m.StaffUser.id).where(m.StaffUser.email == DEMO_ADMIN)).first() is not None
    if exists:
        return (DEMO_ADMIN, path.read_text().strip()) if path.is_file() else None
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    StaffAccounts(db).add(DEMO_ADMIN, password, "admin")
    return DEMO_ADMIN, password
