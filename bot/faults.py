"""When an action cannot run, the Rasa server itself answers: never silence.

Rasa 3.6 (`MessageProcessor._run_action`) logs "Bot will continue, but the actions events are
lost" when a call to the action server fails (server down, timeout, 5xx) and the patient gets
nothing (Rasa issue 7630). `install()` wraps `RemoteAction.run`, in the Rasa server only (the
channels import this module), so that such a failure instead returns the server's own answer:
- a call that never reached the action server (connection refused, a pooled connection that was
  closing) is tried once more;
- a call that does not answer within CARENAV_ACTION_TIMEOUT seconds (default 20; Rasa's own is
  five minutes) counts as failed;
- the answer is a domain response in the conversation's language: what could not be done, the
  clinic's phone number, and 911 for emergencies (`utter_action_failed`);
- a hand-off (`action_request_human`) is still recorded, here, straight in the store, for the
  patient the conversation is verified as (bot.identity, as the actions would); if the store is
  down too, the patient is told plainly that it was not recorded and how to reach a person.
Logs carry the action's name, the conversation id and the error's type, never content.
"""
from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any, List, Optional

from bot.settings import settings

log = logging.getLogger(__name__)

ACTION_TIMEOUT = settings().action_timeout
HANDOFF_ACTION = "action_request_human"
_installed = False


def _never_reached(exc: BaseException) -> bool:
    """Whether the action server cannot have run the call (so trying again is safe)."""
    import aiohttp

    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 5:
        if isinstance(current, aiohttp.ClientConnectorError):
            return True
        if isinstance(current, (aiohttp.ClientOSError, ConnectionResetError)) and "closing transport" in str(current):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


@lru_cache(maxsize=1)
def _store():
    from bot.store.db import shared_database
    from bot.store.queries import CareStore

    return CareStore(shared_database())


def record_handoff(tracker: Any) -> Optional[str]:
    """Record the hand-off the failed action would have recorded; the patient id it is for ("" for
    a visitor nobody verified), or None when it could not be recorded."""
    from bot.identity import identity_for

    channel = tracker.get_latest_input_channel() or "unknown"
    metadata = getattr(tracker.latest_message, "metadata", None) or {}
    identity = identity_for(channel, metadata, tracker.get_slot("patient_id"), tracker.sender_id)
    patient_id = identity.patient_id if identity.verified else None
    try:
        store = _store()
        store.record_callback_request(patient_id, "asked while the assistant's action server was not answering",
                                      channel, tracker.sender_id, urgent=bool(tracker.get_slot("emergency_category")),
                                      language=tracker.get_slot("language"))
        if patient_id:
            store.record_disclosure(patient_id, "callback request", "recorded",
                                    conversation_id=tracker.sender_id, channel=channel)
    except Exception as exc:  # the store is down too: say so plainly
        log.error("hand-off for conversation=%s not recorded (%s)", tracker.sender_id, type(exc).__name__)
        return None
    log.info("hand-off for conversation=%s recorded by the Rasa server (patient=%s)", tracker.sender_id,
             patient_id or "-")
    return patient_id or ""


async def answer_for_failed_action(name: str, output_channel: Any, nlg: Any, tracker: Any) -> List[Any]:
    """The events that answer the patient when action `name` could not run."""
    from rasa.core.actions.action import create_bot_utterance
    from rasa.shared.core.events import BotUttered

    from bot.settings import CALLBACK_PROMISE, CLINIC_HOURS, CLINIC_MAIN_PHONE

    response = "utter_action_failed"
    if name == HANDOFF_ACTION:
        patient = record_handoff(tracker)
        response = ("utter_callback_not_recorded" if patient is None else
                    "utter_callback_recorded_during_fault" if patient else "utter_callback_recorded_anonymous")
    values = {"clinic_phone": CLINIC_MAIN_PHONE, "hours": CLINIC_HOURS, "promise": CALLBACK_PROMISE}
    try:
        draft = await nlg.generate(response, tracker, output_channel.name(), **values)
    except Exception:  # the domain is the server's own: this is not expected, but never silence
        draft = None
    if not draft:
        from bot.texts import text

        return [BotUttered(text=text("utter_action_failed", None, clinic_phone=CLINIC_MAIN_PHONE, hours=CLINIC_HOURS))]
    draft["utter_action"] = response
    return [create_bot_utterance(draft)]


def install() -> None:
    """Wrap Rasa's RemoteAction.run (once per process)."""
    global _installed
    if _installed:
        return
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

    original = RemoteAction.run

    async def run_or_answer(self, output_channel, nlg, tracker, domain):
        for attempt in (1, 2):
            try:
                return await asyncio.wait_for(original(self, output_channel, nlg, tracker, domain), ACTION_TIMEOUT)
            except ActionExecutionRejection:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure gets an answer
                if attempt == 1 and _never_reached(exc):
                    await asyncio.sleep(0.2)
                    continue
                kind = "timeout" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
                log.error("action=%s conversation=%s failed (%s); the Rasa server answers instead",
                          self.name(), tracker.sender_id, kind)
                return await answer_for_failed_action(self.name(), output_channel, nlg, tracker)
        return []  # not reached

    RemoteAction.run = run_or_answer
    _installed = True
