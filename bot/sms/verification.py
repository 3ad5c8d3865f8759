"""Who is texting: the date-of-birth check that stands between a phone number and its records.

The number only names candidate patients (a family may share one). Before the first record, the
texter sends their date of birth; a match among the candidates verifies the number for
VERIFIED_MINUTES. Only text that looks like a date counts as a try ("are my results back?", "hi",
an emoji or a numbered choice are ordinary messages and get the ordinary answer). Misses escalate:
the third locks records for that number for LOCK_MINUTES; any miss after that lock locks them for
LONG_LOCK_HOURS and, when the number belongs to a patient, leaves a note for staff (a callback
request) so someone calls the patient. The count starts again only after a success, or a day
after the last lock ended. Logs carry a keyed hash of the number, never the number or the date.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Optional

log = logging.getLogger(__name__)

MAX_DOB_FAILURES = 3
LOCK_MINUTES = 15
LONG_LOCK_HOURS = 24
VERIFIED_MINUTES = 30

DATE_PATTERNS = ("%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y", "%Y-%m-%d", "%m/%d/%y", "%B %d %Y", "%b %d %Y",
                 "%d %B %Y", "%d %b %Y", "%m%d%Y")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
           "ene", "abr", "ago", "dic")  # Spanish abbreviations that differ
_MONTH_WORD = re.compile(r"\b(?:" + "|".join(_MONTHS) + r")[a-z]*\.?\b", re.IGNORECASE)


def parse_dob(text: str) -> Optional[dt.date]:
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().lower().replace(",", " "))
    cleaned = " ".join(cleaned.split())
    for pattern in DATE_PATTERNS:
        try:
            parsed = dt.datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
        if parsed.year > dt.date.today().year:  # '%y' read 68 as 2068
            parsed = parsed.replace(year=parsed.year - 100)
        return parsed
    return None


def looks_like_date(text: str) -> bool:
    """Whether a message is an attempt at a date (and so counts as a try): short, made of digits,
    separators and at most a month name, with at least four digits or a month name and a digit."""
    text = text.strip()
    if not text or len(text) > 40 or len(text.split()) > 5:
        return False
    if parse_dob(text) is not None:
        return True
    if not re.fullmatch(r"[0-9A-Za-z\s/.,-]+", text, flags=re.ASCII):
        return False
    digits = sum(ch.isdigit() for ch in text)
    words = [w for w in re.findall(r"[A-Za-z]+", text) if not re.fullmatch(r"st|nd|rd|th|of|de", w, re.I)]
    if words and not all(_MONTH_WORD.fullmatch(w) for w in words):
        return False
    return digits >= 4 or (bool(words) and digits >= 1)


def verify(s, session, phone: str, text: str, now: dt.datetime, ref: str) -> str:
    """One message while a date of birth is awaited, inside the caller's store session `s`:
    "verified", "retry", "locked" (LOCK_MINUTES), "locked-long" (LONG_LOCK_HOURS), or
    "not-a-date" (nothing counted: the message is an ordinary one)."""
    from bot.store.models import CallbackRequest
    from bot.store.queries import patients_by_phone

    if session.locked_until and session.locked_until > now:
        return "locked-long" if session.failures and session.failures > MAX_DOB_FAILURES else "locked"
    if not looks_like_date(text):
        return "not-a-date"
    if session.locked_until and now - session.locked_until > dt.timedelta(hours=LONG_LOCK_HOURS):
        session.failures = 0  # a day after the last lock ended: a fresh start
    dob = parse_dob(text)
    candidates = patients_by_phone(s, phone)
    match = [p for p in candidates if dob is not None and p.birth_date == dob]
    if len(match) == 1:
        session.verified_patient_id = match[0].id
        session.verified_until = now + dt.timedelta(minutes=VERIFIED_MINUTES)
        session.awaiting_dob, session.failures, session.locked_until = False, 0, None
        log.info("sms %s verified as patient=%s", ref, match[0].id)
        return "verified"
    session.failures = (session.failures or 0) + 1
    log.info("sms %s date of birth did not match (miss %s)", ref, session.failures)
    if session.failures < MAX_DOB_FAILURES:
        return "retry"
    session.awaiting_dob, session.pending_text = False, None
    if session.failures == MAX_DOB_FAILURES:
        session.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
        return "locked"
    session.locked_until = now + dt.timedelta(hours=LONG_LOCK_HOURS)
    if len(candidates) >= 1:
        s.add(CallbackRequest(
            patient_id=candidates[0].id if len(candidates) == 1 else None, channel="sms",
            conversation_id=ref, created_at=now, status="open",
            reason=(f"Security: {session.failures} failed date-of-birth checks by text from the mobile "
                    f"number on file; records by text locked for {LONG_LOCK_HOURS} hours. "
                    "Please call the patient to check it was them.")))
    log.warning("sms %s locked for %s hours after %s misses; staff told", ref, LONG_LOCK_HOURS,
                session.failures)
    return "locked-long"
