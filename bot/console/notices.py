"""What the care team tells a patient from the console: a hand-off closed, a specialist's report back.

A notice is written in the same transaction as the staff action that causes it, so it is never
lost. It goes on the patient's channel: a hand-off asked for by text is answered by text, one asked
for on the web page on the web page; a specialist's report back goes by text when the patient
agreed to texts. Texts only when the clinic has an SMS provider and the patient has not sent STOP:
the SMS is written to the outbox (`sms_outbox`), whose loop in the Rasa server delivers and
retries it. Otherwise it waits for the patient's next visit to the web chat, which fetches it once
signed in (`GET /api/notices`, the clinic web app), shows it as a message from the care team and
says so (`POST /api/notices/seen`).

The text is in the patient's language (the hand-off's, else the patient's preferred one), made from
bot/knowledge/phrases.yml; logs carry ids only.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import List, Optional

from sqlalchemy import select

from bot.store import models as m
from bot.texts import phrase

log = logging.getLogger(__name__)


def sms_configured() -> bool:
    from bot.settings import settings

    current = settings()
    return bool(current.sms_account_sid and current.sms_auth_token and current.sms_from)


def can_text(s, patient: m.Patient, asked_by_sms: bool = False) -> bool:
    """The clinic sends texts (an SMS provider is configured), the patient has a mobile number,
    agreed to texts or wrote to us by text, and has not sent STOP."""
    if not sms_configured() or not patient.mobile_phone or not (patient.sms_consent or asked_by_sms):
        return False
    session = s.get(m.SmsSession, patient.mobile_phone)
    return not (session is not None and session.opted_out)


def notify(s, patient: m.Patient, kind: str, subject_id: object, message: str, staff_email: str,
           now: dt.datetime, language: Optional[str] = None, by_sms: Optional[bool] = None) -> m.PatientNotice:
    """Write a notice for the patient in session `s`: SMS (through the outbox) or the web page.
    `by_sms`: True for a reply to a text, False for a reply on the web, None: texts if consented."""
    from bot.settings import CLINIC_NAME
    from bot.sms.outbox import add_to_outbox
    from bot.sms.segments import split_sms

    if by_sms is None:
        by_sms = can_text(s, patient)
    elif by_sms:
        by_sms = can_text(s, patient, asked_by_sms=True)
    notice = m.PatientNotice(patient_id=patient.id, kind=kind, subject_id=str(subject_id), text=message,
                             channel="sms" if by_sms else "web", created_at=now, created_by=staff_email)
    if by_sms:
        body = phrase("notice.sms_frame", language, clinic=CLINIC_NAME, message=message)
        add_to_outbox(s, patient.mobile_phone, split_sms(body), now)
        notice.delivered_at = now
    s.add(notice)
    s.flush()
    log.info("notice=%s kind=%s patient=%s channel=%s", notice.id, kind, patient.id, notice.channel)
    return notice


def pending_for_web(db, patient_id: str) -> List[dict]:
    """The notices waiting for the patient's web visit, oldest first. They stay waiting until the
    page says it showed them (`mark_seen`): a page closed while fetching loses nothing."""
    with db.session() as s:
        rows = s.execute(select(m.PatientNotice).where(
            m.PatientNotice.patient_id == patient_id, m.PatientNotice.channel == "web",
            m.PatientNotice.delivered_at.is_(None)).order_by(m.PatientNotice.id)).scalars().all()
        patient = s.get(m.Patient, patient_id)
        language = patient.preferred_language if patient is not None else None
        return [{"id": r.id, "kind": r.kind, "title": phrase("notice.web_intro", language), "text": r.text,
                 "at": r.created_at.isoformat(timespec="seconds")} for r in rows]


def mark_seen(db, patient_id: str, ids: List[int], now: Optional[dt.datetime] = None) -> int:
    """The web page showed these notices to the patient: delivered, audited. Only the patient's own
    notices are touched; how many were."""
    now = now or dt.datetime.now()
    with db.session() as s:
        rows = s.execute(select(m.PatientNotice).where(
            m.PatientNotice.patient_id == patient_id, m.PatientNotice.id.in_(ids),
            m.PatientNotice.delivered_at.is_(None))).scalars().all()
        for r in rows:
            r.delivered_at = now
            s.add(m.AuditEvent(at=now, conversation_id=None, channel="web", patient_id=patient_id,
                               record_kind="care team message", action=f"shown: {r.kind}"))
        return len(rows)
