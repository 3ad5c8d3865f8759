"""The query layer: one method per question the assistant answers, one patient at a time.

Every patient-specific method takes the patient id and filters on it in SQL; nothing here
returns another patient's record. Answers are frozen dataclasses (plain values, no live ORM
objects), so the action server can format them after the session is closed.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import List, Optional, Sequence, Tuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from bot.store import models as m
from bot.store.db import Database
from bot.store.views import (
    PENDING_RESULT_STATUSES,
    AppointmentView,
    AuditView,
    CareTeamView,
    ClinicRatingsView,
    GoalView,
    MedicationView,
    NextSteps,
    PatientView,
    PendingResultView,
    ReferralView,
    ResourceView,
    ResultView,
    SavedQuestionView,
    TaskDone,
    _activity_view,
    _appointment_view,
    _name,
    _referral_view,
)

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "i", "my", "the", "a", "an", "to", "and", "of", "for", "did", "done", "have", "has", "it",
    "already", "finished", "completed", "complete", "just", "got", "went", "do", "with", "is",
    "that", "this", "mark", "as", "me", "on", "in", "at", "was", "today", "yesterday", "task",
    "ive", "im", "all", "now", "so", "yes", "please", "took", "go", "your",
    "morning", "afternoon", "evening", "tonight", "night", "week", "last", "earlier", "ago",
}


def _keywords(text: str) -> set:
    words = {w for w in _WORD.findall(text.lower().replace("'", "")) if w not in _STOP}
    # crude singular forms so "logs" matches "log"
    return words | {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}


# --------------------------------------------------------------------------- the store

def patients_by_phone(s, e164: str) -> List[m.Patient]:
    """The patients whose mobile phone is this E.164 number (a family may share one), in the
    caller's session: the one phone look-up (the SMS verification and CareStore use it)."""
    return list(s.execute(select(m.Patient).where(m.Patient.mobile_phone == e164)
                          .order_by(m.Patient.id)).scalars().all())


class CareStore:
    """Answers about one patient at a time, plus the general (non-patient) directories."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- patients
    def patient(self, patient_id: str) -> Optional[PatientView]:
        with self.db.session() as s:
            p = s.get(m.Patient, patient_id)
            return self._patient_view(p) if p is not None else None

    def patient_by_phone(self, e164: str) -> Optional[PatientView]:
        """The patient whose mobile phone is this E.164 number, if exactly one has it."""
        with self.db.session() as s:
            rows = patients_by_phone(s, e164)
            return self._patient_view(rows[0]) if len(rows) == 1 else None

    def list_patients(self, source: Optional[str] = None) -> List[Tuple[str, str]]:
        """(id, display name) for every patient (or those from one source: demo, fhir), by id."""
        with self.db.session() as s:
            q = select(m.Patient.id, m.Patient.given_name, m.Patient.family_name)
            if source is not None:
                q = q.where(m.Patient.source == source)
            rows = s.execute(q.order_by(m.Patient.id)).all()
            return [(pid, f"{given} {family}".strip()) for pid, given, family in rows]

    @staticmethod
    def _patient_view(p: m.Patient) -> PatientView:
        return PatientView(
            id=p.id, display_name=p.display_name, given_name=p.given_name, birth_date=p.birth_date,
            mobile_phone=p.mobile_phone, preferred_language=p.preferred_language or "en",
            sms_consent=bool(p.sms_consent), source=p.source or "demo",
        )

    # ---- care plan
    def next_steps_for(self, patient_id: str, today: Optional[dt.date] = None) -> NextSteps:
        """Open activities (overdue first, then by due date, undated last) and active goals."""
        today = today or dt.date.today()
        with self.db.session() as s:
            has_plan = s.execute(
                select(func.count()).select_from(m.CarePlan)
                .where(m.CarePlan.patient_id == patient_id, m.CarePlan.status == "active")
            ).scalar_one() > 0
            rows = s.execute(
                select(m.CareActivity).options(selectinload(m.CareActivity.care_plan))
                .where(m.CareActivity.patient_id == patient_id,
                       m.CareActivity.status.in_(m.OPEN_ACTIVITY_STATUSES))
                .order_by(m.CareActivity.due_date.is_(None), m.CareActivity.due_date,
                          m.CareActivity.id)
            ).scalars().all()
            activities = [_activity_view(a, today) for a in rows]
            activities.sort(key=lambda a: (not a.overdue,))  # stable: keeps due-date order inside
            goals = self.goals_for(patient_id, session=s)
            return NextSteps(has_care_plan=has_plan or bool(activities) or bool(goals),
                             activities=tuple(activities), goals=tuple(goals))

    def goals_for(self, patient_id: str, session=None) -> List[GoalView]:
        def run(s):
            rows = s.execute(
                select(m.Goal).where(m.Goal.patient_id == patient_id, m.Goal.status == "active")
                .order_by(m.Goal.due_date.is_(None), m.Goal.due_date, m.Goal.id)
            ).scalars().all()
            return [GoalView(id=g.id, description=g.description, target=g.target,
                             progress=g.progress, due_date=g.due_date, status=g.status) for g in rows]
        if session is not None:
            return run(session)
        with self.db.session() as s:
            return run(s)

    def mark_activity_done_by_patient(self, patient_id: str, said: str = "",
                                      activity_id: Optional[str] = None,
                                      now: Optional[dt.datetime] = None) -> TaskDone:
        """Record that the patient says they did an activity (kept as patient-reported).

        The activity is the one named by id, else the one open activity whose words best match
        what the patient said when they cover at least two thirds of the patient's words, else
        the only open one when the patient named nothing ("i did it"). Anything weaker ("i did
        my blood work" against "check your blood sugar") returns candidates for the patient to
        pick and changes nothing: a wrong completion would hide a step from the care team.
        """
        now = now or dt.datetime.now()
        today = now.date()
        with self.db.session() as s:
            open_rows = s.execute(
                select(m.CareActivity).options(selectinload(m.CareActivity.care_plan))
                .where(m.CareActivity.patient_id == patient_id,
                       m.CareActivity.status.in_(m.OPEN_ACTIVITY_STATUSES))
                .order_by(m.CareActivity.due_date.is_(None), m.CareActivity.due_date, m.CareActivity.id)
            ).scalars().all()
            chosen: Optional[m.CareActivity] = None
            if activity_id:
                row = s.get(m.CareActivity, activity_id)
                if row is None or row.patient_id != patient_id:
                    return TaskDone(activity=None)
                if row.status not in m.OPEN_ACTIVITY_STATUSES:
                    return TaskDone(activity=_activity_view(row, today), already_done=True)
                chosen = row
            else:
                words = _keywords(said)
                scored = []
                for a in open_rows:
                    overlap = len(words & _keywords(a.description))
                    if overlap:
                        scored.append((overlap, a))
                scored.sort(key=lambda t: -t[0])
                if (scored and (len(scored) == 1 or scored[0][0] > scored[1][0])
                        and 3 * scored[0][0] >= 2 * len(words)):
                    chosen = scored[0][1]
                elif not words and len(open_rows) == 1:
                    chosen = open_rows[0]
                else:
                    pool = [a for _, a in scored] or open_rows
                    return TaskDone(activity=None,
                                    candidates=tuple(_activity_view(a, today) for a in pool[:5]))
            chosen.status = "completed"
            chosen.completed_at = now
            chosen.completion_source = "patient-reported"
            s.flush()
            return TaskDone(activity=_activity_view(chosen, today))

    # ---- referrals
    def _referral_query(self, patient_id: str):
        return (select(m.Referral)
                .options(selectinload(m.Referral.referring_provider),
                         selectinload(m.Referral.receiving_provider).selectinload(m.Provider.clinic),
                         selectinload(m.Referral.receiving_clinic),
                         selectinload(m.Referral.appointment).selectinload(m.Appointment.clinic),
                         selectinload(m.Referral.appointment).selectinload(m.Appointment.provider))
                .where(m.Referral.patient_id == patient_id))

    def open_referrals_for(self, patient_id: str) -> List[ReferralView]:
        """Referrals still in progress, most recently sent first."""
        with self.db.session() as s:
            rows = s.execute(self._referral_query(patient_id)
                             .where(m.Referral.status.in_(m.OPEN_REFERRAL_STATUSES))
                             .order_by(m.Referral.sent_on.desc(), m.Referral.id)).scalars().all()
            return [_referral_view(r) for r in rows]

    def referrals_for(self, patient_id: str) -> List[ReferralView]:
        """All referrals, open ones first, then most recently sent first."""
        with self.db.session() as s:
            rows = s.execute(self._referral_query(patient_id)
                             .order_by(m.Referral.sent_on.desc(), m.Referral.id)).scalars().all()
            views = [_referral_view(r) for r in rows]
            return sorted(views, key=lambda r: not r.is_open)

    def referral_for(self, patient_id: str, referral_id: str) -> Optional[ReferralView]:
        with self.db.session() as s:
            row = s.execute(self._referral_query(patient_id)
                            .where(m.Referral.id == referral_id)).scalars().first()
            return _referral_view(row) if row is not None else None

    # ---- appointments
    def upcoming_appointments_for(self, patient_id: str, now: Optional[dt.datetime] = None,
                                  limit: int = 10) -> List[AppointmentView]:
        now = now or dt.datetime.now()
        start_of_today = dt.datetime.combine(now.date(), dt.time.min)
        with self.db.session() as s:
            rows = s.execute(
                select(m.Appointment)
                .options(selectinload(m.Appointment.clinic), selectinload(m.Appointment.provider))
                .where(m.Appointment.patient_id == patient_id,
                       m.Appointment.starts_at >= start_of_today,
                       m.Appointment.status.in_(("booked", "pending", "proposed", "arrived")))
                .order_by(m.Appointment.starts_at).limit(limit)
            ).scalars().all()
            return [_appointment_view(a) for a in rows]

    # ---- results
    def released_results_for(self, patient_id: str) -> List[ResultView]:
        """Results released to the patient, newest first. Unreleased ones never leave here."""
        with self.db.session() as s:
            rows = s.execute(
                select(m.TestResult).options(selectinload(m.TestResult.ordering_provider))
                .where(m.TestResult.patient_id == patient_id,
                       m.TestResult.released_to_patient.is_(True))
                .order_by(func.coalesce(m.TestResult.resulted_on, m.TestResult.ordered_on).desc(),
                          m.TestResult.id)
            ).scalars().all()
            return [ResultView(
                id=r.id, name=r.name, ordered_on=r.ordered_on, resulted_on=r.resulted_on,
                reviewed_on=r.reviewed_on, status=r.status, provider_note=r.provider_note,
                value=r.value, unit=r.unit, reference_range=r.reference_range,
                ordering_provider=_name(r.ordering_provider)) for r in rows]

    def pending_results_for(self, patient_id: str) -> List[PendingResultView]:
        """Tests not back yet, or back but not released: names and dates only, never values."""
        with self.db.session() as s:
            rows = s.execute(
                select(m.TestResult).options(selectinload(m.TestResult.ordering_provider))
                .where(m.TestResult.patient_id == patient_id,
                       m.TestResult.released_to_patient.is_(False),
                       m.TestResult.status != "cancelled")
                .order_by(m.TestResult.ordered_on.desc(), m.TestResult.id)
            ).scalars().all()
            return [PendingResultView(
                id=r.id, name=r.name, ordered_on=r.ordered_on,
                back_but_not_released=r.status not in PENDING_RESULT_STATUSES,
                ordering_provider=_name(r.ordering_provider)) for r in rows]

    # ---- medications and care team
    def active_medications_for(self, patient_id: str) -> List[MedicationView]:
        """Active medicines, recently changed ones first, then by name."""
        with self.db.session() as s:
            rows = s.execute(
                select(m.Medication).options(selectinload(m.Medication.prescriber))
                .where(m.Medication.patient_id == patient_id, m.Medication.status == "active")
                .order_by(m.Medication.change_note.is_(None), m.Medication.name)
            ).scalars().all()
            return [self._medication_view(r) for r in rows]

    def stopped_medications_for(self, patient_id: str, since: Optional[dt.date] = None) -> List[MedicationView]:
        with self.db.session() as s:
            q = (select(m.Medication).options(selectinload(m.Medication.prescriber))
                 .where(m.Medication.patient_id == patient_id, m.Medication.status == "stopped"))
            if since is not None:
                q = q.where(m.Medication.stop_date >= since)
            rows = s.execute(q.order_by(m.Medication.name)).scalars().all()
            return [self._medication_view(r) for r in rows]

    @staticmethod
    def _medication_view(r: m.Medication) -> MedicationView:
        return MedicationView(id=r.id, name=r.name, dose=r.dose, schedule=r.schedule,
                              prescriber=_name(r.prescriber), start_date=r.start_date,
                              status=r.status, change_note=r.change_note)

    def care_team_for(self, patient_id: str) -> List[CareTeamView]:
        """Active care-team members, in the order patients usually need them."""
        order = {role: i for i, role in enumerate(
            ("primary care", "care coordinator", "nurse", "specialist", "pharmacist"))}
        with self.db.session() as s:
            rows = s.execute(
                select(m.CareTeamMember)
                .options(selectinload(m.CareTeamMember.provider).selectinload(m.Provider.clinic))
                .where(m.CareTeamMember.patient_id == patient_id, m.CareTeamMember.active.is_(True))
            ).scalars().all()
            views = [CareTeamView(
                provider_id=r.provider_id, name=r.provider.name, role=r.role,
                specialty=r.provider.specialty,
                clinic_name=r.provider.clinic.name if r.provider.clinic else None,
                phone=r.provider.phone or (r.provider.clinic.phone if r.provider.clinic else None),
                can_message=bool(r.can_message)) for r in rows]
            return sorted(views, key=lambda v: (order.get(v.role, 99), v.name))

    # ---- general directories (no patient data)
    def clinic_ratings(self, specialty: Optional[str] = None,
                       area: Optional[str] = None) -> List[ClinicRatingsView]:
        """Clinics with their latest patient-experience scores, best overall first."""
        with self.db.session() as s:
            q = select(m.Clinic).options(selectinload(m.Clinic.ratings))
            if area:
                q = q.where(func.lower(m.Clinic.area) == area.lower())
            clinics = s.execute(q.order_by(m.Clinic.name)).scalars().all()
            views = []
            for c in clinics:
                if specialty and specialty.lower() not in [x.lower() for x in c.specialty_list]:
                    continue
                if not c.ratings:
                    continue
                latest = max(r.period for r in c.ratings)
                current = [r for r in c.ratings if r.period == latest]
                views.append(ClinicRatingsView(
                    clinic_id=c.id, name=c.name, area=c.area, address=c.address, phone=c.phone,
                    hours=c.hours, specialties=tuple(c.specialty_list),
                    scores={r.category: r.score for r in current},
                    respondents=max((r.respondents for r in current), default=0), period=latest))
            return sorted(views, key=lambda v: (-(v.overall or 0.0), v.name))

    def community_resources(self, category: Optional[str] = None,
                            area: Optional[str] = None) -> List[ResourceView]:
        """Resources in a category; those in the asked-for area first, then area-wide ones."""
        with self.db.session() as s:
            q = select(m.CommunityResource)
            if category:
                q = q.where(m.CommunityResource.category == category)
            if area:
                q = q.where(or_(func.lower(m.CommunityResource.area) == area.lower(),
                                m.CommunityResource.area.is_(None),
                                m.CommunityResource.area == "all areas"))
            rows = s.execute(q.order_by(m.CommunityResource.category, m.CommunityResource.name)).scalars().all()
            views = [ResourceView(id=r.id, category=r.category, name=r.name, description=r.description,
                                  phone=r.phone, web=r.web, eligibility=r.eligibility, area=r.area)
                     for r in rows]
            if area:
                views.sort(key=lambda v: (v.area or "").lower() != area.lower())
            return views

    # ---- hand-off, saved questions, audit
    def record_callback_request(self, patient_id: Optional[str], reason: Optional[str],
                                channel: str, conversation_id: Optional[str] = None,
                                now: Optional[dt.datetime] = None, urgent: bool = False,
                                language: Optional[str] = None) -> int:
        with self.db.session() as s:
            row = m.CallbackRequest(patient_id=patient_id, reason=reason, channel=channel,
                                    conversation_id=conversation_id,
                                    created_at=now or dt.datetime.now(), status="open", urgent=urgent,
                                    language=language)
            s.add(row)
            s.flush()
            return row.id

    def open_callback_requests(self, patient_id: Optional[str] = None) -> List[m.CallbackRequest]:
        with self.db.session() as s:
            q = select(m.CallbackRequest).where(m.CallbackRequest.status == "open")
            if patient_id is not None:
                q = q.where(m.CallbackRequest.patient_id == patient_id)
            rows = s.execute(q.order_by(m.CallbackRequest.created_at)).scalars().all()
            s.expunge_all()
            return list(rows)

    def save_question(self, patient_id: str, question: str, situation: Optional[str] = None,
                      now: Optional[dt.datetime] = None) -> bool:
        """Keep a question for the patient's next visit; False if it was already saved."""
        question = " ".join(question.split())
        with self.db.session() as s:
            exists = s.execute(select(m.SavedQuestion.id).where(
                m.SavedQuestion.patient_id == patient_id, m.SavedQuestion.question == question)).first()
            if exists:
                return False
            s.add(m.SavedQuestion(patient_id=patient_id, question=question, situation=situation,
                                  created_at=now or dt.datetime.now()))
            return True

    def saved_questions_for(self, patient_id: str) -> List[SavedQuestionView]:
        with self.db.session() as s:
            rows = s.execute(select(m.SavedQuestion).where(m.SavedQuestion.patient_id == patient_id)
                             .order_by(m.SavedQuestion.created_at, m.SavedQuestion.id)).scalars().all()
            return [SavedQuestionView(id=r.id, question=r.question, situation=r.situation,
                                      created_at=r.created_at) for r in rows]

    def record_disclosure(self, patient_id: str, record_kind: str, action: str,
                          conversation_id: Optional[str] = None, channel: Optional[str] = None,
                          now: Optional[dt.datetime] = None) -> None:
        """Audit: which conversation was shown which kind of this patient's records (ids only)."""
        with self.db.session() as s:
            s.add(m.AuditEvent(at=now or dt.datetime.now(), conversation_id=conversation_id,
                               channel=channel, patient_id=patient_id, record_kind=record_kind,
                               action=action))

    def record_disclosures(self, patient_id: str, disclosed: Sequence[Tuple[str, str]],
                           conversation_id: Optional[str] = None, channel: Optional[str] = None,
                           now: Optional[dt.datetime] = None) -> None:
        """Audit several disclosures of one answer in one transaction: all rows or none."""
        at = now or dt.datetime.now()
        with self.db.session() as s:
            for record_kind, action in disclosed:
                s.add(m.AuditEvent(at=at, conversation_id=conversation_id, channel=channel,
                                   patient_id=patient_id, record_kind=record_kind, action=action))

    def audit_for(self, patient_id: Optional[str] = None, limit: int = 200) -> List[AuditView]:
        with self.db.session() as s:
            q = select(m.AuditEvent)
            if patient_id is not None:
                q = q.where(m.AuditEvent.patient_id == patient_id)
            rows = s.execute(q.order_by(m.AuditEvent.at.desc(), m.AuditEvent.id.desc()).limit(limit)).scalars().all()
            return [AuditView(at=r.at, conversation_id=r.conversation_id, channel=r.channel,
                              patient_id=r.patient_id, record_kind=r.record_kind, action=r.action,
                              actor=r.actor)
                    for r in rows]
