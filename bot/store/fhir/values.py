"""Reading FHIR values: text of concepts and codes, dates, names, addresses, phones, quantities, doses."""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Optional

from bot.store.fhir.reasons import ICD10_SYSTEMS, SNOMED

log = logging.getLogger(__name__)

_SEMANTIC_TAG = re.compile(
    r"\s*\((?:disorder|procedure|finding|situation|regime/therapy|observable entity|qualifier value|"
    r"occupation|record artifact|person|morphologic abnormality|body structure|substance|"
    r"physical object|environment|event|product|medicinal product)\)\s*$",
    re.IGNORECASE,
)


def _clean(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    cleaned = _SEMANTIC_TAG.sub("", " ".join(str(text).split())).strip()
    return cleaned or None


class _TextConcept:
    """A reason known only by a reference's display text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.coding: list = []


def _concept_text(concept, require_words: bool = False) -> Optional[str]:
    if concept is None:
        return None
    if concept.text:
        return _clean(concept.text)
    for coding in concept.coding or ():
        if coding.display:
            return _clean(coding.display)
    if require_words:
        return None
    return next((c.code for c in concept.coding or () if c.code), None)


def _codings(concept) -> list[tuple[Optional[str], Optional[str]]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in concept.coding or ()]


def _first_code(concept) -> Optional[str]:
    if concept is None:
        return None
    return next((c.code for c in concept.coding or () if c.code), None)


def _primary_code(concept) -> Optional[str]:
    """The SNOMED or ICD-10 code when there is one, else the first code."""
    codings = _codings(concept)
    for system, code in codings:
        if code and (system == SNOMED or system in ICD10_SYSTEMS):
            return code
    return next((code for _s, code in codings if code), None)


def _ref_text(reference) -> Optional[str]:
    return getattr(reference, "reference", None) if reference is not None else None


def _as_date(value) -> Optional[date]:
    """The calendar date as written in the resource (no time-zone shift); None for partial dates."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def _wall_clock(value) -> Optional[datetime]:
    """The local time as written (an appointment at 09:00-05:00 is stored as 09:00)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def _is_future(value, now: datetime) -> bool:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value > now.astimezone().replace(tzinfo=None)
        return value > now
    if isinstance(value, date):
        return value > now.astimezone().date()
    return False


def _ended(period, now: datetime) -> bool:
    end = getattr(period, "end", None) if period is not None else None
    return end is not None and not _is_future(end, now)


def _pick_name(names):
    if not names:
        return None
    for use in ("official", "usual", None):
        for name in names:
            if name.use == use and not _ended(name.period, datetime.now(timezone.utc)):
                return name
    return names[0]


def _human_name(names, with_prefix: bool = False) -> Optional[str]:
    name = _pick_name(names)
    if name is None:
        return None
    if name.text and not (name.given or name.family):
        return _clean(name.text)
    parts = (list(name.prefix or []) if with_prefix else []) + list(name.given or []) + (
        [name.family] if name.family else [])
    return " ".join(p for p in parts if p) or None


def _address(address) -> Optional[str]:
    if address is None:
        return None
    if address.text:
        return " ".join(address.text.split())
    street = ", ".join(address.line or [])
    region = " ".join(p for p in (address.state, address.postalCode) if p)
    return ", ".join(p for p in (street, address.city, region) if p) or None


def _phone(telecoms) -> Optional[str]:
    phones = [t for t in telecoms or () if t.system == "phone" and t.value]
    phones.sort(key=lambda t: {"work": 0, None: 1}.get(t.use, 2))
    return phones[0].value.strip() if phones else None


def _e164(raw: str, default_country_code: str = "1") -> Optional[str]:
    """A phone number in E.164 (+15551234567), or None when it cannot be told for sure."""
    text = raw.strip()
    if re.search(r"[A-Za-z]", re.sub(r"^tel:", "", text)):
        return None  # an extension or a vanity number: leave it out rather than guess
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or text.startswith("tel:+"):
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if text.startswith("00") and 10 <= len(digits) - 2 <= 15:
        return f"+{digits[2:]}"
    if default_country_code == "1":
        if len(digits) == 10 and digits[0] not in "01":
            return f"+1{digits}"
        if len(digits) == 11 and digits[0] == "1" and digits[1] not in "01":
            return f"+{digits}"
    return None


def _mobile_e164(telecoms) -> Optional[str]:
    """Only a number marked mobile (or an SMS contact): a home line is no way to reach or identify."""
    for telecom in telecoms or ():
        if telecom.value and (telecom.system == "sms" or (telecom.system == "phone" and telecom.use == "mobile")):
            if not _ended(telecom.period, datetime.now(timezone.utc)):
                number = _e164(telecom.value)
                if number:
                    return number
    return None


def _language(communications) -> Optional[str]:
    """The preferred language's primary tag (en-US -> en), or None when not given."""
    if not communications:
        return None
    chosen = next((c for c in communications if c.preferred), communications[0])
    concept = chosen.language
    code = next((c.code for c in concept.coding or () if c.code), None) if concept else None
    if code:
        return code.split("-")[0].lower()[:16]
    return None


def _number(value) -> str:
    """A measured value as people write it: no float noise, no trailing zeros."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    magnitude = abs(number)
    places = 1 if magnitude >= 100 else 2 if magnitude >= 1 else None
    if places is None:
        text = f"{float(number):.3g}"
    else:
        text = f"{number:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def _quantity(quantity) -> tuple[Optional[str], Optional[str]]:
    if quantity is None or quantity.value is None:
        return None, None
    comparator = quantity.comparator or ""
    return f"{comparator}{_number(quantity.value)}", quantity.unit or quantity.code


def _observation_value(observation) -> tuple[Optional[str], Optional[str]]:
    value, unit = _value_x(observation)
    if value is not None:
        return value, unit
    parts, units = [], set()
    for component in observation.component or ():
        part, part_unit = _value_x(component)
        if part is None:
            return None, None  # a panel with a missing part (e.g. data-absent): not a value to show
        parts.append(part)
        units.add(part_unit)
    if parts:
        return "/".join(parts), (units.pop() if len(units) == 1 else None)
    return None, None


def _value_x(element) -> tuple[Optional[str], Optional[str]]:
    if getattr(element, "valueQuantity", None) is not None:
        return _quantity(element.valueQuantity)
    if getattr(element, "valueCodeableConcept", None) is not None:
        return _concept_text(element.valueCodeableConcept), None
    if getattr(element, "valueString", None):
        return element.valueString.strip(), None
    if getattr(element, "valueBoolean", None) is not None:
        return ("yes" if element.valueBoolean else "no"), None
    if getattr(element, "valueInteger", None) is not None:
        return str(element.valueInteger), None
    if getattr(element, "valueRange", None) is not None:
        low, unit = _quantity(element.valueRange.low)
        high, high_unit = _quantity(element.valueRange.high)
        if low or high:
            return f"{low or ''}-{high or ''}", unit or high_unit
    if getattr(element, "valueRatio", None) is not None:
        numerator, unit = _quantity(element.valueRatio.numerator)
        denominator, _ = _quantity(element.valueRatio.denominator)
        if numerator and denominator:
            return f"{numerator}/{denominator}", unit
    return None, None


def _reference_range(ranges) -> Optional[str]:
    for rng in ranges or ():
        if rng.text:
            return rng.text
        low, unit = _quantity(rng.low)
        high, high_unit = _quantity(rng.high)
        if low and high:
            return f"{low}-{high} {unit or high_unit or ''}".strip()
        if low:
            return f">= {low} {unit or ''}".strip()
        if high:
            return f"<= {high} {high_unit or ''}".strip()
    return None


def _goal_target(target) -> Optional[str]:
    measure = _concept_text(target.measure)
    detail = None
    if target.detailQuantity is not None:
        value, unit = _quantity(target.detailQuantity)
        detail = f"{value} {unit or ''}".strip() if value else None
    elif target.detailRange is not None:
        low, unit = _quantity(target.detailRange.low)
        high, high_unit = _quantity(target.detailRange.high)
        detail = f"{low or ''}-{high or ''} {unit or high_unit or ''}".strip() if (low or high) else None
    elif target.detailString:
        detail = target.detailString
    elif target.detailCodeableConcept is not None:
        detail = _concept_text(target.detailCodeableConcept)
    elif target.detailInteger is not None:
        detail = str(target.detailInteger)
    elif target.detailBoolean is not None:
        detail = "yes" if target.detailBoolean else "no"
    if measure and detail:
        return f"{measure}: {detail}"
    return detail or measure


_TIMING_UNITS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month",
                 "a": "year"}


def _dose_and_schedule(dosages) -> tuple[Optional[str], Optional[str]]:
    if not dosages:
        return None, None
    dosage = dosages[0]
    dose = None
    for dose_and_rate in dosage.doseAndRate or ():
        if dose_and_rate.doseQuantity is not None:
            value, unit = _quantity(dose_and_rate.doseQuantity)
            dose = f"{value} {unit or ''}".strip() if value else None
        elif dose_and_rate.doseRange is not None:
            low, unit = _quantity(dose_and_rate.doseRange.low)
            high, high_unit = _quantity(dose_and_rate.doseRange.high)
            dose = f"{low or ''}-{high or ''} {unit or high_unit or ''}".strip()
        if dose:
            break
    schedule = _clean(dosage.patientInstruction) or _clean(dosage.text)
    if schedule is None:
        parts = []
        repeat = dosage.timing.repeat if dosage.timing else None
        if dosage.timing is not None and dosage.timing.code is not None:
            parts.append(_concept_text(dosage.timing.code))
        elif repeat is not None and repeat.frequency and repeat.period and repeat.periodUnit:
            unit = _TIMING_UNITS.get(repeat.periodUnit, repeat.periodUnit)
            times = {1: "once", 2: "twice"}.get(repeat.frequency, f"{repeat.frequency} times")
            period = Decimal(str(repeat.period))
            if period == 1:
                parts.append(f"{times} a {unit}")
            else:
                parts.append(f"{times} every {_number(period)} {unit}s")
        if dosage.asNeededBoolean or dosage.asNeededCodeableConcept is not None:
            reason = _concept_text(dosage.asNeededCodeableConcept)
            parts.append(f"as needed for {reason.lower()}" if reason else "as needed")
        schedule = ", ".join(p for p in parts if p) or None
        if schedule:
            schedule = schedule[0].upper() + schedule[1:]
    return dose, schedule


# Clinical-note document types that US Core carries as DiagnosticReports: not test results.
_NOTE_CODES = {"11488-4", "18842-5", "34117-2", "28570-0", "11506-3", "57133-1", "11504-8", "34746-8",
               "51847-2", "34109-9", "68608-9", "34111-5", "18761-7"}
_NOTE_WORDS = re.compile(r"\b(note|summary)\s*$", re.IGNORECASE)


def _is_clinical_note(report) -> bool:
    codes = {c.code for c in (report.code.coding or ())} if report.code else set()
    if codes & _NOTE_CODES:
        return True
    text = _concept_text(report.code)
    return bool(text and _NOTE_WORDS.search(text))
