"""How the safety screen reads a message: one normal form for both languages, typos put back.

`normalise` lowercases, removes accents ("respiración" -> "respiracion"), drops apostrophes
("can't" -> "cant", "he's" -> "hes") and turns every other mark into a space, so one pattern
matches what people type with or without accents and punctuation. `TypoCorrector` puts back a
crisis word misspelt by one letter ("siezure", "brethe", "respirrar"), never a real English or
Spanish word (spaCy's lookup-lemma tables for both languages, from spacy-lookups-data).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable

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


COMMON_LOGPROB = -13.5  # a word at least this frequent in general text is a real word


@lru_cache(maxsize=1)
def _tables():
    """spaCy's lookup tables (spacy-lookups-data) for English and Spanish: lemma lookups
    (inflected form -> lemma) and word log-probabilities from general text."""
    from spacy.lookups import load_lookups

    out = []
    for lang in ("en", "es"):
        lookups = load_lookups(lang, ["lemma_lookup", "lexeme_prob"])
        lemmas = lookups.get_table("lemma_lookup")
        out.append((lemmas, frozenset(normalise(str(v)) for v in lemmas.values()),
                    lookups.get_table("lexeme_prob")))
    return out


@lru_cache(maxsize=65536)
def is_known(word: str) -> bool:
    """A real English or Spanish word: an inflected form or a lemma of the lookup tables, or a
    common word (log-probability >= COMMON_LOGPROB; the frequency tables also list rare
    misspellings such as "siezure", which stay below it)."""
    for lemmas, lemma_values, probs in _tables():
        if word in lemmas or word in lemma_values or probs.get(word, -99.0) >= COMMON_LOGPROB:
            return True
    return False


# Real words one letter from a crisis word that the lemma tables do not list (slang, names).
NOT_TYPOS = frozenset(
    "though difficult rarely whose forth sadly wasnt theirs alike chess usable doable yummy laggy "
    "doubly madly righty abouts aight nighter asleep aware bling contre entre everyone nother pense "
    "rather sheep sleeved there thorough trashing edible everyones breathe breath breaths bleed "
    "blood choke chore choked cooking booking hooking looking stroke strokes stoke stroked broke "
    "sieze seize sizes sized faint paint saint feint taint point joint stole smoke spoke".split())

def _deletes(word: str) -> set:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


class TypoCorrector:
    """Replaces an unknown word one edit from a crisis keyword (5 letters or more) by that keyword.

    Candidates come from an index of the keywords' one-letter deletions (the symmetric-delete
    method), so a message costs a few dictionary lookups a word; whether the word is a real word
    is asked only when it is one edit from a keyword."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = frozenset(k for k in keywords if len(k) >= 5)
        self._index: dict = {}
        for k in self.keywords:
            for d in _deletes(k) | {k}:
                self._index.setdefault(d, set()).add(k)

    @lru_cache(maxsize=8192)
    def word(self, word: str) -> str:
        if len(word) < 5 or word in self.keywords or word in NOT_TYPOS or word.isdigit():
            return word
        found = set()
        for d in _deletes(word) | {word}:
            found |= self._index.get(d, set())
        # an inflection is not a typo: "atoran" is "they get stuck", not "atora" misspelt
        candidates = sorted(k for k in found if _one_edit(word, k)
                            and not (word.startswith(k) or k.startswith(word)))
        if not candidates or is_known(word):
            return word
        return candidates[0]

    def __call__(self, normalised: str) -> str:
        return " ".join(self.word(w) for w in normalised.split(" "))


def literal_words(pattern: str) -> set:
    """The plain words in a regular expression (for the keyword list the corrector uses)."""
    cleaned = re.sub(r"\\[a-zA-Z]|\(\?[:!=<]+|[\[\]{}()|?*+.^$\\]|\d+", " ", pattern)
    return {w for w in cleaned.split() if w.isalpha()}
