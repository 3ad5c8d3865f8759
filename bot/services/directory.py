"""General answers anyone may get: clinic ratings, community resources, a hand-off to a person."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from bot.services import Reply, bullets, button, limited
from bot.settings import CALLBACK_PROMISE, CLINIC_HOURS, CLINIC_MAIN_PHONE
from bot.store.models import RESOURCE_CATEGORIES
from bot.texts import phrase

RATED = ("timely care", "provider communication", "office staff")
RESOURCE_MENU = ("transportation", "food", "cost of care", "support group", "caregiver", "education", "housing")


def _resource_label(category: str) -> str:
    return phrase(f"resources.category.{category}")


def _score(v: Optional[float]) -> str:
    return phrase("ratings.not_rated") if v is None else f"{v:.0f}%"


def clinic_ratings(store, *, specialty: Optional[str], area: Optional[str], short: bool) -> Reply:
    reply = Reply()
    clinics = store.clinic_ratings(specialty=specialty, area=area)
    scope = " ".join(x for x in (phrase("ratings.for", specialty=specialty) if specialty else "",
                                 phrase("ratings.in", area=area.title()) if area else "") if x)
    if not clinics:
        clinics = store.clinic_ratings()
        if not clinics:
            reply.say("utter_no_ratings", clinic_phone=CLINIC_MAIN_PHONE)
            return reply
        reply.say("utter_no_clinic_matches", scope=scope or phrase("ratings.for_that"))
        scope = ""
    shown, more = limited(clinics, short)
    lines = []
    for i, c in enumerate(shown, 1):
        if short:
            lines.append(phrase("ratings.line_short", number=i, name=c.name, overall=_score(c.overall),
                                respondents=c.respondents))
            continue
        details = ", ".join(phrase("ratings.detail", label=phrase(f"ratings.category.{k}"),
                                   score=_score(c.scores.get(k))) for k in RATED)
        lines.append(phrase("ratings.line", number=i, name=c.name,
                            area=c.area.title() if c.area else phrase("ratings.area_not_listed"),
                            overall=_score(c.overall), details=details, respondents=c.respondents, phone=c.phone))
    reply.say("utter_clinic_ratings", scope=f" {scope}" if scope else "", clinics="\n".join(lines),
              period=shown[0].period or phrase("ratings.latest_survey"))
    return reply


def community_resources(store, *, category: Optional[str], area: Optional[str], short: bool) -> Reply:
    reply = Reply()
    if category not in RESOURCE_CATEGORIES:
        category = None
    if category is None:
        reply.say("utter_ask_resource_category",
                  buttons=[button(_resource_label(cat), "ask_community_resources", resource_category=cat)
                           for cat in RESOURCE_MENU])
        reply.say("utter_211")
        return reply
    resources = store.community_resources(category, area=area)
    if not resources:
        reply.say("utter_no_resources", category=category)
        reply.say("utter_211")
        return reply
    shown, more = limited(resources, short)
    lines = []
    for r in shown:
        line = phrase("resources.line", name=r.name, description=r.description) if not short else r.name
        if r.phone:
            line += phrase("resources.call", phone=r.phone) if not short else f" {r.phone}"
        if r.web and not short:
            line += f" {r.web}"
        if r.eligibility and not short:
            line += phrase("resources.who", eligibility=r.eligibility)
        if r.area and not short:
            line += f" ({r.area.title()})"
        lines.append(line)
    reply.say("utter_community_resources", label=_resource_label(category).lower(),
              area=phrase("resources.near", area=area.title()) if area else "", resources=bullets(lines),
              more=phrase("resources.more", count=more) if more else "")
    reply.say("utter_211")
    return reply


def request_human(store, patient_id: Optional[str], *, reason: Optional[str], channel: str,
                  conversation_id: str, now: Optional[dt.datetime] = None, urgent: bool = False,
                  language: Optional[str] = None) -> Reply:
    """Record a hand-off for the care team (urgent after an emergency answer; in the conversation's
    language, which staff see) and say when."""
    reply = Reply()
    store.record_callback_request(patient_id, reason, channel, conversation_id, now, urgent=urgent,
                                  language=language)
    if patient_id:
        reply.say("utter_callback_recorded", promise=CALLBACK_PROMISE, clinic_phone=CLINIC_MAIN_PHONE,
                  hours=CLINIC_HOURS)
        reply.disclosed.append(("callback request", "recorded"))
    else:
        reply.say("utter_callback_recorded_anonymous", clinic_phone=CLINIC_MAIN_PHONE, hours=CLINIC_HOURS)
    return reply
