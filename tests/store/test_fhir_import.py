"""Importing FHIR R4 Bundles: what a clinic sees after `carenav import-fhir`.

The shared bundles (../shared/data/fhir, eight Synthea patients and two US Core test patients)
are read in place. Expected counts are taken from the JSON here, independently of the importer.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import models as m
from bot.store.db import Database
from bot.store.fhir import import_paths, row_id

ROOT = Path(__file__).resolve().parents[2]
FHIR_DIR = ROOT.parent / "shared" / "data" / "fhir"
BUNDLES = sorted(FHIR_DIR.glob("*.json"))
INFERNO_355 = FHIR_DIR / "inferno_uscore_bundle_patient_355.json"
BAD_OBSERVATION = "3c766796-d8a0-480f-8215-f1e7e3afab21"  # effectivePeriod.stop: not R4


def test_the_shared_bundles_are_there():
    assert len(BUNDLES) == 10, f"expected the ten shared bundles in {FHIR_DIR}"
    assert INFERNO_355 in BUNDLES


# ---------------------------------------------------------------------------------------------
# Expected numbers, read straight from the JSON


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _resources(path: Path, resource_type: str) -> list[dict]:
    return [e["resource"] for e in _load(path).get("entry", []) if e["resource"]["resourceType"] == resource_type]


def _all(resource_type: str) -> list[dict]:
    return [r for path in BUNDLES for r in _resources(path, resource_type)]


def _codes(concepts) -> set:
    if isinstance(concepts, dict):
        concepts = [concepts]
    return {c.get("code") for cc in concepts or [] for c in cc.get("coding", [])}


def _texts(concepts) -> list[str]:
    if isinstance(concepts, dict):
        concepts = [concepts]
    out = []
    for cc in concepts or []:
        out.append(cc.get("text") or "")
        out += [c.get("display") or "" for c in cc.get("coding", [])]
    return out


def _is_referral(sr: dict) -> bool:
    concepts = sr.get("category", []) + ([sr["code"]] if "code" in sr else [])
    return bool(sr.get("performer")) \
        or bool(_codes(concepts) & {"3457005", "306206005", "183444007", "103696004", "410606002", "sdoh"}) \
        or any("referral" in t.lower() for t in _texts(concepts))


def _has_value(obs: dict) -> bool:
    if any(k.startswith("value") for k in obs):
        return True
    components = obs.get("component") or []
    return bool(components) and all(any(k.startswith("value") for k in c) for c in components)


def _is_result(obs: dict) -> bool:
    return (bool(_codes(obs.get("category")) & {"laboratory", "vital-signs"})
            and obs["status"] in ("final", "amended", "corrected", "preliminary", "registered")
            and _has_value(obs) and obs["id"] != BAD_OBSERVATION)


def _is_active_order(mr: dict) -> bool:
    return mr["status"] == "active" and mr.get("intent") not in ("proposal", "plan", "option")


def _is_active_condition(c: dict) -> bool:
    return _codes(c.get("clinicalStatus")) & {"active", "recurrence", "relapse"} != set()


def _care_team_pairs() -> set:
    """(patient id, practitioner id) for every practitioner named on a CareTeam."""
    pairs = set()
    for path in BUNDLES:
        bundle = _load(path)
        by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"] if "fullUrl" in e}
        for e in bundle["entry"]:
            team = e["resource"]
            if team["resourceType"] != "CareTeam":
                continue
            patient = by_url[team["subject"]["reference"]]
            for participant in team.get("participant", []):
                member = by_url.get(participant.get("member", {}).get("reference"))
                if member and member["resourceType"] == "Practitioner":
                    pairs.add((row_id("Patient", patient["id"]), row_id("Practitioner", member["id"])))
    return pairs


def _count(db: Database, model, *where) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _snapshot(db: Database) -> dict:
    """Every row of every table, for comparing a store before and after."""
    with db.session() as s:
        return {t.name: sorted(tuple(str(v) for v in row) for row in s.execute(t.select()))
                for t in m.Base.metadata.sorted_tables}


def _new_db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.create_schema()
    return db


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """One SQLite store with every shared bundle imported (read-only for the tests using it)."""
    db = _new_db(tmp_path_factory.mktemp("fhir") / "store.db")
    report = import_paths(db, [FHIR_DIR])
    yield db, report
    db.dispose()


@pytest.fixture
def fresh_db(tmp_path):
    db = _new_db(tmp_path / "store.db")
    yield db
    db.dispose()


# ---------------------------------------------------------------------------------------------
# Counts


def expected_counts() -> dict:
    """Rows each table should hold after importing all shared bundles, from the JSON alone."""
    orgs = {r["id"] for r in _all("Organization")}
    return {
        m.Patient: len(_all("Patient")),
        m.Clinic: len(orgs),  # every Location here is managed by one of the bundle's Organizations
        m.Provider: len({r["id"] for r in _all("Practitioner")}),
        m.CarePlan: len(_all("CarePlan")),
        m.CareActivity: sum(len(r.get("activity", [])) for r in _all("CarePlan")),
        m.Goal: len(_all("Goal")),
        m.Referral: sum(1 for r in _all("ServiceRequest") if _is_referral(r)),
        m.Medication: sum(1 for r in _all("MedicationRequest") if _is_active_order(r)),
        m.Condition: sum(1 for r in _all("Condition") if _is_active_condition(r)),
        m.TestResult: sum(1 for r in _all("Observation") if _is_result(r))
        + sum(1 for r in _all("DiagnosticReport") if "LAB" in _codes(r.get("category"))),
        m.Appointment: len(_all("Appointment")) + sum(
            1 for r in _all("Encounter") if r.get("period", {}).get("start", "") > datetime.now().isoformat()),
    }


def _assert_store_matches_bundles(db: Database) -> None:
    for model, expected in expected_counts().items():
        assert _count(db, model) == expected, model.__tablename__
    pairs = _care_team_pairs()
    with db.session() as s:
        stored = set(s.execute(select(m.CareTeamMember.patient_id, m.CareTeamMember.provider_id)).all())
    assert stored == pairs


def test_every_bundle_is_imported_and_counts_match_the_json(imported):
    db, report = imported
    assert report.bundles_imported == len(BUNDLES)
    assert not report.file_problems
    _assert_store_matches_bundles(db)
    assert _count(db, m.Patient, m.Patient.source == "fhir") == len(_all("Patient"))
    # the summary counts agree with the JSON too
    assert report.counts["Patient"]["imported"] == len(_all("Patient"))
    assert report.counts["MedicationRequest"]["imported"] == sum(map(_is_active_order, _all("MedicationRequest")))
    assert report.counts["MedicationRequest"]["skipped"] == sum(
        not _is_active_order(r) for r in _all("MedicationRequest"))
    assert report.counts["CarePlan"]["imported"] == len(_all("CarePlan"))
    assert report.counts["Observation"]["invalid"] == 1
    for ignored in ("Claim", "ExplanationOfBenefit", "Immunization"):
        assert report.counts[ignored] == {"imported": 0, "skipped": len(_all(ignored)), "invalid": 0}


def test_each_patient_gets_their_own_medicines_and_care_plans(imported):
    db, _ = imported
    for path in BUNDLES:
        patient = _resources(path, "Patient")[0]
        pid = row_id("Patient", patient["id"])
        medicines = Counter(
            (r.get("medicationCodeableConcept") or {}).get("text") for r in _resources(path, "MedicationRequest")
            if _is_active_order(r))
        with db.session() as s:
            stored = Counter(s.execute(select(m.Medication.name).where(m.Medication.patient_id == pid)).scalars())
            plans = s.execute(select(func.count()).select_from(m.CarePlan)
                              .where(m.CarePlan.patient_id == pid)).scalar_one()
            stored_patient = s.get(m.Patient, pid)
        if None not in medicines:  # one medicine is named only by a referenced Medication resource
            assert stored == medicines, path.name
        else:
            assert sum(stored.values()) == sum(medicines.values())
        assert plans == len(_resources(path, "CarePlan")), path.name
        official = next(n for n in patient["name"] if n.get("use") == "official")
        assert stored_patient.family_name == official["family"]
        assert stored_patient.birth_date == date.fromisoformat(patient["birthDate"])
        mrn = next(i["value"] for i in patient["identifier"] if "MR" in _codes(i.get("type")))
        assert stored_patient.mrn == mrn


def test_languages_come_from_the_patients_communication(imported):
    db, _ = imported
    with db.session() as s:
        languages = {p.id: p.preferred_language for p in s.execute(select(m.Patient)).scalars()}
    for path in BUNDLES:
        patient = _resources(path, "Patient")[0]
        code = patient["communication"][0]["language"]["coding"][0]["code"]
        assert languages[row_id("Patient", patient["id"])] == code.split("-")[0]
    assert "es" in languages.values() and "ru" in languages.values()


def test_the_social_service_request_becomes_a_referral_in_plain_words(imported):
    db, _ = imported
    with db.session() as s:
        referrals = s.execute(select(m.Referral)).scalars().all()
    assert [r.id for r in referrals] == [row_id("ServiceRequest", "706eb626-2e3a-4f23-bb58-dd11cde7da98")]
    referral = referrals[0]
    assert referral.patient_id == row_id("Patient", "355")
    assert referral.status == "sent"
    assert referral.reason_code == "24165007"
    assert referral.reason_text == "Alcohol rehabilitation"
    assert "counselor" in referral.plain_explanation
    assert referral.referring_provider_id == row_id("Practitioner", "618787f5-2588-3dca-b90e-5e8fd27b1a36")
    assert referral.sent_on == date(2021, 11, 12)


def test_completed_care_plans_have_no_open_steps(imported):
    db, _ = imported
    done = [r["id"] for r in _all("CarePlan") if r["status"] == "completed"]
    with db.session() as s:
        statuses = set(s.execute(select(m.CareActivity.status).where(
            m.CareActivity.care_plan_id.in_([row_id("CarePlan", i) for i in done]))).scalars())
    assert statuses == {"completed"}


def test_results_are_released_when_final_by_default(imported):
    db, _ = imported
    with db.session() as s:
        results = s.execute(select(m.TestResult)).scalars().all()
    assert results and all(r.status == "resulted" and r.released_to_patient for r in results)
    assert all(r.resulted_on is not None for r in results)


# ---------------------------------------------------------------------------------------------
# Idempotence, invalid resources, settings


def test_importing_twice_changes_nothing(fresh_db):
    first = import_paths(fresh_db, BUNDLES, skip_invalid=True)
    before = _snapshot(fresh_db)
    second = import_paths(fresh_db, BUNDLES, skip_invalid=True)
    assert _snapshot(fresh_db) == before
    assert second.counts == first.counts
    _assert_store_matches_bundles(fresh_db)


def test_patient_355s_invalid_observation_is_reported_and_the_rest_imported(fresh_db):
    report = import_paths(fresh_db, [INFERNO_355])
    assert len(report.invalid) == 1
    problem = report.invalid[0]
    assert (Path(problem.file).name, problem.resource_type, problem.resource_id, problem.field) == (
        INFERNO_355.name, "Observation", BAD_OBSERVATION, "effectivePeriod.stop")
    assert str(problem).startswith(f"{problem.file}: Observation/{BAD_OBSERVATION}: effectivePeriod.stop: ")
    assert report.exit_code != 0
    assert import_paths(fresh_db, [INFERNO_355], skip_invalid=True).exit_code == 0
    with fresh_db.session() as s:
        assert s.get(m.TestResult, row_id("Observation", BAD_OBSERVATION)) is None
        assert s.get(m.Patient, row_id("Patient", "355")) is not None
    observations = _resources(INFERNO_355, "Observation")
    assert _count(fresh_db, m.TestResult, m.TestResult.id.like("fhir-observation-%")) == \
        sum(1 for r in observations if _is_result(r))
    assert _count(fresh_db, m.CarePlan) == len(_resources(INFERNO_355, "CarePlan"))
    assert _count(fresh_db, m.Medication) == sum(map(_is_active_order, _resources(INFERNO_355, "MedicationRequest")))


def test_release_setting_none_keeps_results_unreleased(fresh_db, monkeypatch):
    monkeypatch.setenv("CARENAV_FHIR_RELEASE_RESULTS", "none")
    import_paths(fresh_db, [BUNDLES[2]])
    with fresh_db.session() as s:
        released = s.execute(select(m.TestResult.released_to_patient)).scalars().all()
    assert released and not any(released)


def test_an_unknown_release_setting_is_refused(fresh_db, monkeypatch):
    monkeypatch.setenv("CARENAV_FHIR_RELEASE_RESULTS", "sometimes")
    with pytest.raises(ValueError, match="CARENAV_FHIR_RELEASE_RESULTS"):
        import_paths(fresh_db, [BUNDLES[2]])


# ---------------------------------------------------------------------------------------------
# A hand-written bundle for what the shared ones do not carry: "Type/id" references, a referral
# to a specialist, appointments, a mobile number, doses.

SOON = (datetime.now() + timedelta(days=10)).replace(hour=9, minute=30, second=0, microsecond=0)
PAST = datetime.now() - timedelta(days=400)


def _clinic_bundle(medication_status: str = "active") -> dict:
    def entry(resource):
        return {"fullUrl": f"https://ehr.example.org/fhir/{resource['resourceType']}/{resource['id']}",
                "resource": resource}

    def snomed(code, display):
        return {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}], "text": display}

    resources = [
        {"resourceType": "Patient", "id": "p1",
         "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                              "code": "MR"}]}, "value": "MRN-0001"}],
         "name": [{"use": "official", "family": "Ruiz", "given": ["Ana", "Maria"]}],
         "telecom": [{"system": "phone", "value": "555-111-2222", "use": "home"},
                     {"system": "phone", "value": "(617) 555-0134", "use": "mobile"}],
         "birthDate": "1961-04-02",
         "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es-MX"}]},
                            "preferred": True}],
         "generalPractitioner": [{"reference": "Practitioner/pcp"}]},
        {"resourceType": "Organization", "id": "heart", "name": "Valley Heart Clinic",
         "telecom": [{"system": "phone", "value": "555-010-2000"}],
         "address": [{"line": ["1 Main St"], "city": "Springfield", "state": "MA", "postalCode": "01101"}]},
        {"resourceType": "Practitioner", "id": "cardio", "name": [{"family": "Okafor", "given": ["Ben"],
                                                                     "prefix": ["Dr."]}]},
        {"resourceType": "PractitionerRole", "id": "cardio-role",
         "practitioner": {"reference": "Practitioner/cardio"}, "organization": {"reference": "Organization/heart"},
         "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207RC0000X",
                                    "display": "Cardiovascular Disease Physician"}]}]},
        {"resourceType": "Practitioner", "id": "pcp", "name": [{"family": "Lee", "given": ["Kim"], "prefix": ["Dr."]}]},
        {"resourceType": "ServiceRequest", "id": "ref1", "status": "active", "intent": "order", "priority": "urgent",
         "category": [snomed("3457005", "Patient referral")],
         "code": snomed("183519002", "Referral to cardiology service"),
         "subject": {"reference": "Patient/p1"}, "requester": {"reference": "Practitioner/pcp"},
         "performer": [{"reference": "PractitionerRole/cardio-role"}],
         "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I48.91",
                                     "display": "Unspecified atrial fibrillation"}]}],
         "authoredOn": "2026-01-05"},
        {"resourceType": "ServiceRequest", "id": "ref2", "status": "active", "intent": "order",
         "category": [snomed("3457005", "Patient referral")], "subject": {"reference": "Patient/p1"},
         "reasonCode": [{"text": "Unusual zebra stripes (finding)"}]},
        {"resourceType": "ServiceRequest", "id": "lab1", "status": "active", "intent": "order",
         "code": {"text": "Lipid panel"}, "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Appointment", "id": "ap1", "status": "booked", "start": SOON.isoformat() + "-05:00",
         "created": "2026-01-07", "basedOn": [{"reference": "ServiceRequest/ref1"}],
         "appointmentType": {"text": "Cardiology consult"}, "patientInstruction": "Bring your medicines.",
         "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"},
                         {"actor": {"reference": "Practitioner/cardio"}, "status": "accepted"}]},
        {"resourceType": "Encounter", "id": "enc-next", "status": "planned", "class": {"code": "AMB"},
         "type": [{"text": "Follow-up visit"}], "subject": {"reference": "Patient/p1"},
         "period": {"start": (SOON + timedelta(days=30)).isoformat()}},
        {"resourceType": "Encounter", "id": "enc-old", "status": "finished", "class": {"code": "AMB"},
         "subject": {"reference": "Patient/p1"}, "period": {"start": PAST.isoformat()}},
        {"resourceType": "MedicationRequest", "id": "med1", "status": medication_status, "intent": "order",
         "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "Metformin 500 MG Oral Tablet"}}],
         "medicationReference": {"reference": "#m"}, "subject": {"reference": "Patient/p1"},
         "requester": {"reference": "Practitioner/pcp"}, "authoredOn": "2025-11-01",
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg"}}]}]},
        {"resourceType": "Observation", "id": "a1c", "status": "final",
         "category": [{"coding": [{"code": "laboratory"}]}], "code": {"text": "Hemoglobin A1c"},
         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-03",
         "valueQuantity": {"value": 6.80, "unit": "%"}},
        {"resourceType": "Observation", "id": "ldl", "status": "preliminary",
         "category": [{"coding": [{"code": "laboratory"}]}], "code": {"text": "LDL cholesterol"},
         "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 101, "unit": "mg/dL"}},
        {"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan", "title": "Heart health",
         "subject": {"reference": "Patient/p1"}, "goal": [{"reference": "Goal/g1"}],
         "activity": [{"detail": {"status": "not-started", "code": {"text": "Walk 20 minutes a day"},
                                  "scheduledPeriod": {"start": "2026-01-10", "end": "2026-03-01"}}}]},
        {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active", "description": {"text": "Lower A1c"},
         "subject": {"reference": "Patient/p1"},
         "target": [{"measure": {"text": "Hemoglobin A1c"}, "detailQuantity": {"value": 7, "comparator": "<",
                                                                             "unit": "%"},
                     "dueDate": "2026-06-30"}]},
        {"resourceType": "Condition", "id": "c1",
         "clinicalStatus": {"coding": [{"code": "active"}]},
         "code": snomed("44054006", "Diabetes mellitus type 2 (disorder)"),
         "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Claim", "id": "claim1"},
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [entry(r) for r in resources]}


def _write_bundle(path: Path, bundle: dict) -> Path:
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_a_clinic_bundle_with_type_id_references(fresh_db, tmp_path):
    report = import_paths(fresh_db, [_write_bundle(tmp_path / "clinic.json", _clinic_bundle())])
    assert report.exit_code == 0, [str(p) for p in report.invalid]
    assert report.counts["Claim"]["skipped"] == 1
    assert report.counts["ServiceRequest"] == {"imported": 2, "skipped": 1, "invalid": 0}
    pid = row_id("Patient", "p1")
    with fresh_db.session() as s:
        patient = s.get(m.Patient, pid)
        assert (patient.given_name, patient.family_name, patient.mrn) == ("Ana Maria", "Ruiz", "MRN-0001")
        assert patient.mobile_phone == "+16175550134"  # the mobile, not the home line
        assert patient.preferred_language == "es" and patient.source == "fhir"

        cardio = s.get(m.Provider, row_id("Practitioner", "cardio"))
        assert (cardio.name, cardio.specialty, cardio.role) == ("Dr. Ben Okafor", "cardiology", "specialist")
        assert cardio.clinic.name == "Valley Heart Clinic"
        assert "cardiology" in cardio.clinic.specialty_list

        referral = s.get(m.Referral, row_id("ServiceRequest", "ref1"))
        assert referral.receiving_provider_id == cardio.id
        assert referral.receiving_clinic_id == row_id("Organization", "heart")
        assert referral.referring_provider_id == row_id("Practitioner", "pcp")
        assert (referral.reason_code, referral.reason_text) == ("I48.91", "Unspecified atrial fibrillation")
        assert "heart doctor" in referral.plain_explanation
        assert (referral.priority, referral.specialty) == ("urgent", "cardiology")
        # the booked appointment based on it makes it scheduled
        assert referral.status == "scheduled" and referral.appointment_id == row_id("Appointment", "ap1")
        assert referral.scheduled_on == date(2026, 1, 7)
        unmapped = s.get(m.Referral, row_id("ServiceRequest", "ref2"))
        assert unmapped.plain_explanation == "Unusual zebra stripes"  # no curated entry: the coded text
        assert s.get(m.Referral, row_id("ServiceRequest", "lab1")) is None  # a lab order, not a referral

        visits = s.execute(select(m.Appointment).where(m.Appointment.patient_id == pid)
                           .order_by(m.Appointment.starts_at)).scalars().all()
        assert [(v.id, v.status) for v in visits] == [
            (row_id("Appointment", "ap1"), "booked"), (row_id("Encounter", "enc-next"), "booked")]
        assert visits[0].starts_at == SOON  # the clinic's local time, as written
        assert (visits[0].kind, visits[0].preparation, visits[0].provider_id) == (
            "Cardiology consult", "Bring your medicines.", cardio.id)

        medicine = s.get(m.Medication, row_id("MedicationRequest", "med1"))
        assert (medicine.name, medicine.dose, medicine.schedule, medicine.status) == (
            "Metformin 500 MG Oral Tablet", "500 mg", "Twice a day", "active")

        a1c = s.get(m.TestResult, row_id("Observation", "a1c"))
        assert (a1c.value, a1c.unit, a1c.status, a1c.released_to_patient) == ("6.8", "%", "resulted", True)
        ldl = s.get(m.TestResult, row_id("Observation", "ldl"))
        assert (ldl.status, ldl.released_to_patient) == ("pending", False)

        step = s.execute(select(m.CareActivity).where(m.CareActivity.care_plan_id == row_id("CarePlan", "cp1"))
                         ).scalar_one()
        assert (step.description, step.due_date, step.status) == ("Walk 20 minutes a day", date(2026, 3, 1),
                                                                  "not-started")
        goal = s.get(m.Goal, row_id("Goal", "g1"))
        assert (goal.care_plan_id, goal.target, goal.due_date) == (
            row_id("CarePlan", "cp1"), "Hemoglobin A1c: <7 %", date(2026, 6, 30))
        assert s.get(m.Condition, row_id("Condition", "c1")).name == "Diabetes mellitus type 2"
        team = s.execute(select(m.CareTeamMember).where(m.CareTeamMember.patient_id == pid)).scalars().all()
        assert [(t.provider_id, t.role, t.active) for t in team] == [
            (row_id("Practitioner", "pcp"), "primary care", True)]


def test_a_reimport_follows_the_ehr_but_keeps_what_the_patient_did(fresh_db, tmp_path):
    path = _write_bundle(tmp_path / "clinic.json", _clinic_bundle())
    import_paths(fresh_db, [path])
    step_id = row_id("CarePlan", "cp1-activity-0")
    with fresh_db.session() as s:
        step = s.get(m.CareActivity, step_id)
        step.status, step.completion_source, step.completed_at = "completed", "patient-reported", datetime(2026, 1, 20)
        s.get(m.Patient, row_id("Patient", "p1")).sms_consent = True
    _write_bundle(path, _clinic_bundle(medication_status="stopped"))
    report = import_paths(fresh_db, [path])
    assert report.exit_code == 0
    with fresh_db.session() as s:
        assert s.get(m.Medication, row_id("MedicationRequest", "med1")).status == "stopped"
        step = s.get(m.CareActivity, step_id)
        assert (step.status, step.completion_source) == ("completed", "patient-reported")
        assert s.get(m.Patient, row_id("Patient", "p1")).sms_consent is True


def test_a_stopped_medicine_that_was_never_imported_is_not_added(fresh_db, tmp_path):
    report = import_paths(fresh_db, [_write_bundle(tmp_path / "b.json", _clinic_bundle(medication_status="stopped"))])
    assert report.counts["MedicationRequest"] == {"imported": 0, "skipped": 1, "invalid": 0}
    assert _count(fresh_db, m.Medication) == 0


def test_a_resource_for_a_patient_nobody_knows_is_reported(fresh_db, tmp_path):
    bundle = _clinic_bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    report = import_paths(fresh_db, [_write_bundle(tmp_path / "orphans.json", bundle)])
    assert report.exit_code != 0
    condition = next(p for p in report.invalid if p.resource_type == "Condition")
    assert condition.field == "subject" and "Patient/p1" in condition.message
    assert _count(fresh_db, m.Condition) == 0
    assert _count(fresh_db, m.Clinic) == 1  # what needs no patient is still imported


# ---------------------------------------------------------------------------------------------
# The command line, as an admin runs it


def _carenav(*args: str, db_url: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("carenav")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    env = dict(os.environ, CARENAV_DB_URL=db_url)
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_cli_exits_non_zero_on_the_invalid_observation_and_zero_with_skip_invalid(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = _carenav("import-fhir", str(INFERNO_355), "--no-progress", db_url=url)
    assert result.returncode != 0
    assert f"{INFERNO_355.name}: Observation/{BAD_OBSERVATION}: effectivePeriod.stop: " in result.stderr
    assert "--skip-invalid" in result.stderr
    assert "Observation" in result.stdout and "imported" in result.stdout  # the summary table
    result = _carenav("import-fhir", str(INFERNO_355), "--skip-invalid", db_url=url)
    assert result.returncode == 0, result.stderr
    assert BAD_OBSERVATION in result.stderr  # still reported
    assert "100%" in result.stderr  # the progress bar
    db = Database(url)
    assert _count(db, m.Patient) == 1 and _count(db, m.CarePlan) == len(_resources(INFERNO_355, "CarePlan"))
    db.dispose()


def test_cli_names_a_broken_file_and_imports_the_others(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "entry": [', encoding="utf-8")
    not_bundle = _write_bundle(tmp_path / "patient.json", {"resourceType": "Patient", "id": "x"})
    result = _carenav("import-fhir", str(broken), str(not_bundle), str(tmp_path / "missing.json"),
                      str(BUNDLES[2]), "--skip-invalid", "--no-progress", db_url=url)
    assert result.returncode != 0  # --skip-invalid does not excuse an unreadable file
    assert f"{broken}: not valid JSON" in result.stderr
    assert f"{not_bundle}: not a FHIR Bundle" in result.stderr
    assert f"{tmp_path / 'missing.json'}: no such file or folder" in result.stderr
    db = Database(url)
    with db.session() as s:
        imported = s.execute(select(m.Patient.id)).scalars().all()
    db.dispose()
    assert imported == [row_id("Patient", _resources(BUNDLES[2], "Patient")[0]["id"])]


# ---------------------------------------------------------------------------------------------
# PostgreSQL (make test starts one and sets CARENAV_TEST_PG_URL)


@pytest.fixture
def pg_db():
    """A fresh database on the test PostgreSQL server, dropped afterwards; None without the server."""
    url = os.environ.get("CARENAV_TEST_PG_URL")
    if not url:
        yield None
        return
    from bot.store.db import scratch_database

    with scratch_database(url, "carenav_fhir") as db:
        yield db


@pytest.mark.postgres
def test_import_into_postgresql_matches_the_json_and_is_idempotent(pg_db):
    if pg_db is None:
        pytest.fail("CARENAV_TEST_PG_URL is not set: run `make test`, or start PostgreSQL with "
                    "`scripts/pg-test-server start` and export the URL it prints")
    first = import_paths(pg_db, [FHIR_DIR], skip_invalid=True)
    assert first.exit_code == 0 and first.bundles_imported == len(BUNDLES)
    _assert_store_matches_bundles(pg_db)
    before = _snapshot(pg_db)
    second = import_paths(pg_db, [FHIR_DIR], skip_invalid=True)
    assert second.counts == first.counts
    assert _snapshot(pg_db) == before
