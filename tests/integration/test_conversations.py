"""Whole conversations over REST against the real Rasa server and action server.

Three demo patients (signed in with a token), one visitor without a token, and every intent.
"""
from __future__ import annotations

import datetime as dt

import pytest

from bot.services import day


def test_maria_new_diabetes_diagnosis(chat_as):
    maria = chat_as("demo-maria")
    assert "CareNav" in maria.text("hello")
    which = maria.say("why was i referred?")
    assert any("2 open referrals" in r.get("text", "") for r in which)
    assert "A dietitian will help you plan meals" in maria.text('/ask_referral_reason{"specialty":"nutrition"}')
    text = maria.text("when is my next appt")
    assert f"{day(dt.date.today() + dt.timedelta(days=9))} at 10:30 am" in text and "Dr. Priya Shah" in text
    assert "metformin 500 mg tablet" in maria.text("what meds am i on")
    assert "Hemoglobin A1c" in maria.text("are my lab results back yet?")
    steps = maria.text("what do i need to do next on my care plan")
    assert "Check your blood sugar every morning" in steps and "Bring your A1c below 7%" in steps
    assert "Dr. Grace Okafor" in maria.text("who is on my care team")


def test_james_cardiology_referral_then_questions_to_ask_them(chat_as):
    james = chat_as("demo-james")
    reason = james.text("why did my doctor refer me to a heart doctor")
    assert "chest discomfort when you are active" in reason and "Eastgate Heart and Vascular" in reason
    follow = james.text("what should i ask them?")
    assert "For your cardiology visit" in follow and "heart tests" in follow
    status = james.text("has my referral been approved, how do i book it?")
    assert "Call Eastgate Heart and Vascular at (555) 010-0300" in status


def test_robert_overdue_task_reported_done(chat_as, demo_db_url):
    # the test makes the data it changes: the log is open and overdue, whatever ran before
    import datetime as dt

    from sqlalchemy import update

    from bot.store.db import Database
    from bot.store.models import CareActivity

    db = Database(demo_db_url)
    with db.session() as s:
        s.execute(update(CareActivity).where(CareActivity.id == "demo-robert-act-bplog")
                  .values(status="not-started", completed_at=None, completion_source=None,
                          due_date=dt.date.today() - dt.timedelta(days=10)))
    db.dispose()
    robert = chat_as("demo-robert")
    steps = robert.text("what's on my care plan")
    assert steps.index("Send your two-week home blood pressure log") < steps.index("Kidney-friendly eating class")
    assert "OVERDUE" in steps
    done = robert.text("i sent my blood pressure log to the nurse")
    assert "as done" in done
    assert "blood pressure log" not in robert.text("what are my next steps").split("Your goals")[0]


def test_general_answers_without_signing_in_but_no_records(chat_as):
    visitor = chat_as(None)
    assert "sign in" in visitor.text("what are my test results")
    ratings = visitor.text("which clinic has the best patient ratings")
    assert "Eastgate Heart and Vascular" in ratings and "patients answered" in ratings
    assert "2-1-1" in visitor.text("i need a ride to my appointment")
    questions = visitor.text("what should i ask the surgeon before my operation")
    assert "Why do I need this surgery" in questions
    human = visitor.text("can i talk to a real person")
    assert "(555) 010-0100" in human
    assert "automated assistant" in visitor.text("am i talking to a robot?")
    assert "can't help with that" in visitor.text("who won the football game last night")


@pytest.mark.parametrize("message, expected", [
    ("i have crushing chest pain and my left arm is numb", "Call 911"),
    ("i dont want to live anymore", "988"),
    ("my son swallowed a bunch of my pills", "1-800-222-1222"),
])
def test_emergencies_answered_first_even_mid_conversation(chat_as, message, expected):
    linda = chat_as("demo-linda")
    linda.text("what meds am i on")
    replies = linda.say(message)
    assert expected in replies[0]["text"]  # the very first thing said
    assert any(b["payload"] == "/request_human" for r in replies for b in r.get("buttons", []))
