"""Two-stage fallback: when unsure, offer the likely meanings as buttons (Rasa calls this action)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

# What each intent means, as a button a patient would recognise.
INTENT_TITLES = {
    "ask_questions_to_ask": "What to ask at a visit",
    "ask_referral_reason": "Why I was referred",
    "ask_referral_status": "Where my referral is",
    "ask_next_steps": "My next steps",
    "ask_test_results": "My test results",
    "ask_appointments": "My appointments",
    "ask_care_team": "My care team",
    "ask_medications": "My medicines",
    "ask_clinic_ratings": "Compare clinics",
    "ask_community_resources": "Help with rides, food or costs",
    "request_human": "Talk to a person",
    "report_task_done": "I finished a task",
    "save_question": "Save a question",
    "ask_saved_questions": "My saved questions",
    "help": "What can you do?",
    "bot_challenge": "Am I talking to a bot?",
}
SKIP = {"nlu_fallback", "out_of_scope", "greet", "goodbye", "thank", "affirm", "deny", "report_emergency"}


class ActionDefaultAskAffirmation(Action):
    def name(self) -> Text:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        likely = [r["name"] for r in ranking if r.get("name") in INTENT_TITLES and r["name"] not in SKIP][:3]
        if not likely:
            likely = ["help", "request_human"]
        buttons = [{"title": INTENT_TITLES[name], "payload": f"/{name}"} for name in likely]
        buttons.append({"title": "Something else", "payload": "/out_of_scope"})
        dispatcher.utter_message(response="utter_ask_affirmation", buttons=buttons)
        return []
