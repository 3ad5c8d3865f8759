"""SQLAlchemy models of the care-plan store (SQLAlchemy 1.4, written for 2.0-style use).

Ids are strings so that records imported from an EHR keep their FHIR ids (which makes
imports idempotent) and demo records can carry readable ids. Nothing a patient did is ever
deleted: statuses change and timestamps record when and by whom.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

Base: Any = declarative_base()  # Any: SQLAlchemy 1.4 gives mypy no type for it

ID = String(64)

# Vocabularies (kept as plain strings in the database so that imports never fail on them).
CARE_TEAM_ROLES = ("primary care", "specialist", "nurse", "care coordinator", "pharmacist")
REFERRAL_STATUSES = ("sent", "received", "approved", "scheduled", "completed", "cancelled", "declined")
OPEN_REFERRAL_STATUSES = ("sent", "received", "approved", "scheduled")
REFERRAL_PRIORITIES = ("routine", "urgent", "asap", "stat")
ACTIVITY_KINDS = ("task", "education", "monitoring", "follow-up")
ACTIVITY_STATUSES = ("not-started", "scheduled", "in-progress", "completed", "cancelled")
OPEN_ACTIVITY_STATUSES = ("not-started", "scheduled", "in-progress")
RESOURCE_CATEGORIES = (
    "transportation", "food", "cost of care", "support group", "caregiver", "education", "housing",
)
RATING_CATEGORIES = ("timely care", "provider communication", "office staff", "overall")


class Patient(Base):
    __tablename__ = "patients"
    id = Column(ID, primary_key=True)
    mrn = Column(String(64), unique=True, nullable=True)
    given_name = Column(String(120), nullable=False)
    family_name = Column(String(120), nullable=False)
    birth_date = Column(Date, nullable=True)
    mobile_phone = Column(String(20), nullable=True, index=True)  # E.164, e.g. +15551234567
    preferred_language = Column(String(16), nullable=False, default="en")
    sms_consent = Column(Boolean, nullable=False, default=False)
    # what the patient agreed to about texts: when, how (e.g. "intake form", "patient portal",
    # "by text: START"), and what (e.g. "care reminders and follow-up from the clinic")
    sms_consent_at = Column(DateTime, nullable=True)
    sms_consent_method = Column(String(64), nullable=True)
    sms_consent_scope = Column(String(200), nullable=True)
    time_zone = Column(String(64), nullable=True)  # IANA name; None: the clinic's (CARENAV_TIME_ZONE)
    # a coordinator can pause outreach for a patient (the console)
    outreach_paused = Column(Boolean, nullable=False, default=False)
    outreach_paused_by = Column(String(254), nullable=True)
    outreach_paused_at = Column(DateTime, nullable=True)
    source = Column(String(16), nullable=False, default="demo")  # demo | fhir

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class Clinic(Base):
    __tablename__ = "clinics"
    id = Column(ID, primary_key=True)
    name = Column(String(200), nullable=False)
    area = Column(String(120), nullable=True, index=True)
    address = Column(String(300), nullable=True)
    specialties = Column(Text, nullable=True)  # comma-separated canonical specialty names
    phone = Column(String(32), nullable=True)
    hours = Column(String(200), nullable=True)
    ratings = relationship("ClinicRating", back_populates="clinic", cascade="all, delete-orphan")

    @property
    def specialty_list(self) -> list[str]:
        return [s.strip() for s in (self.specialties or "").split(",") if s.strip()]


class ClinicRating(Base):
    """A patient-experience survey score (CAHPS-style: share of top-box answers, 0-100)."""

    __tablename__ = "clinic_ratings"
    id = Column(Integer, primary_key=True, autoincrement=True)
    clinic_id = Column(ID, ForeignKey("clinics.id"), nullable=False, index=True)
    category = Column(String(64), nullable=False)
    score = Column(Float, nullable=False)
    respondents = Column(Integer, nullable=False, default=0)
    period = Column(String(32), nullable=False)
    clinic = relationship("Clinic", back_populates="ratings")
    __table_args__ = (UniqueConstraint("clinic_id", "category", "period", name="uq_rating"),)


class Provider(Base):
    __tablename__ = "providers"
    id = Column(ID, primary_key=True)
    name = Column(String(200), nullable=False)
    role = Column(String(32), nullable=True)  # default role, one of CARE_TEAM_ROLES
    specialty = Column(String(64), nullable=True, index=True)
    clinic_id = Column(ID, ForeignKey("clinics.id"), nullable=True)
    phone = Column(String(32), nullable=True)
    clinic = relationship("Clinic")


class CareTeamMember(Base):
    __tablename__ = "care_team_members"
    id = Column(Integer, primary_key=True, autoincrement=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    provider_id = Column(ID, ForeignKey("providers.id"), nullable=False)
    role = Column(String(32), nullable=False)
    can_message = Column(Boolean, nullable=False, default=False)
    active = Column(Boolean, nullable=False, default=True)
    provider = relationship("Provider")
    __table_args__ = (UniqueConstraint("patient_id", "provider_id", "role", name="uq_care_team"),)


class Appointment(Base):
    __tablename__ = "appointments"
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False)
    starts_at = Column(DateTime, nullable=False)
    location = Column(String(300), nullable=True)
    clinic_id = Column(ID, ForeignKey("clinics.id"), nullable=True)
    provider_id = Column(ID, ForeignKey("providers.id"), nullable=True)
    kind = Column(String(120), nullable=True)  # e.g. "cardiology consult", "follow-up visit"
    specialty = Column(String(64), nullable=True)
    preparation = Column(Text, nullable=True)
    status = Column(String(32), nullable=False, default="booked")  # booked|arrived|fulfilled|cancelled|noshow
    provider = relationship("Provider")
    clinic = relationship("Clinic")
    __table_args__ = (Index("ix_appointments_patient_start", "patient_id", "starts_at"),)


class Referral(Base):
    __tablename__ = "referrals"
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False)
    referring_provider_id = Column(ID, ForeignKey("providers.id"), nullable=True)
    receiving_provider_id = Column(ID, ForeignKey("providers.id"), nullable=True)
    receiving_clinic_id = Column(ID, ForeignKey("clinics.id"), nullable=True)
    specialty = Column(String(64), nullable=True)
    reason_text = Column(Text, nullable=True)
    reason_code = Column(String(64), nullable=True)
    plain_explanation = Column(Text, nullable=True)
    priority = Column(String(16), nullable=False, default="routine")
    status = Column(String(16), nullable=False, default="sent")
    sent_on = Column(Date, nullable=True)
    received_on = Column(Date, nullable=True)
    approved_on = Column(Date, nullable=True)
    scheduled_on = Column(Date, nullable=True)
    completed_on = Column(Date, nullable=True)
    closed_on = Column(Date, nullable=True)  # cancelled or declined
    appointment_id = Column(ID, ForeignKey("appointments.id"), nullable=True)
    how_to_book = Column(Text, nullable=True)
    what_to_bring = Column(Text, nullable=True)
    report_received = Column(Boolean, nullable=False, default=False)
    # recorded by the care team in the console when the specialist's report comes back
    report_summary = Column(Text, nullable=True)  # the specialist's findings, in plain language
    report_next_steps = Column(Text, nullable=True)  # what the patient does next
    report_recorded_at = Column(DateTime, nullable=True)
    report_recorded_by = Column(String(254), nullable=True)  # staff email
    referring_provider = relationship("Provider", foreign_keys=[referring_provider_id])
    receiving_provider = relationship("Provider", foreign_keys=[receiving_provider_id])
    receiving_clinic = relationship("Clinic")
    appointment = relationship("Appointment")
    __table_args__ = (Index("ix_referrals_patient_status", "patient_id", "status"),)


class HospitalStay(Base):
    """A hospital stay (FHIR Encounter of class inpatient): the discharge starts check-ins."""

    __tablename__ = "hospital_stays"
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    facility = Column(String(200), nullable=True)
    admitted_on = Column(Date, nullable=True)
    discharged_on = Column(Date, nullable=True, index=True)
    reason = Column(Text, nullable=True)  # in plain words


class CarePlan(Base):
    __tablename__ = "care_plans"
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    title = Column(String(200), nullable=False)
    status = Column(String(16), nullable=False, default="active")
    created_on = Column(Date, nullable=True)
    goals = relationship("Goal", back_populates="care_plan")
    activities = relationship("CareActivity", back_populates="care_plan")


class Goal(Base):
    __tablename__ = "goals"
    id = Column(ID, primary_key=True)
    care_plan_id = Column(ID, ForeignKey("care_plans.id"), nullable=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    description = Column(Text, nullable=False)
    target = Column(String(200), nullable=True)
    progress = Column(String(200), nullable=True)
    status = Column(String(16), nullable=False, default="active")
    due_date = Column(Date, nullable=True)
    care_plan = relationship("CarePlan", back_populates="goals")


class CareActivity(Base):
    __tablename__ = "care_activities"
    id = Column(ID, primary_key=True)
    care_plan_id = Column(ID, ForeignKey("care_plans.id"), nullable=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False)
    description = Column(Text, nullable=False)
    kind = Column(String(16), nullable=False, default="task")
    due_date = Column(Date, nullable=True)
    status = Column(String(16), nullable=False, default="not-started")
    responsible = Column(String(120), nullable=True)  # "you", a provider's name, "care coordinator"
    completed_at = Column(DateTime, nullable=True)
    completion_source = Column(String(32), nullable=True)  # "patient-reported" | "clinic"
    care_plan = relationship("CarePlan", back_populates="activities")
    __table_args__ = (Index("ix_activities_patient_status_due", "patient_id", "status", "due_date"),)


class TestResult(Base):
    __tablename__ = "test_results"
    __test__ = False  # not a pytest test class
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False)
    name = Column(String(200), nullable=False)
    ordered_on = Column(Date, nullable=True)
    resulted_on = Column(Date, nullable=True)
    reviewed_on = Column(Date, nullable=True)
    status = Column(String(16), nullable=False, default="pending")  # ordered|pending|resulted|reviewed
    released_to_patient = Column(Boolean, nullable=False, default=False)
    provider_note = Column(Text, nullable=True)
    value = Column(String(64), nullable=True)
    unit = Column(String(32), nullable=True)
    reference_range = Column(String(64), nullable=True)
    ordering_provider_id = Column(ID, ForeignKey("providers.id"), nullable=True)
    ordering_provider = relationship("Provider")
    __table_args__ = (Index("ix_results_patient_released", "patient_id", "released_to_patient"),)


class Medication(Base):
    __tablename__ = "medications"
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False)
    name = Column(String(200), nullable=False)
    dose = Column(String(120), nullable=True)
    schedule = Column(String(200), nullable=True)
    prescriber_id = Column(ID, ForeignKey("providers.id"), nullable=True)
    start_date = Column(Date, nullable=True)
    stop_date = Column(Date, nullable=True)
    status = Column(String(16), nullable=False, default="active")  # active|stopped|on-hold
    change_note = Column(Text, nullable=True)  # plain words, e.g. "new at discharge", "dose changed"
    prescriber = relationship("Provider")
    __table_args__ = (Index("ix_medications_patient_status", "patient_id", "status"),)


class Condition(Base):
    """Active problems, kept for context (never read out as a diagnosis by the assistant)."""

    __tablename__ = "conditions"
    id = Column(ID, primary_key=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    code = Column(String(64), nullable=True)
    status = Column(String(16), nullable=False, default="active")
    onset_date = Column(Date, nullable=True)


class CommunityResource(Base):
    __tablename__ = "community_resources"
    id = Column(ID, primary_key=True)
    category = Column(String(32), nullable=False)
    name = Column(String(200), nullable=False)
    description = Column(Text, nullable=False)
    phone = Column(String(32), nullable=True)
    web = Column(String(300), nullable=True)
    eligibility = Column(Text, nullable=True)
    area = Column(String(120), nullable=True)
    __table_args__ = (Index("ix_resources_category_area", "category", "area"),)


class CallbackRequest(Base):
    """A hand-off to a person: the clinic's staff call the patient back."""

    __tablename__ = "callback_requests"
    id = Column(Integer, primary_key=True, autoincrement=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=True, index=True)
    conversation_id = Column(String(128), nullable=True)
    reason = Column(Text, nullable=True)
    channel = Column(String(32), nullable=False, default="unknown")
    created_at = Column(DateTime, nullable=False)
    status = Column(String(16), nullable=False, default="open")  # open|called|closed
    urgent = Column(Boolean, nullable=True, default=False)  # asked for after an emergency answer
    claimed_by = Column(String(254), nullable=True)  # the staff member working on it
    claimed_at = Column(DateTime, nullable=True)
    notes = Column(Text, nullable=True)  # staff notes, one a line: "time email: note"
    outcome = Column(String(16), nullable=True)  # reached | no_answer | left_message
    resolved_at = Column(DateTime, nullable=True)
    language = Column(String(8), nullable=True)  # the conversation's language when it was asked for


class PatientNotice(Base):
    """Something the care team tells a patient (a hand-off closed, a specialist's report back):
    sent by SMS when the patient consented (through the outbox), else shown on the web page at the
    patient's next visit. The text is kept only as long as the retention setting says."""

    __tablename__ = "patient_notices"
    id = Column(Integer, primary_key=True, autoincrement=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    kind = Column(String(32), nullable=False)  # callback_closed | report_back
    subject_id = Column(String(64), nullable=True)  # the callback request's or the referral's id
    text = Column(Text, nullable=True)
    channel = Column(String(16), nullable=False)  # sms | web
    created_at = Column(DateTime, nullable=False)
    created_by = Column(String(254), nullable=True)  # staff email
    delivered_at = Column(DateTime, nullable=True)  # handed to the outbox, or shown on the web page


class Outreach(Base):
    """One message the assistant sends first (bot/outreach/): planned once per (patient, rule,
    subject, due date), sent at most once. The planner writes `planned` rows; the worker sends a
    due one (SMS through the outbox, or a notice for the web page) and marks it `sent` in the same
    transaction, or `skipped` / `cancelled` with the reason."""

    __tablename__ = "outreach"
    id = Column(Integer, primary_key=True, autoincrement=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    rule = Column(String(32), nullable=False)  # visit_prep | referral_not_scheduled | overdue_steps | ...
    subject_id = Column(String(64), nullable=False)  # the appointment, referral, result, stay; the week
    due_date = Column(Date, nullable=False)
    send_after = Column(DateTime, nullable=False)  # server-local time, inside the patient's waking hours
    expires_at = Column(DateTime, nullable=True)  # not sent after this (e.g. the visit has started)
    channel = Column(String(8), nullable=False)  # sms | web
    language = Column(String(8), nullable=True)
    status = Column(String(16), nullable=False, default="planned")  # planned | sent | skipped | cancelled
    reason = Column(String(64), nullable=True)  # why skipped or cancelled
    body = Column(Text, nullable=True)  # what was sent (personal text: kept for the retention period)
    planned_at = Column(DateTime, nullable=False)
    sent_at = Column(DateTime, nullable=True)
    sent_by = Column(String(64), nullable=True)  # the worker
    conversation_id = Column(String(128), nullable=True)  # the SMS conversation it belongs to
    recorded_at = Column(DateTime, nullable=True)  # added to that conversation (Rasa's tracker)
    replied_at = Column(DateTime, nullable=True)
    reply = Column(String(16), nullable=True)  # yes | booked | question | no
    __table_args__ = (UniqueConstraint("patient_id", "rule", "subject_id", "due_date", name="uq_outreach"),
                      Index("ix_outreach_status_send_after", "status", "send_after"))


class SavedQuestion(Base):
    """A question the patient chose to keep for a visit."""

    __tablename__ = "saved_questions"
    id = Column(Integer, primary_key=True, autoincrement=True)
    patient_id = Column(ID, ForeignKey("patients.id"), nullable=False, index=True)
    situation = Column(String(64), nullable=True)
    question = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False)
    __table_args__ = (UniqueConstraint("patient_id", "question", name="uq_saved_question"),)


class AuditEvent(Base):
    """One disclosure of a record to a conversation: ids only, never the record's content."""

    __tablename__ = "audit_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False)
    conversation_id = Column(String(128), nullable=True)
    channel = Column(String(32), nullable=True)
    patient_id = Column(ID, nullable=False, index=True)
    record_kind = Column(String(32), nullable=False)
    action = Column(String(64), nullable=False)
    actor = Column(String(254), nullable=True)  # a staff member's email for staff views; None: a conversation


class SmsSession(Base):
    """Per phone number: opt-out, date-of-birth verification and lockout, the last numbered choices."""

    __tablename__ = "sms_sessions"
    phone = Column(String(20), primary_key=True)  # E.164
    opted_out = Column(Boolean, nullable=False, default=False)
    verified_patient_id = Column(ID, nullable=True)
    verified_until = Column(DateTime, nullable=True)
    awaiting_dob = Column(Boolean, nullable=False, default=False)
    pending_text = Column(Text, nullable=True)  # the question asked before verifying, answered after
    failures = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime, nullable=True)
    choices = Column(Text, nullable=True)  # JSON list of button payloads offered as 1, 2, 3...
    updated_at = Column(DateTime, nullable=True)


class WebSession(Base):
    """Who a web chat (socket.io) session belongs to: a patient id, or "anonymous". Kept in the
    store, not in a server's memory, so it survives a restart and holds across several servers."""

    __tablename__ = "web_sessions"
    session_id = Column(String(128), primary_key=True)
    owner = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)


class SmsInbound(Base):
    """Every SMS received, stored before the webhook answers 200: processed once (the provider's
    MessageSid is unique; providers retry webhooks), and after a crash."""

    __tablename__ = "sms_inbound"
    id = Column(Integer, primary_key=True, autoincrement=True)
    message_sid = Column(String(64), nullable=False, unique=True)
    from_phone = Column(String(20), nullable=False, index=True)
    body = Column(Text, nullable=True)  # emptied by the retention purge
    received_at = Column(DateTime, nullable=False)
    status = Column(String(16), nullable=False, default="pending")  # pending|done
    processed_at = Column(DateTime, nullable=True)


class StaffUser(Base):
    """A care-team member who signs in to the console (bot/console/)."""

    __tablename__ = "staff_users"
    id = Column(Integer, primary_key=True, autoincrement=True)
    email = Column(String(254), nullable=False, unique=True)
    password_hash = Column(String(256), nullable=False)  # argon2id
    role = Column(String(16), nullable=False)  # coordinator | nurse | admin
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False)


class StaffSession(Base):
    """A signed-in console session: only a hash of its cookie is kept."""

    __tablename__ = "staff_sessions"
    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    csrf = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    last_seen = Column(DateTime, nullable=False)


class SmsOutbox(Base):
    """Every SMS we send, so a failed send is retried and never lost silently."""

    __tablename__ = "sms_outbox"
    id = Column(Integer, primary_key=True, autoincrement=True)
    to_phone = Column(String(20), nullable=False, index=True)
    body = Column(Text, nullable=False)
    # pending (to send at next_attempt_at) | sent | undeliverable (given up: staff see it);
    # "failed" is what older versions wrote for pending-after-a-failure
    status = Column(String(16), nullable=False, default="pending", index=True)
    next_attempt_at = Column(DateTime, nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    provider_id = Column(String(64), nullable=True)
    last_error = Column(String(300), nullable=True)
    created_at = Column(DateTime, nullable=False)
    sent_at = Column(DateTime, nullable=True)
