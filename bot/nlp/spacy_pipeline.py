"""The blank English spaCy pipeline CareNav uses: tokenizer, lookup lemmas, phrase matchers.

No pretrained pipeline is installed (none is on the package registries); `spacy.blank("en")`
with the lookup lemmatizer tables from spacy-lookups-data gives tokens and lemmas, and
PhraseMatchers built from the curated vocabularies find specialties, tests, medicines and care
situations. (Emergencies are the safety screen's: bot/safety.) Built once per process.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Set, Tuple

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from bot.nlp.vocab import entity_vocabularies

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
    gate all read the same message, and none of them changes the Doc."""
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
        found: Dict[Tuple[int, int, int], None] = {}
        for matcher in (self._lower, self._lemma):
            for key_id, start, end in matcher(doc):
                found[(start, end, key_id)] = None
        # longest first, then leftmost; drop overlaps
        spans = sorted(found, key=lambda m: (-(m[1] - m[0]), m[0]))
        taken: Set[int] = set()
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
