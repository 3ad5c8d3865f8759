"""Which messages the assistant sends first, when, and what they say.

`plan()` finds every outreach due today, rule by rule, with one set-based query per rule (no
query per patient), and inserts the new ones as `planned` rows: once per (patient, rule, subject,
due date), even when two planners run at once (PostgreSQL: INSERT ... ON CONFLICT DO NOTHING
RETURNING; SQLite: the write lock is taken before the existing rows are read). Patients who agreed
to texts (and have a mobile number, and did not send STOP) get an SMS; the others a message on
the web page at their next visit. A paused patient gets nothing.

When a row is sent, `still_due()` checks the reason still holds (the visit was not cancelled, the
referral not booked meanwhile...); what it says is bot/outreach/messages.py's (`render()`).

Times: the store keeps naive server-local times (`datetime.now()`); waking hours and the
preferred hour are in the patient's time zone (Patient.time_zone, else the clinic's:
CARENAV_TIME_ZONE, default America/New_York).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy import exists, func, insert, or_, select, text, true
from sqlalchemy.exc import IntegrityError

from bot.store import models as m

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "outreach.yml"
RULE_NAMES = ("visit_prep", "referral_not_scheduled", "overdue_steps", "results_ready", "discharge_checkin",
              "report_back")
REPLY_KINDS = ("yes", "booked", "question", "no", "fine", "worse")
LANGUAGES = ("en", "es")
DEFAULT_TIME_ZONE = "America/New_York"
VISIT_STATUSES = ("booked", "arrived", "fulfilled")  # an appointment that is (or was) happening
DONE_STEP_STATUSES = ("completed", "cancelled")
BOOKED_REFERRAL_STATUSES = ("scheduled", "completed")
INSERT_CHUNK = 1000


# ---------------------------------------------------------------------------------------------
# the rules file


@lru_cache(maxsize=1)
def rules() -> dict:
    """bot/knowledge/outreach.yml, parsed and checked (cached)."""
    raw = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8")) or {}
    problems: List[str] = []
    for key in ("waking_hours", "send_at", "caps", "frame", "reply_keywords", "dates", "words", "rules"):
        if key not in raw:
            problems.append(f"missing {key!r}")
    for name in RULE_NAMES:
        spec = (raw.get("rules") or {}).get(name)
        if not isinstance(spec, dict):
            problems.append(f"no rule {name!r}")
            continue
        for variant in ("sms", "web"):
            entry = spec.get(variant) or {}
            forms = [entry[f] for f in ("one", "many") if f in entry] or [entry]
            if any(not isinstance(f, dict) or any(lang not in f for lang in LANGUAGES) for f in forms):
                problems.append(f"{name}: {variant} needs en and es")
        answers = spec.get("answers") or {}
        for choice in spec.get("choices") or []:
            if choice.get("kind") not in REPLY_KINDS or choice["kind"] not in answers:
                problems.append(f"{name}: choice {choice!r} has no known kind with an answer")
        for kind in answers:
            if kind not in REPLY_KINDS:
                problems.append(f"{name}: answer for unknown reply kind {kind!r}")
    for kind in raw.get("reply_keywords") or {}:
        if kind not in REPLY_KINDS:
            problems.append(f"reply_keywords: unknown reply kind {kind!r}")
    if problems:
        raise ValueError(f"{RULES_FILE}: " + "; ".join(problems))
    return raw


def _clock(value: str) -> dt.time:
    hour, minute = str(value).split(":")
    return dt.time(int(hour), int(minute))


@lru_cache(maxsize=1)
def _hours() -> Tuple[dt.time, dt.time, dt.time]:
    """(waking hours start, end, the preferred send time)."""
    cfg = rules()
    return _clock(cfg["waking_hours"]["start"]), _clock(cfg["waking_hours"]["end"]), _clock(cfg["send_at"])


def _spec(rule: str) -> dict:
    return rules()["rules"][rule]


def _t(entry: Any, language: str) -> Any:
    """An entry's words in `language`, else English."""
    if isinstance(entry, dict):
        return entry.get(language) or entry["en"]
    return entry


def _word(key: str, language: str, **values: Any) -> str:
    words = _t(rules()["words"][key], language)
    return words.format(**values) if values else words


def _language(value: Optional[str]) -> str:
    code = (value or "en").strip().lower()[:2]
    return code if code in LANGUAGES else "en"


# ---------------------------------------------------------------------------------------------
# time zones and waking hours


@lru_cache(maxsize=512)
def _zone(name: str) -> Optional[ZoneInfo]:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def clinic_zone() -> ZoneInfo:
    """The clinic's time zone: CARENAV_TIME_ZONE (an IANA name), default America/New_York."""
    name = (os.environ.get("CARENAV_TIME_ZONE") or "").strip() or DEFAULT_TIME_ZONE
    zone = _zone(name)
    if zone is None:
        log.warning("CARENAV_TIME_ZONE %r is not a known time zone; using %s", name, DEFAULT_TIME_ZONE)
        zone = _zone(DEFAULT_TIME_ZONE)
    assert zone is not None
    return zone


def _zone_named(name: Optional[str]) -> ZoneInfo:
    return (_zone(name.strip()) if name and name.strip() else None) or clinic_zone()


def patient_zone(patient) -> ZoneInfo:
    """The patient's time zone (Patient.time_zone), else the clinic's."""
    return _zone_named(getattr(patient, "time_zone", None))


def clinic_today(now: Optional[dt.datetime] = None) -> dt.date:
    """Today's date at the clinic (now: naive server-local time)."""
    return (now or dt.datetime.now()).astimezone(clinic_zone()).date()


def _server(moment: dt.datetime) -> dt.datetime:
    """An aware time as naive server-local time (how the store keeps times)."""
    return moment.astimezone().replace(tzinfo=None)


def in_waking_hours(zone: ZoneInfo, now: dt.datetime) -> bool:
    """`now` (naive server-local) is between the start and the end of waking hours in `zone`."""
    start, end, _ = _hours()
    local = now.astimezone(zone).time()
    return start <= local < end


def next_waking(zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """The first naive server-local time at or after `now` inside waking hours in `zone`."""
    if in_waking_hours(zone, now):
        return now
    start, _, _ = _hours()
    local = now.astimezone(zone)
    day = local.date() if local.time() < start else local.date() + dt.timedelta(days=1)
    return _server(dt.datetime.combine(day, start, tzinfo=zone))


def send_time(zone: ZoneInfo, day: dt.date) -> dt.datetime:
    """The preferred time of day to send (outreach.yml's send_at) on `day` in `zone`, as naive
    server-local time."""
    return _server(dt.datetime.combine(day, _hours()[2], tzinfo=zone))


# ---------------------------------------------------------------------------------------------
# planning

# what every rule's query returns about the patient
_PATIENT = (m.Patient.id, m.Patient.sms_consent, m.Patient.mobile_phone, m.Patient.time_zone,
            m.Patient.preferred_language)
# a rule's finding: the patient's columns, then subject id, due date, and when it expires (a
# naive server-local datetime; a date: midnight starting that day in the patient's time zone)
Found = Tuple[Any, ...]


def _from_patients(query):
    return query.where(m.Patient.outreach_paused.isnot(True))


def _booked_after_approval():
    """An appointment of the referral's specialty booked on or after its approval (the patient
    booked; the referral's own record may not say so yet)."""
    return exists().where(m.Appointment.patient_id == m.Referral.patient_id,
                          m.Appointment.specialty == m.Referral.specialty,
                          m.Appointment.status.in_(VISIT_STATUSES),
                          m.Appointment.starts_at >= m.Referral.approved_on)


def _overdue_step(patient_id_column, day: dt.date):
    """The patient's own open care-plan steps due before `day`."""
    return (m.CareActivity.patient_id == patient_id_column,
            or_(m.CareActivity.responsible.is_(None), func.lower(m.CareActivity.responsible) == "you"),
            m.CareActivity.status.notin_(DONE_STEP_STATUSES),
            m.CareActivity.due_date.isnot(None), m.CareActivity.due_date < day)


def _find_visit_prep(s, spec: dict, today: dt.date, now: dt.datetime) -> Iterator[Found]:
    before, late = int(spec["days_before"]), int(spec.get("late_days", 0))
    first = max(now, dt.datetime.combine(today + dt.timedelta(days=before - late), dt.time()))
    last = dt.datetime.combine(today + dt.timedelta(days=before + 1), dt.time())
    query = _from_patients(select(*_PATIENT, m.Appointment.id, m.Appointment.starts_at)
                           .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
                           .where(m.Appointment.status.in_(spec["statuses"]), m.Appointment.starts_at > first,
                                  m.Appointment.starts_at < last))
    for *patient, appointment_id, starts_at in s.execute(query):
        yield (*patient, appointment_id, starts_at.date() - dt.timedelta(days=before), starts_at)


def _find_referral_not_scheduled(s, spec: dict, today: dt.date, now: dt.datetime) -> Iterator[Found]:
    days: Dict[str, int] = {str(k): int(v) for k, v in spec["days_after_approval"].items()}
    late = int(spec.get("late_days", 0))
    query = _from_patients(
        select(*_PATIENT, m.Referral.id, m.Referral.approved_on, m.Referral.priority)
        .join(m.Patient, m.Patient.id == m.Referral.patient_id)
        .where(m.Referral.status.in_(spec["statuses"]), m.Referral.appointment_id.is_(None),
               m.Referral.approved_on >= today - dt.timedelta(days=max(days.values()) + late),
               m.Referral.approved_on <= today - dt.timedelta(days=min(days.values())),
               ~_booked_after_approval()))
    for *patient, referral_id, approved_on, priority in s.execute(query):
        due = approved_on + dt.timedelta(days=days.get((priority or "routine").lower(), days["routine"]))
        if today - dt.timedelta(days=late) <= due <= today:
            yield (*patient, referral_id, due, None)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _find_overdue_steps(s, spec: dict, today: dt.date, now: dt.datetime) -> Iterator[Found]:
    monday = today - dt.timedelta(days=today.weekday())
    query = _from_patients(select(*_PATIENT).where(exists().where(*_overdue_step(m.Patient.id, today))))
    for patient in s.execute(query):
        yield (*patient, iso_week(today), monday, monday + dt.timedelta(days=7))


def _find_results_ready(s, spec: dict, today: dt.date, now: dt.datetime) -> Iterator[Found]:
    window = int(spec["window_days"])
    query = _from_patients(select(*_PATIENT, m.TestResult.id, m.TestResult.resulted_on)
                           .join(m.Patient, m.Patient.id == m.TestResult.patient_id)
                           .where(m.TestResult.released_to_patient == true(),
                                  m.TestResult.resulted_on >= today - dt.timedelta(days=window),
                                  m.TestResult.resulted_on <= today))
    for *patient, result_id, resulted_on in s.execute(query):
        yield (*patient, result_id, resulted_on, None)


def _find_discharge_checkin(s, spec: dict, today: dt.date, now: dt.datetime) -> Iterator[Found]:
    offsets = [int(d) for d in spec["days_after"]]
    late = int(spec.get("late_days", 0))
    query = _from_patients(select(*_PATIENT, m.HospitalStay.id, m.HospitalStay.discharged_on)
                           .join(m.Patient, m.Patient.id == m.HospitalStay.patient_id)
                           .where(m.HospitalStay.discharged_on >= today - dt.timedelta(days=max(offsets) + late),
                                  m.HospitalStay.discharged_on <= today - dt.timedelta(days=min(offsets))))
    for *patient, stay_id, discharged_on in s.execute(query):
        for offset in offsets:
            due = discharged_on + dt.timedelta(days=offset)
            if today - dt.timedelta(days=late) <= due <= today:
                yield (*patient, stay_id, due, due + dt.timedelta(days=late + 1))


def _report_told():
    """The console already told the patient about this report (bot/console/queues.record_report)."""
    return exists().where(m.PatientNotice.patient_id == m.Referral.patient_id,
                          m.PatientNotice.kind == "report_back", m.PatientNotice.subject_id == m.Referral.id)


def _find_report_back(s, spec: dict, today: dt.date, now: dt.datetime) -> Iterator[Found]:
    window = int(spec["window_days"])
    query = _from_patients(
        select(*_PATIENT, m.Referral.id, m.Referral.report_recorded_at)
        .join(m.Patient, m.Patient.id == m.Referral.patient_id)
        .where(m.Referral.report_received == true(), m.Referral.report_recorded_at.isnot(None),
               m.Referral.report_recorded_at >= dt.datetime.combine(today - dt.timedelta(days=window), dt.time()),
               m.Referral.report_recorded_at < dt.datetime.combine(today + dt.timedelta(days=1), dt.time()),
               ~_report_told()))
    for *patient, referral_id, recorded_at in s.execute(query):
        yield (*patient, referral_id, recorded_at.date(), None)


FINDERS: Dict[str, Callable[..., Iterator[Found]]] = {
    "visit_prep": _find_visit_prep,
    "referral_not_scheduled": _find_referral_not_scheduled,
    "overdue_steps": _find_overdue_steps,
    "results_ready": _find_results_ready,
    "discharge_checkin": _find_discharge_checkin,
    "report_back": _find_report_back,
}

Key = Tuple[str, str, str, dt.date]


def _candidates(db, today: dt.date, now: dt.datetime) -> Dict[Key, dict]:
    """Every outreach due today (not yet checked against the rows already planned)."""
    found: Dict[Key, dict] = {}
    zones: Dict[Optional[str], ZoneInfo] = {}
    sends: Dict[Tuple[Optional[str], dt.date], dt.datetime] = {}
    waking: Dict[Optional[str], dt.datetime] = {}
    with db.session() as s:
        opted_out = set(s.execute(select(m.SmsSession.phone).where(m.SmsSession.opted_out == true())).scalars())
        for rule, finder in FINDERS.items():
            for pid, consent, phone, zone_name, language, subject, due, expires in finder(s, _spec(rule), today, now):
                zone = zones.get(zone_name)
                if zone is None:
                    zone = zones[zone_name] = _zone_named(zone_name)
                day = max(due, today)
                send_after = sends.get((zone_name, day))
                if send_after is None:
                    send_after = sends[(zone_name, day)] = send_time(zone, day)
                if send_after < now:
                    send_after = waking.get(zone_name) or waking.setdefault(zone_name, next_waking(zone, now))
                if isinstance(expires, dt.date) and not isinstance(expires, dt.datetime):
                    expires = _server(dt.datetime.combine(expires, dt.time(), tzinfo=zone))
                if expires is not None and send_after >= expires:
                    continue  # too late for this one
                key = (pid, rule, str(subject), due)
                found[key] = {"patient_id": pid, "rule": rule, "subject_id": str(subject), "due_date": due,
                              "send_after": send_after, "expires_at": expires,
                              "channel": "sms" if consent and phone and phone not in opted_out else "web",
                              "language": language or "en", "status": "planned", "planned_at": now}
    return found


def _existing(s, since: dt.date) -> set:
    rows = s.execute(select(m.Outreach.patient_id, m.Outreach.rule, m.Outreach.subject_id, m.Outreach.due_date)
                     .where(m.Outreach.due_date >= since))
    return {tuple(row) for row in rows}


def _insert_new(s, rows: List[dict], dialect: str) -> List[dict]:
    """Insert the rows that are not there yet; the ones this call inserted."""
    if not rows:
        return []
    table = m.Outreach.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        inserted: set = set()
        for start in range(0, len(rows), INSERT_CHUNK):
            statement = (pg_insert(table).values(rows[start:start + INSERT_CHUNK])
                         .on_conflict_do_nothing(constraint="uq_outreach")
                         .returning(table.c.patient_id, table.c.rule, table.c.subject_id, table.c.due_date))
            inserted.update(tuple(r) for r in s.execute(statement))
        return [r for r in rows if (r["patient_id"], r["rule"], r["subject_id"], r["due_date"]) in inserted]
    if dialect == "sqlite":  # the write lock is held (_lock_for_planning): nobody else inserts meanwhile
        s.execute(insert(table), rows)
        return rows
    done = []
    for row in rows:  # any other database: one savepoint per row
        try:
            with s.begin_nested():
                s.execute(insert(table), row)
            done.append(row)
        except IntegrityError:
            pass
    return done


def _lock_for_planning(s, dialect: str) -> None:
    """SQLite: take the database's write lock first, so that the rows read next are all there are
    until this planner commits (two planners then run one after the other)."""
    if dialect == "sqlite":
        s.execute(text("UPDATE outreach SET id = id WHERE 0 = 1"))


def plan(db, today: Optional[dt.date] = None, now: Optional[dt.datetime] = None,
         dry_run: bool = False) -> List[dict]:
    """Plan every outreach due today that is not planned yet; one dict per new row:
    patient_id, rule, send_after (ISO), channel, subject_id, due_date (ISO). With `dry_run`
    nothing is written: what would be planned.

    `now` is naive server-local time (default: now; with only `today`, today at the current time
    of day); `today` defaults to the clinic's date at `now`."""
    if now is None:
        now = dt.datetime.now() if today is None else dt.datetime.combine(today, dt.datetime.now().time())
    today = today or clinic_today(now)
    found = _candidates(db, today, now)
    if not found:
        return []
    since = min(key[3] for key in found)
    dialect = db.engine.dialect.name
    with db.session() as s:
        if not dry_run:
            _lock_for_planning(s, dialect)
        existing = _existing(s, since)
        fresh = [found[key] for key in sorted(found) if key not in existing]
        new = fresh if dry_run else _insert_new(s, fresh, dialect)
    out = [{"patient_id": r["patient_id"], "rule": r["rule"], "channel": r["channel"],
            "send_after": r["send_after"].isoformat(timespec="seconds"), "subject_id": r["subject_id"],
            "due_date": r["due_date"].isoformat()} for r in new]
    out.sort(key=lambda o: (o["send_after"], o["patient_id"], o["rule"], o["subject_id"]))
    log.info("outreach %s: %s rows (%s candidates)", "dry run" if dry_run else "planned", len(out), len(found))
    return out


# ---------------------------------------------------------------------------------------------
# at send time: still due? what does it say?


def _reference(row) -> dt.datetime:
    """The moment a row's message is about: when it is sent (its send_after, which the worker
    moves on when it waits)."""
    return row.send_after or dt.datetime.now()


def still_due(session, row) -> Optional[str]:
    """None if the reason for this outreach still holds, else why not (a short phrase)."""
    s = session
    if row.rule == "visit_prep":
        appt = s.get(m.Appointment, row.subject_id)
        if appt is None:
            return "appointment not found"
        if appt.status == "cancelled":
            return "appointment cancelled"
        if appt.status not in _spec("visit_prep")["statuses"]:
            return f"appointment {appt.status}"
        if appt.starts_at.date() - dt.timedelta(days=int(_spec("visit_prep")["days_before"])) != row.due_date:
            return "appointment moved"
        return None
    if row.rule == "referral_not_scheduled":
        ref = s.get(m.Referral, row.subject_id)
        if ref is None:
            return "referral not found"
        if ref.status in BOOKED_REFERRAL_STATUSES or ref.appointment_id:
            return "referral booked"
        if ref.status not in _spec("referral_not_scheduled")["statuses"]:
            return f"referral {ref.status}"
        if s.execute(select(_booked_after_approval().where(m.Referral.id == ref.id))).scalar():
            return "referral booked"
        return None
    if row.rule == "overdue_steps":
        if not _overdue_steps(s, row.patient_id, _reference(row).date()):
            return "already done"
        return None
    if row.rule == "results_ready":
        result = s.get(m.TestResult, row.subject_id)
        if result is None:
            return "result not found"
        if not result.released_to_patient:
            return "result withdrawn"
        return None
    if row.rule == "discharge_checkin":
        stay = s.get(m.HospitalStay, row.subject_id)
        if stay is None:
            return "hospital stay not found"
        offsets = {int(d) for d in _spec("discharge_checkin")["days_after"]}
        if stay.discharged_on is None or (row.due_date - stay.discharged_on).days not in offsets:
            return "discharge date changed"
        return None
    if row.rule == "report_back":
        ref = s.get(m.Referral, row.subject_id)
        if ref is None:
            return "referral not found"
        if not ref.report_received or ref.report_recorded_at is None:
            return "report withdrawn"
        if s.execute(select(_report_told().where(m.Referral.id == ref.id))).scalar():
            return "already told"
        return None
    return "unknown rule"


def _overdue_steps(s, patient_id: str, day: dt.date) -> List[m.CareActivity]:
    return list(s.execute(select(m.CareActivity).where(*_overdue_step(patient_id, day))
                          .order_by(m.CareActivity.due_date, m.CareActivity.id)).scalars())

