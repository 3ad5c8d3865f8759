"""The care actions: thin wrappers that read slots/entities, call one service and deliver."""
from __future__ import annotations

from typing import Optional

from rasa_sdk import Tracker

from actions.base import CareAction, care_store, channel_of, identity_of
from bot.services import care_plan, directory, questions, records, referrals


class ActionQuestionsToAsk(CareAction):
    action_name = "action_questions_to_ask"
    needs_patient = False  # general answer for anyone; personalised when the patient is verified

    def answer(self, dispatcher, tracker, patient_id):
        identity = identity_of(tracker)
        patient_id = identity.patient_id if identity.verified else None
        reply = questions.questions_to_ask(
            care_store(), patient_id,
            situation=self.entity(tracker, "care_situation"),
            specialty=self.entity(tracker, "specialty"),
            focus_referral_id=tracker.get_slot("focus_referral") if patient_id else None,
            short=self.short(tracker))
        events = self.deliver(dispatcher, tracker, reply, patient_id)
        if patient_id and tracker.get_slot("patient_id") != patient_id:
            from rasa_sdk.events import SlotSet
            events.append(SlotSet("patient_id", patient_id))
        return events


class ActionSaveQuestion(CareAction):
    action_name = "action_save_question"

    def answer(self, dispatcher, tracker, patient_id):
        reply = questions.save_questions(
            care_store(), patient_id, text=tracker.latest_message.get("text") or "",
            question_ref=self.entity(tracker, "question_ref"),
            last_questions=tracker.get_slot("last_questions"),
            last_situation=tracker.get_slot("last_situation"))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionSavedQuestions(CareAction):
    action_name = "action_saved_questions"

    def answer(self, dispatcher, tracker, patient_id):
        return self.deliver(dispatcher, tracker, questions.saved_questions(care_store(), patient_id), patient_id)


class ActionReferralReason(CareAction):
    action_name = "action_referral_reason"

    def answer(self, dispatcher, tracker, patient_id):
        reply = referrals.referral_reason(
            care_store(), patient_id, specialty=self.entity(tracker, "specialty"),
            focus_referral_id=tracker.get_slot("focus_referral"), short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionReferralStatus(CareAction):
    action_name = "action_referral_status"

    def answer(self, dispatcher, tracker, patient_id):
        reply = referrals.referral_status(
            care_store(), patient_id, specialty=self.entity(tracker, "specialty"),
            focus_referral_id=tracker.get_slot("focus_referral"), short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionNextSteps(CareAction):
    action_name = "action_next_steps"

    def answer(self, dispatcher, tracker, patient_id):
        reply = care_plan.next_steps(care_store(), patient_id, short=self.short(tracker),
                                     show_all=self.entity(tracker, "list_scope") == "all")
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionReportTaskDone(CareAction):
    action_name = "action_report_task_done"

    def answer(self, dispatcher, tracker, patient_id):
        reply = care_plan.report_task_done(care_store(), patient_id,
                                           text=tracker.latest_message.get("text") or "",
                                           activity_id=self.entity(tracker, "activity_id"))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionTestResults(CareAction):
    action_name = "action_test_results"

    def answer(self, dispatcher, tracker, patient_id):
        reply = records.test_results(care_store(), patient_id, test_name=self.entity(tracker, "test_name"),
                                     short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionAppointments(CareAction):
    action_name = "action_appointments"

    def answer(self, dispatcher, tracker, patient_id):
        reply = records.appointments(care_store(), patient_id, specialty=self.entity(tracker, "specialty"),
                                     short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionCareTeam(CareAction):
    action_name = "action_care_team"

    def answer(self, dispatcher, tracker, patient_id):
        reply = records.care_team(care_store(), patient_id, specialty=self.entity(tracker, "specialty"),
                                  short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionMedications(CareAction):
    action_name = "action_medications"

    def answer(self, dispatcher, tracker, patient_id):
        reply = records.medications(care_store(), patient_id, medication=self.entity(tracker, "medication"),
                                    short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, patient_id)


class ActionClinicRatings(CareAction):
    action_name = "action_clinic_ratings"
    needs_patient = False

    def answer(self, dispatcher, tracker, patient_id):
        reply = directory.clinic_ratings(care_store(), specialty=self.entity(tracker, "specialty"),
                                         area=self.entity(tracker, "area"), short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, None)


class ActionCommunityResources(CareAction):
    action_name = "action_community_resources"
    needs_patient = False

    def answer(self, dispatcher, tracker, patient_id):
        reply = directory.community_resources(
            care_store(), category=self.entity(tracker, "resource_category"),
            area=self.entity(tracker, "area") or tracker.get_slot("area"), short=self.short(tracker))
        return self.deliver(dispatcher, tracker, reply, None)


class ActionRequestHuman(CareAction):
    action_name = "action_request_human"
    needs_patient = False

    def answer(self, dispatcher, tracker, patient_id):
        identity = identity_of(tracker)
        verified = identity.patient_id if identity.verified else None
        reply = directory.request_human(care_store(), verified, reason=_recent_topic(tracker),
                                        channel=channel_of(tracker) or "unknown",
                                        conversation_id=tracker.sender_id,
                                        urgent=bool(tracker.get_slot("emergency_category")),
                                        language=tracker.get_slot("language"))
        return self.deliver(dispatcher, tracker, reply, verified)


def _recent_topic(tracker: Tracker) -> Optional[str]:
    """What the patient was asking about before the hand-off: an intent name, never their words."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name and name not in ("request_human", "affirm", "deny", "greet", "nlu_fallback"):
                return f"asked about: {name.replace('_', ' ')}"
    return None
