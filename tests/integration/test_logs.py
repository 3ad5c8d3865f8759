"""Logs carry ids, never names, dates of birth, phone numbers, results or medicines.

Conversations that disclose records (REST with a token, and SMS with a date-of-birth check) run
against the real servers; then every line the Rasa server, the action server and the web page
wrote is searched for the patient's data."""
from __future__ import annotations

import pytest

from tests.integration.rest import RestChat
from tests.integration.test_sms import Phone


@pytest.fixture
def aisha_data(demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    store = CareStore(Database(demo_db_url))
    patient = store.patient("demo-aisha")
    data = {patient.display_name, patient.given_name, patient.mobile_phone,
            patient.birth_date.strftime("%m/%d/%Y"), patient.birth_date.isoformat()}
    data |= {r.name for r in store.released_results_for("demo-aisha")}
    data |= {m.name for m in store.active_medications_for("demo-aisha")}
    return patient, {d for d in data if d}


def test_no_patient_data_in_any_server_log(assistant, sms_provider, sender, token_for, aisha_data):
    patient, private = aisha_data
    chat = RestChat(f"http://localhost:{assistant.ports.rasa}", sender, token=token_for("demo-aisha"))
    results = chat.text("are my results back")
    meds = chat.text("what medicines am i taking")
    chat.text(f"my name is {patient.display_name}, can someone call me")
    released = [d for d in private if d in results + meds]
    assert released, "the conversation should have disclosed some of Aisha's records"

    phone = Phone(assistant, sms_provider, patient.mobile_phone)
    phone.text("are my results back")
    phone.text(patient.birth_date.strftime("%m/%d/%Y"), expect=2)

    logs = {path.name: path.read_text(errors="replace") for path in assistant.log_dir.glob("*.log")}
    assert logs and any("demo-aisha" in text for text in logs.values()), "ids are expected in the logs"
    found = [(name, item) for name, text in logs.items() for item in private if item in text]
    assert found == []
