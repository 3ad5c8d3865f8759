"""General answers anyone may get: clinic ratings, community resources, a hand-off to a person."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from bot.services import Reply, bullets, button, limited
from bot.settings import CALLBACK_PROMISE, CLINIC_HOURS, CLINIC_MAIN_PHONE
from bot.store.models import RESOURCE_CATEGORIES

CATEGORY_LABELS = {
    "timely care": "getting care quickly",
    "provider communication": "how well providers explain",
    "office staff": "helpful, courteous staff",
    "overall": "overall",
}
RESOURCE_LABELS = {
    "transportation": "Rides to appointments", "food": "Food help", "cost of care": "Help paying for care",
    "support group": "Support groups", "caregiver": "Caregiver support", "education": "Classes",
    "housing": "Housing help",
}


def _score(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.0f}%"


def clinic_ratings(store, *, specialty: Optional[str], area: Optional[str], short: bool) -> Reply:
    reply = Reply()
    clinics = store.clinic_ratings(specialty=specialty, area=area)
    scope = " ".join(x for x in (f"for {specialty}" if specialty else "", f"in {area.title()}" if area else "") if x)
    if not clinics:
        clinics = store.clinic_ratings()
        if not clinics:
            reply.say("utter_no_ratings", clinic_phone=CLINIC_MAIN_PHONE)
            return reply
        reply.say("utter_no_clinic_matches", scope=scope or "for that")
        scope = ""
    shown, more = limited(clinics, short)
    lines = []
    for i, c in enumerate(shown, 1):
        if short:
            lines.append(f"{i}. {c.name}: {_score(c.overall)} overall ({c.respondents} patients)")
            continue
        details = ", ".join(f"{CATEGORY_LABELS[k]} {_score(c.scores.get(k))}"
                            for k in ("timely care", "provider communication", "office staff"))
        lines.append(f"{i}. {c.name} ({c.area.title() if c.area else 'area not listed'}): "
                     f"{_score(c.overall)} overall; {details}. {c.respondents} patients answered. Phone {c.phone}")
    reply.say("utter_clinic_ratings", scope=f" {scope}" if scope else "", clinics="\n".join(lines),
              period=shown[0].period or "the latest survey")
    return reply


def community_resources(store, *, category: Optional[str], area: Optional[str], short: bool) -> Reply:
    reply = Reply()
    if category not in RESOURCE_CATEGORIES:
        category = None
    if category is None:
        reply.say("utter_ask_resource_category",
                  buttons=[button(label, "ask_community_resources", resource_category=cat)
                           for cat, label in RESOURCE_LABELS.items()])
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
        line = f"{r.name}: {r.description}" if not short else r.name
        if r.phone:
            line += f" Call {r.phone}." if not short else f" {r.phone}"
        if r.web and not short:
            line += f" {r.web}"
        if r.eligibility and not short:
            line += f" Who can use it: {r.eligibility}."
        if r.area and not short:
            line += f" ({r.area.title()})"
        lines.append(line)
    reply.say("utter_community_resources", label=RESOURCE_LABELS[category].lower(),
              area=f" near {area.title()}" if area else "", resources=bullets(lines),
              more=f"\n(and {more} more: ask me to show them, or call 2-1-1)" if more else "")
    reply.say("utter_211")
    return reply


def request_human(store, patient_id: Optional[str], *, reason: Optional[str], channel: str,
                  conversation_id: str, now: Optional[dt.datetime] = None) -> Reply:
    reply = Reply()
    store.record_callback_request(patient_id, reason, channel, conversation_id, now)
    if patient_id:
        reply.say("utter_callback_recorded", promise=CALLBACK_PROMISE, clinic_phone=CLINIC_MAIN_PHONE,
                  hours=CLINIC_HOURS)
        reply.disclosed.append(("callback request", "recorded"))
    else:
        reply.say("utter_callback_recorded_anonymous", clinic_phone=CLINIC_MAIN_PHONE, hours=CLINIC_HOURS)
    return reply
