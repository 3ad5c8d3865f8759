"""A conversation as a patient imported from FHIR answers from that patient's own data."""
from __future__ import annotations

import pytest

from tests.integration.rest import RestChat

IMPORTED = "fhir-patient-85"  # Lucien Bosco in ../shared/data/fhir: a care plan, medicines and a care team


@pytest.fixture
def store(demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    s = CareStore(Database(demo_db_url))
    if s.patient(IMPORTED) is None:
        pytest.fail(f"{IMPORTED} was not imported from ../shared/data/fhir")
    return s


def test_an_imported_patient_gets_next_steps_medicines_and_care_team(assistant, sender, token_for, store):
    chat = RestChat(f"http://localhost:{assistant.ports.rasa}", sender, token=token_for(IMPORTED))
    steps = chat.text("what are my next steps")
    activities = store.next_steps_for(IMPORTED).activities
    assert activities and all(a.description in steps for a in activities[:3])
    meds = chat.text("what medications am i on")
    expected_meds = store.active_medications_for(IMPORTED)
    assert expected_meds and all(m.name in meds for m in expected_meds)
    team = chat.text("who is on my care team")
    expected_team = store.care_team_for(IMPORTED)
    assert expected_team and all(t.name in team for t in expected_team)
    # and nothing of the demo patients
    for other in ("Maria Gonzalez", "metformin", "Dr. Grace Okafor"):
        assert other not in steps + meds + team
