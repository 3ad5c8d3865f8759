"""Mapping FHIR codes and words to the store's vocabulary: activity kinds, specialties, roles, statuses."""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Iterable, Optional

import yaml

log = logging.getLogger(__name__)

def _activity_kind(fhir_kind: Optional[str], description: str) -> str:
    text = description.lower()
    if fhir_kind == "Appointment" or re.search(r"\b(follow[- ]?up|visit|appointment|check[- ]?up)\b", text):
        return "follow-up"
    if re.search(r"\b(educat\w*|teach\w*|instruct\w*|learn\w*|counsel\w*|advice|class)\b", text):
        return "education"
    if re.search(r"\b(monitor\w*|measur\w*|track\w*|check\w*|log|record\w*|weigh\w*|test\w*)\b", text):
        return "monitoring"
    return "task"


@lru_cache(maxsize=1)
def _specialty_patterns() -> list:
    """(canonical specialty, pattern) in the order of bot/knowledge/vocab/specialties.yml, the one
    specialty vocabulary the NLU uses too: its `records` expression, else its name and patients' words."""
    from bot.nlp.vocab import VOCAB_DIR

    raw = yaml.safe_load((VOCAB_DIR / "specialties.yml").read_text(encoding="utf-8")) or {}
    patterns = []
    for name, entry in raw.items():
        entry = entry if isinstance(entry, dict) else {"patients": entry}
        expression = entry.get("records") or r"\b(" + "|".join(
            re.escape(w) for w in [str(name), *(entry.get("patients") or [])]) + r")\b"
        patterns.append((str(name), re.compile(expression, re.IGNORECASE)))
    return patterns


def _specialty(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    return next((name for name, pattern in _specialty_patterns() if pattern.search(text)), None)


_ROLE_WORDS = (
    ("care coordinator", re.compile(r"coordinat|case manag|navigat|social work", re.IGNORECASE)),
    ("pharmacist", re.compile(r"pharmac", re.IGNORECASE)),
    ("nurse", re.compile(r"\bnurs", re.IGNORECASE)),
    ("primary care", re.compile(r"primary care|general pract|family (medicine|practice|physician)|"
                                r"internal medicine|\bpcp\b", re.IGNORECASE)),
    ("specialist", re.compile(r"speciali|consultant|surgeon|\w+ologist", re.IGNORECASE)),
)


def _care_role(texts: Iterable[Optional[str]]) -> Optional[str]:
    for text in texts:
        if not text:
            continue
        for role, pattern in _ROLE_WORDS:
            if pattern.search(text):
                return role
    return None


_ACTIVITY_STATUS = {
    "not-started": "not-started", "scheduled": "scheduled", "in-progress": "in-progress",
    "on-hold": "in-progress", "completed": "completed", "cancelled": "cancelled", "stopped": "cancelled",
    "unknown": "not-started",
}
_GOAL_STATUS = {
    "proposed": "active", "planned": "active", "accepted": "active", "active": "active",
    "on-hold": "on-hold", "completed": "completed", "cancelled": "cancelled", "rejected": "cancelled",
}
_REFERRAL_STATUS = {
    "active": "sent", "on-hold": "sent", "unknown": "sent", "completed": "completed", "revoked": "cancelled",
}
_APPOINTMENT_STATUS = {
    "booked": "booked", "arrived": "arrived", "checked-in": "arrived", "fulfilled": "fulfilled",
    "cancelled": "cancelled", "noshow": "noshow", "proposed": "pending", "pending": "pending",
    "waitlist": "pending",
}
_ENCOUNTER_STATUS = {
    "planned": "booked", "arrived": "arrived", "triaged": "arrived", "in-progress": "arrived",
    "onleave": "arrived", "finished": "fulfilled", "cancelled": "cancelled", "unknown": "booked",
}
_RESULT_STATUS = {
    "registered": "ordered", "partial": "pending", "preliminary": "pending", "final": "resulted",
    "amended": "resulted", "corrected": "resulted", "appended": "resulted",
}
_MEDICATION_STATUS = {
    "active": "active", "on-hold": "on-hold", "stopped": "stopped", "completed": "stopped",
    "cancelled": "stopped", "entered-in-error": "stopped",
}
# SNOMED CT: Patient referral; Referral to service; Referral for further care; Patient referral to specialist.
_REFERRAL_CODES = {"3457005", "306206005", "183444007", "103696004"}
# Social-care requests (US Core SDOH category, SNOMED "Social service procedure"): referrals to a service.
_SOCIAL_SERVICE_CODES = {"sdoh", "410606002"}
_REFERRAL_WORDS = re.compile(r"\brefer(ral|red)?\b", re.IGNORECASE)
