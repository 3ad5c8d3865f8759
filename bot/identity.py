"""Tokens the clinic's website hands its signed-in patient, and who a conversation may see.

A token is a JWT (HS256) with `sub` = the store's patient id and `exp`. The secret comes from
CARENAV_TOKEN_SECRET, else from a local secret file generated on first use (var/token_secret,
outside git, readable only by its owner). Only HS256 is accepted: `alg: none`, other algorithms,
a wrong key, an edited payload or an expired token are all refused.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jwt

from bot.metadata import SMS_CLAIM as SMS_CLAIM_KEY
from bot.metadata import TOKEN as TOKEN_KEY

ALGORITHM = "HS256"
ISSUER = "carenav"
DEFAULT_TTL_SECONDS = 60 * 60  # one hour: a website session
SECRET_FILE = Path("var") / "token_secret"  # under the project home (bot.settings.home)


class TokenError(ValueError):
    """The token is missing, malformed, forged or expired. The message says which, for logs."""


def token_secret() -> str:
    from bot.settings import settings

    current = settings()
    if current.token_secret:
        return current.token_secret
    path = Path(current.token_secret_file or current.home() / SECRET_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


ACTION_SECRET_HEADER = "X-CareNav-Action-Secret"


def action_secret() -> str:
    """What the Rasa server shows the action server on every call (the action server refuses
    calls without it): CARENAV_ACTION_SECRET, else derived from the token secret, so the two
    processes of one installation agree without another file."""
    from bot.settings import settings

    if settings().action_secret:
        return settings().action_secret
    return hmac.new(token_secret().encode(), b"carenav-action-server", hashlib.sha256).hexdigest()


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
    except (jwt.InvalidTokenError, ValueError) as exc:  # ValueError: text UTF-8 cannot encode
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



SMS_AUDIENCE = "carenav-sms-verified"


def issue_sms_claim(patient_id: str, conversation_id: str, expires_at: float,
                    secret: Optional[str] = None, now: Optional[float] = None) -> str:
    """What the SMS channel hands the actions once a texter confirmed their date of birth: a
    signed claim naming the patient, bound to this SMS conversation, expiring with the
    verification. Its audience keeps it from being used as a web token (and a web token from
    being used as one)."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": patient_id, "conv": conversation_id, "aud": SMS_AUDIENCE, "iss": ISSUER,
              "iat": issued, "exp": int(expires_at)}
    return jwt.encode(claims, secret or token_secret(), algorithm=ALGORITHM)


def patient_from_sms_claim(claim: Optional[str], conversation_id: str, secret: Optional[str] = None) -> str:
    """The patient a valid SMS claim for this very conversation names; TokenError otherwise."""
    if not claim or not isinstance(claim, str):
        raise TokenError("no sms claim")
    if len(claim) > 4096:
        raise TokenError("sms claim too long")
    try:
        claims = jwt.decode(claim, secret or token_secret(), algorithms=[ALGORITHM], issuer=ISSUER,
                            audience=SMS_AUDIENCE, options={"require": ["sub", "exp", "iss", "aud", "conv"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("sms claim expired") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise TokenError(f"invalid sms claim ({exc.__class__.__name__})") from exc
    if claims.get("conv") != conversation_id:
        raise TokenError("sms claim for another conversation")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("sms claim names no patient")
    return subject


def identity_for(channel: Optional[str], metadata: Optional[dict], bound_patient_id: Optional[str],
                 conversation_id: Optional[str] = None, secret: Optional[str] = None) -> Identity:
    """Whose records the current message may see, from what the server itself vouches for.

    - Web and REST: a valid token in this very message; the conversation is bound to the first
      token's patient, and a token for anyone else is refused. A sender id alone gives nothing.
    - SMS: only a valid claim the SMS channel signed after the patient verified their date of
      birth, for this very conversation; plain metadata (a patient id) proves nothing, and the
      channel name is set by the server, so a REST client reusing an SMS sender id gets nothing.
    - Anything else (the command line, unknown channels): nobody's records.
    """
    channel = (channel or "").lower()
    metadata = metadata if isinstance(metadata, dict) else {}
    if channel == SMS_CHANNEL:
        try:
            patient_id = patient_from_sms_claim(metadata.get(SMS_CLAIM_KEY), conversation_id or "",
                                                secret=secret)
        except TokenError as exc:
            return Identity(None, f"sms not verified: {exc}")
        # a shared phone: whoever verified last in this conversation is who it speaks for
        return Identity(patient_id, "sms-verified")
    if channel not in TOKEN_CHANNELS:
        return Identity(None, f"channel {channel or 'unknown'} carries no identity")
    token = metadata.get(TOKEN_KEY)
    try:
        patient_id = patient_from_token(token, secret=secret)
    except TokenError as exc:
        return Identity(None, str(exc))
    if bound_patient_id and bound_patient_id != patient_id:
        return Identity(None, "token for another patient")
    return Identity(patient_id, "token")
