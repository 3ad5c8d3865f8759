"""How the safety screen reads a message: one normal form for both languages, typos put back.

`normalise` lowercases, removes accents ("respiración" -> "respiracion"), drops apostrophes
("can't" -> "cant", "he's" -> "hes") and turns every other mark into a space, so one pattern
matches what people type with or without accents and punctuation. `correct_typos` puts back a
crisis word misspelt by one letter ("siezure", "brethe", "respirrar"), never a real English or
Spanish word (spaCy's lookup-lemma tables for both languages, from spacy-lookups-data).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import FrozenSet, Iterable

_APOSTROPHES = re.compile(r"['’‘`´]")
_NOT_WORD = re.compile(r"[^0-9a-zñ ]+")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """Lowercase, no accents, no apostrophes, other marks as spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("", text)
    text = _NOT_WORD.sub(" ", text.replace("ñ", "n"))
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=1)
def known_words() -> FrozenSet[str]:
    """Real English and Spanish words, normalised: every form and lemma of spaCy's lookup-lemma
    tables (spacy-lookups-data; not the frequency tables, which list common misspellings)."""
    import gzip
    import json

    import spacy_lookups_data

    data = Path(spacy_lookups_data.__file__).resolve().parent / "data"
    words = set()
    for name in ("en_lemma_lookup", "es_lemma_lookup"):
        path = data / f"{name}.json.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as f:
            table = json.load(f)
        for form, lemma in table.items():
            words.add(normalise(str(form)))
            if isinstance(lemma, str):
                words.add(normalise(lemma))
    return frozenset(w for w in words if w.isalpha())


# Real words one letter from a crisis word that the lemma tables do not list (slang, names).
NOT_TYPOS = frozenset(
    "though difficult rarely whose forth sadly wasnt theirs alike chess usable doable yummy laggy "
    "doubly madly righty abouts aight nighter asleep aware bling contre entre everyone nother pense "
    "rather sheep sleeved there thorough trashing edible everyones breathe breath breaths bleed "
    "blood choke chore choked cooking booking hooking looking stroke strokes stoke stroked broke "
    "sieze seize sizes sized faint paint saint feint taint point joint stole smoke spoke".split())

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> set:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
            | {a + c + b for a, b in splits for c in _ALPHABET})


class TypoCorrector:
    """Replaces an unknown word one edit from a crisis keyword (5 letters or more) by that keyword."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = frozenset(k for k in keywords if len(k) >= 5)

    @lru_cache(maxsize=8192)
    def word(self, word: str) -> str:
        if len(word) < 5 or word in self.keywords or word in NOT_TYPOS or word.isdigit():
            return word
        if word in known_words():
            return word
        # an inflection is not a typo: "atoran" is "they get stuck", not "atora" misspelt
        candidates = sorted(k for k in _edits1(word) & self.keywords
                            if not (word.startswith(k) or k.startswith(word)))
        return candidates[0] if candidates else word

    def __call__(self, normalised: str) -> str:
        return " ".join(self.word(w) for w in normalised.split(" "))


def literal_words(pattern: str) -> set:
    """The plain words in a regular expression (for the keyword list the corrector uses)."""
    cleaned = re.sub(r"\\[a-zA-Z]|\(\?[:!=<]+|[\[\]{}()|?*+.^$\\]|\d+", " ", pattern)
    return {w for w in cleaned.split() if w.isalpha()}
