"""DomainGate: a care intent with no word of the care domain, or a care, help or bot_challenge
message that reads unlike the care data, goes to the fallback (buttons with the likely meanings);
everything else passes untouched."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.components import DomainGate


def _gate(config: dict = None) -> DomainGate:
    class Storage:  # train() persists; a real folder under pytest's tmp dir is not needed here
        def write_to(self, resource):
            import contextlib
            import pathlib
            import tempfile

            return contextlib.nullcontext(pathlib.Path(tempfile.mkdtemp()))

    gate = DomainGate(config or {}, Storage(), None)
    examples = [("why was i referred to the specialist", "ask_referral_reason"),
                ("what is the referral about", "ask_referral_reason"),
                ("why did my doctor send a referral", "ask_referral_reason"),
                ("when is my next appointment", "ask_appointments"),
                ("i need to reschedule my appointment", "ask_appointments"),
                ("i have chest pain", "report_emergency"), ("bad pain in my arm", "report_emergency"),
                ("i want to talk to a person", "request_human"), ("can a real person call me", "request_human"),
                ("hello there", "greet"), ("who is the best singer", "out_of_scope")]
    gate.train(TrainingData([Message(data={"text": t, "intent": i}) for t, i in examples]))
    return gate


def _message(text: str, intent: str) -> Message:
    ranking = [{"name": intent, "confidence": 0.7}, {"name": "ask_care_team", "confidence": 0.2}]
    return Message(data={"text": text, "intent": {"name": intent, "confidence": 0.7}, "intent_ranking": ranking})


@pytest.mark.parametrize("text, intent, expected", [
    ("who wrote this opera", "ask_referral_reason", "nlu_fallback"),
    ("king of the jungle", "report_emergency", "nlu_fallback"),
    ("what was my referral for", "ask_referral_reason", "ask_referral_reason"),
    ("move my appointments please", "ask_appointments", "ask_appointments"),  # lemma: appointment
    ("what should i ask the heart doctor", "ask_appointments", "ask_appointments"),  # a specialty
    ("the pain is bad", "report_emergency", "report_emergency"),
    ("who wrote this opera", "greet", "greet"),  # small talk is not gated
    ("what can you do", "help", "help"),  # only small words: nothing against it
    ("can you teach me to multiply fractions", "help", "nlu_fallback"),  # no word the care data uses
    ("is your appointment software a robot", "bot_challenge", "bot_challenge"),
    # a care word, drowned by words the care data never uses
    ("refer me to a cheap lawn mower repair shop with good reviews", "ask_referral_reason", "nlu_fallback"),
])
def test_the_gate(text, intent, expected):
    message = _message(text, intent)
    _gate().process([message])
    assert message.get("intent")["name"] == expected
    if expected == "nlu_fallback":  # the likely meanings stay ranked for the fallback's buttons
        assert [r["name"] for r in message.get("intent_ranking")][:2] == ["nlu_fallback", intent]


@pytest.mark.parametrize("text, intent", [
    ("what can you do", "help"),  # only stop words: the score has nothing to judge
    ("can i talk to a real person", "request_human"),  # a hand-off needs no care word
])
def test_a_strict_threshold_still_lets_plain_help_and_hand_off_requests_through(text, intent):
    message = _message(text, intent)
    _gate({"lm_threshold": 0.5}).process([message])
    assert message.get("intent")["name"] == intent


def test_a_strict_threshold_still_stops_foreign_hand_off_requests():
    message = _message("let me speak to the manager of the pizza place about my order", "request_human")
    _gate({"lm_threshold": 0.5}).process([message])
    assert message.get("intent")["name"] == "nlu_fallback"


def test_the_domain_score_rewards_care_words_and_costs_foreign_ones():
    gate = _gate()
    assert gate.domain_score("my referral") > 0 > gate.domain_score("my lawn mower")
    assert gate.domain_score("my referral appointment") > gate.domain_score("my referral")
    assert gate.domain_score("") == 0


def test_the_learned_vocabularies_leave_out_small_talk_words():
    gate = _gate()
    assert {"referral", "appointment"} <= gate.care_words and "pain" in gate.emergency_words
    assert not {"hello", "who", "best"} & gate.care_words
