"""The safety screen: on every message, before anything else, in English and Spanish.

Three outcomes:
- `emergency`: a red-flag sign happening now. The answer (911, 988 or Poison Control, in the
  patient's language) comes first, then the offer of a person.
- `possible`: red-flag words that are negated, past, hypothetical or asked as information ("my
  dad had a stroke last year", "what do I do if she has a seizure"), or a message the learned
  model finds somewhat alarming. The patient's question is answered and one line is added: "If
  this is happening now, call 911."
- `none`.

Two independent halves, neither of them the intent classifier:
1. the taxonomy (bot/knowledge/safety/taxonomy.yml): red-flag signs by category, with medspaCy's
   ConText deciding whether each sign is happening now (bot/safety/context.py);
2. a learned model (bot/safety/model.py) trained on independently written emergencies and
   look-alikes, which catches phrasing the taxonomy does not list.
A sign happening now is an emergency unless the learned model is near-certain it is not; without
such a sign, the learned model alone makes an emergency when it is confident. Thresholds were
chosen by leave-one-writer-out cross-validation (bench/safety_cv.py; README "Safety net").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional, Tuple

from bot.safety import context, language, model, taxonomy
from bot.safety.text import normalise

EMERGENCY, POSSIBLE, NONE = "emergency", "possible", "none"


@dataclass(frozen=True)
class Thresholds:
    veto: float = 0.15  # a current sign is overruled only below this learned probability
    alone: float = 0.70  # the learned model alone makes an emergency at or above this
    override: float = 0.80  # ... and at or above this when the signs it found are all not now
    possible: float = 0.30  # ... and a `possible` at or above this
    veto_min_words: int = 6  # the veto applies only to a message of more words than this
    alone_min_words: int = 4  # the learned model alone judges only a message of this many words
    alone_short: float = 0.90  # ... or of three words at or above this ("no pueo respirar")


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Screening:
    outcome: str  # emergency | possible | none
    category: Optional[str] = None  # the taxonomy category (emergency or possible)
    answer: Optional[str] = None  # the domain response for the emergency answer
    language: Optional[str] = None  # en | es, or None when the message does not say
    probability: float = 0.0  # the learned model's probability of an emergency
    signs: Tuple[str, ...] = field(default_factory=tuple)  # categories of the signs found
    current: Tuple[str, ...] = field(default_factory=tuple)  # ... of those happening now

    @property
    def is_emergency(self) -> bool:
        return self.outcome == EMERGENCY


def _most_urgent(categories) -> Optional[str]:
    ranked = sorted(categories, key=lambda c: (taxonomy.ANSWERS.index(taxonomy.answer_for(c)), c))
    return ranked[0] if ranked else None


def analyse(text: str, probability: Optional[float] = None, learned_category: Optional[str] = None,
            thresholds: Thresholds = THRESHOLDS) -> Screening:
    """Screen one message. `probability`/`learned_category` may be given (batch evaluation)."""
    if not text or not text.strip():
        return Screening(NONE)
    normalised = taxonomy.typo_corrector()(normalise(text))
    words = len(normalised.split())
    found = taxonomy.signs(normalised)
    mods = context.modifiers(normalised, [(s.start, s.end) for s in found],
                             labels=[s.category for s in found]) if found else []
    current = sorted({s.category for s, m in zip(found, mods) if not m})
    modified = sorted({s.category for s in found})
    if probability is None:
        probability, learned_category = model.trained().score([text])[0]
    lang = language.detect(text)
    if lang is None and found:
        langs = {s.language for s in found}
        lang = langs.pop() if len(langs) == 1 else None

    # the learned model may overrule a sign only in a message long enough to say something else
    # ... and never a suicide sign: a goodbye or a plan is answered with 988 whatever the model says
    vetoed = (probability < thresholds.veto and words > thresholds.veto_min_words
              and "suicide" not in current)
    if current and not vetoed:
        category = _most_urgent(current)
        outcome = EMERGENCY
    elif probability >= (thresholds.override if modified else thresholds.alone) and (
            words >= thresholds.alone_min_words or (words >= 3 and probability >= thresholds.alone_short)):
        # (context is not asked here: measured, letting it overrule the model alone cost more
        # emergencies than it saved false alarms, Spanish "no ..." most of all)
        category = _most_urgent(current or modified) or learned_category or "general"
        outcome = EMERGENCY
    elif modified or current or probability >= thresholds.possible:
        category = _most_urgent(current or modified) or learned_category or "general"
        outcome = POSSIBLE
    else:
        return Screening(NONE, language=lang, probability=probability)
    if category not in taxonomy.categories():
        category = "general"
    return Screening(outcome, category, taxonomy.answer_for(category), lang, probability,
                     tuple(modified), tuple(current))


@lru_cache(maxsize=2048)
def screen(text: str) -> Screening:
    """The screening of one message (cached: the NLU and the channel both ask)."""
    return analyse(text)


def warm_up() -> None:
    """Load everything the screen needs (the learned model, the word tables, the context rules,
    the language models), so the first patient's message does not wait for it."""
    from bot.safety.text import is_known

    is_known("warm")
    analyse("my chest hurts since last year, no me deja respirar")
