"""The query layer answers each question for one patient, in the order a patient needs it.

Every test runs on SQLite and on PostgreSQL (the `seeded_db` fixture is parametrized).
"""
from __future__ import annotations

import datetime as dt

from bot.store import models as m
from bot.store.queries import CareStore
from bot.store.seed import seed_demo
from tests.store.conftest import TODAY

DEMO_PATIENTS = ["demo-maria", "demo-james", "demo-linda", "demo-robert", "demo-aisha", "demo-tom"]
NOW = dt.datetime.combine(TODAY, dt.time(8, 0))


def test_demo_has_the_situations_the_issue_asks_for(seeded_db):
    store = CareStore(seeded_db)
    assert [pid for pid, _ in store.list_patients()] == sorted(DEMO_PATIENTS)
    maria = store.open_referrals_for("demo-maria")
    assert {r.specialty for r in maria} == {"endocrinology", "nutrition"}  # two open referrals
    james = store.open_referrals_for("demo-james")
    assert [(r.specialty, r.status, r.appointment) for r in james] == [("cardiology", "approved", None)]
    linda_meds = store.active_medications_for("demo-linda")
    assert any("discharge" in (med.change_note or "") for med in linda_meds)
    assert store.upcoming_appointments_for("demo-linda", NOW)[0].kind == "hospital follow-up visit"
    assert store.next_steps_for("demo-robert", TODAY).overdue
    assert store.released_results_for("demo-aisha") and store.pending_results_for("demo-aisha")
    assert store.next_steps_for("demo-tom", TODAY).has_care_plan is False
    assert len(store.clinic_ratings()) >= 3
    assert len(store.community_resources()) >= 12


def test_next_steps_put_overdue_first_then_by_due_date(seeded_db):
    steps = CareStore(seeded_db).next_steps_for("demo-robert", TODAY)
    assert [(a.id, a.overdue, a.days_overdue) for a in steps.activities] == [
        ("demo-robert-act-bplog", True, 10),
        ("demo-robert-act-urine", True, 3),
        ("demo-robert-act-diet", False, 0),
    ]
    maria = CareStore(seeded_db).next_steps_for("demo-maria", TODAY)
    dues = [a.due_date for a in maria.activities]
    assert dues == sorted(dues) and not maria.overdue
    assert [g.id for g in maria.goals] == ["demo-maria-goal-walk", "demo-maria-goal-a1c"]  # sooner goal first


def test_overdue_is_relative_to_the_day_asked(seeded_db):
    store = CareStore(seeded_db)
    later = TODAY + dt.timedelta(days=8)
    steps = store.next_steps_for("demo-maria", later)
    assert [a.id for a in steps.overdue] == ["demo-maria-act-sugar", "demo-maria-act-class"]
    assert [a.days_overdue for a in steps.overdue] == [6, 1]  # the most overdue first


def test_a_task_the_patient_reports_done_leaves_the_list_and_survives_a_reseed(seeded_db):
    store = CareStore(seeded_db)
    done = store.mark_activity_done_by_patient("demo-robert", "i sent the blood pressure log", now=NOW)
    assert done.activity is not None and done.activity.id == "demo-robert-act-bplog"
    ids = [a.id for a in store.next_steps_for("demo-robert", TODAY).activities]
    assert "demo-robert-act-bplog" not in ids and len(ids) == 2
    seed_demo(seeded_db, today=TODAY)
    ids_after = [a.id for a in store.next_steps_for("demo-robert", TODAY).activities]
    assert ids_after == ids
    with seeded_db.session() as s:
        row = s.get(m.CareActivity, "demo-robert-act-bplog")
        assert (row.status, row.completion_source) == ("completed", "patient-reported")


def test_an_ambiguous_done_report_changes_nothing_and_offers_choices(seeded_db):
    store = CareStore(seeded_db)
    result = store.mark_activity_done_by_patient("demo-maria", "i did it", now=NOW)
    assert result.activity is None and len(result.candidates) == 3
    assert len(store.next_steps_for("demo-maria", TODAY).activities) == 3


def test_a_loose_match_is_offered_not_recorded(seeded_db):
    """"blood work" is not "check your blood sugar": the patient picks, nothing is marked."""
    store = CareStore(seeded_db)
    result = store.mark_activity_done_by_patient("demo-maria", "i did my blood work this morning", now=NOW)
    assert result.activity is None
    assert "demo-maria-act-sugar" in [c.id for c in result.candidates]
    assert len(store.next_steps_for("demo-maria", TODAY).activities) == 3
    named = store.mark_activity_done_by_patient("demo-maria", "i signed up for the diabetes class", now=NOW)
    assert named.activity is not None and named.activity.id == "demo-maria-act-class"


def test_a_patient_cannot_complete_another_patients_task(seeded_db):
    store = CareStore(seeded_db)
    result = store.mark_activity_done_by_patient("demo-maria", activity_id="demo-robert-act-bplog", now=NOW)
    assert result.activity is None
    assert store.next_steps_for("demo-robert", TODAY).activities[0].id == "demo-robert-act-bplog"


def test_only_released_results_are_shown_and_pending_ones_carry_no_values(seeded_db):
    store = CareStore(seeded_db)
    released = store.released_results_for("demo-aisha")
    assert [r.name for r in released] == ["Screening mammogram"]
    pending = {p.name: p.back_but_not_released for p in store.pending_results_for("demo-aisha")}
    assert pending == {"Thyroid test (TSH)": True, "Complete blood count": False}
    everything = repr(released) + repr(store.pending_results_for("demo-aisha"))
    assert "6.8" not in everything and "mIU" not in everything  # the unreleased TSH value never leaves


def test_appointments_are_upcoming_only_and_in_time_order(seeded_db):
    with seeded_db.session() as s:
        s.add(m.Appointment(id="demo-linda-appt-past", patient_id="demo-linda",
                            starts_at=NOW - dt.timedelta(days=2), kind="past visit", status="fulfilled"))
        s.add(m.Appointment(id="demo-linda-appt-cancelled", patient_id="demo-linda",
                            starts_at=NOW + dt.timedelta(days=1), kind="cancelled visit", status="cancelled"))
    appts = CareStore(seeded_db).upcoming_appointments_for("demo-linda", NOW)
    assert [a.id for a in appts] == ["demo-linda-appt-followup", "demo-linda-appt-cardio"]
    assert appts[0].clinic_name == "Northside Family Clinic" and "discharge papers" in appts[0].preparation


def test_referral_explains_who_to_whom_why_and_how_to_book(seeded_db):
    ref = CareStore(seeded_db).referral_for("demo-james", "demo-james-ref-cardio")
    assert ref.referring_provider == "Dr. Grace Okafor"
    assert ref.receiving_provider == "Dr. Luis Mendez"
    assert ref.receiving_clinic == "Eastgate Heart and Vascular"
    assert "heart" in ref.plain_explanation and "(555) 010-0300" in ref.how_to_book
    assert ref.priority == "urgent" and ref.status_date == TODAY - dt.timedelta(days=4)
    # the id of James's referral does not open it for Maria
    assert CareStore(seeded_db).referral_for("demo-maria", "demo-james-ref-cardio") is None


def test_closed_referrals_are_not_open_but_are_remembered(seeded_db):
    store = CareStore(seeded_db)
    assert store.open_referrals_for("demo-robert") == []
    [ref] = store.referrals_for("demo-robert")
    assert ref.status == "completed" and ref.report_received


def test_medicines_changed_recently_come_first_and_stopped_ones_are_not_active(seeded_db):
    store = CareStore(seeded_db)
    meds = store.active_medications_for("demo-linda")
    assert [med.name for med in meds] == ["carvedilol", "furosemide", "lisinopril"]
    assert [med.name for med in store.stopped_medications_for("demo-linda")] == ["ibuprofen"]


def test_care_team_primary_care_first(seeded_db):
    team = CareStore(seeded_db).care_team_for("demo-linda")
    assert [(t.role, t.name) for t in team] == [
        ("primary care", "Dr. Daniel Lee"), ("care coordinator", "Megan Walsh"),
        ("specialist", "Dr. Luis Mendez"), ("pharmacist", "Samuel Chen, PharmD")]
    assert team[0].can_message and not team[2].can_message


def test_clinic_ratings_best_overall_first_and_filtered(seeded_db):
    store = CareStore(seeded_db)
    overall = [c.overall for c in store.clinic_ratings()]
    assert overall == sorted(overall, reverse=True)
    cardiology = store.clinic_ratings(specialty="cardiology")
    assert [c.name for c in cardiology] == ["Eastgate Heart and Vascular", "Downtown Specialty Center"]
    assert set(cardiology[0].scores) == set(m.RATING_CATEGORIES) and cardiology[0].respondents > 0
    assert [c.name for c in store.clinic_ratings(area="Northside")] == ["Northside Family Clinic"]


def test_resources_by_category_with_the_asked_area_first(seeded_db):
    store = CareStore(seeded_db)
    food = store.community_resources("food", area="riverside")
    assert food[0].name == "Riverside Food Pantry"
    assert all(r.area in (None, "riverside") for r in food)
    assert {r.category for r in store.community_resources()} == set(m.RESOURCE_CATEGORIES)


def test_callbacks_and_saved_questions_are_kept(seeded_db):
    store = CareStore(seeded_db)
    cb = store.record_callback_request("demo-tom", "wants to talk about a bill", "rest", "conv-1", NOW)
    assert [c.id for c in store.open_callback_requests("demo-tom")] == [cb]
    assert store.open_callback_requests("demo-maria") == []
    assert store.save_question("demo-maria", "Can I  still eat rice?", "new diagnosis", NOW) is True
    assert store.save_question("demo-maria", "Can I still eat rice?", "new diagnosis", NOW) is False
    assert [q.question for q in store.saved_questions_for("demo-maria")] == ["Can I still eat rice?"]
    assert store.saved_questions_for("demo-james") == []


def test_patient_by_phone(seeded_db):
    store = CareStore(seeded_db)
    assert store.patient_by_phone("+15550100103").id == "demo-linda"
    assert store.patient_by_phone("+15559999999") is None


def _everything_about(store: CareStore, patient_id: str) -> str:
    answers = [
        store.patient(patient_id), store.next_steps_for(patient_id, TODAY),
        store.open_referrals_for(patient_id), store.referrals_for(patient_id),
        store.upcoming_appointments_for(patient_id, NOW), store.released_results_for(patient_id),
        store.pending_results_for(patient_id), store.active_medications_for(patient_id),
        store.stopped_medications_for(patient_id), store.care_team_for(patient_id),
        store.saved_questions_for(patient_id), store.audit_for(patient_id),
    ]
    return repr(answers)


def test_nothing_of_one_patient_appears_in_any_answer_for_another(seeded_db):
    store = CareStore(seeded_db)
    for pid in DEMO_PATIENTS:
        store.save_question(pid, f"question of {pid}", None, NOW)
        store.record_disclosure(pid, "referral", "shown", conversation_id=f"conv-{pid}", channel="rest", now=NOW)
    names = dict(store.list_patients())
    for pid in DEMO_PATIENTS:
        text = _everything_about(store, pid)
        assert pid in text
        for other in DEMO_PATIENTS:
            if other == pid:
                continue
            assert f"{other}-" not in text and f"'{other}'" not in text, (pid, other)
            assert names[other] not in text, (pid, other)
