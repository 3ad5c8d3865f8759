"""Outreach over SMS end to end, with the real Rasa server and the local SMS stand-in: the worker
sends a patient whose approved referral is not booked a nudge (through the outbox the Rasa server
delivers), adds it to the patient's SMS conversation through Rasa's API, and the patient's replies
("1", "already booked", "yes") are understood in the context of that message. A worrying answer to
a check-in after a hospital stay puts an urgent hand-off in the care team's queue. The test makes
its own patients (not the demo ones) in the shared store."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from bot.store import models as m
from tests.integration.test_sms import Phone


@pytest.fixture(autouse=True)
def sms_settings(monkeypatch):
    """This process (where the test runs the worker's steps) knows the SMS provider and the secret
    the servers use (a number's conversation id is keyed with it)."""
    from tests.conftest import SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM, TEST_TOKEN_SECRET

    monkeypatch.setenv("CARENAV_TOKEN_SECRET", TEST_TOKEN_SECRET)
    for name, value in (("ACCOUNT_SID", SMS_ACCOUNT_SID), ("AUTH_TOKEN", SMS_AUTH_TOKEN), ("FROM", SMS_FROM)):
        monkeypatch.setenv(f"CARENAV_SMS_{name}", value)


@pytest.fixture
def store(demo_db_url):
    from bot.store.db import Database

    db = Database(demo_db_url)
    yield db
    db.dispose()


def new_patient(store, phone: str, **kwargs) -> str:
    tag = uuid.uuid4().hex[:8]
    pid = f"out-{tag}"
    with store.session() as s:
        s.add(m.Patient(id=pid, given_name="Sam", family_name=f"Out{tag}", birth_date=dt.date(1970, 1, 2),
                        mobile_phone=phone, preferred_language="en", sms_consent=True,
                        sms_consent_at=dt.datetime(2026, 1, 5, 9, 0), sms_consent_method="intake form",
                        sms_consent_scope="care reminders and follow-up from the clinic", source="fhir", **kwargs))
    return pid


def send_now(assistant, store, patient_id: str, rule: str) -> m.Outreach:
    """Plan for today and send this patient's `rule` outreach at its hour, as `carenav outreach run`
    does, then add it to the conversation through the Rasa server's API."""
    from bot.outreach import worker
    from bot.outreach.rules import plan

    now = dt.datetime.now()
    plan(store, today=now.date(), now=now)
    with store.session() as s:
        row = s.execute(select(m.Outreach).where(m.Outreach.patient_id == patient_id,
                                                 m.Outreach.rule == rule)).scalars().first()
        assert row is not None, f"no {rule} planned for {patient_id}"
        when = max(row.send_after, now)
        s.query(m.Outreach).filter(m.Outreach.patient_id == patient_id, m.Outreach.id != row.id).delete()
    assert worker.send_due(store, now=when, worker="test", patient_ids=[patient_id]).get("sent")
    token = assistant.env["CARENAV_RASA_API_TOKEN"]
    assert worker.record_in_conversations(store, f"http://localhost:{assistant.ports.rasa}", token) >= 1
    with store.session() as s:
        row = s.get(m.Outreach, row.id)
        s.expunge(row)
    assert row.status == "sent" and row.recorded_at is not None
    return row


def test_a_referral_nudge_and_the_replies_to_it(assistant, sms_provider, store, demo_db_url):
    phone = f"+1555031{uuid.uuid4().int % 10000:04d}"
    pid = new_patient(store, phone)
    today = dt.date.today()
    with store.session() as s:
        s.add(m.Referral(id=f"{pid}-ref", patient_id=pid, referring_provider_id="prov-okafor", specialty="cardiology",
                         priority="routine", status="approved", sent_on=today - dt.timedelta(days=14),
                         approved_on=today - dt.timedelta(days=10), report_received=False,
                         how_to_book="Call Eastgate Heart and Vascular at (555) 010-0300 to book.",
                         what_to_bring="Your insurance card."))
    send_now(assistant, store, pid, "referral_not_scheduled")
    nudge = "".join(sms_provider.wait_for(phone, 1))
    assert "Riverside Community Health" in nudge and "STOP" in nudge and "1" in nudge

    sam = Phone(assistant, sms_provider, phone)
    answer = sam.text("1")  # the numbered choice: yes, how do I book
    assert "(555) 010-0300" in answer
    with store.session() as s:
        row = s.execute(select(m.Outreach).where(m.Outreach.patient_id == pid)).scalars().one()
        assert row.reply == "yes" and row.replied_at is not None

    # a later nudge for the same referral (its next due date), answered in words
    with store.session() as s:
        s.query(m.Outreach).filter(m.Outreach.patient_id == pid).delete()
    send_now(assistant, store, pid, "referral_not_scheduled")
    sam.provider.wait_for(phone, 3)
    booked = sam.text("already booked it")
    assert "Thank you for booking" in booked
    with store.session() as s:
        assert s.execute(select(m.Outreach.reply).where(m.Outreach.patient_id == pid)).scalar() == "booked"
        conversation = s.execute(select(m.Outreach.conversation_id).where(m.Outreach.patient_id == pid)).scalar()

    # the care team sees that conversation on the patient's console page (the number is theirs)
    from bot.console import review

    listed = review.conversations_of(store, demo_db_url, "coordinator@clinic.example", pid)
    assert [c["sender_id"] for c in listed] == [conversation] and listed[0]["user_turns"] == 2


def test_a_worse_answer_after_a_hospital_stay_is_an_urgent_hand_off(assistant, sms_provider, store):
    phone = f"+1555032{uuid.uuid4().int % 10000:04d}"
    pid = new_patient(store, phone)
    with store.session() as s:
        s.add(m.HospitalStay(id=f"{pid}-stay", patient_id=pid, facility="Riverside General",
                             admitted_on=dt.date.today() - dt.timedelta(days=6),
                             discharged_on=dt.date.today() - dt.timedelta(days=2), reason="pneumonia"))
    send_now(assistant, store, pid, "discharge_checkin")
    checkin = "".join(sms_provider.wait_for(phone, 1))
    assert "STOP" in checkin
    answer = Phone(assistant, sms_provider, phone).text("2")  # new or worse symptoms
    assert "911" in answer
    with store.session() as s:
        handoff = s.execute(select(m.CallbackRequest).where(m.CallbackRequest.patient_id == pid)).scalars().one()
        assert handoff.urgent and handoff.status == "open" and "worse" in handoff.reason
