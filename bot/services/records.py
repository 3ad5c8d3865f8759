"""The record lookups: test results, appointments, care team, medications."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from bot.services import Reply, bullets, button, day, limited, when
from bot.settings import CLINIC_MAIN_PHONE, SMS_SHARES_DETAILS


def test_results(store, patient_id: str, *, test_name: Optional[str], short: bool,
                 today: Optional[dt.date] = None) -> Reply:
    """Released results only; pending ones by name; never an interpretation."""
    today = today or dt.date.today()
    reply = Reply()
    released = store.released_results_for(patient_id)
    pending = store.pending_results_for(patient_id)
    if test_name:
        wanted = test_name.lower()
        match = lambda name: wanted in name.lower() or any(w in name.lower() for w in wanted.split() if len(w) > 2)  # noqa: E731
        released = [r for r in released if match(r.name)] or released
        pending = [p for p in pending if match(p.name)] or pending
    if not released and not pending:
        reply.say("utter_no_results", buttons=[button("My care team", "ask_care_team")])
        return reply
    if released:
        shown, more = limited(released, short)
        if short and not SMS_SHARES_DETAILS:
            reply.say("utter_results_ready_sms", count=len(released),
                      names=", ".join(r.name for r in shown))
        else:
            lines = []
            for r in shown:
                line = f"{r.name} ({r.status}, {day(r.resulted_on or r.ordered_on, today)})"
                if r.value:
                    line += f": {r.value}{(' ' + r.unit) if r.unit else ''}"
                    if r.reference_range:
                        line += f" (lab's usual range {r.reference_range})"
                if r.provider_note:
                    line += f"\n  Note from {r.ordering_provider or 'your provider'}: \"{r.provider_note}\""
                else:
                    line += f"\n  Ask {r.ordering_provider or 'your provider'} what this means for you."
                lines.append(line)
            reply.say("utter_results_released", results=bullets(lines),
                      more=f"\n(and {more} older ones in the patient portal)" if more else "")
        reply.disclosed.append(("test result", "released results"))
    if pending:
        lines = []
        for p in pending[: (3 if short else 6)]:
            if p.back_but_not_released:
                lines.append(f"{p.name}: back, but {p.ordering_provider or 'your provider'} has not reviewed "
                             f"and released it yet")
            else:
                lines.append(f"{p.name} (ordered {day(p.ordered_on, today)}): not back yet")
        reply.say("utter_results_pending", results=bullets(lines))
        reply.disclosed.append(("test result", "pending results"))
    reply.say("utter_results_no_interpretation", clinic_phone=CLINIC_MAIN_PHONE)
    return reply


def appointments(store, patient_id: str, *, specialty: Optional[str], short: bool,
                 now: Optional[dt.datetime] = None) -> Reply:
    now = now or dt.datetime.now()
    reply = Reply()
    upcoming = store.upcoming_appointments_for(patient_id, now)
    if specialty:
        upcoming = [a for a in upcoming if (a.specialty or "").lower() == specialty.lower()] or upcoming
    if not upcoming:
        reply.say("utter_no_appointments", clinic_phone=CLINIC_MAIN_PHONE,
                  buttons=[button("My referrals", "ask_referral_status")])
        return reply
    shown, more = limited(upcoming, short)
    lines = []
    for a in shown:
        who = f" with {a.provider_name}" if a.provider_name else ""
        where = a.clinic_name or "the clinic"
        if a.location and not short:
            where += f", {a.location}"
        line = f"{when(a.starts_at, now.date())}: {a.kind or 'visit'}{who}, {where}"
        if a.preparation:
            line += f"\n  To prepare: {a.preparation}"
        if a.clinic_phone and not short:
            line += f"\n  To change it: {a.clinic_phone}"
        lines.append(line)
    reply.say("utter_appointments", count=len(upcoming), appointments=bullets(lines),
              more=f"\n(and {more} more later)" if more else "")
    reply.slots["last_specialty"] = shown[0].specialty if shown[0].specialty != "primary care" else None
    reply.say("utter_offer_questions_for_visit",
              buttons=[button("What should I ask?", "ask_questions_to_ask")])
    reply.disclosed.append(("appointment", "upcoming"))
    return reply


def care_team(store, patient_id: str, *, specialty: Optional[str], short: bool) -> Reply:
    reply = Reply()
    team = store.care_team_for(patient_id)
    if specialty:
        team = [t for t in team if (t.specialty or "").lower() == specialty.lower()] or team
    if not team:
        reply.say("utter_no_care_team", clinic_phone=CLINIC_MAIN_PHONE)
        return reply
    lines = []
    for t in team:
        role = t.role if t.role != "specialist" or not t.specialty else f"{t.specialty} specialist"
        line = f"{t.name}: {role}"
        if t.clinic_name and not short:
            line += f", {t.clinic_name}"
        if t.phone:
            line += f". Phone {t.phone}"
        if t.can_message and not short:
            line += ". You can message them in the patient portal"
        lines.append(line)
    reply.say("utter_care_team", team=bullets(lines))
    reply.disclosed.append(("care team", "listed"))
    return reply


def medications(store, patient_id: str, *, medication: Optional[str], short: bool,
                today: Optional[dt.date] = None) -> Reply:
    today = today or dt.date.today()
    reply = Reply()
    meds = store.active_medications_for(patient_id)
    stopped = store.stopped_medications_for(patient_id, since=today - dt.timedelta(days=30))
    if not meds and not stopped:
        reply.say("utter_no_medications", clinic_phone=CLINIC_MAIN_PHONE)
        return reply
    if short and not SMS_SHARES_DETAILS:
        changed = sum(1 for m in meds if m.change_note) + len(stopped)
        reply.say("utter_medications_sms", count=len(meds),
                  changed=f" {changed} changed recently." if changed else "")
        reply.disclosed.append(("medication", "count only"))
        return reply
    if medication:
        match = [m for m in meds if medication.lower() in m.name.lower()]
        if match:
            meds = match
            stopped = []
        else:
            stopped_match = [m for m in stopped if medication.lower() in m.name.lower()]
            if stopped_match:
                meds, stopped = [], stopped_match
            else:
                reply.say("utter_medication_not_on_list", medication=medication)
    lines = []
    for m in meds:
        line = m.name
        if m.dose:
            line += f" {m.dose}"
        if m.schedule:
            line += f", {m.schedule}"
        if m.prescriber:
            line += f" (prescribed by {m.prescriber})"
        if m.change_note:
            line += f"\n  Changed: {m.change_note}"
        lines.append(line)
    for m in stopped:
        lines.append(f"STOPPED: {m.name}" + (f" ({m.change_note})" if m.change_note else ""))
    reply.say("utter_medications", medications=bullets(lines))
    reply.say("utter_medication_changes_with_prescriber")
    reply.disclosed.append(("medication", "listed"))
    return reply
