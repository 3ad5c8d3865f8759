"""What to ask a provider: the question bank (bot/knowledge/questions.yml), personalised.

Situation comes from what the patient said (care_situation / specialty entities), else from the
referral the conversation was just about, else from the patient's next specialist visit or open
referral. When nothing tells us, ask with buttons.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from bot.services import Reply, bullets, button, numbered, when
from bot.texts import phrase

QUESTIONS_PATH = Path(__file__).resolve().parent.parent / "knowledge" / "questions.yml"
SPECIALIST = "specialist visit"


@lru_cache(maxsize=1)
def question_bank() -> dict:
    bank = yaml.safe_load(QUESTIONS_PATH.read_text(encoding="utf-8"))
    for key in ("before_any_visit", "situations", "specialties"):
        if key not in bank:
            raise ValueError(f"{QUESTIONS_PATH}: missing {key!r}")
    return bank


def situations() -> Dict[str, str]:
    """canonical situation -> its title."""
    return {name: entry["title"] for name, entry in question_bank()["situations"].items()}


def questions_for(situation: str, specialty: Optional[str] = None) -> List[str]:
    bank = question_bank()
    entry = bank["situations"].get(situation) or bank["situations"][SPECIALIST]
    questions = list(entry["questions"])
    if situation == SPECIALIST and specialty:
        extra = bank["specialties"].get(specialty.lower(), [])
        questions = questions[:1] + list(extra) + questions[1:]
    return questions


def _situation_label(situation: str) -> str:
    try:
        return phrase(f"situation.{situation}")
    except KeyError:
        return situation.capitalize()


def situation_buttons() -> List[Dict[str, str]]:
    return [button(_situation_label(s), "ask_questions_to_ask", care_situation=s) for s in situations()]


def _specialist_title(specialty: Optional[str]) -> str:
    return phrase("questions.your_visit_for", specialty=specialty) if specialty else phrase(
        "questions.your_specialist_visit")


def questions_to_ask(store, patient_id: Optional[str], *, situation: Optional[str], specialty: Optional[str],
                     focus_referral_id: Optional[str], short: bool,
                     now: Optional[dt.datetime] = None) -> Reply:
    now = now or dt.datetime.now()
    today = now.date()
    reply = Reply()
    bank = question_bank()
    known = situations()
    if situation and situation not in known:
        situation = None
    if specialty and specialty == "primary care":
        situation, specialty = situation or "checkup", None

    heading: Optional[str] = None
    if situation is None and specialty is None and patient_id:
        # the referral we were just talking about, else the next specialist visit, else an open referral
        referral = store.referral_for(patient_id, focus_referral_id) if focus_referral_id else None
        if referral is not None:
            situation, specialty = SPECIALIST, referral.specialty
            if referral.appointment is not None:
                heading = phrase("questions.for_when", title=_specialist_title(specialty),
                                 when=when(referral.appointment.starts_at, today))
            else:
                heading = phrase("questions.for_referral_from", title=_specialist_title(specialty),
                                 who=referral.referring_provider or phrase("referral.your_doctor"))
            reply.disclosed.append(("referral", "questions for referral"))
        else:
            upcoming = store.upcoming_appointments_for(patient_id, now)
            visit = next((a for a in upcoming if a.specialty and a.specialty != "primary care"), None)
            if visit is not None:
                situation, specialty = SPECIALIST, visit.specialty
                with_whom = phrase("appointment.with", who=visit.provider_name) if visit.provider_name else ""
                heading = phrase("questions.for_with_when", title=_specialist_title(specialty), with_whom=with_whom,
                                 when=when(visit.starts_at, today))
                reply.disclosed.append(("appointment", "questions for visit"))
            else:
                open_refs = store.open_referrals_for(patient_id)
                if open_refs:
                    ref = open_refs[0]
                    situation, specialty = SPECIALIST, ref.specialty
                    heading = phrase("questions.for_to_book", title=_specialist_title(specialty))
                    reply.slots["focus_referral"] = ref.id
                    reply.disclosed.append(("referral", "questions for referral"))
                elif upcoming:
                    situation = "checkup"
                    heading = phrase("questions.for_your_visit", kind=upcoming[0].kind or phrase("appointment.visit"),
                                     when=when(upcoming[0].starts_at, today))
                    reply.disclosed.append(("appointment", "questions for visit"))

    if situation is None and specialty is None:
        reply.say("utter_ask_which_situation", buttons=situation_buttons())
        return reply
    if situation is None:
        situation = SPECIALIST
    questions = questions_for(situation, specialty)
    if heading is None:
        title = _specialist_title(specialty) if situation == SPECIALIST and specialty else known[situation]
        heading = phrase("questions.for", title=title)
    if short:
        questions = questions[:4]
    tips = bank["before_any_visit"][: (2 if short else len(bank["before_any_visit"]))]
    reply.say("utter_questions_to_ask", heading=heading, questions=numbered(questions), tips=bullets(tips))
    if patient_id:
        reply.say("utter_offer_save_questions",
                  buttons=[button(phrase("button.save_all"), "save_question", question_ref="all")])
    reply.slots.update({"last_situation": situation, "last_specialty": specialty,
                        "last_questions": questions})
    return reply


def save_questions(store, patient_id: str, *, text: str, question_ref: Optional[str],
                   last_questions: Optional[List[str]], last_situation: Optional[str],
                   now: Optional[dt.datetime] = None) -> Reply:
    """Keep questions on the patient's list: 'all' (or a number) of the last ones shown, or their own words."""
    reply = Reply()
    last_questions = last_questions or []
    chosen: List[str] = []
    ref = (question_ref or "").strip().lower()
    if ref == "all" and last_questions:
        chosen = list(last_questions)
    elif ref.isdigit() and 1 <= int(ref) <= len(last_questions):
        chosen = [last_questions[int(ref) - 1]]
    else:
        own = own_question(text)
        if own:
            chosen = [own]
        elif last_questions and set((text or "").lower().split()) & {"all", "these", "them", "those"}:
            chosen = list(last_questions)
    if not chosen:
        reply.say("utter_what_question_to_save")
        return reply
    added = sum(1 for q in chosen if store.save_question(patient_id, q, last_situation, now))
    total = len(store.saved_questions_for(patient_id))
    reply.say("utter_questions_saved", count=added if added else phrase("questions.no_new"), total=total)
    reply.disclosed.append(("saved question", "saved"))
    return reply


_LEADS = ("add to my list", "add to my questions", "save this question", "save the question",
          "save question", "remind me to ask", "i want to ask", "note to ask", "write down",
          "add", "save", "remember to ask", "remember", "note", "ask")


def own_question(text: str) -> Optional[str]:
    """The patient's own question from 'remind me to ask about my knee' -> 'about my knee'."""
    cleaned = " ".join((text or "").strip().split())
    if not cleaned or cleaned.startswith("/"):
        return None
    lowered = cleaned.lower()
    for lead in _LEADS:
        idx = lowered.find(lead)
        if idx != -1:
            rest = cleaned[idx + len(lead):].lstrip(" :,-")
            for filler in ("the doctor ", "the dr ", "my doctor ", "my dr ", "dr ", "doctor "):
                if rest.lower().startswith(filler):
                    rest = rest[len(filler):]
            if len(rest) >= 3 and not rest.lower().startswith(("all", "these", "them", "that")):
                rest = rest[0].upper() + rest[1:]
                return rest if rest.endswith(("?", ".")) else rest + "?"
            return None
    return None


def saved_questions(store, patient_id: str) -> Reply:
    reply = Reply()
    saved = store.saved_questions_for(patient_id)
    if not saved:
        reply.say("utter_no_saved_questions")
        return reply
    reply.say("utter_saved_questions", questions=numbered([q.question for q in saved]), count=len(saved))
    reply.disclosed.append(("saved question", "listed"))
    return reply
