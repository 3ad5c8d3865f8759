"""Curated vocabularies (bot/knowledge/vocab/*.yml): canonical value -> phrases people use."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List

import yaml

VOCAB_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "vocab"

# vocabulary file -> the entity it yields
ENTITY_VOCABULARIES = {
    "specialties.yml": "specialty",
    "tests.yml": "test_name",
    "medications.yml": "medication",
    "care_situations.yml": "care_situation",
    "resource_categories.yml": "resource_category",
    "areas.yml": "area",
}


def _phrases(value) -> List[str]:
    """Flatten a YAML value (a list, a string, or a mapping of sub-lists) into phrases."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        out: List[str] = []
        for item in value.values():
            out.extend(_phrases(item))
        return out
    out = []
    for item in value:
        out.extend(_phrases(item))
    return out


@lru_cache(maxsize=None)
def load_vocabulary(filename: str) -> Dict[str, List[str]]:
    """canonical value -> its phrases (the canonical value itself included), lowercased."""
    path = VOCAB_DIR / filename
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of canonical value -> phrases")
    vocab: Dict[str, List[str]] = {}
    for canonical, phrases in raw.items():
        if isinstance(phrases, dict) and "records" in phrases:  # shared with the FHIR importer
            phrases = phrases.get("patients") or []
            if not phrases:
                continue  # a specialty records name but patients do not ask for
        canonical = str(canonical).strip().lower()
        seen = {canonical}
        for phrase in _phrases(phrases):
            phrase = str(phrase).strip().lower()
            if phrase:
                seen.add(phrase)
        vocab[canonical] = sorted(seen)
    return vocab


def entity_vocabularies() -> Dict[str, Dict[str, List[str]]]:
    """entity name -> {canonical value -> phrases}, for the vocabularies that exist."""
    return {entity: load_vocabulary(name) for name, entity in ENTITY_VOCABULARIES.items()
            if (VOCAB_DIR / name).exists()}


@lru_cache(maxsize=1)
def care_words() -> List[str]:
    """The curated care-domain words (care_words.yml), lowercase."""
    path = VOCAB_DIR / "care_words.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of words")
    return sorted({str(w).strip().lower() for w in raw if str(w).strip()})


@lru_cache(maxsize=1)
def english_logprob():
    """General English word log-probabilities (spaCy's `lexeme_prob` table, spacy-lookups-data).

    The background model DomainGate compares the care data with; read at training time only
    (about a million words), the trained gate keeps scores for the words it saw."""
    from spacy.lookups import load_lookups

    return load_lookups("en", ["lexeme_prob"]).get_table("lexeme_prob")  # .get(word, default)
