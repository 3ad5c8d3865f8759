"""Tokens the clinic's website hands its signed-in patient, and who a conversation may see.

A token is a JWT (HS256) with `sub` = the store's patient id and `exp`. The secret comes from
CARENAV_TOKEN_SECRET, else from a local secret file generated on first use (var/token_secret,
outside git, readable only by its owner). Only HS256 is accepted: `alg: none`, other algorithms,
a wrong key, an edited payload or an expired token are all refused.
"""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jwt

ALGORITHM = "HS256"
ISSUER = "carenav"
DEFAULT_TTL_SECONDS = 60 * 60  # one hour: a website session
SECRET_FILE = Path("var") / "token_secret"


class TokenError(ValueError):
    """The token is missing, malformed, forged or expired. The message says which, for logs."""


def token_secret() -> str:
    env = os.environ.get("CARENAV_TOKEN_SECRET", "").strip()
    if env:
        return env
    path = Path(os.environ.get("CARENAV_TOKEN_SECRET_FILE", SECRET_FILE))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def issue_token(patient_id: str, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                secret: Optional[str] = None, now: Optional[float] = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": patient_id, "iat": issued, "exp": issued + int(ttl_seconds), "iss": ISSUER}
    return jwt.encode(claims, secret or token_secret(), algorithm=ALGORITHM)


def patient_from_token(token: Optional[str], secret: Optional[str] = None) -> str:
    """The patient id a valid token names; TokenError otherwise."""
    if not token or not isinstance(token, str):
        raise TokenError("no token")
    if len(token) > 4096:
        raise TokenError("token too long")
    try:
        claims = jwt.decode(token, secret or token_secret(), algorithms=[ALGORITHM],
                            issuer=ISSUER, options={"require": ["sub", "exp", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token ({exc.__class__.__name__})") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("token names no patient")
    return subject


@dataclass(frozen=True)
class Identity:
    """Who the current message may see records of (patient_id None: nobody's)."""

    patient_id: Optional[str]
    reason: str  # "token", "sms-verified", or why not: "no token", "token expired", ...

    @property
    def verified(self) -> bool:
        return self.patient_id is not None


# Channels whose messages carry the website's token (REST clients put it in metadata.token; the
# web page's socket.io connection hands it over at connect and it travels with each message).
TOKEN_CHANNELS = {"rest", "socketio", "web"}
SMS_CHANNEL = "sms"


def identity_for(channel: Optional[str], metadata: Optional[dict], bound_patient_id: Optional[str],
                 sms_verified_patient_id: Optional[str] = None, secret: Optional[str] = None) -> Identity:
    """Whose records the current message may see, from what the server itself vouches for.

    - Web and REST: a valid token in this very message; the conversation is bound to the first
      token's patient, and a token for anyone else is refused. A sender id alone gives nothing.
    - SMS: only after the patient verified their date of birth in this SMS conversation; the
      channel name is set by the server, so a REST client reusing an SMS sender id gets nothing.
    - Anything else (the command line, unknown channels): nobody's records.
    """
    channel = (channel or "").lower()
    if channel == SMS_CHANNEL:
        if sms_verified_patient_id:
            return Identity(sms_verified_patient_id, "sms-verified")
        return Identity(None, "sms not verified")
    if channel not in TOKEN_CHANNELS:
        return Identity(None, f"channel {channel or 'unknown'} carries no identity")
    token = (metadata or {}).get("token")
    try:
        patient_id = patient_from_token(token, secret=secret)
    except TokenError as exc:
        return Identity(None, str(exc))
    if bound_patient_id and bound_patient_id != patient_id:
        return Identity(None, "token for another patient")
    return Identity(patient_id, "token")
