"""The blank English spaCy pipeline CareNav uses: tokenizer, lookup lemmas, phrase matchers.

No pretrained pipeline is installed (none is on the package registries); `spacy.blank("en")`
with the lookup lemmatizer tables from spacy-lookups-data gives tokens and lemmas, and
PhraseMatchers built from the curated vocabularies find specialties, tests, medicines, care
situations and crisis phrases. Built once per process.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Tuple

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from bot.nlp.vocab import crisis_pattern_vocabulary, crisis_vocabulary, entity_vocabularies

_lock = threading.Lock()


@lru_cache(maxsize=1)
def blank_english() -> Language:
    """spacy.blank('en') with the lookup lemmatizer (tables from spacy-lookups-data)."""
    with _lock:
        nlp = spacy.blank("en")
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
        return nlp


@lru_cache(maxsize=1024)
def analyse(text: str) -> Doc:
    """The message as spaCy tokens with lemmas. Cached: the tokenizer, the entity ruler, the domain
    gate and the crisis check all read the same message, and none of them changes the Doc."""
    return blank_english()(text)


@dataclass(frozen=True)
class Match:
    label: str  # entity name, or crisis group
    value: str  # canonical value
    start: int  # character offsets in the text
    end: int
    text: str


class VocabularyMatcher:
    """Matches curated phrases on lowercase text and on lemmas; longest match wins.

    A short one-word phrase (3 letters or fewer) that the lemmatiser would change matches its
    exact lowercase text only: that is shorthand, and its "lemma" is wrong ("kms" -> "km" would
    make "convert 10 miles to km" a crisis), while "lab" still matches "labs"."""

    def __init__(self, vocabularies: Dict[str, Dict[str, List[str]]]) -> None:
        nlp = blank_english()
        self._lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self._keys: Dict[int, Tuple[str, str]] = {}
        for label, vocab in vocabularies.items():
            for canonical, phrases in vocab.items():
                key = f"{label}\x1f{canonical}"
                docs = list(nlp.pipe(phrases))
                self._lower.add(key, docs)
                by_lemma = [d for d in docs if len(d) > 1 or len(d.text) > 3 or d[0].lemma_.lower() == d[0].lower_]
                if by_lemma:
                    self._lemma.add(key, by_lemma)
                self._keys[nlp.vocab.strings[key]] = (label, canonical)

    def matches(self, doc: Doc) -> List[Match]:
        found = {}
        for matcher in (self._lower, self._lemma):
            for key_id, start, end in matcher(doc):
                found[(start, end, key_id)] = None
        # longest first, then leftmost; drop overlaps
        spans = sorted(found, key=lambda m: (-(m[1] - m[0]), m[0]))
        taken = set()
        out: List[Match] = []
        for start, end, key_id in spans:
            if any(i in taken for i in range(start, end)):
                continue
            taken.update(range(start, end))
            label, canonical = self._keys[key_id]
            span = doc[start:end]
            out.append(Match(label, canonical, span.start_char, span.end_char, span.text))
        return sorted(out, key=lambda m: m.start)


@lru_cache(maxsize=1)
def entity_matcher() -> VocabularyMatcher:
    return VocabularyMatcher(entity_vocabularies())


@lru_cache(maxsize=1)
def crisis_matcher() -> VocabularyMatcher:
    return VocabularyMatcher({"crisis": crisis_vocabulary()})


# What to do, most urgent first, when several kinds of crisis are named in one message.
CRISIS_PRIORITY = ("call_911", "poison_control", "call_988")


@lru_cache(maxsize=1)
def crisis_keywords() -> frozenset:
    """The words (5 letters or more) of the crisis phrases and patterns: the words a misspelling
    must not hide ("siezure", "brethe", "unconcious")."""
    words = {w for phrases in crisis_vocabulary().values() for p in phrases for w in re.findall(r"[a-z]+", p)}
    for _, pattern in crisis_pattern_vocabulary():
        words.update(re.findall(r"[a-z]+", pattern.pattern))
    return frozenset(w for w in words if len(w) >= 5)


# Real English words one letter away from a crisis word that the lemmatiser's table does not
# know; never "corrected". tests/test_crisis.py rebuilds the list from spaCy's English word
# frequencies and fails when a common word is missing here.
NOT_TYPOS = frozenset(
    "though difficult rarely whose forth sadly wasnt theirs alike chess usable doable shill yummy "
    "assed laggy doubly toking madly lugar existe righty abouts janna carboy aight nighter".split())


@lru_cache(maxsize=1)
def _known_words() -> Tuple[object, frozenset]:
    """English words the lemmatiser knows: its lookup table's inflected forms and their lemmas."""
    table = blank_english().get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
    return table, frozenset(table.values())


def _edits1(word: str) -> set:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in letters}
            | {a + c + b for a, b in splits for c in letters})


@lru_cache(maxsize=4096)
def spell_crisis_words(text: str) -> str:
    """The message with each unknown word one typo away from a crisis word replaced by it.

    "my wife is haveing a siezure" -> "my wife is having a seizure". A word the lemmatiser knows
    is never changed ("cooking" stays, though one letter from "choking"); nor is a word of
    fewer than 5 letters.
    """
    keywords = crisis_keywords()
    table, lemmas = _known_words()

    def fix(m: "re.Match") -> str:
        word = m.group(0)
        low = word.lower()
        if len(low) < 5 or low in keywords or low in NOT_TYPOS or low in table or low in lemmas:
            return word
        candidates = sorted(_edits1(low) & keywords)
        return candidates[0] if candidates else word

    return re.sub(r"[A-Za-z]+", fix, text)


def crisis_signs(text: str) -> List[Match]:
    """The crisis phrases and patterns in a message (empty when there are none); a crisis word
    misspelled by one letter still counts (`spell_crisis_words`)."""
    found = _crisis_signs(text)
    if not found:
        spelled = spell_crisis_words(text)
        if spelled != text:
            found = [Match(m.label, m.value, 0, len(text), m.text) for m in _crisis_signs(spelled)]
    return found


def _crisis_signs(text: str) -> List[Match]:
    doc = analyse(text)
    found = crisis_matcher().matches(doc)
    lowered = " ".join(t.lower_ for t in doc if not t.is_space)
    lemmas = " ".join((t.lemma_ or t.text).lower() for t in doc if not t.is_space)
    for group, pattern in crisis_pattern_vocabulary():
        hit = pattern.search(text.lower()) or pattern.search(lowered) or pattern.search(lemmas)
        if hit:
            found.append(Match("crisis", group, 0, len(text), hit.group(0)))
    return found


def crisis_kinds(text: str) -> List[str]:
    """The crisis groups named in a message, most urgent first."""
    groups = {m.value for m in crisis_signs(text)}
    return [g for g in CRISIS_PRIORITY if g in groups]
