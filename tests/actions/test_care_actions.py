"""Each care action answers from the bound patient's records, with the exact facts."""
from __future__ import annotations

import datetime as dt
import time

from actions import care
from actions.fallback import ActionDefaultAskAffirmation
from bot.identity import issue_sms_claim, issue_token
from bot.services import day
from tests.actions.conftest import ent


def test_questions_for_a_situation_without_signing_in(chat):
    turn = chat().run(care.ActionQuestionsToAsk(), "what should i ask before surgery", "ask_questions_to_ask",
                      [ent("care_situation", "surgery")])
    assert "For surgery, good questions to ask" in turn.text
    assert "Why do I need this surgery" in turn.text
    assert "Bring a list of all your medicines" in turn.text  # before-any-visit tips
    assert not any("Save" in b["title"] for b in turn.buttons)  # saving needs a signed-in patient


def test_unclear_situation_is_asked_with_buttons(chat):
    turn = chat().run(care.ActionQuestionsToAsk(), "what should i ask", "ask_questions_to_ask")
    assert turn.responses == ["utter_ask_which_situation"]
    payloads = [b["payload"] for b in turn.buttons]
    assert '/ask_questions_to_ask{"care_situation":"hospital discharge"}' in payloads and len(payloads) == 7


def test_questions_are_personalised_from_the_next_specialist_visit(chat):
    turn = chat("demo-maria").run(care.ActionQuestionsToAsk(), "what should i ask", "ask_questions_to_ask")
    visit = dt.date.today() + dt.timedelta(days=9)
    assert f"For your endocrinology visit with Dr. Priya Shah {day(visit)} at 10:30 am" in turn.text
    assert "What should my blood sugar numbers be" in turn.text  # specialty questions


def test_after_why_referred_the_questions_are_for_that_referral(chat):
    conv = chat("demo-james")
    reason = conv.run(care.ActionReferralReason(), "why was i referred", "ask_referral_reason")
    assert conv.slots["focus_referral"] == "demo-james-ref-cardio"
    follow = conv.run(care.ActionQuestionsToAsk(), "what should i ask them", "ask_questions_to_ask")
    assert "For your cardiology visit (your referral from Dr. Grace Okafor)" in follow.text
    assert "heart tests" in follow.text
    assert "Dr. Grace Okafor referred you to cardiology" in reason.text


def test_referral_reason_in_plain_words_with_urgency_status_and_phone(chat):
    turn = chat("demo-james").run(care.ActionReferralReason(), "why do i have to see a heart doctor",
                                  "ask_referral_reason", [ent("specialty", "cardiology")])
    text = turn.text
    assert "Dr. Luis Mendez at Eastgate Heart and Vascular ((555) 010-0300)" in text
    assert "chest discomfort when you are active" in text
    assert "urgent" in text and "approved; the visit is not booked yet" in text
    assert "r/o CAD" not in text  # the clinical shorthand is not what patients get


def test_several_open_referrals_ask_which_one(chat):
    turn = chat("demo-maria").run(care.ActionReferralReason(), "why was i referred", "ask_referral_reason")
    assert turn.responses == ["utter_which_referral"]
    assert {b["payload"] for b in turn.buttons} == {
        '/ask_referral_reason{"specialty":"endocrinology"}', '/ask_referral_reason{"specialty":"nutrition"}'}
    pick = chat("demo-maria").run(care.ActionReferralReason(), "/ask_referral_reason", "ask_referral_reason",
                                  [ent("specialty", "nutrition")])
    assert "A dietitian will help you plan meals" in pick.text


def test_no_referrals_says_so_and_offers_the_care_team(chat):
    turn = chat("demo-tom").run(care.ActionReferralReason(), "why was i referred", "ask_referral_reason")
    assert "I don't see any referrals" in turn.text
    assert turn.buttons[0]["payload"] == "/ask_care_team"


def test_referral_status_says_how_to_book_what_to_bring_and_what_happens_after(chat):
    turn = chat("demo-james").run(care.ActionReferralStatus(), "has my referral been approved", "ask_referral_status")
    text = turn.text
    assert "Your cardiology referral is approved" in text
    assert "Call Eastgate Heart and Vascular at (555) 010-0300" in text
    assert "a copy of your EKG" in text
    assert "the specialist sends a report to Dr. Grace Okafor" in text


def test_scheduled_referral_gives_the_booked_date(chat):
    turn = chat("demo-linda").run(care.ActionReferralStatus(), "is my referral scheduled", "ask_referral_status")
    booked = dt.date.today() + dt.timedelta(days=12)
    assert f"Booked: {day(booked)} at 9:30 am" in turn.text
    assert "How to book" not in turn.text


def test_next_steps_overdue_first_with_who_is_responsible(chat):
    turn = chat("demo-robert").run(care.ActionNextSteps(), "what do i need to do", "ask_next_steps")
    text = turn.text
    first = text.index("Send your two-week home blood pressure log")
    second = text.index("Get your kidney urine test")
    third = text.index("Kidney-friendly eating class")
    assert first < second < third
    assert "OVERDUE" in text and "(10 days ago)" in text and "2 of them are overdue" in text
    assert "Blood pressure under 130/80 at home; so far: averaging 142/88" in text


def test_no_care_plan_says_so_and_offers_the_care_team(chat):
    turn = chat("demo-tom").run(care.ActionNextSteps(), "whats on my care plan", "ask_next_steps")
    assert "You don't have a care plan" in turn.text
    assert "/ask_care_team" in [b["payload"] for b in turn.buttons]


def test_results_released_only_with_the_providers_note_and_pending_by_name(chat):
    text = chat("demo-aisha").run(care.ActionTestResults(), "are my results back", "ask_test_results").text
    assert "Screening mammogram" in text and "no signs of cancer" in text
    assert "Thyroid test (TSH): back, but Dr. Daniel Lee has not reviewed and released it yet" in text
    assert "Complete blood count" in text and "not back yet" in text
    assert "6.8" not in text  # the unreleased value never reaches the patient
    assert "I can't explain what a result means" in text


def test_results_over_sms_say_ready_without_values(chat):
    conv = chat(channel="sms")
    claim = issue_sms_claim("demo-maria", conv.sender_id, time.time() + 600)
    text = conv.run(care.ActionTestResults(), "results?", "ask_test_results", token=None,
                    metadata={"sms_claim": claim}).text
    assert "1 result(s) are ready for you: Hemoglobin A1c" in text
    assert "8.4" not in text and "patient portal" in text


def test_appointments_with_where_whom_and_preparation(chat):
    text = chat("demo-linda").run(care.ActionAppointments(), "when is my next appt", "ask_appointments").text
    visit = dt.date.today() + dt.timedelta(days=4)
    assert f"{day(visit)} at 11 am: hospital follow-up visit with Dr. Daniel Lee, Northside Family Clinic" in text
    assert "To prepare: Bring your discharge papers" in text


def test_care_team_with_roles_and_how_to_reach(chat):
    text = chat("demo-maria").run(care.ActionCareTeam(), "who is my doctor", "ask_care_team").text
    assert "Dr. Grace Okafor: primary care" in text and "Phone (555) 010-0111" in text
    assert "Megan Walsh: care coordinator" in text
    assert "Dr. Priya Shah: endocrinology specialist" in text


def test_medications_with_changes_and_the_prescriber_warning(chat):
    text = chat("demo-linda").run(care.ActionMedications(), "what meds am i on", "ask_medications").text
    assert "furosemide 40 mg, every morning" in text
    assert "Changed: dose changed at discharge: was 20 mg" in text
    assert "STOPPED: ibuprofen" in text
    assert "talk to the doctor who prescribed it or to the clinic pharmacist" in text


def test_clinic_ratings_for_a_specialty_best_first_with_respondents(chat):
    text = chat().run(care.ActionClinicRatings(), "best heart clinic", "ask_clinic_ratings",
                      [ent("specialty", "cardiology")]).text
    assert text.index("Eastgate Heart and Vascular") < text.index("Downtown Specialty Center")
    assert "91% overall" in text and "198 patients answered" in text
    assert "West Hills" not in text


def test_community_resources_by_category_and_area_mention_211(chat):
    text = chat().run(care.ActionCommunityResources(), "food bank in riverside", "ask_community_resources",
                      [ent("resource_category", "food"), ent("area", "riverside")]).text
    assert text.index("Riverside Food Pantry") < text.index("Meals at Home")
    assert "2-1-1" in text


def test_request_human_records_a_callback_for_the_verified_patient(chat, demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    store = CareStore(Database(demo_db_url))
    before = len(store.open_callback_requests("demo-robert"))
    text = chat("demo-robert").run(care.ActionRequestHuman(), "talk to a nurse", "request_human").text
    assert "call you back, within one business day" in text
    assert len(store.open_callback_requests("demo-robert")) == before + 1


def test_records_need_a_signed_in_patient(chat):
    turn = chat().run(care.ActionNextSteps(), "what are my next steps", "ask_next_steps")
    assert turn.responses == ["utter_sign_in_first"]
    sms = chat(channel="sms").run(care.ActionMedications(), "my meds", "ask_medications", token=None)
    assert sms.responses == ["utter_verify_sms_first"]
    spoofed = chat(channel="rest").run(care.ActionMedications(), "my meds", "ask_medications", token=None,
                                       metadata={"sms_verified_patient": "demo-linda"})
    assert spoofed.responses == ["utter_sign_in_first"]


def test_sms_records_need_the_channels_signed_claim_for_this_very_conversation(chat):
    """Plain metadata, a claim for another conversation, an expired or forged claim, or a web
    token: none of them opens a patient's records over SMS."""
    import jwt

    def meds(metadata):
        return chat(channel="sms", sender_id="sms-aaaa").run(
            care.ActionMedications(), "my meds", "ask_medications", token=None, metadata=metadata)

    assert meds({"sms_verified_patient": "demo-linda"}).responses == ["utter_verify_sms_first"]
    other_conv = issue_sms_claim("demo-linda", "sms-bbbb", time.time() + 600)
    assert meds({"sms_claim": other_conv}).responses == ["utter_verify_sms_first"]
    expired = issue_sms_claim("demo-linda", "sms-aaaa", time.time() - 5)
    assert meds({"sms_claim": expired}).responses == ["utter_verify_sms_first"]
    forged = jwt.encode({"sub": "demo-linda", "conv": "sms-aaaa", "aud": "carenav-sms-verified",
                         "iss": "carenav", "exp": int(time.time()) + 600}, "not-the-secret", algorithm="HS256")
    assert meds({"sms_claim": forged}).responses == ["utter_verify_sms_first"]
    assert meds({"sms_claim": issue_token("demo-linda")}).responses == ["utter_verify_sms_first"]
    good = meds({"sms_claim": issue_sms_claim("demo-linda", "sms-aaaa", time.time() + 600)})
    assert good.responses != ["utter_verify_sms_first"] and "active medicine" in good.text


def test_a_broken_store_gets_an_apology_and_the_clinic_phone(chat, monkeypatch):
    from actions.base import care_store

    monkeypatch.setenv("CARENAV_DB_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/nothing")
    care_store.cache_clear()
    turn = chat("demo-maria").run(care.ActionAppointments(), "my appts", "ask_appointments")
    assert turn.responses == ["utter_something_went_wrong"]
    assert "(555) 010-0100" in turn.text


def test_task_done_is_recorded_and_the_next_one_offered(chat, demo_db_url):
    conv = chat("demo-james")
    turn = conv.run(care.ActionReportTaskDone(), "i wrote down when the chest discomfort happens",
                    "report_task_done")
    assert 'I noted "Write down when chest discomfort happens and what you were doing" as done' in turn.text
    assert "Next up: Call Eastgate Heart and Vascular" in turn.text


def test_saved_questions_roundtrip(chat):
    conv = chat("demo-aisha")
    conv.run(care.ActionQuestionsToAsk(), "questions for the skin doctor", "ask_questions_to_ask",
             [ent("specialty", "dermatology")])
    saved = conv.run(care.ActionSaveQuestion(), "/save_question", "save_question", [ent("question_ref", "all")])
    assert "Saved" in saved.text
    own = conv.run(care.ActionSaveQuestion(), "remind me to ask about sunscreen", "save_question")
    assert "Saved 1 question(s)" in own.text
    listed = conv.run(care.ActionSavedQuestions(), "my questions", "ask_saved_questions").text
    assert "Does this spot need a biopsy?" in listed and "About sunscreen?" in listed


def test_fallback_offers_the_likely_meanings_as_buttons(chat, domain):
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    latest = {"text": "referal thing??", "intent": {"name": "nlu_fallback", "confidence": 0.4},
              "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.5},
                                 {"name": "ask_referral_status", "confidence": 0.4},
                                 {"name": "ask_referral_reason", "confidence": 0.35},
                                 {"name": "greet", "confidence": 0.1}], "entities": []}
    tracker = Tracker("c", {}, latest, [], False, None, None, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionDefaultAskAffirmation().run(dispatcher, tracker, domain))
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads == ["/ask_referral_status", "/ask_referral_reason", "/out_of_scope"]
