"""The emergency taxonomy (bot/knowledge/safety/taxonomy.yml): categories, answers, signs.

Each category has an answer (a domain response: 911, 988 or Poison Control) and regular
expressions for its signs in English and Spanish, plus `not` patterns for figurative or harmless
uses of the same words. `signs(text)` finds them in a normalised message (bot/safety/text.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from bot.safety.text import TypoCorrector, literal_words

SAFETY_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "safety"
TAXONOMY_FILE = SAFETY_DIR / "taxonomy.yml"
LANGUAGES = ("en", "es")
ANSWERS = ("utter_emergency_911", "utter_emergency_poison", "utter_emergency_988")  # most urgent first
_MACRO = re.compile(r"<([a-z_0-9]+)>")


@dataclass(frozen=True)
class Sign:
    category: str
    language: str  # the vocabulary that matched: en or es
    start: int  # offsets in the normalised text
    end: int
    text: str


@dataclass(frozen=True)
class Category:
    name: str
    answer: str
    patterns: Tuple[Tuple[str, "re.Pattern"], ...]  # (language, pattern)
    not_patterns: Tuple["re.Pattern", ...]


def _expand(pattern: str, macros: Dict[str, str], where: str) -> str:
    def sub(m: "re.Match") -> str:
        if m.group(1) not in macros:
            raise ValueError(f"{TAXONOMY_FILE}: unknown macro <{m.group(1)}> in {where}")
        return macros[m.group(1)]

    return _MACRO.sub(sub, pattern)


def _compile(pattern: str, where: str) -> "re.Pattern":
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{TAXONOMY_FILE}: bad pattern in {where}: {exc}: {pattern[:80]}") from exc


@lru_cache(maxsize=1)
def _raw() -> dict:
    return yaml.safe_load(TAXONOMY_FILE.read_text(encoding="utf-8")) or {}


@lru_cache(maxsize=1)
def categories() -> Dict[str, Category]:
    raw = _raw()
    macros = {str(k): str(v) for k, v in (raw.get("macros") or {}).items()}
    out: Dict[str, Category] = {}
    for name, spec in (raw.get("categories") or {}).items():
        answer = spec.get("answer")
        if answer not in ANSWERS:
            raise ValueError(f"{TAXONOMY_FILE}: category {name}: answer must be one of {ANSWERS}")
        patterns = []
        for language in LANGUAGES:
            for i, pattern in enumerate(spec.get(language) or []):
                where = f"{name}.{language}[{i}]"
                patterns.append((language, _compile(_expand(str(pattern), macros, where), where)))
        nots = tuple(_compile(_expand(str(p), macros, f"{name}.not[{i}]"), f"{name}.not[{i}]")
                     for i, p in enumerate(spec.get("not") or []))
        out[str(name)] = Category(str(name), answer, tuple(patterns), nots)
    if not out:
        raise ValueError(f"{TAXONOMY_FILE}: no categories")
    return out


def answer_for(category: str) -> str:
    return categories()[category].answer


@lru_cache(maxsize=1)
def typo_corrector() -> TypoCorrector:
    words = set(str(w) for w in _raw().get("typo_keywords") or [])
    for category in categories().values():
        for _, pattern in category.patterns:
            words.update(literal_words(pattern.pattern))
    return TypoCorrector(words)


def signs(normalised: str) -> List[Sign]:
    """Every sign in a normalised message, minus those inside a `not` (figurative) match."""
    found: List[Sign] = []
    for category in categories().values():
        blocked = [(m.start(), m.end()) for p in category.not_patterns for m in p.finditer(normalised)]
        for language, pattern in category.patterns:
            for m in pattern.finditer(normalised):
                if m.end() == m.start():
                    continue
                if any(s < m.end() and m.start() < e for s, e in blocked):
                    continue
                found.append(Sign(category.name, language, m.start(), m.end(), m.group(0)))
    return found
