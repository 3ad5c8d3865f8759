"""Conversation review for the care team, against real stores: conversations are made of Rasa's own
events and saved with the project's tracker store (Rasa's SQLTrackerStore) in SQLite files, the
care-plan store is the seeded demo. A patient's conversations are listed with their counts, turns
are flagged (emergency, fallback, unsure), another patient's conversation cannot be read by its id,
every view is audited with the staff member as actor, a conversation can be kept as a test story
without the patient's name, and the daily counts add up."""
from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import List, Optional

import pytest
import yaml
from sqlalchemy import select

from bot.console import review
from bot.store import models as m
from tests.conftest import ROOT

STAFF = "megan@clinic.example"
START = dt.datetime(2025, 3, 10, 9, 0, 0)  # local time, as the review shows it


@pytest.fixture(scope="module")
def domain():
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def db(tmp_path):
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.create_schema()
    seed_demo(database)
    yield database
    database.dispose()


class Talk:
    """A conversation's events as the Rasa server records them, one second apart from `start`."""

    def __init__(self, sender: str, start: dt.datetime, channel: str = "socketio") -> None:
        from rasa.shared.core.events import SessionStarted

        self.sender, self.channel, self.clock, self.events = sender, channel, start.timestamp(), []
        self.messages = 0
        self.action("action_session_start")
        self.events.append(SessionStarted(timestamp=self.tick()))
        self.action("action_listen")

    def tick(self) -> float:
        self.clock += 1
        return self.clock

    def user(self, text: str, intent: str, confidence: float, entities: Optional[list] = None,
             message_id: Optional[str] = None, without_id: bool = False) -> "Talk":
        """A patient message; the channels give each its own id (events added through Rasa's HTTP API
        may have none: `without_id`)."""
        from rasa.shared.core.events import UserUttered

        self.messages += 1
        self.events.append(UserUttered(text, {"name": intent, "confidence": confidence}, entities or [],
                                       timestamp=self.tick(), input_channel=self.channel,
                                       message_id=None if without_id else
                                       message_id or f"{self.sender}-m{self.messages}"))
        return self

    def action(self, name: str) -> "Talk":
        from rasa.shared.core.events import ActionExecuted

        self.events.append(ActionExecuted(name, policy="RulePolicy", confidence=1.0, timestamp=self.tick()))
        return self

    def say(self, text: str, utter_action: Optional[str] = None) -> "Talk":
        from rasa.shared.core.events import BotUttered

        self.events.append(BotUttered(text, metadata={"utter_action": utter_action} if utter_action else {},
                                      timestamp=self.tick()))
        return self

    def slot(self, name: str, value) -> "Talk":
        from rasa.shared.core.events import SlotSet

        self.events.append(SlotSet(name, value, timestamp=self.tick()))
        return self

    def loop(self, name: Optional[str]) -> "Talk":
        from rasa.shared.core.events import ActiveLoop

        self.events.append(ActiveLoop(name, timestamp=self.tick()))
        return self

    def revert(self) -> "Talk":
        from rasa.shared.core.events import UserUtteranceReverted

        self.events.append(UserUtteranceReverted(timestamp=self.tick()))
        return self

    def listen(self) -> "Talk":
        return self.action("action_listen")

    def save(self, tracker_url: str, domain) -> None:
        """Saved the way the Rasa server saves it: the project's tracker store from its endpoint config."""
        from rasa.core.tracker_store import TrackerStore
        from rasa.shared.core.trackers import DialogueStateTracker
        from rasa.utils.endpoints import EndpointConfig

        from bot.tracker_store import tracker_store_endpoint

        store = TrackerStore.create(EndpointConfig.from_dict(tracker_store_endpoint(tracker_url)), domain=domain)
        try:
            asyncio.run(store.save(DialogueStateTracker.from_events(self.sender, self.events, slots=domain.slots)))
        finally:
            store.engine.dispose()


EMERGENCY_TEXT = "crushing chest pain right now"


def lindas_chat(start: dt.datetime = START) -> Talk:
    """Linda signs in and has a confident turn, an unsure one, one the NLU did not understand (the
    two-stage fallback, then her choice from its buttons), one the dialogue could not answer (the
    core fallback) and an emergency."""
    talk = Talk("web-chat-1", start)
    talk.user("hi, I'm Linda Nguyen", "greet", 0.97).action("utter_greet").say("Hi! How can I help?", "utter_greet")
    talk.listen()
    talk.user("what do i do next i guess", "ask_next_steps", 0.31).action("action_next_steps")
    talk.slot("patient_id", "demo-linda").say("Your next step: weigh yourself every morning.").listen()
    talk.user("purple monkey dishwasher", "nlu_fallback", 0.4).action("action_two_stage_fallback")
    talk.loop("action_two_stage_fallback")
    talk.say("Sorry, I'm not sure I understood. Did you mean one of these?", "utter_ask_affirmation").listen()
    # she picks "Why I was referred"; the fallback takes her message back and adds it clarified
    talk.user("/ask_referral_reason", "ask_referral_reason", 1.0, message_id="chat-1-choice")
    talk.action("action_two_stage_fallback").revert().listen()
    talk.user("/ask_referral_reason", "ask_referral_reason", 1.0, message_id="chat-1-choice")
    talk.loop(None).action("action_referral_reason").say("Dr. Lee referred you to cardiology.").listen()
    talk.user("can you sing me a song about my pills", "ask_medications", 0.88)
    talk.action("action_default_fallback").say("Sorry, I still didn't understand.", "utter_default").revert()
    talk.listen()
    talk.user(EMERGENCY_TEXT, "report_emergency", 1.0,
              [{"entity": "emergency_type", "value": "call_911", "start": 0, "end": len(EMERGENCY_TEXT)}])
    talk.slot("emergency_type", "call_911").slot("emergency_category", "heart")
    talk.action("utter_emergency_911").say("This could be an emergency. Call 911 now.", "utter_emergency_911")
    talk.action("utter_offer_human").say("When you are safe, would you like someone to call you?", "utter_offer_human")
    return talk.listen()


def short_chat(sender: str, start: dt.datetime, patient_id: Optional[str], channel: str = "sms") -> Talk:
    talk = Talk(sender, start, channel)
    talk.user("when is my next appointment", "ask_appointments", 0.93).action("action_appointments")
    if patient_id:
        talk.slot("patient_id", patient_id)
    return talk.say("Your next visit is on Friday.").listen()


@pytest.fixture
def trackers(tmp_path, domain) -> str:
    """Linda's web chat and her older SMS conversation, James's chat, and an anonymous chat that
    mentions Linda's id in a slot (it is not bound to her)."""
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    lindas_chat().save(url, domain)
    short_chat("sms-0a1b2c3d4e5f6a7b", START - dt.timedelta(days=3), "demo-linda").save(url, domain)
    short_chat("web-chat-2", START + dt.timedelta(hours=1), "demo-james", "socketio").save(url, domain)
    anonymous = short_chat("web-chat-3", START + dt.timedelta(hours=2), None, "socketio")
    anonymous.slot("last_situation", "demo-linda").save(url, domain)
    return url


def audit_rows(db) -> List[m.AuditEvent]:
    with db.session() as s:
        return list(s.execute(select(m.AuditEvent).where(m.AuditEvent.channel == "staff")
                              .order_by(m.AuditEvent.id)).scalars().all())


def iso(seconds_after: float, start: dt.datetime = START) -> str:
    return (start + dt.timedelta(seconds=seconds_after)).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- the list

def test_the_threshold_and_answers_come_from_the_project():
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    [fallback] = [c for c in config["pipeline"] if c["name"] == "FallbackClassifier"]
    assert review.unsure_threshold() == fallback["threshold"]
    assert {"utter_emergency_911", "utter_emergency_988", "utter_emergency_poison",
            "utter_emergency_general"} == set(review.emergency_answers())
    assert {"action_default_fallback", "utter_default"} <= review.fallback_actions()


def test_a_patients_conversations_are_listed_newest_first_with_their_counts(db, trackers):
    listed = review.conversations_of(db, trackers, STAFF, "demo-linda", now=dt.datetime(2025, 3, 11, 8, 0))

    # not James's, not the anonymous one that only mentions her id
    assert [c["sender_id"] for c in listed] == ["web-chat-1", "sms-0a1b2c3d4e5f6a7b"]
    web, sms = listed
    ends = len(lindas_chat().events)  # one second apart from START
    assert web == {"sender_id": "web-chat-1", "channel": "socketio", "started_at": iso(1), "last_at": iso(ends),
                   "user_turns": 6, "fallbacks": 2, "unsure": 1, "emergencies": 1}
    counts = ("channel", "user_turns", "fallbacks", "unsure", "emergencies")
    assert tuple(sms[k] for k in counts) == ("sms", 1, 0, 0, 0)
    assert sms["started_at"] == iso(1, START - dt.timedelta(days=3))

    [row] = audit_rows(db)
    assert (row.actor, row.patient_id, row.record_kind, row.action, row.channel, row.at) == (
        STAFF, "demo-linda", "conversation", "conversation list viewed", "staff", dt.datetime(2025, 3, 11, 8, 0))


def test_a_patient_without_conversations_or_a_store_without_any(db, tmp_path, trackers):
    assert review.conversations_of(db, trackers, STAFF, "demo-maria") == []
    missing = tmp_path / "no-trackers.db"
    assert review.conversations_of(db, f"sqlite:///{missing}", STAFF, "demo-linda") == []
    assert not missing.exists()  # looking did not create a tracker store
    empty = tmp_path / "empty.db"
    empty.touch()  # a database without Rasa's events table
    assert review.conversations_of(db, f"sqlite:///{empty}", STAFF, "demo-linda") == []
    with pytest.raises(LookupError):
        review.conversation(db, f"sqlite:///{empty}", STAFF, "demo-linda", "web-chat-1")
    assert [r.patient_id for r in audit_rows(db)] == ["demo-maria", "demo-linda", "demo-linda"]  # the lists


# --------------------------------------------------------------------------- one conversation

def test_a_conversation_is_shown_turn_by_turn_with_its_flags(db, trackers):
    shown = review.conversation(db, trackers, STAFF, "demo-linda", "web-chat-1", now=dt.datetime(2025, 3, 11, 8, 5))

    assert (shown["sender_id"], shown["channel"]) == ("web-chat-1", "socketio")
    patient = [(t["text"], t["intent"], t["confidence"], t["flag"]) for t in shown["turns"] if t["who"] == "patient"]
    assert patient == [
        ("hi, I'm Linda Nguyen", "greet", 0.97, None),
        ("what do i do next i guess", "ask_next_steps", 0.31, "unsure"),
        ("purple monkey dishwasher", "nlu_fallback", 0.4, "fallback"),
        ("/ask_referral_reason", "ask_referral_reason", 1.0, None),  # her choice, once: not the clarified copy too
        ("can you sing me a song about my pills", "ask_medications", 0.88, "fallback"),  # the core fallback answered
        (EMERGENCY_TEXT, "report_emergency", 1.0, "emergency"),
    ]
    assistant = [(t["text"], t["flag"]) for t in shown["turns"] if t["who"] == "assistant"]
    assert assistant == [
        ("Hi! How can I help?", None),
        ("Your next step: weigh yourself every morning.", None),
        ("Sorry, I'm not sure I understood. Did you mean one of these?", "fallback"),
        ("Dr. Lee referred you to cardiology.", None),
        ("Sorry, I still didn't understand.", "fallback"),
        ("This could be an emergency. Call 911 now.", "emergency"),
        ("When you are safe, would you like someone to call you?", None),
    ]
    assert [t["who"] for t in shown["turns"][:4]] == ["patient", "assistant", "patient", "assistant"]
    assert shown["turns"][0]["at"] == iso(4)  # session start, session started, listen, then her first message
    assert all(isinstance(t["confidence"], float) for t in shown["turns"] if t["who"] == "patient")

    [row] = audit_rows(db)
    assert (row.actor, row.patient_id, row.action, row.conversation_id, row.record_kind) == (
        STAFF, "demo-linda", "conversation viewed", "web-chat-1", "conversation")


def test_a_patient_repeating_herself_after_a_fallback_is_a_new_turn(db, tmp_path, domain):
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    talk = Talk("web-chat-4", START)
    talk.user("hello", "greet", 0.99).action("action_next_steps").slot("patient_id", "demo-linda").listen()
    # the fallback action's message has no response name (as from a custom action): the action says it
    talk.user("my pills song", "ask_medications", 0.9, without_id=True).action("action_default_fallback")
    talk.say("Sorry, I still didn't understand.").revert().listen()
    talk.user("my pills song", "ask_medications", 0.9, without_id=True).action("action_medications")
    talk.say("Your medicines: ...").listen()
    talk.save(url, domain)

    shown = review.conversation(db, url, STAFF, "demo-linda", "web-chat-4")
    assert [(t["text"], t["flag"]) for t in shown["turns"] if t["who"] == "patient"] == [
        ("hello", None), ("my pills song", "fallback"), ("my pills song", None)]
    assert [t["flag"] for t in shown["turns"] if t["who"] == "assistant"] == ["fallback", None]
    assert review.conversations_of(db, url, STAFF, "demo-linda")[0]["user_turns"] == 3


def test_an_emergency_is_flagged_from_the_safety_slots_alone(db, tmp_path, domain):
    """The channel answered it (the dialogue failed), so only the screen's slots say so."""
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    talk = Talk("web-chat-5", START)
    talk.user("hello", "greet", 0.99).action("action_next_steps").slot("patient_id", "demo-linda").listen()
    talk.user("i took all my pills at once", "ask_medications", 0.95).slot("emergency_category", "overdose").listen()
    talk.save(url, domain)

    shown = review.conversation(db, url, STAFF, "demo-linda", "web-chat-5")
    assert [t["flag"] for t in shown["turns"] if t["who"] == "patient"] == [None, "emergency"]


def test_another_patients_conversation_cannot_be_read_by_its_id(db, trackers, tmp_path):
    for sender in ("web-chat-2", "web-chat-3", "nobody"):
        with pytest.raises(LookupError):
            review.conversation(db, trackers, STAFF, "demo-linda", sender)
        with pytest.raises(LookupError):
            review.keep_as_story(db, trackers, STAFF, "demo-linda", sender, tmp_path / "stories")
    assert audit_rows(db) == []  # nothing was shown
    assert not (tmp_path / "stories").exists()

    # James's conversation is James's
    shown = review.conversation(db, trackers, STAFF, "demo-james", "web-chat-2")
    assert [t["text"] for t in shown["turns"] if t["who"] == "patient"] == ["when is my next appointment"]
    assert [(r.patient_id, r.conversation_id) for r in audit_rows(db)] == [("demo-james", "web-chat-2")]


# --------------------------------------------------------------------------- kept as a test story

def test_a_conversation_kept_as_a_test_story_has_its_intents_and_not_the_patients_name(db, trackers, tmp_path):
    out_dir = tmp_path / "tests" / "stories" / "kept"
    path = review.keep_as_story(db, trackers, STAFF, "demo-linda", "web-chat-1", out_dir,
                                now=dt.datetime(2025, 3, 11, 8, 10))

    assert path.parent == out_dir and path.suffix == ".yml" and path.is_file()
    assert "web-chat-1" not in path.name
    assert list(out_dir.iterdir()) == [path]  # no partial file left
    text = path.read_text()
    assert "linda" not in text.lower() and "nguyen" not in text.lower() and "demo-linda" not in text
    [story] = yaml.safe_load(text)["stories"]
    intents = [step["intent"] for step in story["steps"] if "intent" in step]
    for wanted in ("greet", "ask_next_steps", "nlu_fallback", "ask_referral_reason", "ask_medications",
                   "report_emergency"):
        assert wanted in intents
    assert intents[0] == "greet" and intents[-1] == "report_emergency"
    assert {"action": "utter_emergency_911"} in story["steps"]

    [row] = audit_rows(db)
    assert (row.actor, row.patient_id, row.action, row.conversation_id) == (
        STAFF, "demo-linda", "kept as test story", "web-chat-1")

    # kept again: the same file, rewritten
    assert review.keep_as_story(db, trackers, STAFF, "demo-linda", "web-chat-1", out_dir) == path
    assert review.story_file_name("web-chat-1") == path.name != review.story_file_name("web-chat-4")


def test_a_story_is_not_kept_when_the_patients_name_cannot_be_taken_out(tmp_path, trackers):
    from bot.store.db import Database
    from bot.story_export import CannotRedact

    empty = Database(f"sqlite:///{tmp_path / 'empty-store.db'}")  # the patient is not in this store
    empty.create_schema()
    try:
        with pytest.raises(CannotRedact):
            review.keep_as_story(empty, trackers, STAFF, "demo-linda", "web-chat-1", tmp_path / "kept")
        assert audit_rows(empty) == []
    finally:
        empty.dispose()
    assert not (tmp_path / "kept").exists()


# --------------------------------------------------------------------------- daily statistics

def test_daily_stats_count_turns_fallbacks_and_emergencies_per_day(tmp_path, domain):
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    today = dt.date(2025, 3, 12)
    lindas_chat(dt.datetime(2025, 3, 10, 9, 0)).save(url, domain)  # 6 turns, 2 fallbacks, 1 emergency
    short_chat("sms-0a1b2c3d4e5f6a7b", dt.datetime(2025, 3, 10, 23, 0), "demo-linda").save(url, domain)  # 1 turn
    # the last day's last second; the fallback answers it after midnight
    late = Talk("web-chat-6", dt.datetime(2025, 3, 12, 23, 59, 55))
    late.user("zzz", "help", 0.9).action("action_default_fallback").listen()
    assert dt.datetime.fromtimestamp(late.events[-3].timestamp) == dt.datetime(2025, 3, 12, 23, 59, 59)
    late.save(url, domain)
    short_chat("web-chat-8", dt.datetime(2025, 3, 13, 0, 0, 20), None).save(url, domain)  # after the window
    short_chat("web-chat-7", dt.datetime(2025, 2, 1, 10, 0), None).save(url, domain)  # outside the window

    stats = review.daily_stats(url, days=3, today=today)
    assert stats == [
        {"day": "2025-03-10", "user_turns": 7, "fallbacks": 2, "emergencies": 1},
        {"day": "2025-03-11", "user_turns": 0, "fallbacks": 0, "emergencies": 0},
        {"day": "2025-03-12", "user_turns": 1, "fallbacks": 1, "emergencies": 0},
    ]
    two_weeks = review.daily_stats(url, today=today)
    assert len(two_weeks) == 14 and two_weeks[0]["day"] == "2025-02-27" and two_weeks[-1]["day"] == "2025-03-12"
    assert sum(d["user_turns"] for d in two_weeks) == 8
    assert review.daily_stats(url, days=1, today=dt.date(2025, 3, 11)) == [
        {"day": "2025-03-11", "user_turns": 0, "fallbacks": 0, "emergencies": 0}]


def test_daily_stats_of_a_store_without_conversations(tmp_path):
    missing: Path = tmp_path / "none.db"
    stats = review.daily_stats(f"sqlite:///{missing}", days=2, today=dt.date(2025, 3, 12))
    assert stats == [{"day": "2025-03-11", "user_turns": 0, "fallbacks": 0, "emergencies": 0},
                     {"day": "2025-03-12", "user_turns": 0, "fallbacks": 0, "emergencies": 0}]
    assert not missing.exists()
    with pytest.raises(ValueError):
        review.daily_stats(f"sqlite:///{missing}", days=0)


def test_conversations_to_review_are_the_signed_in_ones_that_fell_back_or_were_unsure(db, trackers):
    rows = review.to_review(db, trackers, STAFF, days=7, now=START + dt.timedelta(days=1))
    # Linda's web chat fell back and was unsure; her SMS chat, James's and the anonymous one did not
    assert [(r["sender_id"], r["patient_id"], r["patient_name"]) for r in rows] == [
        ("web-chat-1", "demo-linda", "Linda Nguyen")]
    assert rows[0]["fallbacks"] >= 1 and rows[0]["unsure"] == 1 and rows[0]["emergencies"] == 1
    assert [(a.patient_id, a.action, a.actor) for a in audit_rows(db)] == [("demo-linda", "listed for review", STAFF)]
    assert review.to_review(db, trackers, STAFF, days=7, now=START + dt.timedelta(days=30)) == []  # too old
