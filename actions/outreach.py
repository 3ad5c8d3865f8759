"""Replies to the messages the assistant sent first (bot/outreach/): "yes", "1", "already booked",
"I have a question", "no", and after a hospital discharge "all good" or "worse", understood in the
context of the outreach they answer (its id is in the `outreach_id` slot, added to the
conversation by the outreach worker together with the message and `action_outreach`)."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import CareAction, care_store, channel_of
from bot.outreach.worker import awaiting_reply
from bot.store import models as m

log = logging.getLogger(__name__)

# what a plain "yes" or "no" means for each rule (a numbered choice or a keyword names the kind itself)
YES = {"discharge_checkin": "fine"}
NO = {"discharge_checkin": "worse"}


class ActionOutreach(Action):
    """Stands for "the assistant sent an outreach message" in the conversation; the worker adds it
    (it is never predicted, and does nothing if it ever runs)."""

    def name(self) -> Text:
        return "action_outreach"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        return []


class ActionOutreachReply(CareAction):
    action_name = "action_outreach_reply"
    needs_patient = False  # the outreach was sent to this conversation's number: its answer may follow

    def answer(self, dispatcher, tracker, patient_id):
        from bot.outreach.messages import render

        outreach_id = tracker.get_slot("outreach_id")
        kind = self.entity(tracker, "outreach_reply")
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        now = dt.datetime.now()
        with care_store().db.session() as s:
            row = s.get(m.Outreach, int(outreach_id)) if outreach_id and str(outreach_id).isdigit() else None
            if row is None:  # a later session: the last outreach this conversation got and did not answer
                row = awaiting_reply(s, tracker.sender_id, now)
            if row is None or row.conversation_id != tracker.sender_id:
                # not an outreach of this conversation: a plain yes or no
                dispatcher.utter_message(response="utter_anything_else")
                return [SlotSet("outreach_id", None)]
            if kind is None:
                kind = (YES.get(row.rule, "yes") if intent == "affirm" else NO.get(row.rule, "no"))
            message = render(s, row)
            answer = message.answers.get(kind) or message.answers.get("question") or ""
            row.replied_at, row.reply = now, kind
            rule, patient = row.rule, row.patient_id
            if kind == "worse":  # a worrying check-in: an urgent hand-off to the care team
                s.add(m.CallbackRequest(patient_id=patient, conversation_id=tracker.sender_id,
                                        reason=f"outreach {rule}: new or worse symptoms",
                                        channel=channel_of(tracker) or "sms", created_at=now, status="open",
                                        urgent=True, language=row.language))
            s.add(m.AuditEvent(at=now, conversation_id=tracker.sender_id, channel=channel_of(tracker),
                               patient_id=patient, record_kind="outreach", action=f"reply: {kind}"))
        log.info("outreach=%s rule=%s reply=%s conversation=%s", outreach_id, rule, kind, tracker.sender_id)
        dispatcher.utter_message(response="utter_outreach_answer", answer=answer)
        return [SlotSet("outreach_id", None)]
