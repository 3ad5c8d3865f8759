"""The deterministic crisis check: phrases with words in between still get the emergency answer,
and everyday sentences about medicines do not."""
from __future__ import annotations

import pytest

from bot.nlp.spacy_pipeline import crisis_kinds


@pytest.mark.parametrize("text, kind", [
    ("my son swallowed a bunch of my pills", "poison_control"),
    ("i took like 20 of my sleeping pills", "poison_control"),
    ("i took 30 of my pills", "poison_control"),
    ("my toddler got into my pills", "poison_control"),
    ("i took too much insulin", "poison_control"),
    ("my daughter drank some of the drain cleaner", "poison_control"),
    ("my kid ate a battery", "poison_control"),
    ("i can barely breathe", "call_911"),
    ("can't breath", "call_911"),
    ("my dad isn't breathing", "call_911"),
    ("i want to kill myself", "call_988"),
    ("i dont want to wake up tomorrow", "call_988"),
    ("my friend is talking about taking her own life", "call_988"),
    ("crushing chest pain and i can't breathe", "call_911"),  # most urgent first
    ("honestly i just wanna kms", "call_988"),
    ("there's blood gushing from his leg", "call_911"),
    ("she's spurting blood from her hand", "call_911"),
    ("i can't stop the bleeding on my arm", "call_911"),
    ("bleeding wont stop help", "call_911"),
    ("the bleeding from his head still hasnt stopped", "call_911"),
    ("his face went all droopy on one side", "call_911"),
    ("mom suddenly can't lift her left arm", "call_911"),
    ("the baby chewed a couple of grandma's tablets", "poison_control"),  # SMS shorthand, matched exactly
])
def test_crisis_signs_are_found(text, kind):
    assert crisis_kinds(text)[0] == kind


@pytest.mark.parametrize("text", [
    "i take my pills every morning", "what pills should i take", "should i take all my meds at once",
    "how do i take all of these medicines", "i took 2 of my pills", "i swallowed my pills with water",
    "can i take two tablets of tylenol", "the bottle says take 2 tablets", "i need a refill on my pills",
    "how many pills do i take a day", "we went hiking and he ate some wild mushrooms",
    "what should i ask the heart doctor",
    "convert 10 miles to km",
    "can i drink blood orange juice on this medicine",
    "i can't move my appointment to friday", "my kid ate lunch before school",
    "my blood pressure wont stop going up, what should i ask the dr",
    "the blood test is not stopping me from eating",
    "can my child take chewable vitamins",  # not "kms" (shorthand is never matched through its lemma)
])
def test_everyday_sentences_are_not_emergencies(text):
    assert crisis_kinds(text) == []


@pytest.mark.parametrize("text, kind", [
    ("my wife is haveing a siezure right now", "call_911"),
    ("cant brethe help pls", "call_911"),
    ("my dad is unconcious on the floor", "call_911"),
    ("really bad cheast pain", "call_911"),
    ("i think he overdosd on his meds", "poison_control"),
])
def test_a_crisis_word_misspelled_by_one_letter_still_counts(text, kind):
    assert crisis_kinds(text)[0] == kind


@pytest.mark.parametrize("text", [
    "i am cooking dinner for my mom",  # one letter from "choking", but a word
    "we play chess on tuesdays",  # one letter from "chest"
    "i rarely breathe through my mouth at night",
])
def test_real_words_near_crisis_words_are_not_corrected(text):
    assert crisis_kinds(text) == []


def test_no_common_english_word_is_taken_for_a_misspelled_crisis_word():
    """Every frequent English word one edit from a crisis word is either known to the lemmatiser
    or listed in NOT_TYPOS (slang spellings of the crisis word itself may be corrected)."""
    from bot.nlp.spacy_pipeline import NOT_TYPOS, _edits1, _known_words, crisis_keywords
    from bot.nlp.vocab import english_logprob

    english = english_logprob()
    table, lemmas = _known_words()
    keywords = crisis_keywords()
    slang = {"gettin", "nothin", "somethings", "realy", "somethin", "havnt", "coulda", "somthing", "tought",
             "thinkin", "dosent", "killin", "havin", "thier", "beeing", "frient", "gunna", "makin", "rollin",
             "sayin", "talkin", "woulda", "feelin"}
    missing = sorted(v for k in keywords for v in _edits1(k)
                     if len(v) >= 5 and v not in keywords and v not in table and v not in lemmas
                     and v not in NOT_TYPOS and v not in slang and english.get(v, -99.0) >= -14.5)
    assert missing == []


def _cases(intent: str) -> list:
    from pathlib import Path

    from bot.evaluation import holdout_examples

    return [text for text, label in holdout_examples(Path(__file__).parent / "crisis_cases.yml") if label == intent]


def test_every_emergency_in_the_written_cases_is_caught_by_the_phrases_alone():
    emergencies = _cases("report_emergency")
    assert len(emergencies) >= 140
    missed = [text for text in emergencies if not crisis_kinds(text)]
    assert missed == []


def test_calm_messages_about_the_past_or_asking_for_information_are_mostly_not_emergencies():
    """A few stay emergencies on purpose ("what's the number for poison control"): the answer
    is the number. At most 6 of the 110 calm messages get the emergency answer."""
    calm = _cases("not_emergency")
    assert len(calm) >= 100
    alarms = [text for text in calm if crisis_kinds(text)]
    assert len(alarms) <= 6, alarms


@pytest.mark.parametrize("text", [
    "my mom had a stroke 3 years ago and i want to book her annual follow up",
    "i used to self harm as a teen and it's been 8 years clean, should my therapist know",
    "whats the difference between a seizure and fainting, just curious",
    "add a question, can my dad go back to work after his heart attack",
])
def test_past_events_and_information_requests_are_not_emergencies(text):
    assert crisis_kinds(text) == []


@pytest.mark.parametrize("text", [
    "my dad had a stroke last year and now his face is drooping again",
    "i used to self harm and i want to hurt myself again tonight",
    "had a seizure in 2019 and now she is seizing again",
])
def test_something_happening_now_is_an_emergency_whatever_the_past(text):
    assert crisis_kinds(text) != []
