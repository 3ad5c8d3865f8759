"""Import FHIR R4 Bundles into the care-plan store.

`carenav import-fhir PATH...` (bot/cli.py, which prints the report) and tests call
:func:`import_paths`. Both take an explicit :class:`~bot.store.db.Database`.

How a bundle is read:

* The bundle's own structure is checked with the fhir.resources 6.4.0 (R4) ``Bundle`` model,
  without its resources; then every entry's resource that the store uses is validated on its own
  with ``construct_fhir_element``. An invalid resource is reported (file, type, id, field) and
  left out; everything else in the bundle is still imported. Resource types the store has no use
  for (Claim, ExplanationOfBenefit, Immunization, ...) are counted as skipped without reading, and
  so are Observations that are neither laboratory results nor vital signs and Encounters that
  ended days ago (see :func:`_not_for_the_store`).
* References are resolved both ways bundles write them: ``urn:uuid:`` fullUrls (Synthea,
  transaction bundles) and ``Type/id`` (or absolute ``.../Type/id``) references.
* Every row an import writes has the id ``fhir-<resourcetype>-<FHIR id>`` (see :func:`row_id`),
  so importing the same bundle again finds the same rows and changes nothing. Each bundle is
  written in one transaction.
* Directory rows (clinics, providers) are shared between patients' bundles: an import only adds
  to them and never blanks a value another bundle gave. Patient rows follow the bundle, except
  what the patient or clinic did in the store (a patient-reported completed step, a result the
  clinic already released or reviewed, a mobile number or language given in the store): an import
  never undoes those.

What maps where:

=====================================  ===============================================
Organization, Location                 Clinic (a Location managed by an Organization in
                                       the same bundle is folded into that clinic)
Practitioner (+ PractitionerRole)      Provider (the role gives role, specialty, clinic)
Patient                                Patient (source "fhir")
CareTeam, Patient.generalPractitioner  CareTeamMember (practitioners only)
CarePlan (+ activity), Goal            CarePlan, CareActivity, Goal
ServiceRequest that is a referral      Referral (plain explanation from
                                       bot/knowledge/referral_reasons.yml)
Appointment, Encounter in the future   Appointment
Observation (laboratory, vital signs   TestResult (released per CARENAV_FHIR_RELEASE_RESULTS)
with a value), DiagnosticReport
(not a clinical note)
MedicationRequest (active order)       Medication
Condition (active)                     Condition
=====================================  ===============================================

A MedicationRequest, Condition or past Encounter that is no longer active only updates a row an
earlier import wrote (a medicine becomes "stopped"); it creates none.

Logs carry resource ids and counts only, never names, dates of birth, values or medicines.

The package: `importer` (the run, the release policy, the command), `reading` (files, bundles),
`mapper` (one bundle: validate, map, check references, write) with its handlers per resource
family in `directory`, `plans`, `referrals` and `clinical`, `mapper_rows` (what it produces),
`writer` (writing rows), `values` and `codes` (reading FHIR values and codes), `reasons`
(referral explanations), `ids` (row ids) and `report` (what an import found).
"""
from __future__ import annotations

from bot.store.fhir.ids import row_id
from bot.store.fhir.importer import RELEASE_POLICIES, RELEASE_RESULTS_ENV, import_paths, release_policy
from bot.store.fhir.reasons import ReferralReasons, referral_reasons
from bot.store.fhir.report import (
                                     EXIT_INVALID_RESOURCES,
                                     EXIT_OK,
                                     EXIT_UNREADABLE,
                                     FileProblem,
                                     ImportReport,
                                     InvalidResource,
)

__all__ = ["row_id", "import_paths", "release_policy", "RELEASE_POLICIES", "RELEASE_RESULTS_ENV",
           "ReferralReasons", "referral_reasons", "EXIT_OK", "EXIT_INVALID_RESOURCES", "EXIT_UNREADABLE",
           "FileProblem", "ImportReport", "InvalidResource"]
