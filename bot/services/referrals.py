"""Why was I referred, and what now: from the patient's referrals, in plain words."""
from __future__ import annotations

import datetime as dt
from typing import List, Optional

from bot.services import Reply, bullets, button, day, when
from bot.store.views import ReferralView

PRIORITY_WORDS = {
    "routine": "routine (not urgent)",
    "urgent": "urgent: it should be seen soon",
    "asap": "as soon as possible",
    "stat": "right away",
}

STATUS_WORDS = {
    "sent": "sent to {to}; they have not confirmed it yet",
    "received": "received by {to}; waiting for approval",
    "approved": "approved; the visit is not booked yet",
    "scheduled": "scheduled",
    "completed": "completed: you saw the specialist",
    "cancelled": "cancelled",
    "declined": "declined by {to}",
}

WHAT_HAPPENS_AFTER = ("After your visit, the specialist sends a report to {referrer}. "
                      "Book a follow-up with {referrer} to talk about what the specialist found.")


def _to(ref: ReferralView) -> str:
    return ref.receiving_clinic or ref.receiving_provider or "the specialist"


def _label(ref: ReferralView) -> str:
    return (ref.specialty or "specialist").capitalize()


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
            reply.say("utter_no_referrals", buttons=[button("My care team", "ask_care_team")])
            return None
        reply.say("utter_no_referral_for_specialty", specialty=specialty,
                  buttons=[button(f"{_label(r)} referral", intent, specialty=r.specialty or "") for r in every[:4]])
        return None
    if focus_referral_id:
        focused = store.referral_for(patient_id, focus_referral_id)
        if focused is not None:
            return focused
    if len(open_refs) == 1:
        return open_refs[0]
    if len(open_refs) > 1:
        reply.say("utter_which_referral", count=len(open_refs),
                  buttons=[button(f"{_label(r)} ({r.receiving_clinic or r.receiving_provider or 'specialist'})",
                                  intent, specialty=r.specialty or "") for r in open_refs])
        return None
    closed = store.referrals_for(patient_id)
    if closed:
        return closed[0]
    reply.say("utter_no_referrals", buttons=[button("My care team", "ask_care_team")])
    return None


def referral_reason(store, patient_id: str, *, specialty: Optional[str], focus_referral_id: Optional[str],
                    short: bool, today: Optional[dt.date] = None) -> Reply:
    today = today or dt.date.today()
    reply = Reply()
    ref = pick_referral(store, patient_id, specialty, focus_referral_id, "ask_referral_reason", reply)
    if ref is None:
        return reply
    to = ref.receiving_provider or "a specialist"
    if ref.receiving_clinic:
        to += f" at {ref.receiving_clinic}"
    phone = f" ({ref.receiving_clinic_phone})" if ref.receiving_clinic_phone else ""
    doctor = ref.referring_provider or "your doctor"
    why = ref.plain_explanation or (
        f"The referral says: \"{ref.reason_text}\". Ask {doctor} to explain it in everyday words."
        if ref.reason_text else f"The reason is not written in your record; ask {doctor}.")
    status = STATUS_WORDS.get(ref.status, ref.status).format(to=_to(ref))
    if ref.status == "scheduled" and ref.appointment is not None:
        status = f"scheduled for {when(ref.appointment.starts_at, today)}"
    reply.say("utter_referral_reason", referrer=ref.referring_provider or "Your doctor",
              specialty=ref.specialty or "a specialist", to=to, phone=phone, why=why,
              urgency=PRIORITY_WORDS.get(ref.priority, ref.priority), status=status,
              sent=day(ref.sent_on, today))
    buttons = [button("What should I ask them?", "ask_questions_to_ask"),
               button("What happens next?", "ask_referral_status")]
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
    steps: List[str] = [f"Sent by {ref.referring_provider or 'your doctor'} {day(ref.sent_on, today)}."]
    if ref.status in ("received", "approved", "scheduled", "completed"):
        steps.append(f"Received by {to}.")
    if ref.status in ("approved", "scheduled", "completed"):
        steps.append("Approved.")
    if ref.status == "scheduled" and ref.appointment is not None:
        where = f" at {ref.appointment.location}" if ref.appointment.location else ""
        steps.append(f"Booked: {when(ref.appointment.starts_at, today)}{where}.")
    if ref.status == "completed":
        steps.append("You have seen the specialist." + (" Their report has come back to your doctor."
                                                        if ref.report_received else
                                                        " Their report has not come back yet."))
    if ref.status in ("cancelled", "declined"):
        steps.append(f"{ref.status.capitalize()} {day(ref.status_date, today)}. "
                     f"Ask {ref.referring_provider or 'your doctor'} what to do instead.")
    reply.say("utter_referral_status", specialty=ref.specialty or "specialist", status_word=ref.status,
              steps=bullets(steps))
    if ref.is_open:
        if ref.status != "scheduled":
            at = f" at {ref.receiving_clinic_phone}" if ref.receiving_clinic_phone else ""
            how = ref.how_to_book or f"Call {to}{at} and mention your referral."
            reply.say("utter_referral_how_to_book", how_to_book=how)
        bring = ref.what_to_bring or "your insurance card, a photo ID, and a list of your medicines"
        reply.say("utter_referral_what_to_bring", what_to_bring=bring)
        reply.say("utter_referral_what_happens_after",
                  after=WHAT_HAPPENS_AFTER.format(referrer=ref.referring_provider or "your primary care provider"))
    reply.slots.update({"focus_referral": ref.id, "last_specialty": ref.specialty})
    reply.disclosed.append(("referral", "status"))
    return reply
