"""The bundle mapper's handlers: clinics, providers, the patient, medicines as resources, care teams."""
from __future__ import annotations

import logging
from typing import Any, Optional

from bot.store import models as m
from bot.store.fhir.codes import _care_role, _specialty
from bot.store.fhir.ids import Key, row_id
from bot.store.fhir.mapper_rows import _TeamEntry
from bot.store.fhir.values import (
    _address,
    _as_date,
    _concept_text,
    _ended,
    _human_name,
    _language,
    _mobile_e164,
    _phone,
    _pick_name,
    _ref_text,
)

log = logging.getLogger(__name__)

# The handlers use the mapper's state and helpers (bot/store/fhir/mapper.py, BundleMapper).
_Base: Any = object


class DirectoryMixin(_Base):
    """Clinics, providers, the patient, medicines as resources, care teams."""

    # ---- directory: clinics and providers

    def _organization(self, key: Key, org) -> Optional[str]:
        type_codes = {c.code for t in org.type or () for c in t.coding or ()}
        if type_codes & {"pay", "ins"} and "prov" not in type_codes:
            return "skipped"  # an insurer, not a place of care
        address = _address(org.address[0]) if org.address else None
        self.add(m.Clinic, row_id("Organization", key[1]), {
            "name": org.name or "Clinic",
            "area": org.address[0].city if org.address else None,
            "address": address,
            "phone": _phone(org.telecom),
        }, key, mode="enrich")
        return None

    def _location(self, key: Key, loc) -> Optional[str]:
        if loc.status == "inactive":
            return "skipped"
        managing = self.key(loc.managingOrganization) if loc.managingOrganization else None
        address = _address(loc.address) if loc.address else None
        specialties = {s for t in loc.type or () for s in [_specialty(_concept_text(t))] if s}
        org_row = self.rows[m.Clinic].get(row_id("Organization", managing[1])) if managing else None
        if org_row is not None:
            # The same place as its Organization: fold it in (one clinic, not two).
            self.location_clinic[key] = org_row.id
            for column, value in (("address", address), ("phone", _phone(loc.telecom)),
                                  ("area", loc.address.city if loc.address else None)):
                if not org_row.values.get(column) and value:
                    org_row.values[column] = value
            self.clinic_specialties[org_row.id].update(specialties)
            return None
        clinic_id = row_id("Location", key[1])
        self.location_clinic[key] = clinic_id
        self.add(m.Clinic, clinic_id, {
            "name": loc.name or "Clinic",
            "area": loc.address.city if loc.address else None,
            "address": address,
            "phone": _phone(loc.telecom),
        }, key, mode="enrich")
        self.clinic_specialties[clinic_id].update(specialties)
        return None

    def _practitioner(self, key: Key, prac) -> Optional[str]:
        self.add(m.Provider, row_id("Practitioner", key[1]), {
            "name": _human_name(prac.name, with_prefix=True) or "Care provider",
            "phone": _phone(prac.telecom),
        }, key, mode="enrich")
        return None

    def _practitioner_role(self, key: Key, role) -> Optional[str]:
        texts = [_concept_text(c) for c in (role.specialty or [])] + [_concept_text(c) for c in (role.code or [])]
        specialty = next((s for s in (_specialty(t) for t in texts) if s), None)
        care_role = _care_role(texts) or ("specialist" if specialty and specialty != "primary care" else
                                          "primary care" if specialty == "primary care" else None)
        clinic_id = None
        if role.organization is not None:
            clinic_id = self.clinic_for(role.organization)
        if clinic_id is None and role.location:
            clinic_id = self.clinic_for(role.location[0])
        if clinic_id and specialty:
            self.clinic_specialties[clinic_id].add(specialty)
        values = {"role": care_role, "specialty": specialty, "clinic_id": clinic_id}
        practitioner = self.role_practitioner.get(key)
        provider_id = row_id(*practitioner) if practitioner else row_id("PractitionerRole", key[1])
        refs = {"clinic_id": ("organization", _ref_text(role.organization))}
        existing = self.rows[m.Provider].get(provider_id)
        if existing is not None and existing.origin[0] == "Practitioner":
            for column, value in values.items():
                if value is not None:
                    existing.values[column] = value
            if not existing.values.get("phone"):
                existing.values["phone"] = _phone(role.telecom)
            existing.refs.update(refs)
            return None
        display = getattr(role.practitioner, "display", None) if role.practitioner else None
        values["phone"] = _phone(role.telecom)
        self.add(m.Provider, provider_id, values, key, mode="enrich", refs=refs,
                 insert_values={"name": display or next((t for t in texts if t), None) or "Care provider"})
        return None

    # ---- the patient

    def _patient(self, key: Key, patient) -> Optional[str]:
        name = _pick_name(patient.name)
        given = " ".join(name.given or []) if name else ""
        family = (name.family or "") if name else ""
        if name and not given and not family and name.text:
            given = name.text
        mrn = None
        for ident in patient.identifier or ():
            codes = {c.code for c in (ident.type.coding or ())} if ident.type else set()
            if "MR" in codes and ident.value:
                mrn = ident.value
                break
        patient_id = row_id("Patient", key[1])
        self.patient_ids.append(patient_id)
        self.add(m.Patient, patient_id, {
            "mrn": mrn,
            "given_name": given,
            "family_name": family,
            "birth_date": _as_date(patient.birthDate),
            "mobile_phone": _mobile_e164(patient.telecom),
            "preferred_language": _language(patient.communication),
            "source": "fhir",
        }, key)
        for gp in patient.generalPractitioner or ():
            provider_id = self.provider_for(gp)
            if provider_id:
                self._team_member(key, patient_id, provider_id, "primary care", True,
                                  {"patient_id": ("id", f"Patient/{key[1]}"),
                                   "provider_id": ("generalPractitioner", _ref_text(gp))})
        return None

    def _medication(self, key: Key, medication) -> Optional[str]:
        return "skipped"  # read for its name by the MedicationRequests that refer to it

    # ---- care team

    def _team_member(self, origin: Key, patient_id: str, provider_id: str, role: str, active: bool,
                     refs: dict) -> None:
        team_key = (patient_id, provider_id, role)
        entry = self.team.get(team_key)
        if entry is None:
            self.team[team_key] = _TeamEntry(patient_id, provider_id, role, active, {origin}, refs)
        else:
            entry.active = entry.active or active
            entry.origins.add(origin)

    def _care_team(self, key: Key, team) -> Optional[str]:
        if team.status == "entered-in-error":
            return "skipped"
        patient_id, refs = self.patient_for(team.subject, "subject")
        team_active = team.status == "active" and not _ended(team.period, self.now)
        added = False
        for index, participant in enumerate(team.participant or ()):
            member_key = self.key(participant.member) if participant.member else None
            if member_key is None or member_key[0] not in ("Practitioner", "PractitionerRole"):
                continue  # the patient, a relative or an organization: not a provider
            provider_id = self.provider_for(participant.member)
            if provider_id is None:
                continue
            texts = [_concept_text(r) for r in participant.role or ()]
            provider_row = self.rows[m.Provider].get(provider_id)
            role = (_care_role(texts) or (provider_row.values.get("role") if provider_row else None)
                    or "primary care")
            active = team_active and not _ended(participant.period, self.now)
            self._team_member(key, patient_id, provider_id, role, active, {
                **refs, "provider_id": (f"participant[{index}].member", _ref_text(participant.member))})
            added = True
        return None if added else "skipped"
