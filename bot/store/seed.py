"""Demo data: six patients whose situations differ, clinics with ratings, community resources.

Every date is relative to the day of seeding, so the demo never goes stale: run
`carenav db seed` again to move the dates to today. Seeding is idempotent (fixed ids, merged),
never touches imported (FHIR) patients, and keeps what a demo patient reported themselves
(activities they marked done, questions they saved).

All names, phone numbers (555-01xx) and records are invented.
"""
from __future__ import annotations

import datetime as dt
from typing import Dict, Optional

from sqlalchemy import select

from bot.store import models as m
from bot.store.db import Database

RATING_PERIOD = "last 12 months"
CONSENT_METHOD = "intake form"
CONSENT_SCOPE = "care reminders and follow-up from the clinic"


def seed_demo(db: Database, today: Optional[dt.date] = None) -> Dict[str, int]:
    """Load (or refresh) the demo records; returns how many of each kind the demo has."""
    today = today or dt.date.today()
    d = lambda days: today + dt.timedelta(days=days)  # noqa: E731
    at = lambda days, hour, minute=0: dt.datetime.combine(d(days), dt.time(hour, minute))  # noqa: E731
    counts: Dict[str, int] = {}

    with db.session() as s:
        def put(obj):
            s.merge(obj)
            kind = obj.__tablename__
            counts[kind] = counts.get(kind, 0) + 1

        # ---------------------------------------------------------------- clinics
        clinics = [
            m.Clinic(id="clinic-riverside", name="Riverside Community Health", area="riverside",
                     address="200 River Road, Suite 100", specialties="primary care,behavioral health,nutrition",
                     phone="(555) 010-0100", hours="Mon-Fri 8am-6pm, Sat 9am-1pm"),
            m.Clinic(id="clinic-downtown", name="Downtown Specialty Center", area="downtown",
                     address="45 Main Street, 3rd floor",
                     specialties="cardiology,endocrinology,dermatology,nephrology,nutrition",
                     phone="(555) 010-0200", hours="Mon-Fri 7:30am-5pm"),
            m.Clinic(id="clinic-eastgate", name="Eastgate Heart and Vascular", area="eastgate",
                     address="1200 Eastgate Boulevard", specialties="cardiology",
                     phone="(555) 010-0300", hours="Mon-Thu 8am-5pm, Fri 8am-noon"),
            m.Clinic(id="clinic-northside", name="Northside Family Clinic", area="northside",
                     address="88 North Avenue", specialties="primary care,obstetrics and gynecology,endocrinology",
                     phone="(555) 010-0400", hours="Mon-Fri 8am-8pm"),
            m.Clinic(id="clinic-westhills", name="West Hills Medical Group", area="west hills",
                     address="5 Hillcrest Drive", specialties="primary care,dermatology,orthopedics,gastroenterology",
                     phone="(555) 010-0500", hours="Mon-Fri 9am-5pm"),
        ]
        for c in clinics:
            put(c)
        ratings = {
            # timely care, provider communication, office staff, overall, respondents
            "clinic-riverside": (78, 91, 88, 87, 412),
            "clinic-downtown": (64, 89, 80, 82, 356),
            "clinic-eastgate": (83, 93, 90, 91, 198),
            "clinic-northside": (71, 85, 92, 84, 287),
            "clinic-westhills": (58, 80, 74, 72, 143),
        }
        s.flush()
        for clinic_id, (timely, comm, staff, overall, n) in ratings.items():
            for category, score in zip(m.RATING_CATEGORIES, (timely, comm, staff, overall)):
                row = s.execute(select(m.ClinicRating).where(
                    m.ClinicRating.clinic_id == clinic_id, m.ClinicRating.category == category,
                    m.ClinicRating.period == RATING_PERIOD)).scalars().first()
                if row is None:
                    s.add(m.ClinicRating(clinic_id=clinic_id, category=category, score=float(score),
                                         respondents=n, period=RATING_PERIOD))
                else:
                    row.score, row.respondents = float(score), n
                counts["clinic_ratings"] = counts.get("clinic_ratings", 0) + 1

        # ---------------------------------------------------------------- providers
        providers = [
            m.Provider(id="prov-okafor", name="Dr. Grace Okafor", role="primary care", specialty="primary care",
                       clinic_id="clinic-riverside", phone="(555) 010-0111"),
            m.Provider(id="prov-lee", name="Dr. Daniel Lee", role="primary care", specialty="primary care",
                       clinic_id="clinic-northside", phone="(555) 010-0411"),
            m.Provider(id="prov-shah", name="Dr. Priya Shah", role="specialist", specialty="endocrinology",
                       clinic_id="clinic-downtown", phone="(555) 010-0211"),
            m.Provider(id="prov-mendez", name="Dr. Luis Mendez", role="specialist", specialty="cardiology",
                       clinic_id="clinic-eastgate", phone="(555) 010-0311"),
            m.Provider(id="prov-brooks", name="Dr. Hannah Brooks", role="specialist", specialty="nephrology",
                       clinic_id="clinic-downtown", phone="(555) 010-0212"),
            m.Provider(id="prov-ito", name="Dr. Kenji Ito", role="specialist", specialty="dermatology",
                       clinic_id="clinic-westhills", phone="(555) 010-0511"),
            m.Provider(id="prov-rivera", name="Ana Rivera, RN", role="nurse", specialty=None,
                       clinic_id="clinic-riverside", phone="(555) 010-0120"),
            m.Provider(id="prov-walsh", name="Megan Walsh", role="care coordinator", specialty=None,
                       clinic_id="clinic-riverside", phone="(555) 010-0130"),
            m.Provider(id="prov-chen", name="Samuel Chen, PharmD", role="pharmacist", specialty=None,
                       clinic_id="clinic-riverside", phone="(555) 010-0140"),
            m.Provider(id="prov-adams", name="Leah Adams, RD", role="specialist", specialty="nutrition",
                       clinic_id="clinic-downtown", phone="(555) 010-0213"),
        ]
        for p in providers:
            put(p)

        # ---------------------------------------------------------------- patients
        # consent to texts as the intake form recorded it (Tom did not agree: his messages wait for
        # the web page); time_zone None: the clinic's (CARENAV_TIME_ZONE)
        consent = dict(sms_consent=True, sms_consent_method=CONSENT_METHOD, sms_consent_scope=CONSENT_SCOPE)
        patients = [
            m.Patient(id="demo-maria", mrn="DEMO-1001", given_name="Maria", family_name="Gonzalez",
                      birth_date=dt.date(1968, 4, 12), mobile_phone="+15550100101",
                      preferred_language="en", sms_consent_at=at(-12, 11, 40), **consent, source="demo"),
            m.Patient(id="demo-james", mrn="DEMO-1002", given_name="James", family_name="Carter",
                      birth_date=dt.date(1957, 9, 3), mobile_phone="+15550100102",
                      preferred_language="en", sms_consent_at=at(-400, 9, 15), **consent, source="demo"),
            m.Patient(id="demo-linda", mrn="DEMO-1003", given_name="Linda", family_name="Nguyen",
                      birth_date=dt.date(1949, 1, 27), mobile_phone="+15550100103",
                      preferred_language="en", sms_consent_at=at(-700, 14, 5), **consent, source="demo"),
            m.Patient(id="demo-robert", mrn="DEMO-1004", given_name="Robert", family_name="Johnson",
                      birth_date=dt.date(1962, 11, 8), mobile_phone="+15550100104",
                      preferred_language="en", sms_consent_at=at(-90, 10, 20), **consent, source="demo"),
            m.Patient(id="demo-aisha", mrn="DEMO-1005", given_name="Aisha", family_name="Patel",
                      birth_date=dt.date(1985, 6, 19), mobile_phone="+15550100105",
                      preferred_language="en", sms_consent_at=at(-500, 16, 0), **consent, source="demo"),
            m.Patient(id="demo-tom", mrn="DEMO-1006", given_name="Tom", family_name="Becker",
                      birth_date=dt.date(1990, 2, 14), mobile_phone="+15550100106",
                      preferred_language="en", sms_consent=False, sms_consent_at=None, sms_consent_method=None,
                      sms_consent_scope=None, source="demo"),
        ]
        for p in patients:
            put(p)
        s.flush()

        def team(patient_id: str, provider_id: str, role: str, can_message: bool) -> None:
            row = s.execute(select(m.CareTeamMember).where(
                m.CareTeamMember.patient_id == patient_id, m.CareTeamMember.provider_id == provider_id,
                m.CareTeamMember.role == role)).scalars().first()
            if row is None:
                s.add(m.CareTeamMember(patient_id=patient_id, provider_id=provider_id, role=role,
                                       can_message=can_message, active=True))
            else:
                row.can_message, row.active = can_message, True
            counts["care_team_members"] = counts.get("care_team_members", 0) + 1

        def activity(**kw) -> None:
            existing = s.get(m.CareActivity, kw["id"])
            if existing is not None and existing.completion_source == "patient-reported":
                counts["care_activities"] = counts.get("care_activities", 0) + 1
                return  # keep what the patient told us
            put(m.CareActivity(**kw))

        # ---- Maria: new type 2 diabetes, endocrinology + nutrition referrals (two open)
        team("demo-maria", "prov-okafor", "primary care", True)
        team("demo-maria", "prov-walsh", "care coordinator", True)
        team("demo-maria", "prov-shah", "specialist", False)
        team("demo-maria", "prov-chen", "pharmacist", True)
        put(m.Condition(id="demo-maria-cond-dm2", patient_id="demo-maria", name="Type 2 diabetes",
                        code="44054006", onset_date=d(-12)))
        put(m.Appointment(id="demo-maria-appt-endo", patient_id="demo-maria", starts_at=at(9, 10, 30),
                          clinic_id="clinic-downtown", provider_id="prov-shah", kind="new patient visit",
                          specialty="endocrinology",
                          preparation="Bring your blood sugar log and all your medicine bottles. "
                                      "No need to fast.", status="booked"))
        put(m.Appointment(id="demo-maria-appt-pcp", patient_id="demo-maria", starts_at=at(30, 9, 0),
                          clinic_id="clinic-riverside", provider_id="prov-okafor", kind="follow-up visit",
                          specialty="primary care", preparation="Bring your blood sugar log.", status="booked"))
        put(m.Referral(id="demo-maria-ref-endo", patient_id="demo-maria", referring_provider_id="prov-okafor",
                       receiving_provider_id="prov-shah", receiving_clinic_id="clinic-downtown",
                       specialty="endocrinology", reason_text="Newly diagnosed type 2 diabetes mellitus, A1c 8.4%",
                       reason_code="44054006",
                       plain_explanation="Your blood sugar has been running high and you were recently "
                                         "diagnosed with type 2 diabetes. An endocrinologist is a doctor who "
                                         "specializes in diabetes and hormones; they will help you and Dr. Okafor "
                                         "choose the right treatment plan.",
                       priority="routine", status="scheduled", sent_on=d(-10), received_on=d(-9),
                       approved_on=d(-7), scheduled_on=d(-5), appointment_id="demo-maria-appt-endo",
                       how_to_book=("Already booked. To change the time call Downtown Specialty Center "
                                    "at (555) 010-0200."),
                       what_to_bring="Your insurance card, a photo ID, your blood sugar log and all your medicines.",
                       report_received=False))
        put(m.Referral(id="demo-maria-ref-nutrition", patient_id="demo-maria", referring_provider_id="prov-okafor",
                       receiving_provider_id="prov-adams", receiving_clinic_id="clinic-downtown",
                       specialty="nutrition", reason_text="Medical nutrition therapy for type 2 diabetes",
                       plain_explanation="A dietitian will help you plan meals that keep your blood sugar "
                                         "steady, using foods you already like.",
                       priority="routine", status="approved", sent_on=d(-10), received_on=d(-8), approved_on=d(-3),
                       how_to_book="Call Downtown Specialty Center at (555) 010-0200 and ask for nutrition "
                                   "counseling; mention your referral from Dr. Okafor.",
                       what_to_bring="A food diary of 3 typical days, if you can.", report_received=False))
        put(m.CarePlan(id="demo-maria-plan", patient_id="demo-maria", title="Diabetes care plan",
                       status="active", created_on=d(-12)))
        put(m.Goal(id="demo-maria-goal-a1c", care_plan_id="demo-maria-plan", patient_id="demo-maria",
                   description="Bring your A1c below 7%", target="A1c under 7%", progress="8.4% at diagnosis",
                   status="active", due_date=d(90)))
        put(m.Goal(id="demo-maria-goal-walk", care_plan_id="demo-maria-plan", patient_id="demo-maria",
                   description="Walk 30 minutes, 5 days a week", target="150 minutes a week",
                   progress="about 60 minutes a week", status="active", due_date=d(60)))
        activity(id="demo-maria-act-sugar", care_plan_id="demo-maria-plan", patient_id="demo-maria",
                 description="Check your blood sugar every morning before breakfast and write it in your log",
                 kind="monitoring", due_date=d(2), status="in-progress", responsible="you")
        activity(id="demo-maria-act-class", care_plan_id="demo-maria-plan", patient_id="demo-maria",
                 description="Sign up for the diabetes self-management class", kind="education",
                 due_date=d(7), status="not-started", responsible="you")
        activity(id="demo-maria-act-eye", care_plan_id="demo-maria-plan", patient_id="demo-maria",
                 description="Book a diabetic eye exam", kind="task", due_date=d(21), status="not-started",
                 responsible="you")
        put(m.Medication(id="demo-maria-med-metformin", patient_id="demo-maria", name="metformin",
                         dose="500 mg tablet", schedule="once a day with dinner; after 2 weeks twice a day with meals",
                         prescriber_id="prov-okafor", start_date=d(-12), status="active",
                         change_note="new: started when you were diagnosed"))
        put(m.TestResult(id="demo-maria-res-a1c", patient_id="demo-maria", name="Hemoglobin A1c",
                         ordered_on=d(-14), resulted_on=d(-13), reviewed_on=d(-12), status="reviewed",
                         released_to_patient=True,
                         provider_note="Dr. Okafor reviewed this result with you at your visit. It is the reason "
                                       "for your diabetes care plan.",
                         value="8.4", unit="%", reference_range="4.0-5.6", ordering_provider_id="prov-okafor"))

        # ---- James: cardiology referral approved, waiting for him to book
        team("demo-james", "prov-okafor", "primary care", True)
        team("demo-james", "prov-rivera", "nurse", True)
        put(m.Condition(id="demo-james-cond-chestpain", patient_id="demo-james", name="Chest pain on exertion",
                        code="29857009", onset_date=d(-20)))
        put(m.Referral(id="demo-james-ref-cardio", patient_id="demo-james", referring_provider_id="prov-okafor",
                       receiving_provider_id="prov-mendez", receiving_clinic_id="clinic-eastgate",
                       specialty="cardiology", reason_text="Exertional chest discomfort, abnormal ECG; r/o CAD",
                       reason_code="29857009",
                       plain_explanation="You told Dr. Okafor about chest discomfort when you are active, and "
                                         "your heart tracing (EKG) showed a change worth a closer look. A "
                                         "cardiologist (heart doctor) will check how well blood flows to your "
                                         "heart, usually with a stress test.",
                       priority="urgent", status="approved", sent_on=d(-8), received_on=d(-7), approved_on=d(-4),
                       how_to_book="Call Eastgate Heart and Vascular at (555) 010-0300 (Mon-Thu 8am-5pm, "
                                   "Fri 8am-noon). Your referral is approved and marked urgent: ask for the "
                                   "first opening.",
                       what_to_bring="Your insurance card, a photo ID, a list of your medicines, and a copy "
                                     "of your EKG if you have one.",
                       report_received=False))
        put(m.Appointment(id="demo-james-appt-pcp", patient_id="demo-james", starts_at=at(14, 15, 0),
                          clinic_id="clinic-riverside", provider_id="prov-okafor", kind="follow-up visit",
                          specialty="primary care", preparation=None, status="booked"))
        put(m.TestResult(id="demo-james-res-ekg", patient_id="demo-james", name="Electrocardiogram (EKG)",
                         ordered_on=d(-9), resulted_on=d(-9), reviewed_on=d(-8), status="reviewed",
                         released_to_patient=True,
                         provider_note="Dr. Okafor reviewed your EKG and referred you to cardiology to look "
                                       "into it further.",
                         value=None, unit=None, reference_range=None, ordering_provider_id="prov-okafor"))
        put(m.TestResult(id="demo-james-res-lipids", patient_id="demo-james", name="Cholesterol panel",
                         ordered_on=d(-2), status="pending", released_to_patient=False,
                         ordering_provider_id="prov-okafor"))
        put(m.Medication(id="demo-james-med-aspirin", patient_id="demo-james", name="aspirin", dose="81 mg",
                         schedule="once a day", prescriber_id="prov-okafor", start_date=d(-8), status="active",
                         change_note="new: started with your referral"))
        put(m.Medication(id="demo-james-med-atorva", patient_id="demo-james", name="atorvastatin", dose="20 mg",
                         schedule="once a day at bedtime", prescriber_id="prov-okafor", start_date=d(-400),
                         status="active"))
        put(m.CarePlan(id="demo-james-plan", patient_id="demo-james", title="Heart health plan",
                       status="active", created_on=d(-8)))
        activity(id="demo-james-act-book", care_plan_id="demo-james-plan", patient_id="demo-james",
                 description="Call Eastgate Heart and Vascular to book your cardiology visit", kind="task",
                 due_date=d(3), status="not-started", responsible="you")
        activity(id="demo-james-act-symptoms", care_plan_id="demo-james-plan", patient_id="demo-james",
                 description="Write down when chest discomfort happens and what you were doing",
                 kind="monitoring", due_date=d(14), status="in-progress", responsible="you")

        # ---- Linda: discharged from hospital three days ago, follow-up visit, changed medicines
        team("demo-linda", "prov-lee", "primary care", True)
        team("demo-linda", "prov-walsh", "care coordinator", True)
        team("demo-linda", "prov-mendez", "specialist", False)
        team("demo-linda", "prov-chen", "pharmacist", True)
        put(m.Condition(id="demo-linda-cond-hf", patient_id="demo-linda", name="Heart failure",
                        code="84114007", onset_date=d(-6)))
        # the stay she was discharged from three days ago: check-ins follow on day 2 and day 7 (bot/outreach/)
        put(m.HospitalStay(id="demo-linda-stay", patient_id="demo-linda", facility="Riverside General Hospital",
                           admitted_on=d(-6), discharged_on=d(-3),
                           reason="Fluid built up because her heart was not pumping as strongly as it should"))
        put(m.Appointment(id="demo-linda-appt-followup", patient_id="demo-linda", starts_at=at(4, 11, 0),
                          clinic_id="clinic-northside", provider_id="prov-lee", kind="hospital follow-up visit",
                          specialty="primary care",
                          preparation="Bring your discharge papers, all your medicine bottles and your daily "
                                      "weight log.", status="booked"))
        put(m.Appointment(id="demo-linda-appt-cardio", patient_id="demo-linda", starts_at=at(12, 9, 30),
                          clinic_id="clinic-eastgate", provider_id="prov-mendez", kind="cardiology follow-up",
                          specialty="cardiology", preparation="Bring your weight log.", status="booked"))
        put(m.Referral(id="demo-linda-ref-cardio", patient_id="demo-linda", referring_provider_id="prov-lee",
                       receiving_provider_id="prov-mendez", receiving_clinic_id="clinic-eastgate",
                       specialty="cardiology", reason_text="CHF exacerbation, post-discharge follow-up",
                       reason_code="84114007",
                       plain_explanation="You were in the hospital because fluid built up from your heart not "
                                         "pumping as strongly as it should. The heart doctor will adjust your "
                                         "medicines and help keep you out of the hospital.",
                       priority="urgent", status="scheduled", sent_on=d(-3), received_on=d(-3), approved_on=d(-2),
                       scheduled_on=d(-2), appointment_id="demo-linda-appt-cardio",
                       how_to_book="Already booked. To change it call (555) 010-0300.",
                       what_to_bring="Your discharge papers, medicine bottles and daily weight log.",
                       report_received=False))
        put(m.CarePlan(id="demo-linda-plan", patient_id="demo-linda", title="After your hospital stay",
                       status="active", created_on=d(-3)))
        put(m.Goal(id="demo-linda-goal-weight", care_plan_id="demo-linda-plan", patient_id="demo-linda",
                   description="Keep your weight steady: call if you gain 3 pounds in a day or 5 in a week",
                   target="no gain over 3 lb a day", progress="steady since discharge", status="active"))
        activity(id="demo-linda-act-weigh", care_plan_id="demo-linda-plan", patient_id="demo-linda",
                 description="Weigh yourself every morning and write it down", kind="monitoring", due_date=d(0),
                 status="in-progress", responsible="you")
        activity(id="demo-linda-act-pharm", care_plan_id="demo-linda-plan", patient_id="demo-linda",
                 description="Medicine review call with the pharmacist", kind="follow-up", due_date=d(1),
                 status="scheduled", responsible="Samuel Chen, PharmD")
        activity(id="demo-linda-act-salt", care_plan_id="demo-linda-plan", patient_id="demo-linda",
                 description="Read the low-salt eating handout from your discharge papers", kind="education",
                 due_date=d(5), status="not-started", responsible="you")
        put(m.Medication(id="demo-linda-med-furosemide", patient_id="demo-linda", name="furosemide", dose="40 mg",
                         schedule="every morning", prescriber_id="prov-mendez", start_date=d(-3), status="active",
                         change_note="new at discharge"))
        put(m.Medication(id="demo-linda-med-lisinopril", patient_id="demo-linda", name="lisinopril", dose="10 mg",
                         schedule="once a day", prescriber_id="prov-lee", start_date=d(-700), status="active",
                         change_note="dose changed at discharge: was 20 mg"))
        put(m.Medication(id="demo-linda-med-carvedilol", patient_id="demo-linda", name="carvedilol",
                         dose="3.125 mg", schedule="twice a day with food", prescriber_id="prov-mendez",
                         start_date=d(-3), status="active", change_note="new at discharge"))
        put(m.Medication(id="demo-linda-med-ibuprofen", patient_id="demo-linda", name="ibuprofen", dose="400 mg",
                         schedule="as needed", prescriber_id="prov-lee", start_date=d(-300), stop_date=d(-3),
                         status="stopped", change_note="stopped at discharge: can make heart failure worse"))
        put(m.TestResult(id="demo-linda-res-bmp", patient_id="demo-linda", name="Basic metabolic panel",
                         ordered_on=d(-1), status="pending", released_to_patient=False,
                         ordering_provider_id="prov-lee"))

        # ---- Robert: overdue care-plan tasks; a finished nephrology referral with the report back
        team("demo-robert", "prov-okafor", "primary care", True)
        team("demo-robert", "prov-brooks", "specialist", False)
        team("demo-robert", "prov-rivera", "nurse", True)
        put(m.Condition(id="demo-robert-cond-htn", patient_id="demo-robert", name="High blood pressure",
                        code="38341003", onset_date=d(-2000)))
        put(m.Condition(id="demo-robert-cond-ckd", patient_id="demo-robert", name="Chronic kidney disease stage 3",
                        code="433144002", onset_date=d(-200)))
        put(m.CarePlan(id="demo-robert-plan", patient_id="demo-robert", title="Blood pressure and kidney plan",
                       status="active", created_on=d(-90)))
        put(m.Goal(id="demo-robert-goal-bp", care_plan_id="demo-robert-plan", patient_id="demo-robert",
                   description="Blood pressure under 130/80 at home", target="under 130/80",
                   progress="averaging 142/88", status="active", due_date=d(45)))
        activity(id="demo-robert-act-bplog", care_plan_id="demo-robert-plan", patient_id="demo-robert",
                 description="Send your two-week home blood pressure log to the nurse", kind="monitoring",
                 due_date=d(-10), status="not-started", responsible="you")
        activity(id="demo-robert-act-urine", care_plan_id="demo-robert-plan", patient_id="demo-robert",
                 description="Get your kidney urine test (urine albumin) at the lab", kind="task",
                 due_date=d(-3), status="not-started", responsible="you")
        activity(id="demo-robert-act-diet", care_plan_id="demo-robert-plan", patient_id="demo-robert",
                 description="Kidney-friendly eating class", kind="education", due_date=d(20),
                 status="scheduled", responsible="you")
        put(m.Referral(id="demo-robert-ref-neph", patient_id="demo-robert", referring_provider_id="prov-okafor",
                       receiving_provider_id="prov-brooks", receiving_clinic_id="clinic-downtown",
                       specialty="nephrology", reason_text="CKD stage 3a, eGFR 52",
                       plain_explanation="Blood tests showed your kidneys are filtering less than they should. "
                                         "A nephrologist (kidney doctor) helps protect your kidneys.",
                       priority="routine", status="completed", sent_on=d(-80), received_on=d(-78),
                       approved_on=d(-75), scheduled_on=d(-70), completed_on=d(-40), report_received=True,
                       report_recorded_at=at(-38, 15, 30),  # marked back by the care team (no summary typed)
                       how_to_book=None, what_to_bring=None))
        put(m.Medication(id="demo-robert-med-amlodipine", patient_id="demo-robert", name="amlodipine", dose="10 mg",
                         schedule="once a day", prescriber_id="prov-okafor", start_date=d(-900), status="active"))
        put(m.Medication(id="demo-robert-med-losartan", patient_id="demo-robert", name="losartan", dose="50 mg",
                         schedule="once a day", prescriber_id="prov-brooks", start_date=d(-40), status="active",
                         change_note="new: started by the kidney doctor"))
        put(m.Appointment(id="demo-robert-appt-pcp", patient_id="demo-robert", starts_at=at(21, 8, 30),
                          clinic_id="clinic-riverside", provider_id="prov-okafor", kind="blood pressure check",
                          specialty="primary care", preparation="Bring your home blood pressure cuff and log.",
                          status="booked"))

        # ---- Aisha: one result released, one back but not yet released, one pending
        team("demo-aisha", "prov-lee", "primary care", True)
        team("demo-aisha", "prov-ito", "specialist", False)
        put(m.TestResult(id="demo-aisha-res-mammo", patient_id="demo-aisha", name="Screening mammogram",
                         ordered_on=d(-20), resulted_on=d(-15), reviewed_on=d(-14), status="reviewed",
                         released_to_patient=True,
                         provider_note="Dr. Lee reviewed this: no signs of cancer. Next screening in one year.",
                         ordering_provider_id="prov-lee"))
        put(m.TestResult(id="demo-aisha-res-tsh", patient_id="demo-aisha", name="Thyroid test (TSH)",
                         ordered_on=d(-6), resulted_on=d(-4), status="resulted", released_to_patient=False,
                         value="6.8", unit="mIU/L", reference_range="0.4-4.0", ordering_provider_id="prov-lee"))
        put(m.TestResult(id="demo-aisha-res-cbc", patient_id="demo-aisha", name="Complete blood count",
                         ordered_on=d(-1), status="pending", released_to_patient=False,
                         ordering_provider_id="prov-lee"))
        put(m.Referral(id="demo-aisha-ref-derm", patient_id="demo-aisha", referring_provider_id="prov-lee",
                       receiving_provider_id="prov-ito", receiving_clinic_id="clinic-westhills",
                       specialty="dermatology", reason_text="Changing pigmented lesion, left shoulder",
                       plain_explanation="Dr. Lee wants a skin specialist to take a closer look at the mole on "
                                         "your left shoulder that has changed. Most such checks are routine.",
                       priority="routine", status="sent", sent_on=d(-2),
                       how_to_book="West Hills Medical Group will call you within 5 business days to book. "
                                   "If you have not heard by then, call (555) 010-0500.",
                       what_to_bring="Your insurance card and a photo ID. Don't wear lotion on the area.",
                       report_received=False))
        put(m.Appointment(id="demo-aisha-appt-lee", patient_id="demo-aisha", starts_at=at(6, 13, 15),
                          clinic_id="clinic-northside", provider_id="prov-lee", kind="results follow-up visit",
                          specialty="primary care", preparation=None, status="booked"))
        put(m.Medication(id="demo-aisha-med-cetirizine", patient_id="demo-aisha", name="cetirizine", dose="10 mg",
                         schedule="once a day in allergy season", prescriber_id="prov-lee", start_date=d(-500),
                         status="active"))

        # ---- Tom: no care plan, no referrals: a primary care doctor and a yearly checkup
        team("demo-tom", "prov-okafor", "primary care", False)
        put(m.Appointment(id="demo-tom-appt-checkup", patient_id="demo-tom", starts_at=at(40, 9, 0),
                          clinic_id="clinic-riverside", provider_id="prov-okafor", kind="annual checkup",
                          specialty="primary care", preparation="Fast for 8 hours before (water is fine) "
                                                                "if you want your cholesterol checked.",
                          status="booked"))

        # ---------------------------------------------------------------- community resources
        resources = [
            ("res-ride-county", "transportation", "County Medical Rides",
             "Free door-to-door rides to medical appointments for people without a car. Book 2 days ahead.",
             "(555) 010-0700", "https://example.org/rides", "Medicaid members and adults 60+", None),
            ("res-ride-volunteer", "transportation", "Neighbors Driving Neighbors",
             "Volunteer drivers for appointments and the pharmacy on the north side.",
             "(555) 010-0701", None, "Anyone who cannot drive", "northside"),
            ("res-bus-pass", "transportation", "Reduced-Fare Bus Pass",
             "Half-price monthly bus pass for people with a medical condition or low income.",
             "(555) 010-0702", "https://example.org/bus", "Income or disability based", None),
            ("res-food-pantry", "food", "Riverside Food Pantry",
             "Free groceries twice a month, with fresh produce and diabetes-friendly options.",
             "(555) 010-0710", None, "Open to all; bring an ID", "riverside"),
            ("res-meals", "food", "Meals at Home",
             "Delivered meals for people recovering from a hospital stay or who cannot cook.",
             "(555) 010-0711", "https://example.org/meals", "Adults 60+ or recently discharged", None),
            ("res-snap", "food", "SNAP Application Help",
             "Help applying for SNAP food benefits, by phone or in person downtown.",
             "(555) 010-0712", None, "Income based", "downtown"),
            ("res-rx-help", "cost of care", "Prescription Assistance Program",
             "The clinic pharmacist helps you find lower-cost medicines and manufacturer programs.",
             "(555) 010-0140", None, "Any clinic patient", None),
            ("res-financial-counsel", "cost of care", "Financial Counseling and Sliding-Scale Fees",
             "Help with medical bills, payment plans and the clinic's sliding-scale discounts.",
             "(555) 010-0720", None, "Based on household income", None),
            ("res-diabetes-group", "support group", "Living Well with Diabetes Group",
             "Monthly peer support group for people with diabetes and their families.",
             "(555) 010-0730", None, "Open to all", "downtown"),
            ("res-heart-group", "support group", "Heart Failure Support Circle",
             "Meets every other week at Eastgate; share tips on living with heart failure.",
             "(555) 010-0731", None, "Patients and family members", "eastgate"),
            ("res-caregiver", "caregiver", "Family Caregiver Support Line",
             "Advice, respite care referrals and a caregiver class for people caring for a relative.",
             "(555) 010-0740", "https://example.org/caregivers", "Unpaid family caregivers", None),
            ("res-dsme", "education", "Diabetes Self-Management Classes",
             "A free 6-week class on blood sugar, food, medicines and activity, taught by nurses.",
             "(555) 010-0750", None, "Adults with diabetes or prediabetes", "riverside"),
            ("res-cooking", "education", "Healthy Cooking on a Budget",
             "Hands-on cooking classes for low-salt and diabetes-friendly meals.",
             "(555) 010-0751", None, "Open to all", "west hills"),
            ("res-housing", "housing", "Housing Help Desk",
             "Help with rent, utility bills and finding a safe place to live.",
             "(555) 010-0760", "https://example.org/housing", "Income based", None),
        ]
        for rid, category, name, description, phone, web, eligibility, area in resources:
            put(m.CommunityResource(id=rid, category=category, name=name, description=description,
                                    phone=phone, web=web, eligibility=eligibility, area=area))

    order = ("patients", "clinics", "clinic_ratings", "providers", "care_team_members", "referrals",
             "appointments", "care_plans", "care_activities", "test_results", "medications",
             "hospital_stays", "community_resources")
    return {kind: counts[kind] for kind in order if kind in counts}
