"""What the care team works from: hand-offs patients asked for, and referral loops to close.

- Hand-offs: callback requests, oldest first, urgent ones (asked for after an emergency answer)
  marked.
- Referral loop, the two gaps care coordination is known for: a referral sent and not scheduled
  after NOT_SCHEDULED_DAYS; a specialist visit done and no report back after NO_REPORT_DAYS.
Every patient shown to a staff member is audited (who, which patient, what), ids only.
"""
from __future__ import annotations

import datetime as dt
from typing import List, Optional

from sqlalchemy import select

from bot.store import models as m

NOT_SCHEDULED_DAYS = 7
NO_REPORT_DAYS = 14
FLAGS = ("not_scheduled", "no_report")


def _audit(s, staff_email: str, patient_ids, record_kind: str, action: str, now: dt.datetime) -> None:
    for pid in sorted({p for p in patient_ids if p}):
        s.add(m.AuditEvent(at=now, conversation_id=None, channel="staff", patient_id=pid, record_kind=record_kind,
                           action=action, actor=staff_email))


def callbacks(db, staff_email: str, status: str = "open", now: Optional[dt.datetime] = None) -> List[dict]:
    now = now or dt.datetime.now()
    with db.session() as s:
        rows = s.execute(select(m.CallbackRequest).where(m.CallbackRequest.status == status)
                         .order_by(m.CallbackRequest.created_at, m.CallbackRequest.id)).scalars().all()
        out = [_callback_view(r) for r in rows]
        _audit(s, staff_email, [r.patient_id for r in rows], "callback request", "listed in the hand-off queue", now)
    return out


OUTCOMES = ("reached", "no_answer", "left_message")


class QueueError(ValueError):
    """A hand-off cannot be changed as asked (the message says why; the API answers 409 or 404)."""


def _callback_view(r: m.CallbackRequest) -> dict:
    return {"id": r.id, "patient_id": r.patient_id, "reason": r.reason, "channel": r.channel,
            "created_at": r.created_at.isoformat(timespec="seconds"), "status": r.status,
            "urgent": bool(r.urgent), "claimed_by": r.claimed_by, "outcome": r.outcome,
            "notes": r.notes.splitlines() if r.notes else []}


def work_on(db, staff_email: str, callback_id: int, action: str, note: Optional[str] = None,
            outcome: Optional[str] = None, now: Optional[dt.datetime] = None) -> dict:
    """Claim a hand-off, add a note to it, or resolve it with an outcome; audited."""
    now = now or dt.datetime.now()
    with db.session() as s:
        row = s.get(m.CallbackRequest, callback_id)
        if row is None:
            raise LookupError(callback_id)
        if row.status != "open":
            raise QueueError("this hand-off is already resolved")
        if action == "claim":
            if row.claimed_by and row.claimed_by != staff_email:
                raise QueueError(f"{row.claimed_by} is already working on it")
            row.claimed_by, row.claimed_at = staff_email, now
        elif action == "note":
            text = " ".join((note or "").split())[:1000]
            if not text:
                raise QueueError("the note is empty")
            row.notes = ((row.notes + "\n") if row.notes else "") + f"{now:%Y-%m-%d %H:%M} {staff_email}: {text}"
        elif action == "resolve":
            if outcome not in OUTCOMES:
                raise QueueError(f"the outcome is one of {', '.join(OUTCOMES)}")
            row.status, row.outcome, row.resolved_at = "closed", outcome, now
            row.claimed_by = row.claimed_by or staff_email
        else:
            raise QueueError(f"unknown action {action}")
        if row.patient_id:
            _audit(s, staff_email, [row.patient_id], "callback request", f"hand-off {action}", now)
        return _callback_view(row)


def referral_flags(db, staff_email: str, flag: Optional[str] = None, today: Optional[dt.date] = None,
                   now: Optional[dt.datetime] = None) -> List[dict]:
    today = today or dt.date.today()
    wanted = [flag] if flag else list(FLAGS)
    out: List[dict] = []
    with db.session() as s:
        if "not_scheduled" in wanted:
            rows = s.execute(select(m.Referral).where(
                m.Referral.status.in_(("sent", "received", "approved")),
                m.Referral.sent_on <= today - dt.timedelta(days=NOT_SCHEDULED_DAYS))).scalars().all()
            out += [_referral(r, "not_scheduled") for r in rows]
        if "no_report" in wanted:
            rows = s.execute(select(m.Referral).where(
                m.Referral.status == "completed", m.Referral.report_received.is_(False),
                m.Referral.completed_on <= today - dt.timedelta(days=NO_REPORT_DAYS))).scalars().all()
            out += [_referral(r, "no_report") for r in rows]
        out.sort(key=lambda r: (r["sent_on"] or "", r["id"]))
        _audit(s, staff_email, [r["patient_id"] for r in out], "referral", "listed in the referral loop",
               now or dt.datetime.now())
    return out


def _referral(r: m.Referral, flag: str) -> dict:
    return {"id": r.id, "patient_id": r.patient_id, "specialty": r.specialty, "status": r.status,
            "sent_on": r.sent_on.isoformat() if r.sent_on else None, "flag": flag}
