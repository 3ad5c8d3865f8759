"""The record lookups: test results, appointments, care team, medications."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from bot.services import Reply, bullets, button, day, limited, when
from bot.settings import CLINIC_MAIN_PHONE, SMS_SHARES_DETAILS
from bot.texts import phrase


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
        reply.say("utter_no_results", buttons=[button(phrase("button.care_team"), "ask_care_team")])
        return reply
    if released:
        shown, more = limited(released, short)
        if short and not SMS_SHARES_DETAILS:
            reply.say("utter_results_ready_sms", count=len(released),
                      names=", ".join(r.name for r in shown))
        else:
            lines = []
            for r in shown:
                line = phrase("result.line", name=r.name, status=r.status,
                              day=day(r.resulted_on or r.ordered_on, today))
                provider = r.ordering_provider or phrase("result.your_provider")
                if r.value:
                    line += phrase("result.value", value=r.value, unit=(" " + r.unit) if r.unit else "")
                    if r.reference_range:
                        line += phrase("result.range", range=r.reference_range)
                if r.provider_note:
                    line += phrase("result.note", provider=provider, note=r.provider_note)
                else:
                    line += phrase("result.ask", provider=provider)
                lines.append(line)
            reply.say("utter_results_released", results=bullets(lines),
                      more=phrase("result.more", count=more) if more else "")
        reply.disclosed.append(("test result", "released results"))
    if pending:
        lines = []
        for p in pending[: (3 if short else 6)]:
            if p.back_but_not_released:
                lines.append(phrase("result.back_not_released", name=p.name,
                                    provider=p.ordering_provider or phrase("result.your_provider")))
            else:
                lines.append(phrase("result.not_back", name=p.name, day=day(p.ordered_on, today)))
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
                  buttons=[button(phrase("button.referrals"), "ask_referral_status")])
        return reply
    shown, more = limited(upcoming, short)
    lines = []
    for a in shown:
        who = phrase("appointment.with", who=a.provider_name) if a.provider_name else ""
        where = a.clinic_name or phrase("appointment.the_clinic")
        if a.location and not short:
            where += f", {a.location}"
        line = phrase("appointment.line", when=when(a.starts_at, now.date()),
                      kind=a.kind or phrase("appointment.visit"), who=who, where=where)
        if a.preparation:
            line += phrase("appointment.prepare", preparation=a.preparation)
        if a.clinic_phone and not short:
            line += phrase("appointment.change", phone=a.clinic_phone)
        lines.append(line)
    reply.say("utter_appointments", count=len(upcoming), appointments=bullets(lines),
              more=phrase("appointment.more", count=more) if more else "")
    reply.slots["last_specialty"] = shown[0].specialty if shown[0].specialty != "primary care" else None
    reply.say("utter_offer_questions_for_visit",
              buttons=[button(phrase("button.what_to_ask"), "ask_questions_to_ask")])
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
        role = t.role if t.role != "specialist" or not t.specialty else phrase("team.specialist",
                                                                                   specialty=t.specialty)
        line = phrase("team.line", name=t.name, role=role)
        if t.clinic_name and not short:
            line += f", {t.clinic_name}"
        if t.phone:
            line += phrase("team.phone", phone=t.phone)
        if t.can_message and not short:
            line += phrase("team.portal")
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
                  changed=phrase("medication.changed_recently", count=changed) if changed else "")
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
            line += phrase("medication.prescribed_by", prescriber=m.prescriber)
        if m.change_note:
            line += phrase("medication.changed", note=m.change_note)
        lines.append(line)
    for m in stopped:
        lines.append(phrase("medication.stopped", name=m.name) + (f" ({m.change_note})" if m.change_note else ""))
    reply.say("utter_medications", medications=bullets(lines))
    reply.say("utter_medication_changes_with_prescriber")
    reply.disclosed.append(("medication", "listed"))
    return reply
