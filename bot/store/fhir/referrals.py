"""The bundle mapper's handlers: referrals (ServiceRequests), appointments, encounters."""
from __future__ import annotations

import logging
from typing import Any, Optional

from bot.store import models as m
from bot.store.fhir.codes import (
    _APPOINTMENT_STATUS,
    _ENCOUNTER_STATUS,
    _REFERRAL_CODES,
    _REFERRAL_STATUS,
    _REFERRAL_WORDS,
    _SOCIAL_SERVICE_CODES,
    _specialty,
)
from bot.store.fhir.ids import Key, row_id
from bot.store.fhir.values import (
    _address,
    _as_date,
    _clean,
    _codings,
    _concept_text,
    _is_future,
    _primary_code,
    _ref_text,
    _TextConcept,
    _wall_clock,
)

log = logging.getLogger(__name__)

# The handlers use the mapper's state and helpers (bot/store/fhir/mapper.py, BundleMapper).
_Base: Any = object


class ReferralMixin(_Base):
    """Referrals (ServiceRequests), appointments, encounters."""

    # ---- referrals and appointments

    def _is_referral(self, request) -> bool:
        if request.performer:
            return True
        concepts = list(request.category or ()) + ([request.code] if request.code else [])
        for concept in concepts:
            for coding in concept.coding or ():
                if coding.code in _REFERRAL_CODES or coding.code in _SOCIAL_SERVICE_CODES:
                    return True
                if coding.display and _REFERRAL_WORDS.search(coding.display):
                    return True
            if concept.text and _REFERRAL_WORDS.search(concept.text):
                return True
        return False

    def _service_request(self, key: Key, request) -> Optional[str]:
        if not self._is_referral(request):
            return "skipped"  # an order for a test or procedure, not a referral
        status = _REFERRAL_STATUS.get(request.status)
        if status is None:
            return "skipped"  # a draft, or entered in error
        patient_id, refs = self.patient_for(request.subject, "subject")
        reason_concepts = list(request.reasonCode or ())
        for index, reference in enumerate(request.reasonReference or ()):
            target = self.resource(reference)
            concept = getattr(target, "code", None) if target is not None else None
            if concept is not None:
                reason_concepts.append(concept)
            elif getattr(reference, "display", None):
                reason_concepts.append(_TextConcept(reference.display))
        service = request.code
        reason_text = next((t for t in (_concept_text(c) for c in reason_concepts) if t), None)
        reason_code = next((c for c in (_primary_code(c) for c in reason_concepts) if c), None)
        if reason_text is None:
            reason_text = _concept_text(service)
            reason_code = reason_code or _primary_code(service)
        service_text = _concept_text(service)
        entry = self.reasons.find(
            [cd for c in reason_concepts for cd in _codings(c)], _codings(service),
            [t for t in [*(_concept_text(c) for c in reason_concepts), service_text] if t])
        receiving_provider, receiving_clinic = None, None
        refs = dict(refs)
        for index, performer in enumerate(request.performer or ()):
            provider_id = self.provider_for(performer)
            if provider_id and receiving_provider is None:
                receiving_provider = provider_id
                refs["receiving_provider_id"] = (f"performer[{index}]", _ref_text(performer))
            clinic_id = self.clinic_for(performer)
            if clinic_id and receiving_clinic is None:
                receiving_clinic = clinic_id
                refs["receiving_clinic_id"] = (f"performer[{index}]", _ref_text(performer))
        if receiving_clinic is None and receiving_provider is not None:
            provider_row = self.rows[m.Provider].get(receiving_provider)
            receiving_clinic = provider_row.values.get("clinic_id") if provider_row else None
        specialty = _specialty(_concept_text(request.performerType))
        if specialty is None and receiving_provider is not None:
            provider_row = self.rows[m.Provider].get(receiving_provider)
            specialty = provider_row.values.get("specialty") if provider_row else None
        if specialty is None and entry is not None:
            specialty = entry.specialty
        referring = self.provider_for(request.requester) if request.requester else None
        if referring:
            refs["referring_provider_id"] = ("requester", _ref_text(request.requester))
        occurrence_end = None
        if request.occurrencePeriod is not None:
            occurrence_end = _as_date(request.occurrencePeriod.end)
        elif request.occurrenceDateTime is not None:
            occurrence_end = _as_date(request.occurrenceDateTime)
        self.add(m.Referral, row_id("ServiceRequest", key[1]), {
            "patient_id": patient_id,
            "referring_provider_id": referring,
            "receiving_provider_id": receiving_provider,
            "receiving_clinic_id": receiving_clinic,
            "specialty": specialty,
            "reason_text": reason_text,
            "reason_code": reason_code,
            "plain_explanation": entry.plain if entry else reason_text,
            "priority": request.priority if request.priority in m.REFERRAL_PRIORITIES else "routine",
            "status": status,
            "sent_on": _as_date(request.authoredOn),
            "completed_on": occurrence_end if status == "completed" else None,
            "how_to_book": _clean(request.patientInstruction),
        }, key, refs=refs)
        return None

    def _appointment(self, key: Key, appointment) -> Optional[str]:
        status = _APPOINTMENT_STATUS.get(appointment.status)
        if status is None or appointment.start is None:
            return "skipped"  # entered in error, or not given a time yet
        patient_ref, provider_id, clinic_id, location = None, None, None, None
        refs: dict = {}
        for index, participant in enumerate(appointment.participant or ()):
            actor = participant.actor
            actor_key = self.key(actor) if actor else None
            if actor_key is None:
                continue
            if actor_key[0] == "Patient" and patient_ref is None:
                patient_ref = (actor, f"participant[{index}].actor")
            elif actor_key[0] in ("Practitioner", "PractitionerRole") and provider_id is None:
                provider_id = self.provider_for(actor)
                refs["provider_id"] = (f"participant[{index}].actor", _ref_text(actor))
                clinic_id = clinic_id or self.clinic_for(actor)
            elif actor_key[0] == "Location" and location is None:
                location = self._location_text(actor)
                clinic_id = self.clinic_for(actor)
                refs["clinic_id"] = (f"participant[{index}].actor", _ref_text(actor))
        if patient_ref is None:
            return "skipped"  # not a patient's appointment
        patient_id, patient_refs = self.patient_for(*patient_ref)
        refs.update(patient_refs)
        kind = (_concept_text(appointment.appointmentType)
                or next((t for t in (_concept_text(c) for c in appointment.serviceType or ()) if t), None)
                or _clean(appointment.description))
        specialty = next((s for s in (_specialty(_concept_text(c)) for c in appointment.specialty or ()) if s),
                         None)
        appointment_id = row_id("Appointment", key[1])
        for based_on in appointment.basedOn or ():
            based_key = self.key(based_on)
            referral = self.rows[m.Referral].get(row_id(*based_key)) if based_key else None
            if referral is None:
                continue
            referral.values["appointment_id"] = appointment_id
            if referral.values["status"] in ("sent", "received", "approved") and status == "booked":
                referral.values["status"] = "scheduled"
                referral.values["scheduled_on"] = _as_date(appointment.created)
            specialty = specialty or referral.values.get("specialty")
        self.add(m.Appointment, appointment_id, {
            "patient_id": patient_id,
            "starts_at": _wall_clock(appointment.start),
            "location": location,
            "clinic_id": clinic_id,
            "provider_id": provider_id,
            "kind": kind,
            "specialty": specialty,
            "preparation": _clean(appointment.patientInstruction),
            "status": status,
        }, key, refs=refs)
        return None

    def _location_text(self, reference) -> Optional[str]:
        key = self.key(reference)
        location = self.resources.get(key) if key else None
        if location is not None and key is not None and key[0] == "Location":
            parts = [location.name, _address(location.address) if location.address else None]
            return ", ".join(p for p in parts if p) or None
        return getattr(reference, "display", None)

    def _encounter(self, key: Key, encounter) -> Optional[str]:
        status = _ENCOUNTER_STATUS.get(encounter.status)
        start = encounter.period.start if encounter.period else None
        if status is None or start is None:
            return "skipped"
        future = _is_future(start, self.now)
        patient_id, refs = self.patient_for(encounter.subject, "subject")
        provider_id = None
        for index, participant in enumerate(encounter.participant or ()):
            if participant.individual is not None:
                provider_id = self.provider_for(participant.individual)
                if provider_id:
                    refs["provider_id"] = (f"participant[{index}].individual", _ref_text(participant.individual))
                    break
        clinic_id, location = None, None
        if encounter.location:
            location = self._location_text(encounter.location[0].location)
            clinic_id = self.clinic_for(encounter.location[0].location)
        if clinic_id is None and encounter.serviceProvider is not None:
            clinic_id = self.clinic_for(encounter.serviceProvider)
        kind = next((t for t in (_concept_text(c) for c in encounter.type or ()) if t), None)
        self.add(m.Appointment, row_id("Encounter", key[1]), {
            "patient_id": patient_id,
            "starts_at": _wall_clock(start),
            "location": location,
            "clinic_id": clinic_id,
            "provider_id": provider_id,
            "kind": kind,
            "specialty": _specialty(_concept_text(encounter.serviceType)),
            "status": status,
        }, key, mode="upsert" if future else "update", refs=refs)
        return None
