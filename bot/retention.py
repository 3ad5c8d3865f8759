"""What is kept about patients' words, for how long, and the patient's rights over it.

Personal text is what patients typed and what the assistant answered them: the conversations in
Rasa's tracker store (`events`: messages, the answers with medicines and results), inbound SMS
bodies (`sms_inbound`), outgoing SMS (`sms_outbox`), the question an SMS texter asked before
verifying (`sms_sessions.pending_text`), web chat sessions (`web_sessions`), what the care team
told a patient from the console (`patient_notices`), and the text of outreach messages
(`outreach.body`; the row, ids and dates stay, so the same message is never planned again). The
clinical record itself (care plans, referrals, results, medicines) is the clinic's record and is not
touched here; the audit trail holds ids only and is always kept.

- `purge(older_than_days)`: removes personal text older than the retention period
  (CARENAV_RETENTION_DAYS, default 90): old conversation events, SMS bodies and sessions (a
  number's STOP is kept, without anything else), web sessions. `carenav retention purge`; and
  `carenav run` runs it at start and then daily.
- `export(patient_id)`: everything held about a patient, as JSON-ready data
  (`carenav patient export`).
- `forget(patient_id)`: removes the patient's conversations, SMS sessions, inbound and outbound
  SMS, web sessions and saved questions (`carenav patient forget`).
Export and forget each write an audit row (ids only).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Dict, Iterable, List, Optional, Set

from sqlalchemy import MetaData, Table, create_engine, delete, inspect, select, update

from bot.store import models as m

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90


def retention_days() -> int:
    from bot.settings import settings

    return settings().retention_days


class Conversations:
    """Rasa's tracker store (`events`), read and pruned directly with SQLAlchemy."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, future=True)
        self.table: Optional[Table] = None
        if inspect(self.engine).has_table("events"):
            self.table = Table("events", MetaData(), autoload_with=self.engine)

    def senders_naming(self, patient_id: str) -> Set[str]:
        """Conversations bound to the patient (their `patient_id` slot was set to them)."""
        if self.table is None:
            return set()
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.sender_id, t.c.data).where(t.c.type_name == "slot")).all()
        found = set()
        for sender, data in rows:
            try:
                event = json.loads(data or "{}")
            except ValueError:
                continue
            if event.get("name") == "patient_id" and event.get("value") == patient_id:
                found.add(sender)
        return found

    def events_of(self, senders: Iterable[str]) -> Dict[str, List[dict]]:
        if self.table is None:
            return {}
        t, out = self.table, {}
        with self.engine.connect() as conn:
            for sender in sorted(set(senders)):
                rows = conn.execute(select(t.c.data).where(t.c.sender_id == sender).order_by(t.c.id)).scalars().all()
                if rows:
                    out[sender] = [json.loads(r) for r in rows]
        return out

    def delete_senders(self, senders: Iterable[str]) -> int:
        if self.table is None:
            return 0
        senders = list(set(senders))
        if not senders:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(delete(self.table).where(self.table.c.sender_id.in_(senders))).rowcount or 0

    def delete_before(self, cutoff: dt.datetime) -> int:
        if self.table is None:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(delete(self.table).where(self.table.c.timestamp < cutoff.timestamp())).rowcount or 0

    def dispose(self) -> None:
        self.engine.dispose()


def _conversations(tracker_url: Optional[str]) -> Conversations:
    from bot.tracker_store import tracker_db_url

    return Conversations(tracker_url or tracker_db_url())


def purge(db, older_than_days: Optional[int] = None, now: Optional[dt.datetime] = None,
          tracker_url: Optional[str] = None) -> Dict[str, int]:
    """Remove personal text older than the retention period; how many rows each kind lost."""
    days = older_than_days if older_than_days is not None else retention_days()
    cutoff = (now or dt.datetime.now()) - dt.timedelta(days=days)
    counts: Dict[str, int] = {}
    conversations = _conversations(tracker_url)
    try:
        counts["conversation events"] = conversations.delete_before(cutoff)
    finally:
        conversations.dispose()
    with db.session() as s:
        counts["inbound sms"] = s.execute(delete(m.SmsInbound).where(m.SmsInbound.received_at < cutoff)).rowcount or 0
        counts["outgoing sms"] = s.execute(
            delete(m.SmsOutbox).where(m.SmsOutbox.created_at < cutoff,
                                      m.SmsOutbox.status.in_(("sent", "undeliverable")))).rowcount or 0
        stale = (m.SmsSession.updated_at < cutoff) | m.SmsSession.updated_at.is_(None)
        counts["sms sessions"] = s.execute(delete(m.SmsSession).where(stale, m.SmsSession.opted_out.is_(False))
                                           ).rowcount or 0
        s.execute(update(m.SmsSession).where(stale, m.SmsSession.opted_out.is_(True))  # STOP is kept
                  .values(pending_text=None, choices=None, verified_patient_id=None, verified_until=None))
        counts["web sessions"] = s.execute(delete(m.WebSession).where(m.WebSession.updated_at < cutoff)).rowcount or 0
        counts["care team messages"] = s.execute(delete(m.PatientNotice).where(m.PatientNotice.created_at < cutoff)
                                                 ).rowcount or 0
        counts["outreach texts"] = s.execute(update(m.Outreach).where(
            m.Outreach.planned_at < cutoff, m.Outreach.body.isnot(None)).values(body=None)).rowcount or 0
    log.info("retention purge (older than %s days): %s", days, counts)
    return counts


def _senders_of(db, conversations: Conversations, patient: m.Patient) -> Set[str]:
    from bot.sms.provider import phone_ref

    senders = conversations.senders_naming(patient.id)
    with db.session() as s:
        senders |= set(s.execute(select(m.AuditEvent.conversation_id)
                                 .where(m.AuditEvent.patient_id == patient.id)).scalars().all())
        senders |= set(s.execute(select(m.CallbackRequest.conversation_id)
                                 .where(m.CallbackRequest.patient_id == patient.id)).scalars().all())
        senders |= set(s.execute(select(m.WebSession.session_id)
                                 .where(m.WebSession.owner == patient.id)).scalars().all())
    if patient.mobile_phone:
        senders.add(phone_ref(patient.mobile_phone))
    return {x for x in senders if x}


def _rows(s, model, *where) -> List[dict]:
    out = []
    for row in s.execute(select(model).where(*where)).scalars().all():
        out.append({c.name: _plain(getattr(row, c.name)) for c in model.__table__.columns})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def export(db, patient_id: str, tracker_url: Optional[str] = None, now: Optional[dt.datetime] = None) -> dict:
    """Everything held about the patient (KeyError if there is no such patient)."""
    patient = _patient(db, patient_id)
    phone = patient.mobile_phone
    conversations = _conversations(tracker_url)
    try:
        with db.session() as s:
            data: Dict[str, Any] = {"exported_at": (now or dt.datetime.now()).isoformat(),
                                    "patient": _rows(s, m.Patient, m.Patient.id == patient_id)[0]}
            for name, model in sorted(_patient_tables().items()):
                data[name] = _rows(s, model, model.patient_id == patient_id)
            data["sms_sessions"] = _rows(s, m.SmsSession, m.SmsSession.phone == phone) if phone else []
            data["sms_inbound"] = _rows(s, m.SmsInbound, m.SmsInbound.from_phone == phone) if phone else []
            data["sms_outbox"] = _rows(s, m.SmsOutbox, m.SmsOutbox.to_phone == phone) if phone else []
            data["web_sessions"] = _rows(s, m.WebSession, m.WebSession.owner == patient_id)
            senders = _senders_of(db, conversations, patient)
        data["conversations"] = conversations.events_of(senders)
    finally:
        conversations.dispose()
    _audit(db, patient_id, "exported", now)
    return data


def forget(db, patient_id: str, tracker_url: Optional[str] = None, now: Optional[dt.datetime] = None) -> Dict[str, int]:
    """Remove the patient's conversations and messages; the clinical record and audit ids stay."""
    patient = _patient(db, patient_id)
    phone = patient.mobile_phone
    conversations = _conversations(tracker_url)
    try:
        senders = _senders_of(db, conversations, patient)
        counts = {"conversation events": conversations.delete_senders(senders)}
    finally:
        conversations.dispose()
    with db.session() as s:
        if phone:
            counts["sms sessions"] = s.execute(delete(m.SmsSession).where(m.SmsSession.phone == phone)).rowcount or 0
            counts["inbound sms"] = s.execute(delete(m.SmsInbound).where(m.SmsInbound.from_phone == phone)
                                              ).rowcount or 0
            counts["outgoing sms"] = s.execute(delete(m.SmsOutbox).where(m.SmsOutbox.to_phone == phone)).rowcount or 0
        counts["web sessions"] = s.execute(delete(m.WebSession).where(m.WebSession.owner == patient_id)).rowcount or 0
        counts["saved questions"] = s.execute(delete(m.SavedQuestion).where(m.SavedQuestion.patient_id == patient_id)
                                              ).rowcount or 0
        counts["care team messages"] = s.execute(delete(m.PatientNotice).where(
            m.PatientNotice.patient_id == patient_id)).rowcount or 0
        counts["outreach texts"] = s.execute(update(m.Outreach).where(
            m.Outreach.patient_id == patient_id, m.Outreach.body.isnot(None)).values(body=None)).rowcount or 0
    _audit(db, patient_id, "forgotten", now)
    log.info("patient=%s forgotten: %s", patient_id, counts)
    return counts


def _patient(db, patient_id: str) -> m.Patient:
    """The patient's row (detached: plain values), or KeyError."""
    with db.session() as s:
        patient = s.get(m.Patient, patient_id)
        if patient is None:
            raise KeyError(patient_id)
        s.expunge(patient)
        return patient


def _patient_tables() -> Dict[str, Any]:
    """Every table of the store with a patient_id column (the record, hand-offs, audit)."""
    out = {}
    for mapper in m.Base.registry.mappers:
        model = mapper.class_
        if model is m.Patient or "patient_id" not in model.__table__.columns:
            continue
        out[model.__tablename__] = model
    return out


def _audit(db, patient_id: str, action: str, now: Optional[dt.datetime]) -> None:
    with db.session() as s:
        s.add(m.AuditEvent(at=now or dt.datetime.now(), conversation_id=None, channel="cli",
                           patient_id=patient_id, record_kind="patient data", action=action))
