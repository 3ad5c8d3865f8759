"""The bundle mapper's handlers: care plans, their activities, goals."""
from __future__ import annotations

import logging
from typing import Any, Optional

from bot.store import models as m
from bot.store.fhir.codes import _ACTIVITY_STATUS, _GOAL_STATUS, _activity_kind
from bot.store.fhir.ids import Key, row_id
from bot.store.fhir.values import _as_date, _clean, _concept_text, _goal_target

log = logging.getLogger(__name__)

# The handlers use the mapper's state and helpers (bot/store/fhir/mapper.py, BundleMapper).
_Base: Any = object


class PlanMixin(_Base):
    """Care plans, their activities, goals."""

    # ---- care plans and goals

    def _care_plan(self, key: Key, plan) -> Optional[str]:
        if plan.status == "entered-in-error":
            return "skipped"
        patient_id, refs = self.patient_for(plan.subject, "subject")
        plan_id = row_id("CarePlan", key[1])
        title = _clean(plan.title) or next(
            (t for t in (_concept_text(c, require_words=True) for c in plan.category or ()) if t), None
        ) or _clean(plan.description) or "Care plan"
        created = _as_date(plan.created) or _as_date(plan.period.start if plan.period else None)
        self.add(m.CarePlan, plan_id, {
            "patient_id": patient_id, "title": title, "status": plan.status, "created_on": created,
        }, key, refs=refs)
        for index, activity in enumerate(plan.activity or ()):
            values = self._activity(plan, activity)
            if values is None:
                continue
            values.update({"care_plan_id": plan_id, "patient_id": patient_id})
            self.add(m.CareActivity, row_id("CarePlan", f"{key[1]}-activity-{index}"), values, key,
                     refs=refs)
        return None

    def _activity(self, plan, activity) -> Optional[dict]:
        detail = activity.detail
        if detail is None:
            display = getattr(activity.reference, "display", None) if activity.reference else None
            if not display:
                return None
            return {"description": _clean(display), "kind": "task", "status": "not-started",
                    "due_date": None, "responsible": None, "completion_source": None}
        if detail.status == "entered-in-error":
            return None
        description = (_concept_text(detail.code) or _clean(detail.description)
                       or _concept_text(detail.productCodeableConcept) or "Care plan step")
        status = _ACTIVITY_STATUS.get(detail.status or "", "not-started")
        if status in m.OPEN_ACTIVITY_STATUSES and plan.status in ("completed", "revoked"):
            status = "completed" if plan.status == "completed" else "cancelled"
        due = None
        if detail.scheduledPeriod is not None:
            due = _as_date(detail.scheduledPeriod.end) or _as_date(detail.scheduledPeriod.start)
        elif detail.scheduledTiming is not None:
            timing = detail.scheduledTiming
            bounds = timing.repeat.boundsPeriod if timing.repeat else None
            if bounds is not None:
                due = _as_date(bounds.end) or _as_date(bounds.start)
            elif timing.event:
                due = _as_date(max(timing.event, key=str))
        responsible = None
        for performer in detail.performer or ():
            performer_key = self.key(performer)
            if performer_key and performer_key[0] in ("Patient", "RelatedPerson"):
                responsible = "you" if performer_key[0] == "Patient" else getattr(performer, "display", None)
            else:
                responsible = self.provider_name(performer) or getattr(performer, "display", None)
            if responsible:
                break
        return {
            "description": description,
            "kind": _activity_kind(detail.kind, description),
            "due_date": due,
            "status": status,
            "responsible": responsible,
            "completion_source": "clinic" if status == "completed" else None,
        }

    def _goal(self, key: Key, goal) -> Optional[str]:
        if goal.lifecycleStatus == "entered-in-error":
            return "skipped"
        patient_id, refs = self.patient_for(goal.subject, "subject")
        target, due = None, None
        for t in goal.target or ():
            target = target or _goal_target(t)
            due = due or _as_date(t.dueDate)
        self.add(m.Goal, row_id("Goal", key[1]), {
            "care_plan_id": self.goal_plan.get(key),
            "patient_id": patient_id,
            "description": _concept_text(goal.description) or "Goal",
            "target": target,
            "progress": _concept_text(goal.achievementStatus),
            "status": _GOAL_STATUS.get(goal.lifecycleStatus, "active"),
            "due_date": due,
        }, key, refs={**refs, "care_plan_id": ("CarePlan.goal", f"Goal/{key[1]}")})
        return None
