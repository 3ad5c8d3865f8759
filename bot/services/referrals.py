"""Why was I referred, and what now: from the patient's referrals, in plain words."""
from __future__ import annotations

import datetime as dt
from typing import List, Optional

from bot.services import Reply, bullets, button, day, when
from bot.settings import SMS_SHARES_DETAILS
from bot.store.views import ReferralView
from bot.texts import phrase

PRIORITIES = ("routine", "urgent", "asap", "stat")
STATUSES = ("sent", "received", "approved", "scheduled", "completed", "cancelled", "declined")


def _priority(priority: Optional[str]) -> Optional[str]:
    return phrase(f"referral.priority.{priority}") if priority in PRIORITIES else priority


def _status(ref: ReferralView) -> str:
    return phrase(f"referral.status.{ref.status}", to=_to(ref)) if ref.status in STATUSES else ref.status


def _to(ref: ReferralView) -> str:
    return ref.receiving_clinic or ref.receiving_provider or phrase("referral.the_specialist")


def _label(ref: ReferralView) -> str:
    return (ref.specialty or phrase("referral.specialist")).capitalize()


def _referrer(ref: ReferralView) -> str:
    return ref.referring_provider or phrase("referral.your_doctor")


def _report_summary(ref: ReferralView) -> Optional[str]:
    """The care team's plain-language summary of the specialist's report, once the visit is done and
    the report is back; None otherwise (the answers then say only whether it came back)."""
    return ref.report_summary if ref.status == "completed" and ref.report_received else None


def _report_next_steps(ref: ReferralView) -> str:
    return ref.report_next_steps or phrase("referral.report_next_default", referrer=_referrer(ref))


def pick_referral(store, patient_id: str, specialty: Optional[str], focus_referral_id: Optional[str],
                  intent: str, reply: Reply) -> Optional[ReferralView]:
    """The referral the patient means; asks with buttons when several are open."""
    open_refs = store.open_referrals_for(patient_id)
    if specialty:
        every = open_refs + [r for r in store.referrals_for(patient_id) if not r.is_open]
        match = [r for r in every if (r.specialty or "").lower() == specialty.lower()]
        if match:
            return match[0]
        if not every:
            reply.say("utter_no_referrals", buttons=[button(phrase("button.care_team"), "ask_care_team")])
            return None
        reply.say("utter_no_referral_for_specialty", specialty=specialty,
                  buttons=[button(phrase("button.referral", label=_label(r)), intent, specialty=r.specialty or "")
                           for r in every[:4]])
        return None
    if focus_referral_id:
        focused = store.referral_for(patient_id, focus_referral_id)
        if focused is not None:
            return focused
    if len(open_refs) == 1:
        return open_refs[0]
    if len(open_refs) > 1:
        reply.say("utter_which_referral", count=len(open_refs),
                  buttons=[button(phrase("button.referral_at", label=_label(r), to=r.receiving_clinic
                                         or r.receiving_provider or phrase("referral.specialist")),
                                  intent, specialty=r.specialty or "") for r in open_refs])
        return None
    closed = store.referrals_for(patient_id)
    if closed:
        return closed[0]
    reply.say("utter_no_referrals", buttons=[button(phrase("button.care_team"), "ask_care_team")])
    return None


def referral_reason(store, patient_id: str, *, specialty: Optional[str], focus_referral_id: Optional[str],
                    short: bool, today: Optional[dt.date] = None) -> Reply:
    today = today or dt.date.today()
    reply = Reply()
    ref = pick_referral(store, patient_id, specialty, focus_referral_id, "ask_referral_reason", reply)
    if ref is None:
        return reply
    to = ref.receiving_provider or phrase("referral.a_specialist")
    if ref.receiving_clinic:
        to = phrase("referral.to_at", who=to, clinic=ref.receiving_clinic)
    phone = f" ({ref.receiving_clinic_phone})" if ref.receiving_clinic_phone else ""
    why = ref.plain_explanation or (
        phrase("referral.says", reason=ref.reason_text, doctor=_referrer(ref))
        if ref.reason_text else phrase("referral.no_reason", doctor=_referrer(ref)))
    status = _status(ref)
    if ref.status == "scheduled" and ref.appointment is not None:
        status = phrase("referral.scheduled_for", when=when(ref.appointment.starts_at, today))
    reply.say("utter_referral_reason", referrer=ref.referring_provider or phrase("referral.your_doctor_capital"),
              specialty=ref.specialty or phrase("referral.a_specialist"), to=to, phone=phone, why=why,
              urgency=_priority(ref.priority), status=status, sent=day(ref.sent_on, today))
    if _report_summary(ref) is not None:  # the visit happened and the report is back: what to do now
        reply.say("utter_referral_what_happens_after",
                  after=phrase("referral.report_back", next_steps=_report_next_steps(ref)))
        reply.disclosed.append(("referral", "report next steps"))
    buttons = [button(phrase("button.ask_them"), "ask_questions_to_ask"),
               button(phrase("button.what_next"), "ask_referral_status")]
    reply.say("utter_referral_follow_up", buttons=buttons)
    reply.slots.update({"focus_referral": ref.id, "last_specialty": ref.specialty})
    reply.disclosed.append(("referral", "reason"))
    return reply


def referral_status(store, patient_id: str, *, specialty: Optional[str], focus_referral_id: Optional[str],
                    short: bool, today: Optional[dt.date] = None) -> Reply:
    today = today or dt.date.today()
    reply = Reply()
    ref = pick_referral(store, patient_id, specialty, focus_referral_id, "ask_referral_status", reply)
    if ref is None:
        return reply
    to = _to(ref)
    steps: List[str] = [phrase("referral.step_sent", referrer=_referrer(ref), day=day(ref.sent_on, today))]
    if ref.status in ("received", "approved", "scheduled", "completed"):
        steps.append(phrase("referral.step_received", to=to))
    if ref.status in ("approved", "scheduled", "completed"):
        steps.append(phrase("referral.step_approved"))
    if ref.status == "scheduled" and ref.appointment is not None:
        where = phrase("referral.at_place", place=ref.appointment.location) if ref.appointment.location else ""
        steps.append(phrase("referral.step_booked", when=when(ref.appointment.starts_at, today), where=where))
    summary = _report_summary(ref)
    if ref.status == "completed" and summary is None:
        steps.append(phrase("referral.step_seen") + phrase("referral.step_report_back" if ref.report_received
                                                           else "referral.step_report_not_back"))
    elif summary is not None:
        # the care team's summary, as written (by text only where the clinic allows details), and what to do next
        shown = not short or SMS_SHARES_DETAILS
        steps.append(phrase("referral.step_seen") + (phrase("referral.step_report_summary", summary=summary)
                                                     if shown else phrase("referral.step_report_back_sms")))
        steps.append(phrase("referral.report_next_steps", next_steps=_report_next_steps(ref)))
        reply.disclosed.append(("referral", "specialist report" if shown else "report next steps"))
    if ref.status in ("cancelled", "declined"):
        steps.append(phrase(f"referral.step_{ref.status}", day=day(ref.status_date, today), referrer=_referrer(ref)))
    reply.say("utter_referral_status", specialty=ref.specialty or phrase("referral.specialist"),
              status_word=ref.status, steps=bullets(steps))
    if ref.is_open:
        if ref.status != "scheduled":
            at = phrase("referral.at_place", place=ref.receiving_clinic_phone) if ref.receiving_clinic_phone else ""
            how = ref.how_to_book or phrase("referral.how_to_book", to=to, at=at)
            reply.say("utter_referral_how_to_book", how_to_book=how)
        bring = ref.what_to_bring or phrase("referral.what_to_bring")
        reply.say("utter_referral_what_to_bring", what_to_bring=bring)
        referrer = ref.referring_provider or phrase("referral.your_primary_care_provider")
        reply.say("utter_referral_what_happens_after", after=phrase("referral.what_happens_after", referrer=referrer))
    reply.slots.update({"focus_referral": ref.id, "last_specialty": ref.specialty})
    reply.disclosed.append(("referral", "status"))
    return reply
