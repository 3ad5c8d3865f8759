"""Patient-facing words that code puts together: what channels say themselves (domain.yml) and
the pieces of sentences services build from store facts (bot/knowledge/phrases.yml).

The dialogue renders domain.yml's responses; a channel sometimes speaks before or without the
dialogue (SMS keywords and the date-of-birth step, the safety line, the answer when the assistant
gave none). Those words live in domain.yml too, with their Spanish variants (a `language` slot
condition), so there is one home for patient-facing text.

The language: `phrase()` and `text()` speak the current one unless told otherwise. An action sets
it for its work (`with use_language(...)`, actions/base.py, from the conversation's `language`
slot), so the services that build sentences from facts need no language parameter. Outside any
`use_language` it is English.
"""
from __future__ import annotations

import string
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml

from bot.modeling import PROJECT_ROOT

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"

LANGUAGES = ("en", "es")  # what the assistant speaks; responses and phrases have both
DEFAULT_LANGUAGE = "en"
_LANGUAGE: ContextVar[str] = ContextVar("carenav_language", default=DEFAULT_LANGUAGE)


def language_code(value: object) -> Optional[str]:
    """'es', 'ES', 'es-US' -> 'es'; None for anything the assistant does not speak."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


def current_language() -> str:
    """The language `phrase()` and `text()` speak when not told: see use_language."""
    return _LANGUAGE.get()


@contextmanager
def use_language(language: Optional[str]) -> Iterator[str]:
    """Speak `language` (en, es; anything else: English) inside the block: the current task's
    context only, so concurrent conversations do not see each other's language."""
    code = language_code(language) or DEFAULT_LANGUAGE
    token = _LANGUAGE.set(code)
    try:
        yield code
    finally:
        _LANGUAGE.reset(token)


@lru_cache(maxsize=1)
def _responses() -> Dict[str, List[dict]]:
    raw = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8")) or {}
    return raw.get("responses") or {}


def text(response: str, language: Optional[str] = None, **values: object) -> str:
    """The response's text in `language` (its `language` slot variation; by default the current
    language), else the default, with `{name}` placeholders filled from `values` when given.
    Channel variants (SMS) are not read here."""
    language = language_code(language) or current_language()
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


class _Words(string.Formatter):
    """str.format, except that `{day.on}` given plain words (not a bot.services.Day) is the
    words themselves."""

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> Tuple[Any, Any]:
        try:
            return super().get_field(field_name, args, kwargs)
        except AttributeError:
            first = field_name.split(".", 1)[0]
            return kwargs[first], first


_WORDS = _Words()

# Values that are store vocabulary (canonical English words, not free text): in another language
# they are read from phrases.yml as `<prefix>.<value>`; a value not there stays as it is.
VOCABULARY = {
    "specialty": "specialty",
    "label": "specialty",  # a referral button's label: its specialty, capitalised
    "status_word": "referral.status_word",
    "role": "team.role",
    "status": "result.status",
    "category": "resources.category",
}


def term(name: str, value: Any, language: Optional[str] = None) -> Any:
    """A value named `name` (see VOCABULARY) in `language` (by default the current one), with its
    first letter's case kept: term("specialty", "cardiology", "es") == "cardiología"."""
    language = language_code(language) or current_language()
    prefix = VOCABULARY.get(name)
    if language == DEFAULT_LANGUAGE or prefix is None or not isinstance(value, str) or not value.strip():
        return value
    entry = _phrases().get(f"{prefix}.{value.strip().lower()}")
    words = entry.get(language) if entry else None
    if not words:
        return value
    first = words[0].upper() if value.strip()[0].isupper() else words[0].lower()
    return first + words[1:]


def localized(values: Mapping[str, Any], language: Optional[str] = None) -> Dict[str, Any]:
    """`values` with their store vocabulary in `language` (see term)."""
    return {name: term(name, value, language) for name, value in values.items()}


def phrase(key: str, language: Optional[str] = None, **values: object) -> str:
    """A piece of a sentence the services put together from store facts (bot/knowledge/phrases.yml),
    in `language` (by default the current one, see use_language) when it has that language, else
    English, with `{name}` filled from `values` (store vocabulary in that language, see term)."""
    entry = _phrases().get(key)
    if entry is None:
        raise KeyError(f"{PHRASES_FILE}: no phrase {key}")
    language = language_code(language) or current_language()
    words = entry.get(language) or entry["en"]
    return _WORDS.format(words, **localized(values, language)) if values else words
