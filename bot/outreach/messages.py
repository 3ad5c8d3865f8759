"""What an outreach message says (bot/outreach/): `render()` writes a planned row's SMS and web
texts, its numbered reply choices and the answers to them from the store's current facts, in the
row's language, with bot/knowledge/outreach.yml's words; `reply_kind()` reads a free-text reply
("ya tengo cita" -> booked). Results are never given by value; on SMS not even by name. When and to
whom is bot/outreach/rules.py's."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from sqlalchemy import select

from bot.outreach.rules import LANGUAGES, _language, _overdue_steps, _reference, _spec, _t, _word, rules
from bot.store import models as m


@dataclass(frozen=True)
class Message:
    """What one outreach says, rendered in the row's language."""

    sms: str  # the full SMS: the clinic's name ... the numbered choices ... how to stop
    web: str  # the web variant (shown at the patient's next web visit)
    choices: List[Tuple[str, str]]  # the numbered SMS choices, in order: (label, reply kind)
    answers: Dict[str, str]  # reply kind -> the answer


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
