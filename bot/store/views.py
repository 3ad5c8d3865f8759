"""The answers the query layer gives: frozen dataclasses of plain values (no live ORM objects),
so the action server can format them after the session is closed, and the builders that make
them from rows."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from bot.store import models as m

# Test-result statuses that mean "not back yet" (as opposed to resulted/reviewed).
PENDING_RESULT_STATUSES = ("ordered", "pending", "registered", "preliminary")


# --------------------------------------------------------------------------- answers

@dataclass(frozen=True)
class PatientView:
    id: str
    display_name: str
    given_name: str
    birth_date: Optional[dt.date]
    mobile_phone: Optional[str]
    preferred_language: str
    sms_consent: bool
    source: str = "demo"  # demo (seeded) | fhir (imported)


@dataclass(frozen=True)
class ActivityView:
    id: str
    description: str
    kind: str
    due_date: Optional[dt.date]
    status: str
    responsible: Optional[str]
    overdue: bool
    days_overdue: int
    plan_title: Optional[str]


@dataclass(frozen=True)
class GoalView:
    id: str
    description: str
    target: Optional[str]
    progress: Optional[str]
    due_date: Optional[dt.date]
    status: str


@dataclass(frozen=True)
class NextSteps:
    has_care_plan: bool
    activities: Tuple[ActivityView, ...]  # overdue first, then by due date (undated last)
    goals: Tuple[GoalView, ...]

    @property
    def overdue(self) -> Tuple[ActivityView, ...]:
        return tuple(a for a in self.activities if a.overdue)


@dataclass(frozen=True)
class AppointmentView:
    id: str
    starts_at: dt.datetime
    kind: Optional[str]
    specialty: Optional[str]
    provider_name: Optional[str]
    clinic_name: Optional[str]
    clinic_phone: Optional[str]
    location: Optional[str]
    preparation: Optional[str]
    status: str


@dataclass(frozen=True)
class ReferralView:
    id: str
    specialty: Optional[str]
    referring_provider: Optional[str]
    receiving_provider: Optional[str]
    receiving_clinic: Optional[str]
    receiving_clinic_phone: Optional[str]
    receiving_clinic_address: Optional[str]
    reason_text: Optional[str]
    plain_explanation: Optional[str]
    priority: str
    status: str
    sent_on: Optional[dt.date]
    status_date: Optional[dt.date]
    how_to_book: Optional[str]
    what_to_bring: Optional[str]
    report_received: bool
    appointment: Optional[AppointmentView]
    # written by the care team when the specialist's report came back (set only when report_received):
    # the findings in plain language and what the patient does next, shown as written
    report_summary: Optional[str] = None
    report_next_steps: Optional[str] = None

    @property
    def is_open(self) -> bool:
        return self.status in m.OPEN_REFERRAL_STATUSES


@dataclass(frozen=True)
class ResultView:
    """A released result: what the patient may see, including the provider's note."""

    id: str
    name: str
    ordered_on: Optional[dt.date]
    resulted_on: Optional[dt.date]
    reviewed_on: Optional[dt.date]
    status: str
    provider_note: Optional[str]
    value: Optional[str]
    unit: Optional[str]
    reference_range: Optional[str]
    ordering_provider: Optional[str]


@dataclass(frozen=True)
class PendingResultView:
    """A result that is not back yet, or back but not yet released: name and dates only."""

    id: str
    name: str
    ordered_on: Optional[dt.date]
    back_but_not_released: bool
    ordering_provider: Optional[str]


@dataclass(frozen=True)
class MedicationView:
    id: str
    name: str
    dose: Optional[str]
    schedule: Optional[str]
    prescriber: Optional[str]
    start_date: Optional[dt.date]
    status: str
    change_note: Optional[str]


@dataclass(frozen=True)
class CareTeamView:
    provider_id: str
    name: str
    role: str
    specialty: Optional[str]
    clinic_name: Optional[str]
    phone: Optional[str]
    can_message: bool


@dataclass(frozen=True)
class ClinicRatingsView:
    clinic_id: str
    name: str
    area: Optional[str]
    address: Optional[str]
    phone: Optional[str]
    hours: Optional[str]
    specialties: Tuple[str, ...]
    scores: Dict[str, float] = field(hash=False)
    respondents: int
    period: Optional[str]

    @property
    def overall(self) -> Optional[float]:
        return self.scores.get("overall")


@dataclass(frozen=True)
class ResourceView:
    id: str
    category: str
    name: str
    description: str
    phone: Optional[str]
    web: Optional[str]
    eligibility: Optional[str]
    area: Optional[str]


@dataclass(frozen=True)
class SavedQuestionView:
    id: int
    question: str
    situation: Optional[str]
    created_at: dt.datetime


@dataclass(frozen=True)
class AuditView:
    at: dt.datetime
    conversation_id: Optional[str]
    channel: Optional[str]
    patient_id: str
    record_kind: str
    action: str
    actor: Optional[str] = None  # the staff member, for a staff view


@dataclass(frozen=True)
class TaskDone:
    """What happened when a patient reported a care-plan activity done."""

    activity: Optional[ActivityView]
    already_done: bool = False
    candidates: Tuple[ActivityView, ...] = ()


# --------------------------------------------------------------------------- helpers

def _name(provider: Optional[m.Provider]) -> Optional[str]:
    return provider.name if provider is not None else None


def _appointment_view(a: m.Appointment) -> AppointmentView:
    clinic = a.clinic
    location = a.location or (clinic.address if clinic is not None else None)
    return AppointmentView(
        id=a.id, starts_at=a.starts_at, kind=a.kind, specialty=a.specialty,
        provider_name=_name(a.provider), clinic_name=clinic.name if clinic else None,
        clinic_phone=clinic.phone if clinic else None, location=location,
        preparation=a.preparation, status=a.status,
    )


def _activity_view(a: m.CareActivity, today: dt.date) -> ActivityView:
    overdue = a.status in m.OPEN_ACTIVITY_STATUSES and a.due_date is not None and a.due_date < today
    return ActivityView(
        id=a.id, description=a.description, kind=a.kind, due_date=a.due_date, status=a.status,
        responsible=a.responsible, overdue=overdue,
        days_overdue=(today - a.due_date).days if overdue else 0,
        plan_title=a.care_plan.title if a.care_plan is not None else None,
    )


def _referral_status_date(r: m.Referral) -> Optional[dt.date]:
    return {
        "sent": r.sent_on, "received": r.received_on, "approved": r.approved_on,
        "scheduled": r.scheduled_on, "completed": r.completed_on,
        "cancelled": r.closed_on, "declined": r.closed_on,
    }.get(r.status) or r.sent_on


def _written(words: Optional[str]) -> Optional[str]:
    """Staff text as written, without surrounding blanks; None when there is none."""
    return (words or "").strip() or None


def _referral_view(r: m.Referral) -> ReferralView:
    clinic = r.receiving_clinic
    if clinic is None and r.receiving_provider is not None:
        clinic = r.receiving_provider.clinic
    report = bool(r.report_received)
    return ReferralView(
        id=r.id, specialty=r.specialty, referring_provider=_name(r.referring_provider),
        receiving_provider=_name(r.receiving_provider),
        receiving_clinic=clinic.name if clinic else None,
        receiving_clinic_phone=clinic.phone if clinic else None,
        receiving_clinic_address=clinic.address if clinic else None,
        reason_text=r.reason_text, plain_explanation=r.plain_explanation,
        priority=r.priority, status=r.status, sent_on=r.sent_on,
        status_date=_referral_status_date(r), how_to_book=r.how_to_book,
        what_to_bring=r.what_to_bring, report_received=report,
        appointment=_appointment_view(r.appointment) if r.appointment is not None else None,
        report_summary=_written(r.report_summary) if report else None,
        report_next_steps=_written(r.report_next_steps) if report else None,
    )
