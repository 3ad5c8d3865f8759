"""Patient-facing words that code puts together: what channels say themselves (domain.yml) and
the pieces of sentences services build from store facts (bot/knowledge/phrases.yml).

The dialogue renders domain.yml's responses; a channel sometimes speaks before or without the
dialogue (SMS keywords and the date-of-birth step, the safety line, the answer when the assistant
gave none). Those words live in domain.yml too, with their Spanish variants (a `language` slot
condition), so there is one home for patient-facing text.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from bot.modeling import PROJECT_ROOT

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"


@lru_cache(maxsize=1)
def _responses() -> Dict[str, List[dict]]:
    raw = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8")) or {}
    return raw.get("responses") or {}


def text(response: str, language: Optional[str] = None, **values: object) -> str:
    """The response's text in `language` (its `language` slot variation), else the default,
    with `{name}` placeholders filled from `values` when given."""
    variants = _responses().get(response) or []
    default = None
    chosen = None
    for variant in variants:
        conditions = variant.get("condition") or []
        if variant.get("channel"):
            continue
        if not conditions:
            default = default or variant.get("text")
        elif any(c.get("name") == "language" and c.get("value") == language for c in conditions):
            chosen = variant.get("text") or ""
            break
    words = chosen if chosen is not None else default
    if words is None:
        raise KeyError(f"{DOMAIN_FILE}: no response {response}")
    return words.format(**values) if values else words


PHRASES_FILE = Path(__file__).resolve().parent / "knowledge" / "phrases.yml"


@lru_cache(maxsize=1)
def _phrases() -> Dict[str, Dict[str, str]]:
    raw = yaml.safe_load(PHRASES_FILE.read_text(encoding="utf-8")) or {}
    return {str(k): (v if isinstance(v, dict) else {"en": v}) for k, v in raw.items()}


def phrase(key: str, language: Optional[str] = None, **values: object) -> str:
    """A piece of a sentence the services put together from store facts (bot/knowledge/phrases.yml),
    in `language` when it has that language, else English, with `{name}` filled from `values`."""
    entry = _phrases().get(key)
    if entry is None:
        raise KeyError(f"{PHRASES_FILE}: no phrase {key}")
    words = entry.get(language or "en") or entry["en"]
    return words.format(**values) if values else words
