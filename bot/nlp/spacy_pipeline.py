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
        words.update(re.findall(r"[a-z]+", re.sub(r"\\[a-zA-Z]", " ", pattern.pattern)))
    return frozenset(w for w in words if len(w) >= 5)


# Four-letter crisis words whose swapped-letter misspellings are corrected.
SHORT_KEYWORDS = frozenset({"pain", "arms", "face", "lips", "blue", "dose", "pill", "fits", "limp", "numb"})

# Real English words one letter away from a crisis word that the lemmatiser's table does not
# know; never "corrected". tests/test_crisis.py rebuilds the list from spaCy's English word
# frequencies and fails when a common word is missing here.
NOT_TYPOS = frozenset(
    "though difficult rarely whose forth sadly wasnt theirs alike chess usable doable shill yummy "
    "assed laggy doubly toking madly lugar existe righty abouts janna carboy aight nighter asleep aware "
    "bling contre entre everyone nother pense rather sheep sleeved strat there thorough throughs trashing "
    "uncontrollable edible fisting dicked timey everyones".split())


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
    is never changed ("cooking" stays, though one letter from "choking"); a four-letter word only
    has two swapped letters put back ("pian" -> "pain"), and shorter words are left alone.
    """
    keywords = crisis_keywords()
    table, lemmas = _known_words()

    def fix(m: "re.Match") -> str:
        word = m.group(0)
        low = word.lower()
        if len(low) < 4 or low in keywords or low in NOT_TYPOS or low in table or low in lemmas:
            return word
        if len(low) == 4:  # short words: only two letters swapped ("pian" -> "pain")
            candidates = sorted({low[:i] + low[i + 1] + low[i] + low[i + 2:] for i in range(3)} & SHORT_KEYWORDS)
        else:
            candidates = sorted(_edits1(low) & keywords)
        return candidates[0] if candidates else word

    return re.sub(r"[A-Za-z]+", fix, text)


# A crisis phrase in a message that is plainly about the past or asks for information ("my mom
# had a stroke 3 years ago, book her follow-up", "support groups for people who lost someone to
# suicide") is not an emergency now, unless the message also says something is happening now.
# Deliberately narrow: a question that may come from someone in danger ("how do i know if i'm
# having a heart attack", "what's the number for poison control") still gets the emergency answer.
NOT_NOW = re.compile("|".join([
    r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple of|many) "
    r"(years?|yrs?|months?) (ago|clean|sober)\b",
    r"\blast (year|month|summer|winter|spring|fall|autumn|time)\b",
    r"\bin (19|20)\d\d\b",
    r"\bused to\b",
    r"\bas a (teen|teenager|kid|child)\b",
    r"\bfamily history\b",
    r"\b(support|grief|bereavement) (group|groups|counseling|counselling|circle)\b",
    r"\blost (someone|somebody|a loved one|a \w+|my \w+|him|her|them) to\b",
    r"\bdied (by|of|from)\b",
    r"\bdifference between\b",
    r"\b(just curious|for future reference|for school)\b",
    r"\bfirst aid\b",
    r"\b(what are|what're|learn|teach|know) (\w+ ){0,2}(the )?(warning signs|signs|symptoms) of\b",
    r"\b(lower|reduce|cut) (my|his|her|the) risk of\b",
    r"\b(heart attack|stroke|overdose|suicide|seizure) (risk|prevention|awareness|training|action plan)\b",
    r"\bcarbon monoxide (detector|alarm)s?\b",
    r"\b(after|since|recovering from|recovery from) (my|his|her|their|the|a) (\w+ )?"
    r"(heart attack|stroke|seizure|overdose|suicide attempt)\b",
    r"\byesterday\b.{0,60}\b(is|was|seems|she's|he's|hes|shes) (fine|ok|okay|better)\b",
]))
HAPPENING_NOW = re.compile(
    r"\b(now|right now|rn|just|suddenly|currently|tonight|today|this morning|this afternoon|"
    r"this evening|again|still|help|911|minutes?|mins?|hours?|hrs?|started|starting|happening|"
    r"keeps|hurts|hurting|feels|feel like|can'?t|cant|cannot|won'?t|wont|not breathing)\b"
    r"|\b(is|are|am|i'?m|im|he'?s|she'?s|hes|shes|they'?re) \w+ing\b")


def crisis_signs(text: str) -> List[Match]:
    """The crisis phrases and patterns in a message (empty when there are none); a crisis word
    misspelled by one letter still counts (`spell_crisis_words`). A message plainly about the
    past or asking for information, with nothing happening now, has none (`NOT_NOW`)."""
    found = _crisis_signs(text)
    if not found:
        spelled = spell_crisis_words(text)
        if spelled != text:
            found = [Match(m.label, m.value, 0, len(text), m.text) for m in _crisis_signs(spelled)]
    if found and not_happening_now(text):
        return []
    return found


def not_happening_now(text: str) -> bool:
    """The message is plainly about the past or asks for information (`NOT_NOW`) and says
    nothing about now (`HAPPENING_NOW`, looked for outside the NOT_NOW words: "just curious")."""
    lowered = text.lower()
    if not NOT_NOW.search(lowered):
        return False
    return not HAPPENING_NOW.search(NOT_NOW.sub(" ", lowered))


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
