"""The safety screen (bot/safety): every emergency in the sets the project keeps is caught, in
English and Spanish and in every category; calm messages that share the words rarely get the
emergency answer; context (past, hypothetical, negated, information) makes a sign `possible`."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from bot.safety.screen import EMERGENCY, NONE, POSSIBLE, screen
from bot.safety.sets import CALM, kept_sets, load_sets

ANSWER_911, ANSWER_988, ANSWER_POISON = "utter_emergency_911", "utter_emergency_988", "utter_emergency_poison"


def _kept_cases():
    cases = load_sets(kept_sets())
    assert len(cases) >= 5000, "the writers' sets are missing"
    return cases


def test_the_kept_sets_cover_every_category_in_both_languages_from_several_writers():
    by_cell = defaultdict(set)
    counts = defaultdict(int)
    for case in _kept_cases():
        by_cell[(case.category, case.language, case.label)].add(case.source)
        counts[(case.category, case.language, case.label)] += 1
    categories = {c for c, _, _ in by_cell}
    assert len(categories) >= 13
    for category in categories:
        for language in ("en", "es"):
            for label in ("emergency", CALM):
                assert len(by_cell[(category, language, label)]) >= 3, (category, language, label)
                assert counts[(category, language, label)] >= 40, (category, language, label)


def test_every_emergency_in_the_kept_sets_gets_the_emergency_answer():
    missed = [(c.source, c.category, c.text) for c in _kept_cases()
              if c.label != CALM and screen(c.text).outcome != EMERGENCY]
    assert missed == []


def test_at_most_five_percent_of_calm_look_alikes_get_the_emergency_answer_in_each_language():
    calm = defaultdict(list)
    for case in _kept_cases():
        if case.label == CALM:
            calm[case.language].append(case)
    for language, cases in calm.items():
        alarms = [c.text for c in cases if screen(c.text).outcome == EMERGENCY]
        assert len(alarms) <= 0.05 * len(cases), (language, len(alarms), alarms[:10])


def test_the_earlier_emergency_sets_are_still_caught():
    """tests/crisis_cases.yml: two writers' sets from 2026-11-25, kept as regression cases."""
    from bot.evaluation import holdout_examples

    cases = holdout_examples(Path(__file__).parent / "crisis_cases.yml")
    emergencies = [t for t, intent in cases if intent == "report_emergency"]
    calm = [t for t, intent in cases if intent != "report_emergency"]
    assert len(emergencies) >= 140 and len(calm) >= 100
    assert [t for t in emergencies if screen(t).outcome != EMERGENCY] == []
    alarms = [t for t in calm if screen(t).outcome == EMERGENCY]
    assert len(alarms) <= 0.05 * len(calm), alarms


@pytest.mark.parametrize("text, answer, language", [
    ("my son swallowed a bunch of my pills", ANSWER_POISON, "en"),
    ("i took like 20 of my sleeping pills", ANSWER_POISON, "en"),
    ("my daughter drank some of the drain cleaner", ANSWER_POISON, "en"),
    ("i can barely breathe", ANSWER_911, "en"),
    ("my dad isn't breathing", ANSWER_911, "en"),
    ("i want to kill myself", ANSWER_988, "en"),
    ("crushing chest pain and i can't breathe", ANSWER_911, "en"),
    ("his face went all droopy on one side", ANSWER_911, "en"),
    ("my wife is haveing a siezure right now", ANSWER_911, "en"),  # typos
    ("cant brethe help pls", ANSWER_911, "en"),
    ("no puedo respirar", ANSWER_911, "es"),
    ("me duele mucho el pecho y se me va al brazo", ANSWER_911, "es"),
    ("quiero matarme", ANSWER_988, "es"),
    ("mi hijo se tomo como 15 pastillas de mi mama", ANSWER_POISON, "es"),
    ("a mi esposo se le cayo la cara de un lado y habla raro", ANSWER_911, "es"),
    ("mi bebe se esta poniendo morado y no respira bien", ANSWER_911, "es"),
])
def test_emergencies_get_their_answer_in_their_language(text, answer, language):
    result = screen(text)
    assert result.outcome == EMERGENCY
    assert result.answer == answer
    assert result.language == language


@pytest.mark.parametrize("text", [
    "my mom had a stroke 3 years ago and i want to book her annual follow up",
    "what should i do if my son has a seizure at school",
    "support groups for stroke survivors near me",
    "my dad died of a heart attack, should i get checked",
    "when do i take my seizure meds",
    "mi papa tuvo un derrame el año pasado, que le pregunto al neurologo",
    "que hago si a mi hijo le da una convulsion",
])
def test_red_flag_words_that_are_not_happening_now_are_possible(text):
    assert screen(text).outcome == POSSIBLE


@pytest.mark.parametrize("text", [
    "no chest pain, just a cough, can i get a sick visit",
    "my feet are killing me after my shift",
    "me muero de hambre, a que hora es mi cita",
    "i am cooking dinner for my mom",  # one letter from "choking", but a word
    "we play chess on tuesdays",
    "i take my pills every morning",
    "i need a refill on my pills",
    "convert 10 miles to km",
    "hola, quiero saber a que hora es mi cita",
    "what are my next steps",
])
def test_everyday_messages_are_not_emergencies(text):
    assert screen(text).outcome != EMERGENCY


@pytest.mark.parametrize("text", [
    "my dad had a stroke last year and now his face is drooping again",
    "i used to self harm and i want to hurt myself again tonight",
    "mi hijo tuvo convulsiones de chiquito y ahorita esta convulsionando otra vez",
])
def test_something_happening_now_is_an_emergency_whatever_the_past(text):
    assert screen(text).outcome == EMERGENCY


def test_a_message_with_nothing_to_screen_is_none():
    assert screen("").outcome == NONE
    assert screen("thanks!").outcome == NONE


def _edits1(word: str) -> set:
    """Every string one deletion, swap, substitution or insertion away from `word`."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in letters}
            | {a + c + b for a, b in splits for c in letters})


def test_no_common_english_word_is_corrected_into_a_crisis_word():
    """A frequent English word one letter from a crisis keyword must be a known word (never
    corrected) or listed in NOT_TYPOS."""
    from bot.nlp.vocab import english_logprob
    from bot.safety.taxonomy import typo_corrector
    from bot.safety.text import NOT_TYPOS, is_known

    english = english_logprob()
    corrector = typo_corrector()
    slang = {"gettin", "nothin", "somethings", "realy", "somethin", "havnt", "coulda", "somthing", "tought",
             "thinkin", "dosent", "killin", "havin", "thier", "beeing", "frient", "gunna", "makin", "rollin",
             "sayin", "talkin", "woulda", "feelin"}
    changed = sorted({v for k in corrector.keywords for v in _edits1(k)
                      if len(v) >= 5 and not is_known(v) and v not in NOT_TYPOS and v not in slang
                      and english.get(v, -99.0) >= -12.0 and corrector.word(v) != v})
    assert changed == []
