"""The emergency answers' text, from domain.yml, for the channels' own use.

The dialogue answers emergencies with the domain's utter_emergency_* responses. The channels use
the same text in two places the dialogue does not reach: the one line added after the answer to
a `possible` message (utter_safety_note_*), and the emergency answer itself when the assistant
fails while answering an emergency. One home for the words: domain.yml, English and Spanish.
"""
from __future__ import annotations

import logging
from typing import Optional

from bot.texts import text

log = logging.getLogger(__name__)
NOTES = {"utter_emergency_911": "utter_safety_note_911", "utter_emergency_988": "utter_safety_note_988",
         "utter_emergency_poison": "utter_safety_note_poison"}


def note(answer: str, language: Optional[str] = None) -> str:
    """The line added to the answer of a `possible` message."""
    return text(NOTES.get(answer, "utter_safety_note_911"), language)


def safety_note_for(message: str) -> Optional[str]:
    """The line a channel adds after the assistant's answer to `message`, or None.

    Only for a `possible` screening (red-flag words that are not happening now); an emergency
    already got the emergency answer first from the dialogue."""
    from bot.safety.screen import POSSIBLE, screen

    result = screen(message or "")
    if result.outcome != POSSIBLE or result.answer is None:
        return None
    return note(result.answer, result.language)


def emergency_answer_for(message: str) -> Optional[str]:
    """The emergency answer for `message` when it is an emergency (for a channel whose call to
    the assistant failed), else None."""
    from bot.safety.screen import screen

    result = screen(message or "")
    if not result.is_emergency or result.answer is None:
        return None
    return text(result.answer, result.language)


def unavailable_answer(message: str) -> str:
    """What a channel says when the assistant gave no answer at all: the domain's
    utter_action_failed in the message's language, with the clinic's number (and 911)."""
    from bot.safety.language import detect
    from bot.settings import CLINIC_HOURS, CLINIC_MAIN_PHONE

    try:
        language = detect(message or "")
    except Exception:
        language = None
    return text("utter_action_failed", language, clinic_phone=CLINIC_MAIN_PHONE, hours=CLINIC_HOURS)


def safety_replies(message: str, recipient: str, failed: bool, replies: list) -> list:
    """What the safety screen adds to the assistant's replies: after a `possible` message, one
    line ("If this is happening now, call 911"); when the assistant failed on an emergency, the
    emergency answer it could not give; when the assistant said nothing at all (it failed, or an
    action's answer was lost), the emergency answer or else the "can't do that right now, call the
    clinic" answer, so a patient never meets silence."""
    try:
        if not replies and (failed or (message or "").strip()):  # never silence
            answer = emergency_answer_for(message) or unavailable_answer(message)
            log.warning("conversation=%s got no reply from the assistant (%s); the channel answers",
                        recipient, "error" if failed else "empty")
            return [{"recipient_id": recipient, "text": answer}]
        note = safety_note_for(message)
        return [{"recipient_id": recipient, "text": note}] if note else []
    except Exception:  # the screen must never cost the patient the answer they already have
        log.exception("safety note for conversation=%s failed", recipient)
        return []
