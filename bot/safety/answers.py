"""The emergency answers' text, from domain.yml, for the channels' own use.

The dialogue answers emergencies with the domain's utter_emergency_* responses. The channels use
the same text in two places the dialogue does not reach: the one line added after the answer to
a `possible` message (utter_safety_note_*), and the emergency answer itself when the assistant
fails while answering an emergency. One home for the words: domain.yml, English and Spanish.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Optional

import yaml

import logging

from bot.modeling import PROJECT_ROOT

log = logging.getLogger(__name__)

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
NOTES = {"utter_emergency_911": "utter_safety_note_911", "utter_emergency_988": "utter_safety_note_988",
         "utter_emergency_poison": "utter_safety_note_poison"}


@lru_cache(maxsize=1)
def _responses() -> Dict[str, List[dict]]:
    raw = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8")) or {}
    return raw.get("responses") or {}


def text(response: str, language: Optional[str] = None) -> str:
    """The response's text in `language` (its `language` slot variation), else the default."""
    variants = _responses().get(response) or []
    default = None
    for variant in variants:
        conditions = variant.get("condition") or []
        if variant.get("channel"):
            continue
        if not conditions:
            default = default or variant.get("text")
        elif any(c.get("name") == "language" and c.get("value") == language for c in conditions):
            return variant.get("text") or ""
    if default is None:
        raise KeyError(f"{DOMAIN_FILE}: no response {response}")
    return default


def note(answer: str, language: Optional[str] = None) -> str:
    """The line added to the answer of a `possible` message."""
    return text(NOTES.get(answer, "utter_safety_note_911"), language)


def safety_note_for(message: str) -> Optional[str]:
    """The line a channel adds after the assistant's answer to `message`, or None.

    Only for a `possible` screening (red-flag words that are not happening now); an emergency
    already got the emergency answer first from the dialogue."""
    from bot.safety.screen import POSSIBLE, screen

    result = screen(message or "")
    if result.outcome != POSSIBLE:
        return None
    return note(result.answer, result.language)


def emergency_answer_for(message: str) -> Optional[str]:
    """The emergency answer for `message` when it is an emergency (for a channel whose call to
    the assistant failed), else None."""
    from bot.safety.screen import screen

    result = screen(message or "")
    if not result.is_emergency:
        return None
    return text(result.answer, result.language)


def safety_replies(message: str, recipient: str, failed: bool, replies: list) -> list:
    """What the safety screen adds to the assistant's replies: after a `possible` message, one
    line ("If this is happening now, call 911"); when the assistant failed on an emergency, the
    emergency answer it could not give."""
    try:
        if failed and not replies:
            answer = emergency_answer_for(message)
            return [{"recipient_id": recipient, "text": answer}] if answer else []
        note = safety_note_for(message)
        return [{"recipient_id": recipient, "text": note}] if note else []
    except Exception:  # the screen must never cost the patient the answer they already have
        log.exception("safety note for conversation=%s failed", recipient)
        return []
