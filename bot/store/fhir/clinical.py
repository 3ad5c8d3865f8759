"""The bundle mapper's handlers: results (Observations, DiagnosticReports), medicines and conditions."""
from __future__ import annotations

import logging
from typing import Any, Optional

from bot.store import models as m
from bot.store.fhir.codes import _MEDICATION_STATUS, _RESULT_STATUS
from bot.store.fhir.ids import Key, row_id
from bot.store.fhir.mapper_rows import _Invalid
from bot.store.fhir.values import (
    _as_date,
    _clean,
    _concept_text,
    _dose_and_schedule,
    _first_code,
    _is_clinical_note,
    _observation_value,
    _primary_code,
    _ref_text,
    _reference_range,
)

log = logging.getLogger(__name__)

# The handlers use the mapper's state and helpers (bot/store/fhir/mapper.py, BundleMapper).
_Base: Any = object


class ClinicalMixin(_Base):
    """Results (Observations, DiagnosticReports), medicines and conditions."""

    # ---- results

    def _ordering_provider(self, based_on) -> Optional[str]:
        for reference in based_on or ():
            request = self.resource(reference)
            if request is not None and getattr(request, "requester", None) is not None:
                return self.provider_for(request.requester)
        return None

    def _observation(self, key: Key, observation) -> Optional[str]:
        categories = {c.code for cat in observation.category or () for c in cat.coding or ()}
        if not categories & {"laboratory", "vital-signs"}:
            return "skipped"
        status = _RESULT_STATUS.get(observation.status)
        if status is None:
            return "skipped"
        value, unit = _observation_value(observation)
        if value is None:
            return "skipped"  # no value (e.g. a data-absent reason)
        patient_id, refs = self.patient_for(observation.subject, "subject")
        effective = (observation.effectiveDateTime or observation.effectiveInstant
                     or (observation.effectivePeriod.start if observation.effectivePeriod else None))
        self.add(m.TestResult, row_id("Observation", key[1]), {
            "patient_id": patient_id,
            "name": _concept_text(observation.code) or "Test",
            "resulted_on": (_as_date(observation.issued) or _as_date(effective)) if status == "resulted" else None,
            "status": status,
            "released_to_patient": self._released(observation.status),
            "value": value,
            "unit": unit,
            "reference_range": _reference_range(observation.referenceRange),
            "ordering_provider_id": self._ordering_provider(observation.basedOn),
        }, key, refs=refs)
        return None

    def _diagnostic_report(self, key: Key, report) -> Optional[str]:
        status = _RESULT_STATUS.get(report.status)
        if status is None or _is_clinical_note(report):
            return "skipped"
        patient_id, refs = self.patient_for(report.subject, "subject")
        effective = report.effectiveDateTime or (report.effectivePeriod.start if report.effectivePeriod else None)
        self.add(m.TestResult, row_id("DiagnosticReport", key[1]), {
            "patient_id": patient_id,
            "name": _concept_text(report.code) or "Test",
            "resulted_on": (_as_date(report.issued) or _as_date(effective)) if status == "resulted" else None,
            "status": status,
            "released_to_patient": self._released(report.status),
            "value": None,
            "unit": None,
            "reference_range": None,
            "ordering_provider_id": self._ordering_provider(report.basedOn),
        }, key, refs=refs)
        return None

    def _released(self, fhir_status: Optional[str]) -> bool:
        return self.policy == "final" and fhir_status in ("final", "amended", "corrected", "appended")

    # ---- medicines and conditions

    def _medication_request(self, key: Key, request) -> Optional[str]:
        status = _MEDICATION_STATUS.get(request.status)
        if status is None or request.intent in ("proposal", "plan", "option"):
            return "skipped"
        patient_id, refs = self.patient_for(request.subject, "subject")
        name = _concept_text(request.medicationCodeableConcept)
        if name is None and request.medicationReference is not None:
            name = self._medication_name(request, request.medicationReference)
        if name is None:
            raise _Invalid("medicationReference" if request.medicationReference else "medicationCodeableConcept",
                           "the medicine has no name or code text the store could use")
        dose, schedule = _dose_and_schedule(request.dosageInstruction)
        validity = request.dispenseRequest.validityPeriod if request.dispenseRequest else None
        prescriber = self.provider_for(request.requester) if request.requester else None
        if prescriber:
            refs = {**refs, "prescriber_id": ("requester", _ref_text(request.requester))}
        self.add(m.Medication, row_id("MedicationRequest", key[1]), {
            "patient_id": patient_id,
            "name": name,
            "dose": dose,
            "schedule": schedule,
            "prescriber_id": prescriber,
            "start_date": _as_date(validity.start if validity else None) or _as_date(request.authoredOn),
            "stop_date": _as_date(validity.end if validity else None),
            "status": status,
        }, key, mode="upsert" if request.status == "active" else "update", refs=refs)
        return None

    def _medication_name(self, request, reference) -> Optional[str]:
        text = reference.reference or ""
        medication = None
        if text.startswith("#"):
            medication = next((c for c in request.contained or () if getattr(c, "id", None) == text[1:]), None)
        else:
            medication = self.resource(reference)
        if medication is not None and getattr(medication, "code", None) is not None:
            return _concept_text(medication.code)
        return _clean(reference.display)

    def _condition(self, key: Key, condition) -> Optional[str]:
        clinical = _first_code(condition.clinicalStatus)
        verification = _first_code(condition.verificationStatus)
        if verification in ("entered-in-error", "refuted") or clinical is None:
            return "skipped"
        patient_id, refs = self.patient_for(condition.subject, "subject")
        active = clinical in ("active", "recurrence", "relapse")
        onset = condition.onsetDateTime or (condition.onsetPeriod.start if condition.onsetPeriod else None)
        self.add(m.Condition, row_id("Condition", key[1]), {
            "patient_id": patient_id,
            "name": _concept_text(condition.code) or "Health problem",
            "code": _primary_code(condition.code),
            "status": "active" if active else clinical,
            "onset_date": _as_date(onset),
        }, key, mode="upsert" if active else "update", refs=refs)
        return None
