"""What each service tells a patient, from the seeded store on a fixed day (no Rasa, no server):
the facts and the words a patient reads, overdue first, released results only, SMS brevity."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.services import care_plan, day, directory, records, referrals
from tests.services.conftest import NOW, TODAY, said

ROOT = Path(__file__).resolve().parent.parent.parent


def test_dates_read_the_way_people_say_them():
    assert day(TODAY, TODAY) == "today" and day(TODAY.replace(day=11), TODAY) == "tomorrow"
    assert day(TODAY.replace(day=19), TODAY) == "Thursday, March 19"
    assert day(TODAY.replace(year=2027), TODAY) == "Wednesday, March 10, 2027"


def test_next_steps_put_overdue_first_and_say_how_late(store):
    reply = care_plan.next_steps(store, "demo-robert", short=False, today=TODAY)
    steps = said(reply, "utter_next_steps")
    assert steps["summary"] == "2 of them are overdue, so those come first."
    lines = steps["steps"].split("\n")
    assert "OVERDUE: was due Saturday, February 28 (10 days ago); who: you" in lines[0]
    assert "(due Monday, March 30; who: you)" in lines[2]
    assert "so far: averaging 142/88" in said(reply, "utter_goals")["goals"]


def test_a_referral_is_explained_in_plain_words_with_its_urgency_and_status(store):
    reply = referrals.referral_reason(store, "demo-james", specialty=None, focus_referral_id=None, short=False,
                                      today=TODAY)
    reason = said(reply, "utter_referral_reason")
    assert reason["to"] == "Dr. Luis Mendez at Eastgate Heart and Vascular"
    assert reason["urgency"] == "urgent: it should be seen soon"
    assert reason["status"] == "approved; the visit is not booked yet"
    assert [b["title"] for b in reply.says[-1].buttons] == ["What should I ask them?", "What happens next?"]


def test_referral_status_walks_through_each_step(store):
    reply = referrals.referral_status(store, "demo-maria", specialty="endocrinology", focus_referral_id=None,
                                      short=False, today=TODAY)
    steps = said(reply, "utter_referral_status")["steps"]
    assert steps.startswith("• Sent by Dr. Grace Okafor Saturday, February 28.")
    assert "• Booked: Thursday, March 19 at 10:30 am at 45 Main Street, 3rd floor." in steps
    assert "sends a report to Dr. Grace Okafor" in said(reply, "utter_referral_what_happens_after")["after"]


def test_results_released_only_and_pending_by_name(store):
    reply = records.test_results(store, "demo-aisha", test_name=None, short=False, today=TODAY)
    assert "no signs of cancer" in said(reply, "utter_results_released")["results"]
    pending = said(reply, "utter_results_pending")["results"]
    assert "Thyroid test (TSH): back, but Dr. Daniel Lee has not reviewed and released it yet" in pending
    assert "6.8" not in str([s.variables for s in reply.says])  # the unreleased value


def test_medicines_in_full_on_the_web_and_a_count_by_sms(store):
    web = said(records.medications(store, "demo-linda", medication=None, short=False, today=TODAY),
               "utter_medications")["medications"]
    assert "furosemide 40 mg, every morning (prescribed by Dr. Luis Mendez)" in web
    assert "STOPPED: ibuprofen (stopped at discharge" in web
    sms = said(records.medications(store, "demo-linda", medication=None, short=True, today=TODAY),
               "utter_medications_sms")
    assert sms == {"count": 3, "changed": " 4 changed recently."}


def test_appointments_say_when_where_and_how_to_prepare(store):
    reply = records.appointments(store, "demo-linda", specialty=None, short=False, now=NOW)
    shown = said(reply, "utter_appointments")["appointments"]
    assert re.search(r"hospital follow-up visit with Dr\. Daniel Lee, Northside Family Clinic", shown)
    assert "To prepare: Bring your discharge papers" in shown


def test_community_resources_offer_categories_then_list_with_211(store):
    menu = directory.community_resources(store, category=None, area=None, short=False)
    titles = [b["title"] for b in menu.says[0].buttons]
    assert titles[:2] == ["Rides to appointments", "Food help"] and menu.says[-1].response == "utter_211"
    food = directory.community_resources(store, category="food", area="riverside", short=False)
    assert said(food, "utter_community_resources")["area"] == " near Riverside"


def test_every_phrase_the_code_names_is_in_the_phrase_book():
    book = set(yaml.safe_load((ROOT / "bot" / "knowledge" / "phrases.yml").read_text()))
    named = set()
    for path in (ROOT / "bot").rglob("*.py"):
        named |= set(re.findall(r"""phrase\(\s*["']([a-z_.]+)["']""", path.read_text()))
    assert named and named - book == set()
