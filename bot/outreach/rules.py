"""Which messages the assistant sends first, when, and what they say.

`plan()` finds every outreach due today, rule by rule, with one set-based query per rule (no
query per patient), and inserts the new ones as `planned` rows: once per (patient, rule, subject,
due date), even when two planners run at once (PostgreSQL: INSERT ... ON CONFLICT DO NOTHING
RETURNING; SQLite: the write lock is taken before the existing rows are read). Patients who agreed
to texts (and have a mobile number, and did not send STOP) get an SMS; the others a message on
the web page at their next visit. A paused patient gets nothing.

When a row is sent, `still_due()` checks the reason still holds (the visit was not cancelled, the
referral not booked meanwhile...) and `render()` writes the message from the store's current
facts, in the row's language, with bot/knowledge/outreach.yml's words. Results are never given by
value; on SMS not even by name.

Times: the store keeps naive server-local times (`datetime.now()`); waking hours and the
preferred hour are in the patient's time zone (Patient.time_zone, else the clinic's:
CARENAV_TIME_ZONE, default America/New_York).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple
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


@dataclass(frozen=True)
class Message:
    """What one outreach says, rendered in the row's language."""

    sms: str  # the full SMS: the clinic's name ... the numbered choices ... how to stop
    web: str  # the web variant (shown at the patient's next web visit)
    choices: List[Tuple[str, str]]  # the numbered SMS choices, in order: (label, reply kind)
    answers: Dict[str, str]  # reply kind -> the answer


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


# ---- dates and words


def day_words(day: dt.date, language: str, sms: bool = False) -> str:
    """'Thursday, March 12' / 'jueves 12 de marzo' (by SMS, outreach.yml's day_sms)."""
    dates = rules()["dates"]
    form = _t(dates["day_sms" if sms and "day_sms" in dates else "day"], language)
    return form.format(weekday=_t(dates["weekdays"], language)[day.weekday()],
                       month=_t(dates["months"], language)[day.month - 1], day=day.day)


def when_words(moment: dt.datetime, language: str, sms: bool = False) -> str:
    """'Thursday, March 12 at 10:30 am' / 'el jueves 12 de marzo a las 10:30 a. m.'."""
    dates = rules()["dates"]
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    clock = _t(dates["time"], language).format(hour=moment.hour % 12 or 12, minutes=minutes,
                                               ampm=_t(dates["am" if moment.hour < 12 else "pm"], language))
    key = "when_one" if moment.hour % 12 == 1 else "when"
    return _t(dates[key], language).format(day=day_words(moment.date(), language, sms), time=clock)


def _specialty(name: Optional[str], language: str) -> str:
    if not name:
        return _word("a_specialist", language)
    return ((rules().get("specialties") or {}).get(language) or {}).get(name.lower(), name)


def _sentence(words: Optional[str]) -> str:
    """Trimmed, capitalised, ending with a full stop (a fact from the store used in a sentence)."""
    words = " ".join((words or "").split())
    if not words:
        return words
    words = words[0].upper() + words[1:]
    return words if words[-1] in ".!?" else words + "."


def _lower_first(words: str) -> str:
    """'Your insurance card' -> 'your insurance card' (not 'EKG', not 'Dr. Lee')."""
    return words[0].lower() + words[1:] if len(words) > 1 and words[1].islower() and words[:3] != "Dr." else words


def _clause(words: Optional[str]) -> str:
    """Trimmed, without the final full stop (a fact used inside a sentence)."""
    return " ".join((words or "").split()).rstrip(".")


PHONE = re.compile(r"(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}")


def _clinic_settings() -> Tuple[str, str]:
    from bot.settings import settings

    current = settings()
    return current.clinic_name, current.clinic_phone


@dataclass
class _Parts:
    values: Dict[str, Any]
    sms_fits: List[Dict[str, Any]] = field(default_factory=lambda: [{}])  # most complete first
    web_values: Dict[str, Any] = field(default_factory=dict)
    form: Optional[str] = None  # "one" | "many" for texts that have both


def _values_visit_prep(s, row, language: str, spec: dict, clinic_phone: str) -> _Parts:
    appt = s.get(m.Appointment, row.subject_id)
    clinic = appt.clinic if appt is not None else None
    provider = appt.provider if appt is not None else None
    place = (clinic.name if clinic else None) or (appt.location if appt else None) or _word("clinic_default", language)
    phone = (clinic.phone if clinic else None) or (provider.phone if provider else None) or clinic_phone
    preparation = appt.preparation if appt is not None else None
    if not preparation and appt is not None:
        referral = s.execute(select(m.Referral).where(m.Referral.appointment_id == appt.id)).scalars().first()
        if referral is not None and referral.what_to_bring:
            preparation = _t(spec["bring"], language).format(what=_lower_first(_clause(referral.what_to_bring)))
    preparation = _sentence(preparation or _t(spec["preparation_default"], language))
    questions = _t(spec["questions"][_visit_situation(appt, spec)], language)
    by_sms = row.channel == "sms"
    values = {
        "when": when_words(appt.starts_at, language, sms=by_sms) if appt is not None else "",
        "place": place, "phone": phone, "preparation": preparation,
        "kind": (appt.kind if appt is not None and appt.kind else None) or _word("visit", language),
        "with_whom": _t(spec["with_whom"], language).format(who=provider.name) if provider else "",
        "address": _t(spec["address"], language).format(address=clinic.address) if clinic and clinic.address else "",
    }
    most = int(spec.get("sms_questions", 2))
    sms_when = when_words(appt.starts_at, language, sms=True) if appt is not None else ""
    fits = [{"questions": " ".join(questions[:n]), "when": sms_when}
            for n in range(min(most, len(questions)), 0, -1)]
    web = "\n".join(f"{i}. {q}" for i, q in enumerate(questions[: int(spec.get("web_questions", 3))], 1))
    web_when = when_words(appt.starts_at, language) if appt is not None else ""
    return _Parts(values, fits or [{"questions": "", "when": sms_when}], {"questions": web, "when": web_when})


def _visit_situation(appt, spec: dict) -> str:
    kind = ((appt.kind if appt is not None else None) or "").lower()
    for entry in spec.get("situations") or []:
        if any(word in kind for word in entry["kind_words"]):
            return entry["situation"]
    specialty = ((appt.specialty if appt is not None else None) or "").lower()
    return "specialist visit" if specialty and specialty != "primary care" else "follow-up"


def _values_referral_not_scheduled(s, row, language: str, spec: dict, clinic_phone: str) -> _Parts:
    ref = s.get(m.Referral, row.subject_id)
    clinic = ref.receiving_clinic if ref is not None else None
    provider = ref.receiving_provider if ref is not None else None
    place = (clinic.name if clinic else None) or (provider.name if provider else None) or _word(
        "specialist_office", language)
    in_words = PHONE.search((ref.how_to_book if ref is not None else None) or "")
    phone = (in_words.group(0) if in_words else None) or (clinic.phone if clinic else None) or (
        provider.phone if provider else None) or clinic_phone
    how_to_book = _sentence(ref.how_to_book if ref is not None else None) or _word(
        "how_to_book_default", language, place=place, phone=phone)
    referrer = ref.referring_provider if ref is not None else None
    return _Parts({
        "place": place, "phone": phone, "to": place, "how_to_book": how_to_book,
        "specialty": _specialty(ref.specialty if ref is not None else None, language),
        "approved": day_words(ref.approved_on, language) if ref is not None and ref.approved_on else "",
        "what_to_bring": _sentence((ref.what_to_bring if ref is not None else None)
                                   or _word("what_to_bring_default", language)),
        "referrer": referrer.name if referrer else _word("your_doctor", language),
    })


def _values_overdue_steps(s, row, language: str, spec: dict, clinic_phone: str) -> _Parts:
    reference = _reference(row).date()
    steps = _overdue_steps(s, row.patient_id, reference)
    names = [_clause(step.description) for step in steps]
    most = int(spec.get("sms_steps", 2))
    fits = [{"steps": "; ".join(names[:n])} for n in range(min(most, len(names)), 0, -1)] or [{"steps": ""}]
    shown = steps[: int(spec.get("web_steps", 2))]
    lines = [f"• {_t(spec['step_web'], language).format(description=_clause(step.description), due=day_words(step.due_date, language))}"  # noqa: E501
             for step in shown]
    if len(steps) > len(shown):
        lines.append(_word("more", language, count=len(steps) - len(shown)))
    return _Parts({"count": len(steps), "steps": fits[0]["steps"]}, fits, {"steps": "\n".join(lines)},
                  form="one" if len(steps) == 1 else "many")


def _values_results_ready(s, row, language: str, spec: dict, clinic_phone: str) -> _Parts:
    result = s.get(m.TestResult, row.subject_id)
    provider = result.ordering_provider if result is not None else None
    return _Parts({
        "test": result.name if result is not None else "",  # the name (web only), never the value
        "provider": provider.name if provider else _word("your_provider", language),
        "phone": (provider.phone if provider else None) or clinic_phone,
    })


def _values_discharge_checkin(s, row, language: str, spec: dict, clinic_phone: str) -> _Parts:
    stay = s.get(m.HospitalStay, row.subject_id)
    after = max(_reference(row), dt.datetime.combine(stay.discharged_on, dt.time())
                if stay is not None and stay.discharged_on else _reference(row))
    visit = s.execute(select(m.Appointment).where(m.Appointment.patient_id == row.patient_id,
                                                  m.Appointment.status == "booked", m.Appointment.starts_at >= after)
                      .order_by(m.Appointment.starts_at)).scalars().first()
    if visit is not None:
        place = (visit.clinic.name if visit.clinic else None) or visit.location or _word("clinic_default", language)
        followup = _t(spec["followup"], language).format(when=when_words(visit.starts_at, language), place=place)
    else:
        followup = _t(spec["no_followup"], language).format(clinic_phone=clinic_phone)
    facility = (stay.facility if stay is not None else None) or _t(spec["facility_default"], language)
    return _Parts({"facility": facility, "followup": followup})


def _values_report_back(s, row, language: str, spec: dict, clinic_phone: str) -> _Parts:
    ref = s.get(m.Referral, row.subject_id)
    referrer = ref.referring_provider if ref is not None else None
    who = ref.receiving_provider if ref is not None else None
    next_steps = _sentence(ref.report_next_steps if ref is not None else None) or _t(
        spec["next_steps_default"], language).format(
        referrer=referrer.name if referrer else _word("your_doctor", language))
    return _Parts({
        "specialty": _specialty(ref.specialty if ref is not None else None, language),
        "with_whom": _t(spec["with_whom"], language).format(who=who.name) if who else "",
        "next_steps": next_steps,
    })


VALUES: Dict[str, Callable[..., _Parts]] = {
    "visit_prep": _values_visit_prep,
    "referral_not_scheduled": _values_referral_not_scheduled,
    "overdue_steps": _values_overdue_steps,
    "results_ready": _values_results_ready,
    "discharge_checkin": _values_discharge_checkin,
    "report_back": _values_report_back,
}


def _form(entry: dict, form: Optional[str]) -> dict:
    return entry[form] if form and form in entry else entry


def render(session, row) -> Message:
    """The message for this row, from the store's current facts, in the row's language (English
    when it has no other)."""
    from bot.sms.segments import split_sms

    cfg = rules()
    language = _language(row.language)
    spec = _spec(row.rule)
    clinic, clinic_phone = _clinic_settings()
    parts = VALUES[row.rule](session, row, language, spec, clinic_phone)
    values = {"clinic": clinic, "clinic_phone": clinic_phone, **parts.values}
    choices = [(str(_t(c, language)), str(c["kind"])) for c in spec.get("choices") or []]
    frame = cfg["frame"]
    choice_line = _t(frame["choices"], language).format(list=", ".join(
        _t(frame["choice"], language).format(number=i, label=label) for i, (label, _kind) in enumerate(choices, 1)))
    template = _t(_form(spec["sms"], parts.form), language)
    most = int(cfg.get("sms_max_segments", 2))
    sms = ""
    for fit in parts.sms_fits:
        body = template.format(**{**values, **fit}) + (" " + choice_line if choices else "")
        sms = _t(frame["sms"], language).format(clinic=clinic, message=body)
        if len(split_sms(sms)) <= most:
            break
    web = _t(_form(spec["web"], parts.form), language).format(**{**values, **parts.web_values})
    answers = {str(kind): _t(entry, language).format(**values) for kind, entry in (spec.get("answers") or {}).items()}
    return Message(sms=sms, web=web, choices=choices, answers=answers)


# ---------------------------------------------------------------------------------------------
# free-text replies


def _plain(words: str) -> str:
    decomposed = unicodedata.normalize("NFKD", words.lower())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("’", "'")
    return " ".join(re.sub(r"[^a-z0-9']+", " ", bare).split())


@lru_cache(maxsize=1)
def _keywords() -> List[Tuple[str, str]]:
    """(plain keyword, reply kind), longest first (the YAML's order of kinds breaks ties)."""
    pairs: List[Tuple[str, str]] = []
    for kind, by_language in (rules().get("reply_keywords") or {}).items():
        for language in LANGUAGES:
            for keyword in (by_language or {}).get(language) or []:
                pairs.append((_plain(str(keyword)), str(kind)))
    order = {kind: i for i, kind in enumerate(rules().get("reply_keywords") or {})}
    return sorted(set(pairs), key=lambda p: (-len(p[0]), order[p[1]]))


def reply_kind(words: str, allowed: Optional[Sequence[str]] = None) -> Optional[str]:
    """The reply kind a free-text answer to an outreach stands for ("ya tengo cita" -> booked), by
    outreach.yml's keywords in any language; None when none is found. `allowed` limits the kinds."""
    plain = f" {_plain(words or '')} "
    for keyword, kind in _keywords():
        if keyword and f" {keyword} " in plain and (allowed is None or kind in allowed):
            return kind
    return None
