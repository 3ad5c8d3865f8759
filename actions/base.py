"""What every CareNav action shares: who the conversation may see, and never going silent.

Actions stay thin: a subclass reads slots, calls one service in bot/ and dispatches responses.
This base resolves the patient (bot.identity), binds the conversation to them, answers "sign in
first" when nobody is verified, and turns any store failure into an apology with the clinic's
phone number. Logs carry ids only. The action's work runs in the conversation's language
(bot.texts.use_language), so the phrases services build from facts match the responses Rasa
renders from the same `language` slot.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.identity import SMS_CHANNEL, Identity, identity_for
from bot.metadata import SMS_LOCKED, SMS_MARKER, SMS_VERIFY
from bot.settings import CLINIC_MAIN_PHONE
from bot.texts import DEFAULT_LANGUAGE, language_code, use_language

log = logging.getLogger(__name__)

PATIENT_SLOT = "patient_id"
LANGUAGE_SLOT = "language"


@lru_cache(maxsize=1)
def care_store():
    """The care-plan store, built once per action-server process on first use."""
    from bot.store.db import shared_database
    from bot.store.queries import CareStore

    return CareStore(shared_database())


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or ""


def language_of(tracker: Tracker, identity: Optional[Identity] = None) -> Tuple[str, Optional[str]]:
    """The language this turn's answer is in, and the language to set the slot to for the next
    turns. Rasa renders this turn's responses from the `language` slot as it is now (the safety
    screen sets it from what the patient writes), so the phrases follow the slot, else English;
    when the slot is empty and the verified patient prefers another language (FHIR
    Patient.communication, the demo seed), the slot is set to it for the turns that follow."""
    slot = language_code(tracker.get_slot(LANGUAGE_SLOT))
    if slot:
        return slot, None
    if identity is not None and identity.verified and identity.patient_id:
        patient = care_store().patient(identity.patient_id)
        preferred = language_code(patient.preferred_language) if patient is not None else None
        if preferred and preferred != DEFAULT_LANGUAGE:
            return DEFAULT_LANGUAGE, preferred
    return DEFAULT_LANGUAGE, None


def identity_of(tracker: Tracker) -> Identity:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    # On SMS the channel (bot/channels/sms.py) signs a claim bound to this conversation once the
    # patient confirmed their date of birth; plain metadata proves nothing (bot.identity).
    return identity_for(channel_of(tracker), metadata, tracker.get_slot(PATIENT_SLOT), tracker.sender_id)


class CareAction(Action):
    """Base for actions; `needs_patient` ones only run for a verified patient."""

    action_name: Text = ""
    needs_patient: bool = True

    def name(self) -> Text:
        return self.action_name

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        events: List[Dict[Text, Any]] = []
        identity = identity_of(tracker)
        try:
            if self.needs_patient:
                if not identity.verified:
                    log.info("action=%s conversation=%s no records: %s", self.name(), tracker.sender_id,
                             identity.reason)
                    return self.not_verified(dispatcher, tracker, identity)
                if tracker.get_slot(PATIENT_SLOT) != identity.patient_id:
                    events.append(SlotSet(PATIENT_SLOT, identity.patient_id))
            language, preferred = language_of(tracker, identity)
            with use_language(language):
                events.extend(self.answer(dispatcher, tracker, identity.patient_id) or [])
            if preferred:
                events.append(SlotSet(LANGUAGE_SLOT, preferred))
            return events
        except Exception as exc:  # never crash, never go silent, never half an answer
            log.error("action=%s conversation=%s failed (%s)", self.name(), tracker.sender_id,
                      type(exc).__name__)
            dispatcher.messages.clear()
            dispatcher.utter_message(response="utter_something_went_wrong", clinic_phone=CLINIC_MAIN_PHONE)
            return []

    def not_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     identity: Identity) -> List[Dict[Text, Any]]:
        if channel_of(tracker) == SMS_CHANNEL:
            metadata = (tracker.latest_message or {}).get("metadata") or {}
            if metadata.get(SMS_LOCKED):
                dispatcher.utter_message(response="utter_sms_locked", clinic_phone=CLINIC_MAIN_PHONE)
            else:
                dispatcher.utter_message(response="utter_verify_sms_first")
                dispatcher.utter_message(json_message={SMS_MARKER: SMS_VERIFY})
        elif identity.reason == "token for another patient":
            dispatcher.utter_message(response="utter_other_patient_refused")
        else:
            dispatcher.utter_message(response="utter_sign_in_first")
        return []

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
               patient_id: Optional[str]) -> Optional[List[Dict[Text, Any]]]:
        raise NotImplementedError

    @staticmethod
    def short(tracker: Tracker) -> bool:
        """Short answers, without values or full lists, on SMS."""
        return channel_of(tracker) == SMS_CHANNEL

    @staticmethod
    def entity(tracker: Tracker, name: str) -> Optional[str]:
        """An entity of this very message (slots may hold one from earlier turns)."""
        value = next(tracker.get_latest_entity_values(name), None)
        return str(value) if value is not None else None

    def deliver(self, dispatcher: CollectingDispatcher, tracker: Tracker, reply,
                patient_id: Optional[str]) -> List[Dict[Text, Any]]:
        """Audit what a service's Reply discloses (ids only), then send it, and set its slots.

        The audit rows are written first: if they cannot be, the store error reaches `run`, which
        answers with the apology alone; a record is never shown without its audit row."""
        if patient_id and reply.disclosed:
            care_store().record_disclosures(patient_id, reply.disclosed, conversation_id=tracker.sender_id,
                                            channel=channel_of(tracker))
            log.info("action=%s conversation=%s patient=%s disclosed=%s", self.name(), tracker.sender_id,
                     patient_id, ",".join(kind for kind, _ in reply.disclosed))
        for say in reply.says:
            kwargs = dict(say.variables)
            if say.buttons:
                kwargs["buttons"] = say.buttons
            dispatcher.utter_message(response=say.response, **kwargs)
        return [SlotSet(name, value) for name, value in reply.slots.items()]
