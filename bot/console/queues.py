"""What the care team works from: hand-offs patients asked for, and referral loops to close.

- Hand-offs: callback requests, oldest first, urgent ones (asked for after an emergency answer)
  marked.
- Referral loop, the two gaps care coordination is known for: a referral sent and not scheduled
  after NOT_SCHEDULED_DAYS; a specialist visit done and no report back after NO_REPORT_DAYS.
Every patient shown to a staff member is audited (who, which patient, what), ids only.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import List, Optional

from sqlalchemy import select

from bot.console.notices import notify
from bot.settings import CLINIC_HOURS, CLINIC_MAIN_PHONE
from bot.store import models as m
from bot.texts import phrase

NOT_SCHEDULED_DAYS = 7
NO_REPORT_DAYS = 14
FLAGS = ("not_scheduled", "no_report")


def _audit(s, staff_email: str, patient_ids, record_kind: str, action: str, now: dt.datetime) -> None:
    for pid in sorted({p for p in patient_ids if p}):
        s.add(m.AuditEvent(at=now, conversation_id=None, channel="staff", patient_id=pid, record_kind=record_kind,
                           action=action, actor=staff_email))


URGENT_TARGET = dt.timedelta(hours=1)
ROUTINE_TARGET = dt.timedelta(hours=24)  # "within one business day", the patient's promise


def target(urgent: bool) -> dt.timedelta:
    """How soon a hand-off should be answered: an hour when urgent, else within a day."""
    return URGENT_TARGET if urgent else ROUTINE_TARGET


def callbacks(db, staff_email: str, status: str = "open", now: Optional[dt.datetime] = None,
              detail: bool = False) -> List[dict]:
    """The hand-offs with `status`, oldest first (the API's order); `detail` adds the patient's name,
    phone and language, the age against the target, for the console's page."""
    now = now or dt.datetime.now()
    with db.session() as s:
        rows = s.execute(select(m.CallbackRequest).where(m.CallbackRequest.status == status)
                         .order_by(m.CallbackRequest.created_at, m.CallbackRequest.id)).scalars().all()
        out = [_callback_view(r) for r in rows]
        if detail:
            for view, r in zip(out, rows):
                patient = s.get(m.Patient, r.patient_id) if r.patient_id else None
                age = now - r.created_at
                view.update({
                    "patient_name": patient.display_name if patient else None,
                    "phone": patient.mobile_phone if patient else None,
                    "language": r.language or (patient.preferred_language if patient else None) or "en",
                    "age_minutes": int(age.total_seconds() // 60),
                    "target_minutes": int(target(bool(r.urgent)).total_seconds() // 60),
                    "overdue": age > target(bool(r.urgent))})
        _audit(s, staff_email, [r.patient_id for r in rows], "callback request", "listed in the hand-off queue", now)
    return out


def undeliverable_sms(db, staff_email: str, limit: int = 100, now: Optional[dt.datetime] = None) -> List[dict]:
    """Texts the outbox gave up on, newest first, with the patient the number belongs to (when one
    does): staff call them instead. Audited for each patient shown."""
    now = now or dt.datetime.now()
    with db.session() as s:
        rows = s.execute(select(m.SmsOutbox).where(m.SmsOutbox.status == "undeliverable")
                         .order_by(m.SmsOutbox.id.desc()).limit(limit)).scalars().all()
        out = []
        for r in rows:
            patient = s.execute(select(m.Patient).where(m.Patient.mobile_phone == r.to_phone)).scalars().first()
            out.append({"id": r.id, "to_phone": r.to_phone, "patient_id": patient.id if patient else None,
                        "patient_name": patient.display_name if patient else None,
                        "created_at": r.created_at.isoformat(timespec="seconds"), "attempts": r.attempts,
                        "last_error": r.last_error})
        _audit(s, staff_email, [o["patient_id"] for o in out], "sms", "undeliverable text listed", now)
    return out


def patient_name(db, patient_id: str) -> Optional[str]:
    with db.session() as s:
        patient = s.get(m.Patient, patient_id)
        return patient.display_name if patient is not None else None


OUTCOMES = ("reached", "no_answer", "left_message")


class QueueError(ValueError):
    """A hand-off cannot be changed as asked (the message says why; the API answers 409 or 404)."""


def _callback_view(r: m.CallbackRequest) -> dict:
    return {"id": r.id, "patient_id": r.patient_id, "reason": r.reason, "channel": r.channel,
            "created_at": r.created_at.isoformat(timespec="seconds"), "status": r.status,
            "urgent": bool(r.urgent), "claimed_by": r.claimed_by, "outcome": r.outcome, "language": r.language,
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
            patient = s.get(m.Patient, row.patient_id) if row.patient_id else None
            if patient is not None:  # the patient hears back, on their channel
                language = row.language or patient.preferred_language
                message = phrase(f"notice.callback_{outcome}", language, phone=CLINIC_MAIN_PHONE,
                                 hours=CLINIC_HOURS)
                notify(s, patient, "callback_closed", row.id, message, staff_email, now, language,
                       by_sms=row.channel == "sms")
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


def _referral(r: m.Referral, flag: Optional[str]) -> dict:
    return {"id": r.id, "patient_id": r.patient_id, "specialty": r.specialty, "status": r.status,
            "sent_on": r.sent_on.isoformat() if r.sent_on else None, "flag": flag}


OPEN_OR_UNREPORTED = ("sent", "received", "approved", "scheduled", "completed")


def referral_loop(db, staff_email: str, today: Optional[dt.date] = None,
                  now: Optional[dt.datetime] = None) -> List[dict]:
    """Every referral whose loop is not closed (open, or seen with no report back), by status and
    age, with the patient's name and its flag; audited."""
    today = today or dt.date.today()
    out: List[dict] = []
    with db.session() as s:
        rows = s.execute(select(m.Referral).where(m.Referral.status.in_(OPEN_OR_UNREPORTED))
                         .order_by(m.Referral.sent_on, m.Referral.id)).scalars().all()
        for r in rows:
            if r.status == "completed" and r.report_received:
                continue
            flag = None
            if r.status in ("sent", "received", "approved") and r.sent_on \
                    and r.sent_on <= today - dt.timedelta(days=NOT_SCHEDULED_DAYS):
                flag = "not_scheduled"
            elif r.status == "completed" and r.completed_on \
                    and r.completed_on <= today - dt.timedelta(days=NO_REPORT_DAYS):
                flag = "no_report"
            patient = s.get(m.Patient, r.patient_id)
            view = _referral(r, flag)
            view.update({"patient_name": patient.display_name if patient else None,
                         "age_days": (today - r.sent_on).days if r.sent_on else None,
                         "completed_on": r.completed_on.isoformat() if r.completed_on else None,
                         "to": (r.receiving_clinic.name if r.receiving_clinic else None)})
            out.append(view)
        _audit(s, staff_email, [o["patient_id"] for o in out], "referral", "listed in the referral loop",
               now or dt.datetime.now())
    return out


def record_report(db, staff_email: str, referral_id: str, summary: str, next_steps: str,
                  now: Optional[dt.datetime] = None) -> dict:
    """The specialist's report came back: keep its plain-language summary and next steps (the
    patient's answers use them), close the loop, add a follow-up step to the patient's care plan for
    the primary-care team, and tell the patient (SMS if they consented, else at their next web
    visit). All in one transaction, audited."""
    now = now or dt.datetime.now()
    summary, next_steps = " ".join((summary or "").split()), " ".join((next_steps or "").split())
    if not summary or not next_steps:
        raise QueueError("write both the specialist's summary and the next steps")
    if len(summary) > 2000 or len(next_steps) > 1000:
        raise QueueError("the summary is at most 2000 characters and the next steps 1000")
    with db.session() as s:
        r = s.get(m.Referral, referral_id)
        if r is None:
            raise LookupError(referral_id)
        if r.status not in ("scheduled", "completed"):
            raise QueueError("a report can only come back after the specialist visit (scheduled or completed)")
        if r.report_received and r.report_summary:
            raise QueueError("this referral's report is already recorded")
        r.status = "completed"
        r.completed_on = r.completed_on or now.date()
        r.report_received, r.report_summary, r.report_next_steps = True, summary, next_steps
        r.report_recorded_at, r.report_recorded_by = now, staff_email
        patient = s.get(m.Patient, r.patient_id)
        language = patient.preferred_language if patient else None
        specialty = r.specialty or "specialist"
        plan = s.execute(select(m.CarePlan).where(m.CarePlan.patient_id == r.patient_id,
                                                  m.CarePlan.status == "active")
                         .order_by(m.CarePlan.created_on.desc())).scalars().first()
        step_id = "report-" + hashlib.sha256(str(r.id).encode()).hexdigest()[:20]
        step = m.CareActivity(id=step_id, care_plan_id=plan.id if plan else None,
                              patient_id=r.patient_id, kind="task", status="not-started",
                              description=phrase("notice.report_step", language, specialty=specialty),
                              due_date=now.date() + dt.timedelta(days=14), responsible="primary care team")
        s.merge(step)
        notice = notify(s, patient, "report_back", r.id,
                        phrase("notice.report_back", language, specialty=specialty, next_steps=next_steps,
                               phone=CLINIC_MAIN_PHONE), staff_email, now, language)
        _audit(s, staff_email, [r.patient_id], "referral", "specialist report recorded", now)
        return {"id": r.id, "patient_id": r.patient_id, "status": r.status, "report_received": True,
                "notice_channel": notice.channel, "care_plan_step": step.id}


def at_a_glance(db, now: Optional[dt.datetime] = None) -> dict:
    """Counts for the console's first page (no patient shown, not audited): open hand-offs by age
    against their target, and the share of referral loops closed (seen, report back) among
    referrals not cancelled or declined."""
    now = now or dt.datetime.now()
    buckets = [("under 1 hour", 60), ("1 to 4 hours", 240), ("4 to 24 hours", 1440), ("over a day", None)]
    counts = {label: 0 for label, _ in buckets}
    overdue = urgent = 0
    with db.session() as s:
        for created, is_urgent in s.execute(select(m.CallbackRequest.created_at, m.CallbackRequest.urgent)
                                            .where(m.CallbackRequest.status == "open")).all():
            minutes = (now - created).total_seconds() / 60
            label = next(lbl for lbl, limit in buckets if limit is None or minutes < limit)
            counts[label] += 1
            urgent += bool(is_urgent)
            overdue += (now - created) > target(bool(is_urgent))
        statuses = s.execute(select(m.Referral.status, m.Referral.report_received)
                             .where(m.Referral.status.notin_(("cancelled", "declined")))).all()
    closed = sum(1 for status, back in statuses if status == "completed" and back)
    return {"open_handoffs": sum(counts.values()), "urgent": urgent, "overdue": overdue,
            "by_age": [{"label": label, "count": counts[label]} for label, _ in buckets],
            "referrals": len(statuses), "loops_closed": closed,
            "loops_closed_share": round(closed / len(statuses), 2) if statuses else None}


def outreach_of(db, staff_email: str, patient_id: str, limit: int = 100,
                now: Optional[dt.datetime] = None) -> dict:
    """What the assistant sent this patient first, and what is planned (bot/outreach/), newest
    first, and whether outreach is paused for them; audited."""
    now = now or dt.datetime.now()
    with db.session() as s:
        patient = s.get(m.Patient, patient_id)
        if patient is None:
            raise LookupError(patient_id)
        rows = s.execute(select(m.Outreach).where(m.Outreach.patient_id == patient_id)
                         .order_by(m.Outreach.send_after.desc(), m.Outreach.id.desc()).limit(limit)).scalars().all()
        out = [{"id": r.id, "rule": r.rule, "due_date": r.due_date.isoformat(), "channel": r.channel,
                "send_after": r.send_after.isoformat(timespec="minutes"), "status": r.status, "reason": r.reason,
                "sent_at": r.sent_at.isoformat(timespec="minutes") if r.sent_at else None,
                "body": r.body, "reply": r.reply} for r in rows]
        consent_at = patient.sms_consent_at.isoformat(timespec="minutes") if patient.sms_consent_at else None
        consent = {"sms_consent": bool(patient.sms_consent), "consent_at": consent_at,
                   "consent_method": patient.sms_consent_method, "consent_scope": patient.sms_consent_scope}
        paused = {"paused": bool(patient.outreach_paused), "paused_by": patient.outreach_paused_by,
                  "paused_at": patient.outreach_paused_at.isoformat(timespec="minutes")
                  if patient.outreach_paused_at else None}
        _audit(s, staff_email, [patient_id], "outreach", "outreach viewed", now)
    return {"outreach": out, **consent, **paused}


def pause_outreach(db, staff_email: str, patient_id: str, paused: bool, now: Optional[dt.datetime] = None) -> None:
    """A coordinator pauses (or resumes) the messages the assistant sends this patient first;
    while paused, due outreach is skipped, not sent later."""
    now = now or dt.datetime.now()
    with db.session() as s:
        patient = s.get(m.Patient, patient_id)
        if patient is None:
            raise LookupError(patient_id)
        patient.outreach_paused = paused
        patient.outreach_paused_by, patient.outreach_paused_at = (staff_email, now) if paused else (None, None)
        _audit(s, staff_email, [patient_id], "outreach", "outreach paused" if paused else "outreach resumed", now)
