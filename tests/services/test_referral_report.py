"""The specialist's report, once the care team recorded it: the patient's referral answers give the
care team's summary as written and what to do next; without a recorded summary they say what they
said before (back or not back); open referrals are untouched. Against the seeded store on a fixed day."""
from __future__ import annotations

import pytest

from bot.services import referrals
from bot.store import models as m
from tests.services.conftest import NOW, TODAY, said

ROBERT, NEPHRO = "demo-robert", "demo-robert-ref-neph"  # completed nephrology referral, report received
AISHA, DERM = "demo-aisha", "demo-aisha-ref-derm"  # open dermatology referral, just sent

SUMMARY = "Dr. Brooks found your kidney function stable since last year (eGFR 52). keep taking losartan."
NEXT = "Get a kidney blood test in 3 months, then see Dr. Okafor to go over it."


def _set(store, referral_id: str, **values) -> None:
    with store.db.session() as s:
        ref = s.get(m.Referral, referral_id)
        for name, value in values.items():
            setattr(ref, name, value)


def _record_report(store, summary=SUMMARY, next_steps=NEXT) -> None:
    _set(store, NEPHRO, report_received=True, report_summary=summary, report_next_steps=next_steps,
         report_recorded_at=NOW, report_recorded_by="nurse@clinic.example")


def _status(store, patient_id=ROBERT, short=False):
    return referrals.referral_status(store, patient_id, specialty=None, focus_referral_id=None, short=short,
                                     today=TODAY)


def _reason(store, patient_id=ROBERT, short=False):
    return referrals.referral_reason(store, patient_id, specialty=None, focus_referral_id=None, short=short,
                                     today=TODAY)


def _words(reply) -> str:
    return "\n".join(str(v) for s in reply.says for v in s.variables.values())


def test_the_view_carries_the_report_only_once_it_is_received(store):
    _record_report(store)
    ref = store.referral_for(ROBERT, NEPHRO)
    assert (ref.report_summary, ref.report_next_steps) == (SUMMARY, NEXT)
    _set(store, NEPHRO, report_received=False)
    ref = store.referral_for(ROBERT, NEPHRO)
    assert (ref.report_summary, ref.report_next_steps) == (None, None)


def test_the_status_gives_the_care_teams_summary_as_written_and_the_next_steps(store):
    _record_report(store)
    reply = _status(store)
    steps = said(reply, "utter_referral_status")["steps"]
    assert f'The specialist\'s report came back. In your care team\'s words: "{SUMMARY}"' in steps
    assert f"• What to do next: {NEXT}" in steps.split("\n")
    assert "Their report has come back to your doctor" not in steps
    assert ("referral", "specialist report") in reply.disclosed


def test_the_reason_says_the_visit_happened_and_the_report_is_back_with_the_next_steps(store):
    _record_report(store)
    reply = _reason(store)
    after = said(reply, "utter_referral_what_happens_after")["after"]
    assert after == f"You have seen the specialist, and their report is back. What to do next: {NEXT}"
    assert SUMMARY not in _words(reply)  # the reason is short: the findings are in the status answer
    assert reply.says[-1].response == "utter_referral_follow_up"  # the buttons still come last


def test_by_text_the_next_steps_come_but_not_the_findings(store, monkeypatch):
    _record_report(store)
    status = _status(store, short=True)
    steps = said(status, "utter_referral_status")["steps"]
    assert f"What to do next: {NEXT}" in steps and "Their report is back." in steps
    assert SUMMARY not in _words(status)
    assert ("referral", "specialist report") not in status.disclosed
    assert NEXT in said(_reason(store, short=True), "utter_referral_what_happens_after")["after"]
    monkeypatch.setattr(referrals, "SMS_SHARES_DETAILS", True)  # the clinic allows details by text
    assert SUMMARY in said(_status(store, short=True), "utter_referral_status")["steps"]


def test_a_summary_without_next_steps_says_to_go_over_it_with_the_referring_doctor(store):
    _record_report(store, next_steps="   ")
    steps = said(_status(store), "utter_referral_status")["steps"]
    assert "What to do next: Book a follow-up with Dr. Grace Okafor to talk about the report." in steps


@pytest.mark.parametrize("received, said_then", [
    (False, "You have seen the specialist. Their report has not come back yet."),
    (True, "You have seen the specialist. Their report has come back to your doctor."),
])
def test_a_completed_referral_without_a_recorded_summary_says_what_it_said_before(store, received, said_then):
    # a summary typed but the report not marked received is not shown either
    _set(store, NEPHRO, report_received=received, report_summary=None if received else SUMMARY,
         report_next_steps=None if received else NEXT)
    status = _status(store)
    assert said(status, "utter_referral_status")["steps"].split("\n")[-1] == f"• {said_then}"
    assert NEXT not in _words(status) and "What to do next" not in _words(status)
    reason = _reason(store)
    assert [s.response for s in reason.says] == ["utter_referral_reason", "utter_referral_follow_up"]
    assert said(reason, "utter_referral_reason")["status"] == "completed: you saw the specialist"


def test_an_open_referral_is_answered_as_before(store):
    before_status, before_reason = _status(store, AISHA), _reason(store, AISHA)
    assert [s.response for s in before_status.says] == [
        "utter_referral_status", "utter_referral_how_to_book", "utter_referral_what_to_bring",
        "utter_referral_what_happens_after"]
    assert said(before_status, "utter_referral_what_happens_after")["after"].startswith(
        "After your visit, the specialist sends a report to Dr. Daniel Lee.")
    # stray report text on a referral whose visit has not happened changes nothing
    _set(store, DERM, report_summary=SUMMARY, report_next_steps=NEXT)
    assert _status(store, AISHA) == before_status and _reason(store, AISHA) == before_reason
    _set(store, DERM, report_received=True)
    assert _status(store, AISHA) == before_status and _reason(store, AISHA) == before_reason
    assert "What to do next" not in _words(before_status) + _words(before_reason)
