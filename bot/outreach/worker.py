"""The outreach worker (`carenav outreach run`, started by `carenav run`): plans due outreach
(bot/outreach/rules.py) and sends what is due, exactly once.

Sending one row is one transaction: the row is taken with `SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL (two workers side by side never take the same row; SQLite runs one worker), checked
again (paused, consent, STOP, still due, expired, quiet hours, at most one a day and three a week
per patient), and then its SMS goes into the outbox (`sms_outbox`, whose loop in the Rasa server
delivers and retries it) or its web variant becomes a notice for the patient's next web visit, in
the same commit that marks the row `sent`. A crash before that commit leaves the row `planned`
(sent after the restart, once); after it, the row is `sent` and never taken again.

A sent SMS is then added to the patient's SMS conversation in Rasa's tracker (through the Rasa
server's HTTP API, with its per-run token, so the lock store orders it with the patient's own
messages): the assistant's message, `action_outreach` and the `outreach_id` slot. A reply ("yes",
"1", "already booked") is then understood in its context (`action_outreach_reply`). Rasa's own
reminders live in one process's memory and are lost on restart; this is kept in the store.
Logs carry ids only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import socket
import time
from typing import Dict, List, Optional

from sqlalchemy import case, func, select

from bot.store import models as m

log = logging.getLogger(__name__)

REPLY_DAYS = 3  # a reply this long after an outreach message is still read as its answer
PLAN_EVERY = 15 * 60  # seconds between planning passes (and at start, and when the day changes)
# when several are due at once for one patient, what goes first (the caps defer the rest)
PRIORITY = ("discharge_checkin", "visit_prep", "results_ready", "referral_not_scheduled", "report_back",
            "overdue_steps")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _caps() -> Dict[str, int]:
    from bot.outreach.rules import rules

    caps = rules().get("caps") or {}
    return {"per_day": int(caps.get("per_day", 1)), "per_week": int(caps.get("per_week", 3))}


def _local(zone, when: dt.datetime) -> dt.datetime:
    """A naive server-local time as a time in `zone`."""
    return when.astimezone().astimezone(zone)


def _server(local: dt.datetime) -> dt.datetime:
    """An aware time as naive server-local time (how the store keeps times)."""
    return local.astimezone().replace(tzinfo=None)


def _cap_wait(s, row: m.Outreach, zone, now: dt.datetime) -> Optional[dt.datetime]:
    """When the caps allow the next outreach to this patient, or None if they allow it now."""
    from bot.outreach.rules import send_time

    caps = _caps()
    local_now = _local(zone, now)
    day_start = _server(local_now.replace(hour=0, minute=0, second=0, microsecond=0))
    week_ago = now - dt.timedelta(days=7)
    sent = s.execute(select(m.Outreach.sent_at).where(
        m.Outreach.patient_id == row.patient_id, m.Outreach.status == "sent",
        m.Outreach.sent_at >= min(day_start, week_ago)).order_by(m.Outreach.sent_at)).scalars().all()
    today = [t for t in sent if t >= day_start]
    week = [t for t in sent if t > week_ago]  # sent within the last seven days
    later: Optional[dt.datetime] = None
    if len(today) >= caps["per_day"]:
        later = send_time(zone, (local_now + dt.timedelta(days=1)).date())
    if len(week) >= caps["per_week"]:
        free = week[len(week) - caps["per_week"]] + dt.timedelta(days=7)
        later = max(later or free, free)
    return later


def _deliver(s, row: m.Outreach, now: dt.datetime, worker: str) -> str:
    """Send one taken row, or decide it waits, is skipped or cancelled. The outcome word."""
    from bot.console.notices import can_text
    from bot.outreach.messages import render
    from bot.outreach.rules import in_waking_hours, next_waking, patient_zone, still_due
    from bot.sms.outbox import add_to_outbox
    from bot.sms.provider import phone_ref
    from bot.sms.segments import split_sms

    patient = s.get(m.Patient, row.patient_id)

    def close(status: str, reason: str) -> str:
        row.status, row.reason = status, reason
        log.info("outreach=%s rule=%s patient=%s %s (%s)", row.id, row.rule, row.patient_id, status, reason)
        return status

    if patient is None:
        return close("cancelled", "no such patient")
    if patient.outreach_paused:
        return close("skipped", "paused by the care team")
    if row.expires_at is not None and now >= row.expires_at:
        return close("cancelled", "too late")
    if row.channel == "sms" and not can_text(s, patient):
        return close("skipped", "no consent to texts, STOP, or no SMS provider")
    reason = still_due(s, row)
    if reason:
        return close("cancelled", reason)
    zone = patient_zone(patient)
    if row.channel == "sms" and not in_waking_hours(zone, now):
        row.send_after = next_waking(zone, now)
        return "waits (quiet hours)"
    later = _cap_wait(s, row, zone, now)
    if later is not None:
        if row.expires_at is not None and later >= row.expires_at:
            return close("skipped", "the daily or weekly limit; too late after it")
        row.send_after = later
        return "waits (daily or weekly limit)"
    message = render(s, row)
    if row.channel == "sms":
        add_to_outbox(s, patient.mobile_phone, split_sms(message.sms), now)
        session = s.get(m.SmsSession, patient.mobile_phone)
        if session is None:
            session = m.SmsSession(phone=patient.mobile_phone, opted_out=False, awaiting_dob=False, failures=0)
            s.add(session)
        # "1", "2", "3" in a reply pick these (bot/channels/sms.py)
        session.choices = json.dumps([reply_payload(kind) for _label, kind in message.choices]) \
            if message.choices else None
        session.updated_at = now
        row.conversation_id = phone_ref(patient.mobile_phone)
        row.body = message.sms
    else:
        s.add(m.PatientNotice(patient_id=patient.id, kind=f"outreach:{row.rule}", subject_id=str(row.id),
                              text=message.web, channel="web", created_at=now, created_by="outreach"))
        row.body = message.web
    row.status, row.sent_at, row.sent_by = "sent", now, worker
    s.add(m.AuditEvent(at=now, conversation_id=row.conversation_id, channel=row.channel, patient_id=patient.id,
                       record_kind="outreach", action=f"sent: {row.rule}"))
    log.info("outreach=%s rule=%s patient=%s sent (%s)", row.id, row.rule, row.patient_id, row.channel)
    return "sent"


def awaiting_reply(s, conversation_id: str, now: dt.datetime) -> Optional[m.Outreach]:
    """The last SMS outreach this conversation got, sent within REPLY_DAYS and not answered yet."""
    return s.execute(select(m.Outreach).where(
        m.Outreach.conversation_id == conversation_id, m.Outreach.status == "sent", m.Outreach.channel == "sms",
        m.Outreach.replied_at.is_(None), m.Outreach.sent_at >= now - dt.timedelta(days=REPLY_DAYS))
        .order_by(m.Outreach.sent_at.desc()).limit(1)).scalars().first()


def choice_kinds(rule: str) -> List[str]:
    """The reply kinds an outreach of this rule offers (its numbered choices), and yes and no."""
    from bot.outreach.rules import rules

    spec = (rules().get("rules") or {}).get(rule) or {}
    kinds = [str(c.get("kind")) for c in spec.get("choices") or [] if isinstance(c, dict)]
    return kinds + [k for k in ("yes", "no") if k not in kinds and k in (spec.get("answers") or {})]


def reply_payload(kind: str) -> str:
    """The message a numbered choice stands for: Rasa reads `/affirm{...}` as the intent with the
    `outreach_reply` entity (action_outreach_reply answers it)."""
    return "/affirm" + json.dumps({"outreach_reply": kind}, separators=(",", ":"))


def send_due(db, now: Optional[dt.datetime] = None, worker: Optional[str] = None, limit: int = 200,
             patient_ids: Optional[List[str]] = None) -> Dict[str, int]:
    """Take due rows one at a time (each in its own transaction) and send them; counts by outcome.
    `patient_ids`: only these patients' (a test on a shared store, or sending one patient's now)."""
    now = now or dt.datetime.now()
    worker = worker or worker_id()
    counts: Dict[str, int] = {}
    priority = case({rule: i for i, rule in enumerate(PRIORITY)}, value=m.Outreach.rule, else_=len(PRIORITY))
    skip_locked = db.engine.dialect.name == "postgresql"
    passed: List[int] = []  # rows that wait: not taken again in this pass
    for _ in range(limit):
        with db.session() as s:
            query = (select(m.Outreach).where(m.Outreach.status == "planned", m.Outreach.send_after <= now)
                     .order_by(m.Outreach.send_after, priority, m.Outreach.id).limit(1))
            if passed:
                query = query.where(m.Outreach.id.notin_(passed))
            if patient_ids is not None:
                query = query.where(m.Outreach.patient_id.in_(patient_ids))
            if skip_locked:
                query = query.with_for_update(skip_locked=True)
            row = s.execute(query).scalars().first()
            if row is None:
                break
            outcome = _deliver(s, row, now, worker)
            if row.status == "planned":
                passed.append(row.id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def record_in_conversations(db, rasa_url: str, token: str, limit: int = 50) -> int:
    """Add sent SMS outreach to the patient's SMS conversation in Rasa's tracker; how many were."""
    import requests

    with db.session() as s:
        rows = s.execute(select(m.Outreach.id, m.Outreach.conversation_id, m.Outreach.body, m.Outreach.sent_at)
                         .where(m.Outreach.status == "sent", m.Outreach.channel == "sms",
                                m.Outreach.recorded_at.is_(None), m.Outreach.conversation_id.isnot(None))
                         .order_by(m.Outreach.id).limit(limit)).all()
    done = 0
    for outreach_id, conversation, body, sent_at in rows:
        stamp = sent_at.timestamp() if sent_at else time.time()
        events = [{"event": "action", "name": "action_outreach", "timestamp": stamp},
                  {"event": "bot", "text": body, "timestamp": stamp,
                   "metadata": {"outreach_id": outreach_id}},
                  {"event": "slot", "name": "outreach_id", "value": str(outreach_id), "timestamp": stamp},
                  {"event": "action", "name": "action_listen", "timestamp": stamp}]
        try:
            answer = requests.post(f"{rasa_url.rstrip('/')}/conversations/{conversation}/tracker/events",
                                   params={"token": token, "include_events": "NONE"}, json=events, timeout=15)
        except requests.RequestException as exc:
            log.warning("outreach=%s not yet added to its conversation (%s); tried again", outreach_id,
                        type(exc).__name__)
            break
        if answer.status_code != 200:
            log.warning("outreach=%s not yet added to its conversation (HTTP %s); tried again", outreach_id,
                        answer.status_code)
            break
        with db.session() as s:
            row = s.get(m.Outreach, outreach_id)
            row.recorded_at = dt.datetime.now()
        done += 1
    return done


def counts_by_status(db) -> Dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(m.Outreach.status, func.count()).group_by(m.Outreach.status)).all())


def main(args: argparse.Namespace) -> int:
    """`carenav outreach run`: plan, send and record until stopped (or one pass with --once)."""
    from bot.outreach.rules import clinic_today, plan
    from bot.store.db import Database

    db = Database()
    db.check()
    rasa_url = os.environ.get("CARENAV_RASA_URL", "http://localhost:5005")
    token = os.environ.get("CARENAV_RASA_API_TOKEN", "")
    every = float(getattr(args, "every", 30) or 30)
    worker = worker_id()
    last_plan, last_day = 0.0, None
    print(f"carenav outreach worker {worker}: sending every {every:g} s (SQLite runs one worker; "
          "PostgreSQL any number)", flush=True)
    while True:
        try:
            now = dt.datetime.now()
            if last_day != now.date() or time.monotonic() - last_plan > PLAN_EVERY:
                planned = plan(db, today=clinic_today(now), now=now)
                last_plan, last_day = time.monotonic(), now.date()
                if planned:
                    log.info("outreach planned: %s", len(planned))
            counts = send_due(db, now=now, worker=worker)
            if counts:
                print(f"{now:%Y-%m-%d %H:%M:%S} outreach: "
                      + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())), flush=True)
            if token:
                record_in_conversations(db, rasa_url, token)
        except Exception as exc:  # noqa: BLE001 - logged; the next pass tries again
            log.error("outreach pass failed (%s)", type(exc).__name__)
            print(f"carenav outreach: a pass failed ({type(exc).__name__}); trying again", flush=True)
        if getattr(args, "once", False):
            return 0
        time.sleep(every)
