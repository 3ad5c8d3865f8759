"""What the mapper produces: rows to write (with how to write them), care-team entries, outcomes."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from bot.store import models as m
from bot.store.fhir.ids import Key

log = logging.getLogger(__name__)

class _Skip(Exception):
    """A valid resource the store has no place for (e.g. its subject is not a patient)."""


class _Invalid(Exception):
    """A resource that is valid FHIR but cannot be stored (e.g. no patient)."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field = field_path
        self.message = message



@dataclass
class _Row:
    model: type
    id: str
    values: dict
    origin: Key
    # upsert: write every value; enrich: only set values that are not None (shared directory rows);
    # update: only touch a row that already exists.
    mode: str = "upsert"
    insert_values: dict = field(default_factory=dict)  # used only when the row is new
    refs: dict = field(default_factory=dict)  # column -> (FHIR field, reference) for messages


@dataclass
class _TeamEntry:
    patient_id: str
    provider_id: str
    role: str
    active: bool
    origins: set
    refs: dict


_WRITE_ORDER = (
    m.Clinic, m.Provider, m.Patient, m.Appointment, m.CarePlan, m.Goal, m.CareActivity,
    m.Referral, m.TestResult, m.Medication, m.Condition,
)

_URN = re.compile(r"^urn:(?:uuid|oid):(.+)$")
_TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
