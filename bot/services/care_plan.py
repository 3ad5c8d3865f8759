"""Next steps from the care plan: open activities (overdue first), goals, and 'I did it'."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from bot.services import Reply, bullets, button, day, limited
from bot.store.views import ActivityView
from bot.texts import phrase


def _who(a: ActivityView) -> str:
    if not a.responsible or a.responsible.lower() == "you":
        return phrase("plan.you")
    return a.responsible


def _activity_line(a: ActivityView, today: dt.date) -> str:
    if a.overdue:
        days = phrase("plan.days_one" if a.days_overdue == 1 else "plan.days_many", count=a.days_overdue)
        due = phrase("plan.overdue", day=day(a.due_date, today), days=days)
    elif a.due_date is not None:
        due = phrase("plan.due", day=day(a.due_date, today))
    else:
        due = phrase("plan.no_due_date")
    return phrase("plan.step", description=a.description, due=due, who=_who(a))


def next_steps(store, patient_id: str, *, short: bool, show_all: bool = False,
               today: Optional[dt.date] = None) -> Reply:
    today = today or dt.date.today()
    reply = Reply()
    steps = store.next_steps_for(patient_id, today)
    if not steps.has_care_plan:
        reply.say("utter_no_care_plan", buttons=[button(phrase("button.care_team"), "ask_care_team"),
                                                 button(phrase("button.appointments"), "ask_appointments")])
        return reply
    reply.disclosed.append(("care plan", "next steps"))
    if steps.activities:
        shown, more = (list(steps.activities), 0) if show_all else limited(steps.activities, short)
        overdue = len(steps.overdue)
        summary = (phrase("plan.summary_overdue_one" if overdue == 1 else "plan.summary_overdue_many", count=overdue)
                   if overdue else phrase("plan.summary_none"))
        reply.say("utter_next_steps", count=len(steps.activities), summary=summary,
                  steps=bullets([_activity_line(a, today) for a in shown]))
        if more:
            reply.say("utter_more_available", more=more,
                      buttons=[button(phrase("button.show_all", count=len(steps.activities)), "ask_next_steps",
                                      list_scope="all")])
    else:
        reply.say("utter_no_open_steps")
    if steps.goals and not (short and steps.activities):
        lines = []
        for g in steps.goals:
            parts = [g.description]
            if g.progress:
                parts.append(phrase("plan.goal_so_far", progress=g.progress))
            if g.due_date:
                parts.append(phrase("plan.goal_by", day=day(g.due_date, today)))
            lines.append("; ".join(parts))
        reply.say("utter_goals", goals=bullets(lines))
    if steps.activities:
        reply.say("utter_offer_task_done")
    return reply


def report_task_done(store, patient_id: str, *, text: str, activity_id: Optional[str],
                     now: Optional[dt.datetime] = None) -> Reply:
    now = now or dt.datetime.now()
    reply = Reply()
    result = store.mark_activity_done_by_patient(patient_id, said=text or "", activity_id=activity_id, now=now)
    if result.activity is not None and not result.already_done:
        reply.say("utter_task_marked_done", task=result.activity.description)
        reply.disclosed.append(("care plan", "task reported done"))
        remaining = store.next_steps_for(patient_id, now.date())
        if remaining.activities:
            nxt = remaining.activities[0]
            reply.say("utter_next_task", task=nxt.description, due=day(nxt.due_date, now.date()))
        return reply
    if result.already_done:
        reply.say("utter_task_already_done", task=result.activity.description)
        return reply
    if result.candidates:
        reply.say("utter_which_task", buttons=[
            button(c.description[:60], "report_task_done", activity_id=c.id) for c in result.candidates])
        reply.disclosed.append(("care plan", "task choices"))
        return reply
    reply.say("utter_no_task_to_mark")
    return reply
