"""Import FHIR R4 Bundles into the care-plan store.

`carenav import-fhir PATH...` calls :func:`run_import_command`; code and tests call
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
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, TextIO, Union

import yaml
from fhir.resources import construct_fhir_element
from fhir.resources.bundle import Bundle
from pydantic import ValidationError
from sqlalchemy import String, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from bot.store import models as m
from bot.store.db import Database, error_reason

log = logging.getLogger(__name__)

RELEASE_RESULTS_ENV = "CARENAV_FHIR_RELEASE_RESULTS"
RELEASE_POLICIES = {
    "final": "final and amended results are released to the patient",
    "none": "imported results stay unreleased until the clinic releases them",
}
REFERRAL_REASONS_PATH = Path(__file__).resolve().parent.parent / "knowledge" / "referral_reasons.yml"

# Resource types the importer reads and validates; every other type is counted as skipped.
MAPPED_TYPES = (
    "Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Medication",
    "CareTeam", "CarePlan", "Goal", "ServiceRequest", "Appointment", "Encounter",
    "Observation", "DiagnosticReport", "MedicationRequest", "Condition",
)

OUTCOMES = ("imported", "skipped", "invalid")

# Exit codes of `carenav import-fhir`.
EXIT_OK = 0
EXIT_INVALID_RESOURCES = 1
EXIT_UNREADABLE = 2

_ID_LENGTH = 64


def row_id(resource_type: str, fhir_id: str) -> str:
    """The store id of the row a FHIR resource becomes: ``fhir-<resourcetype>-<id>``.

    Prefixed with the type because FHIR ids are only unique per type, and several types share a
    table (Organization and Location are clinics). Ids too long for the column are hashed.
    """
    prefix = f"fhir-{resource_type.lower()}-"
    candidate = prefix + fhir_id
    if len(candidate) <= _ID_LENGTH:
        return candidate
    return prefix + hashlib.sha1(fhir_id.encode("utf-8")).hexdigest()[: _ID_LENGTH - len(prefix)]


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class InvalidResource:
    """One problem with one resource: printed as ``FILE: Type/id: field.path: message``."""

    file: str
    resource_type: str
    resource_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.resource_type}/{self.resource_id}: {self.field}: {self.message}"


@dataclass(frozen=True)
class FileProblem:
    """A file that could not be imported at all (missing, not JSON, not a Bundle, store error)."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: counts per resource type, invalid resources, unreadable files."""

    skip_invalid: bool = False
    files: list[str] = field(default_factory=list)
    bundles_imported: int = 0
    bytes_read: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    invalid: list[InvalidResource] = field(default_factory=list)
    file_problems: list[FileProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, resource_type: str, outcome: str, n: int = 1) -> None:
        per_type = self.counts.setdefault(resource_type, {o: 0 for o in OUTCOMES})
        per_type[outcome] += n

    def total(self, outcome: str) -> int:
        return sum(c[outcome] for c in self.counts.values())

    @property
    def invalid_resources(self) -> int:
        """How many resources were invalid (a resource with several problems counts once)."""
        return self.total("invalid")

    @property
    def exit_code(self) -> int:
        if self.file_problems:
            return EXIT_UNREADABLE
        if self.invalid and not self.skip_invalid:
            return EXIT_INVALID_RESOURCES
        return EXIT_OK

    def summary_table(self) -> str:
        rows = sorted(self.counts.items())
        width = max([len("resource type"), len("total")] + [len(t) for t, _ in rows])
        header = f"{'resource type':<{width}}  {'imported':>8}  {'skipped':>8}  {'invalid':>8}"
        lines = [header, "-" * len(header)]
        for resource_type, c in rows:
            lines.append(f"{resource_type:<{width}}  {c['imported']:>8}  {c['skipped']:>8}  {c['invalid']:>8}")
        lines.append("-" * len(header))
        lines.append(f"{'total':<{width}}  {self.total('imported'):>8}  {self.total('skipped'):>8}  "
                     f"{self.total('invalid'):>8}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Public API


def release_policy(value: Optional[str] = None) -> str:
    """The clinic's result-release setting: the argument, else CARENAV_FHIR_RELEASE_RESULTS, else final."""
    raw = value if value is not None else os.environ.get(RELEASE_RESULTS_ENV, "")
    policy = (raw or "final").strip().lower()
    if policy not in RELEASE_POLICIES:
        choices = ", ".join(f"'{p}' ({why})" for p, why in RELEASE_POLICIES.items())
        raise ValueError(f"{RELEASE_RESULTS_ENV}={raw!r} is not a release setting; use {choices}")
    return policy


def import_paths(
    db: Database,
    paths: Iterable[Union[str, Path]],
    skip_invalid: bool = False,
    show_progress: bool = False,
    release_results: Optional[str] = None,
) -> ImportReport:
    """Import every Bundle in ``paths`` (files, or folders searched for ``*.json``) into ``db``.

    Each bundle is written in its own transaction. Problems are collected in the report rather
    than raised; ``report.exit_code`` says how the command should exit. ``release_results``
    overrides CARENAV_FHIR_RELEASE_RESULTS ("final" or "none"); a bad value raises ValueError.
    """
    policy = release_policy(release_results)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    report = ImportReport(skip_invalid=skip_invalid)
    files, problems = _bundle_files(paths)
    report.file_problems.extend(problems)
    reasons = referral_reasons()
    progress = _progress(files, show_progress)
    try:
        for number, path in enumerate(progress, start=1):
            label = str(path)
            report.files.append(label)
            _import_file(db, path, label, number, report, policy, reasons)
    finally:
        if hasattr(progress, "close"):
            progress.close()
    log.info("FHIR import: %d of %d bundles imported, %d resources imported, %d invalid",
             report.bundles_imported, len(files), report.total("imported"), report.invalid_resources)
    return report


def run_import_command(
    db: Database,
    paths: Sequence[Union[str, Path]],
    skip_invalid: bool = False,
    show_progress: bool = True,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """`carenav import-fhir`: import, print the problems and a summary table, return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        report = import_paths(db, paths, skip_invalid=skip_invalid, show_progress=show_progress)
    except ValueError as exc:
        print(f"carenav import-fhir: {exc}", file=err)
        return EXIT_UNREADABLE
    for problem in report.invalid:
        print(problem, file=err)
    for warning in report.warnings:
        print(f"warning: {warning}", file=err)
    for file_problem in report.file_problems:
        print(f"carenav import-fhir: {file_problem}", file=err)
    print(report.summary_table(), file=out)
    print(f"{report.bundles_imported} of {len(report.files)} bundle file(s) imported into {db.safe_url}",
          file=out)
    if report.file_problems:
        names = ", ".join(sorted({p.file for p in report.file_problems}))
        print(f"carenav import-fhir: {len({p.file for p in report.file_problems})} file(s) could not be "
              f"imported: {names}", file=err)
    if report.invalid:
        bad_files = len({p.file for p in report.invalid})
        what = (f"carenav import-fhir: {report.invalid_resources} invalid resource(s) in {bad_files} file(s) "
                "were left out (listed above); the rest of each bundle was imported.")
        if skip_invalid:
            print(what + " Accepted because of --skip-invalid.", file=err)
        else:
            print(what + " Fix them and import again, or pass --skip-invalid to accept the import "
                  "without them.", file=err)
    return report.exit_code


@lru_cache(maxsize=4)
def referral_reasons(path: Union[str, Path] = REFERRAL_REASONS_PATH) -> "ReferralReasons":
    """The curated referral-reason map (bot/knowledge/referral_reasons.yml), loaded once."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return ReferralReasons(data.get("reasons") or [])


# --------------------------------------------------------------------------------------------
# Referral reasons

SNOMED = "http://snomed.info/sct"
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")


@dataclass(frozen=True)
class ReasonEntry:
    id: str
    plain: str
    specialty: Optional[str]
    snomed: frozenset
    icd10: tuple
    keywords: tuple


class ReferralReasons:
    """Looks up a plain-language explanation for a referral by code, then by keyword."""

    def __init__(self, entries: list[dict]) -> None:
        self.entries: list[ReasonEntry] = []
        for raw in entries:
            self.entries.append(ReasonEntry(
                id=str(raw["id"]),
                plain=" ".join(str(raw["plain"]).split()),
                specialty=raw.get("specialty"),
                snomed=frozenset(str(c) for c in raw.get("snomed") or ()),
                icd10=tuple(str(c).upper() for c in raw.get("icd10") or ()),
                keywords=tuple(str(k).lower() for k in raw.get("keywords") or ()),
            ))
        self._patterns = {
            e.id: [re.compile(r"\b" + re.escape(k) + r"\b") for k in e.keywords] for e in self.entries
        }

    def by_codes(self, codings: Iterable[tuple[Optional[str], Optional[str]]]) -> Optional[ReasonEntry]:
        """The entry for the first coding that any entry knows (SNOMED exact, ICD-10 longest prefix)."""
        for system, code in codings:
            if not code:
                continue
            code_up = code.upper()
            if system in (None, SNOMED) or not system:
                for entry in self.entries:
                    if code in entry.snomed:
                        return entry
            if system in ICD10_SYSTEMS or (system is None and re.match(r"^[A-Z]\d", code_up)):
                best, best_len = None, 0
                for entry in self.entries:
                    for prefix in entry.icd10:
                        if code_up.startswith(prefix) and len(prefix) > best_len:
                            best, best_len = entry, len(prefix)
                if best is not None:
                    return best
        return None

    def by_keywords(self, text: Optional[str]) -> Optional[ReasonEntry]:
        if not text:
            return None
        lowered = text.lower()
        best, best_score = None, (0, 0)
        for entry in self.entries:
            hits = [k for k, pattern in zip(entry.keywords, self._patterns[entry.id]) if pattern.search(lowered)]
            if hits:
                score = (len(hits), max(len(k) for k in hits))
                if score > best_score:
                    best, best_score = entry, score
        return best

    def find(self, reason_codings, service_codings, texts: Sequence[Optional[str]]) -> Optional[ReasonEntry]:
        return (self.by_codes(reason_codings) or self.by_codes(service_codings)
                or next((e for e in (self.by_keywords(t) for t in texts) if e), None))


# --------------------------------------------------------------------------------------------
# Reading files


def _bundle_files(paths: Iterable[Union[str, Path]]) -> tuple[list[Path], list[FileProblem]]:
    files: list[Path] = []
    problems: list[FileProblem] = []
    seen: set = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                problems.append(FileProblem(str(path), "no *.json files in this folder"))
        elif path.is_file():
            found = [path]
        elif path.exists():
            problems.append(FileProblem(str(path), "not a file or folder"))
            continue
        else:
            problems.append(FileProblem(str(path), "no such file or folder"))
            continue
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, problems


def _progress(files: list[Path], show: bool):
    if not show or not files:
        return files
    from tqdm import tqdm

    return tqdm(files, desc="importing FHIR bundles", unit="bundle", file=sys.stderr, leave=True)


def _read_bundle(path: Path, report: ImportReport, label: str) -> Optional[dict]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.file_problems.append(FileProblem(label, f"cannot read the file: {exc.strerror or exc}"))
        return None
    report.bytes_read += len(data)
    try:
        bundle = json.loads(data)
    except UnicodeDecodeError:
        report.file_problems.append(FileProblem(label, "not UTF-8 text, so not a FHIR JSON Bundle"))
        return None
    except json.JSONDecodeError as exc:
        report.file_problems.append(FileProblem(
            label, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"))
        return None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        found = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        report.file_problems.append(FileProblem(
            label, f"not a FHIR Bundle (resourceType is {found!r}, expected 'Bundle')"))
        return None
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        report.file_problems.append(FileProblem(label, "not a valid FHIR R4 Bundle: entry: not a list"))
        return None
    if not all(isinstance(e, dict) for e in entries):
        report.file_problems.append(FileProblem(label, "not a valid FHIR R4 Bundle: entry: not a list of objects"))
        return None
    # The bundle's own fields, checked without its entries (each resource is checked on its own).
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    try:
        Bundle.parse_obj(shell)
    except ValidationError as exc:
        first = exc.errors()[0]
        report.file_problems.append(FileProblem(
            label, f"not a valid FHIR R4 Bundle: {_field_path(first['loc'])}: {first['msg']}"))
        return None
    return bundle


def _field_path(loc: Sequence[Any]) -> str:
    path = ""
    for part in loc:
        if part == "__root__":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "(resource)"


# --------------------------------------------------------------------------------------------
# One bundle


class _Skip(Exception):
    """A valid resource the store has no place for (e.g. its subject is not a patient)."""


class _Invalid(Exception):
    """A resource that is valid FHIR but cannot be stored (e.g. no patient)."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field = field_path
        self.message = message


Key = tuple  # (resourceType, id)


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


def _import_file(db, path: Path, label: str, number: int, report: ImportReport, policy: str,
                 reasons: ReferralReasons) -> None:
    raw = _read_bundle(path, report, label)
    if raw is None:
        return
    mapper = _BundleMapper(raw, label, policy, reasons)
    try:
        with db.session() as session:
            mapper.run(session)
    except SQLAlchemyError as exc:
        reason = error_reason(exc)
        report.file_problems.append(FileProblem(label, f"could not be written to the store: {reason}"))
        log.error("FHIR import: bundle %d not written (%s)", number, type(exc).__name__)
        return
    report.bundles_imported += 1
    for (resource_type, _fid), outcome in mapper.outcomes.items():
        report.count(resource_type, outcome)
    for resource_type, n in mapper.unread.items():
        report.count(resource_type, "skipped", n)
    report.invalid.extend(mapper.problems)
    report.warnings.extend(mapper.warnings)
    log.info("FHIR import: bundle %d (patients %s): %d imported, %d skipped, %d invalid", number,
             ",".join(mapper.patient_ids) or "-",
             sum(1 for o in mapper.outcomes.values() if o == "imported"),
             sum(1 for o in mapper.outcomes.values() if o == "skipped") + sum(mapper.unread.values()),
             sum(1 for o in mapper.outcomes.values() if o == "invalid"))


class _BundleMapper:
    """Validates one bundle's resources, maps them to rows, checks references, writes the rows."""

    def __init__(self, bundle: dict, label: str, policy: str, reasons: ReferralReasons) -> None:
        self.label = label
        self.policy = policy
        self.reasons = reasons
        self.by_url: dict[str, Key] = {}
        self.resources: dict[Key, Any] = {}
        self.by_type: dict[str, list] = defaultdict(list)
        self.unread: dict[str, int] = defaultdict(int)
        self.outcomes: dict[Key, str] = {}
        self.problems: list[InvalidResource] = []
        self.warnings: list[str] = []
        self.rows: dict[Any, dict[str, _Row]] = defaultdict(dict)
        self.team: dict[tuple, _TeamEntry] = {}
        self.clinic_specialties: dict[str, set] = defaultdict(set)
        self.location_clinic: dict[Key, str] = {}
        self.role_practitioner: dict[Key, Key] = {}
        self.goal_plan: dict[Key, str] = {}
        self.now = datetime.now(timezone.utc)
        self.patient_ids: list[str] = []
        self.bundle = bundle

    # ---- parsing and references

    def _parse(self, bundle: dict, session) -> None:
        entries = bundle.get("entry") or []
        # Past encounters only update a visit an earlier import stored: look those up once, and
        # leave the others unread (a bundle holds hundreds of them).
        encounter_ids = [row_id("Encounter", str(e["resource"].get("id"))) for e in entries
                         if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Encounter"]
        stored_visits = _existing_ids(session, m.Appointment.__tablename__, set(encounter_ids))
        cutoff = (self.now.date() - timedelta(days=2)).isoformat()
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if resource is None:
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self._problem(("?", f"entry[{index}]"), f"entry[{index}].resource.resourceType",
                              "missing: not a FHIR resource")
                continue
            resource_type = resource["resourceType"]
            full_url = entry.get("fullUrl")
            fhir_id = resource.get("id")
            if not fhir_id and isinstance(full_url, str):
                urn = _URN.match(full_url)
                fhir_id = urn.group(1) if urn else full_url.rstrip("/").rsplit("/", 1)[-1]
            if resource_type not in MAPPED_TYPES or _not_for_the_store(resource, cutoff, stored_visits):
                self.unread[resource_type] += 1
                if fhir_id and isinstance(full_url, str):
                    self.by_url[full_url] = (resource_type, str(fhir_id))
                continue
            if not fhir_id:
                self._problem((resource_type, f"entry[{index}]"), "id",
                              "the resource has no id and no fullUrl to identify it by")
                continue
            key = (resource_type, str(fhir_id))
            if isinstance(full_url, str):
                self.by_url[full_url] = key
            try:
                parsed = construct_fhir_element(resource_type, resource)
            except ValidationError as exc:
                for error in exc.errors():
                    self._problem(key, _field_path(error["loc"]), error["msg"], count=False)
                self.outcomes[key] = "invalid"
                log.info("FHIR import: invalid %s/%s (%s)", key[0], key[1],
                            ", ".join(_field_path(e["loc"]) for e in exc.errors()))
                continue
            except (LookupError, ValueError, TypeError) as exc:
                self._problem(key, "(resource)", str(exc))
                continue
            self.resources[key] = parsed
            self.by_type[resource_type].append((key, parsed))
            if resource_type == "PractitionerRole" and parsed.practitioner is not None:
                target = self.key(parsed.practitioner)
                if target and target[0] == "Practitioner":
                    self.role_practitioner[key] = target

    def key(self, reference) -> Optional[Key]:
        text = reference if isinstance(reference, str) else getattr(reference, "reference", None)
        if not text:
            return None
        if text in self.by_url:
            return self.by_url[text]
        found = _TYPE_ID.search(text)
        if found:
            return (found.group(1), found.group(2))
        return None

    def _problem(self, key: Key, field_path: str, message: str, count: bool = True) -> None:
        self.problems.append(InvalidResource(self.label, key[0], key[1], field_path, message))
        if count:
            self.outcomes[key] = "invalid"

    # ---- references to rows

    def patient_for(self, reference, field_path: str) -> tuple[str, dict]:
        """The patient row a subject refers to; a subject that is not a patient skips the resource."""
        if reference is None:
            raise _Skip()
        key = self.key(reference)
        if key is None:
            raise _Invalid(field_path, f"cannot resolve the reference {_ref_text(reference)!r} in this bundle")
        if key[0] != "Patient":
            raise _Skip()
        return row_id("Patient", key[1]), {"patient_id": (field_path, f"Patient/{key[1]}")}

    def resource(self, reference):
        """The bundle's resource a reference points at, or None."""
        key = self.key(reference)
        return self.resources.get(key) if key is not None else None

    def provider_for(self, reference) -> Optional[str]:
        key = self.key(reference)
        if key is None:
            return None
        if key[0] == "PractitionerRole":
            key = self.role_practitioner.get(key, key)
        if key[0] not in ("Practitioner", "PractitionerRole"):
            return None
        provider_id = row_id(key[0], key[1])
        display = getattr(reference, "display", None)
        if key not in self.resources and display and provider_id not in self.rows[m.Provider]:
            # Known only by a reference's display name: a stub row that a later import of the
            # Practitioner fills in (and that never overwrites one already in the store).
            self.rows[m.Provider][provider_id] = _Row(
                m.Provider, provider_id, {}, key, mode="enrich", insert_values={"name": display})
        return provider_id

    def provider_name(self, reference) -> Optional[str]:
        provider_id = self.provider_for(reference)
        row = self.rows[m.Provider].get(provider_id) if provider_id else None
        if row is not None:
            return row.values.get("name") or row.insert_values.get("name")
        return getattr(reference, "display", None)

    def clinic_for(self, reference) -> Optional[str]:
        key = self.key(reference)
        if key is None:
            return None
        if key[0] == "Location":
            return self.location_clinic.get(key, row_id("Location", key[1]))
        if key[0] == "Organization":
            return row_id("Organization", key[1])
        if key[0] == "PractitionerRole":
            role = self.resources.get(key)
            if role is not None and role.organization is not None:
                return self.clinic_for(role.organization)
        return None

    def add(self, model: type, rid: str, values: dict, origin: Key, mode: str = "upsert",
            refs: Optional[dict] = None, insert_values: Optional[dict] = None) -> _Row:
        row = _Row(model, rid, values, origin, mode=mode, refs=refs or {}, insert_values=insert_values or {})
        self.rows[model][rid] = row
        return row

    # ---- the run

    def run(self, session) -> None:
        self._parse(self.bundle, session)
        handlers = (
            ("Organization", self._organization), ("Location", self._location),
            ("Practitioner", self._practitioner), ("PractitionerRole", self._practitioner_role),
            ("Patient", self._patient), ("Medication", self._medication),
            ("CareTeam", self._care_team), ("CarePlan", self._care_plan), ("Goal", self._goal),
            ("ServiceRequest", self._service_request), ("Appointment", self._appointment),
            ("Encounter", self._encounter), ("Observation", self._observation),
            ("DiagnosticReport", self._diagnostic_report),
            ("MedicationRequest", self._medication_request), ("Condition", self._condition),
        )
        for _key, plan in self.by_type.get("CarePlan", ()):
            for goal in plan.goal or ():
                goal_key = self.key(goal)
                if goal_key:
                    self.goal_plan[goal_key] = row_id("CarePlan", _key[1])
        for resource_type, handler in handlers:
            for key, resource in self.by_type.get(resource_type, ()):
                try:
                    outcome = handler(key, resource)
                except _Skip:
                    self._drop_origin(key)
                    outcome = "skipped"
                except _Invalid as exc:
                    self._drop_origin(key)
                    self._problem(key, exc.field, exc.message)
                    continue
                self.outcomes[key] = outcome or "imported"
        for clinic_id, specialties in self.clinic_specialties.items():
            row = self.rows[m.Clinic].get(clinic_id)
            if row is not None and specialties:
                row.values["specialties"] = ",".join(sorted(specialties))
        self._check_references(session)
        self._check_mrns(session)
        touched = self._write(session)
        for row_list in self.rows.values():
            for row in row_list.values():
                if row.mode == "update" and self.outcomes.get(row.origin) == "imported" \
                        and row.origin not in touched:
                    self.outcomes[row.origin] = "skipped"

    def _drop_origin(self, key: Key) -> None:
        for rows in self.rows.values():
            for rid in [rid for rid, row in rows.items() if row.origin == key]:
                del rows[rid]
        for team_key in [k for k, e in self.team.items() if key in e.origins]:
            entry = self.team[team_key]
            entry.origins.discard(key)
            if not entry.origins:
                del self.team[team_key]

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

    # ---- checking and writing

    def _check_references(self, session) -> None:
        """Keep only references to rows that exist; a row whose patient is unknown is invalid."""
        for rows in self.rows.values():
            for rid in [rid for rid, r in rows.items() if self.outcomes.get(r.origin) == "invalid"]:
                del rows[rid]  # e.g. a stub for a practitioner whose own resource was invalid
        planned = {model.__tablename__: {rid for rid, r in rows.items() if r.mode != "update"}
                   for model, rows in self.rows.items()}
        wanted: dict[str, set] = defaultdict(set)
        fks = {model: _foreign_keys(model) for model in (*_WRITE_ORDER, m.CareTeamMember)}
        for model in _WRITE_ORDER:
            for row in self.rows.get(model, {}).values():
                for column, table in fks[model].items():
                    value = row.values.get(column)
                    if value is not None and value not in planned.get(table, ()):
                        wanted[table].add(value)
        for entry in self.team.values():
            for column, table in fks[m.CareTeamMember].items():
                value = getattr(entry, column)
                if value not in planned.get(table, ()):
                    wanted[table].add(value)
        in_store = {table: _existing_ids(session, table, ids) for table, ids in wanted.items()}

        def exists(table: str, value: str) -> bool:
            return value in planned.get(table, ()) or value in in_store.get(table, ())

        for model in _WRITE_ORDER:
            for row in list(self.rows.get(model, {}).values()):
                if self.outcomes.get(row.origin) == "invalid":
                    continue
                for column, table in fks[model].items():
                    value = row.values.get(column)
                    if value is None or exists(table, value):
                        continue
                    if model.__table__.c[column].nullable:
                        row.values[column] = None  # refers to something neither here nor in the store
                        continue
                    where, ref = row.refs.get(column, (column, value))
                    self._drop_origin(row.origin)
                    planned.get(model.__tablename__, set()).discard(row.id)
                    self._problem(row.origin, where,
                                  f"refers to {ref}, which is neither in this bundle nor in the store")
                    break
        for team_key, entry in list(self.team.items()):
            for column, table in fks[m.CareTeamMember].items():
                if not exists(table, getattr(entry, column)):
                    where, ref = entry.refs.get(column, (column, getattr(entry, column)))
                    if column == "patient_id":
                        for origin in list(entry.origins):
                            self._drop_origin(origin)
                            self._problem(origin, where,
                                          f"refers to {ref}, which is neither in this bundle nor in the store")
                    else:
                        self.team.pop(team_key, None)
                    break

    def _check_mrns(self, session) -> None:
        """An MRN another patient already has is left off (the column is unique) with a warning."""
        patients = self.rows.get(m.Patient, {})
        mrns = {row.values["mrn"]: row for row in patients.values() if row.values.get("mrn")}
        if not mrns:
            return
        taken = {}
        for chunk in _chunks(list(mrns)):
            statement = select(m.Patient.id, m.Patient.mrn).where(m.Patient.mrn.in_(_IDS))
            for pid, mrn in session.execute(statement, {"ids": chunk}):
                taken[mrn] = pid
        seen: dict[str, str] = {}
        for row in patients.values():
            mrn = row.values.get("mrn")
            if not mrn:
                continue
            owner = taken.get(mrn, seen.get(mrn))
            if owner is not None and owner != row.id:
                row.values["mrn"] = None
                self.warnings.append(f"{self.label}: Patient/{row.origin[1]}: identifier: the medical record "
                                     f"number already belongs to patient {owner} in the store; imported "
                                     "without it")
            else:
                seen[mrn] = row.id

    def _write(self, session) -> set:
        """Insert new rows and update changed ones, table by table in foreign-key order.

        Returns the origins of rows that already existed (an update-only row that did not exist
        leaves its resource skipped). Plain Core statements: one SELECT per table, one
        executemany INSERT per table, an UPDATE only for a row whose values changed.
        """
        touched: set = set()
        for model in _WRITE_ORDER:
            rows = self.rows.get(model)
            if not rows:
                continue
            table = model.__table__
            rows = {rid: r for rid, r in rows.items() if self.outcomes.get(r.origin) != "invalid"}
            existing = {}
            for chunk in _chunks(list(rows)):
                for current in session.execute(select(table).where(table.c.id.in_(_IDS)), {"ids": chunk}):
                    existing[current.id] = dict(current._mapping)
            inserts = []
            for rid, row in rows.items():
                current = existing.get(rid)
                if current is None:
                    if row.mode != "update":
                        inserts.append(_insert_values(model, rid, {**row.insert_values, **row.values}))
                    continue
                touched.add(row.origin)
                values = _fit(model, row.values)
                if row.mode == "enrich":
                    values = {k: v for k, v in values.items() if v is not None}
                _keep_store_state(model, current, values)
                changed = {k: v for k, v in values.items() if current[k] != v}
                if changed:
                    session.execute(table.update().where(table.c.id == rid).values(**changed))
            if inserts:
                session.execute(table.insert(), inserts)
        self._write_team(session)
        return touched

    def _write_team(self, session) -> None:
        if not self.team:
            return
        table = m.CareTeamMember.__table__
        patient_ids = sorted({e.patient_id for e in self.team.values()})
        existing = {}
        for chunk in _chunks(patient_ids):
            for member in session.execute(select(table).where(table.c.patient_id.in_(_IDS)),
                                          {"ids": chunk}):
                existing[(member.patient_id, member.provider_id, member.role)] = member
        inserts = []
        for team_key, entry in self.team.items():
            member = existing.get(team_key)
            if member is None:
                inserts.append({"patient_id": entry.patient_id, "provider_id": entry.provider_id,
                                "role": entry.role, "active": entry.active, "can_message": False})
            elif member.active != entry.active:
                session.execute(table.update().where(table.c.id == member.id).values(active=entry.active))
        if inserts:
            session.execute(table.insert(), inserts)


def _not_for_the_store(resource: dict, cutoff: str, stored_visits: set) -> bool:
    """Resources of a mapped type that the store certainly has no use for, told from the raw JSON.

    Such resources are counted as skipped without being read (like Claims), which keeps a
    500 kB bundle well under 50 ms: Observations that are neither laboratory results nor vital
    signs, and Encounters that ended days ago and were never stored as a coming visit. Anything
    of an unexpected shape is read and validated as usual.
    """
    resource_type = resource.get("resourceType")
    try:
        if resource_type == "Observation":
            codes = {c.get("code") for cc in resource.get("category") or [] for c in cc.get("coding") or []}
            return bool(codes) and not codes & {"laboratory", "vital-signs"}
        if resource_type == "Encounter":
            start = (resource.get("period") or {}).get("start")
            return (isinstance(start, str) and len(start) >= 10 and start[:10] < cutoff
                    and row_id("Encounter", str(resource.get("id"))) not in stored_visits)
    except (AttributeError, TypeError):
        return False
    return False


# --------------------------------------------------------------------------------------------
# Store helpers


@lru_cache(maxsize=None)
def _foreign_keys(model: Any) -> dict[str, str]:
    return {column.name: next(iter(column.foreign_keys)).column.table.name
            for column in model.__table__.columns if column.foreign_keys}


@lru_cache(maxsize=None)
def _string_lengths(model: Any) -> dict[str, int]:
    return {column.name: column.type.length for column in model.__table__.columns
            if isinstance(column.type, String) and column.type.length}


def _fit(model: Any, values: dict) -> dict:
    """Cut strings to their column's length (PostgreSQL refuses longer ones)."""
    lengths = _string_lengths(model)
    fitted = {}
    for column, value in values.items():
        limit = lengths.get(column)
        if limit and isinstance(value, str) and len(value) > limit:
            value = value[: limit - 1].rstrip() + "\u2026"
        fitted[column] = value
    return fitted


# An expanding IN parameter keeps the statements cacheable (a literal IN list is compiled each time).
_IDS = bindparam("ids", expanding=True)

_TABLES = {model.__tablename__: model for model in (*_WRITE_ORDER, m.CareTeamMember)}


def _existing_ids(session, table: str, ids: set) -> set:
    model = _TABLES[table]
    found: set = set()
    for chunk in _chunks(sorted(ids)):
        found.update(session.execute(select(model.id).where(model.id.in_(_IDS)), {"ids": chunk}).scalars())
    return found


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert_values(model: Any, rid: str, values: dict) -> dict:
    """Every column of a new row (the same keys for each row, for one executemany INSERT)."""
    fitted = _fit(model, values)
    row: dict[str, Any] = {}
    for column in model.__table__.columns:
        if column.name == "id":
            row["id"] = rid
            continue
        value = fitted.get(column.name)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        row[column.name] = value
    return row


def _keep_store_state(model: type, current: dict, values: dict) -> None:
    """Do not let a re-import undo what patients or the clinic did in the store."""
    if model is m.Patient:
        for column in ("mobile_phone", "preferred_language"):
            if values.get(column) is None:
                values.pop(column, None)
    elif model is m.CareActivity:
        if current["status"] == "completed" and values.get("status") in m.OPEN_ACTIVITY_STATUSES:
            for column in ("status", "completion_source"):
                values.pop(column, None)
    elif model is m.TestResult:
        if current["status"] == "reviewed":
            values.pop("status", None)
        if current["released_to_patient"]:
            values.pop("released_to_patient", None)
    elif model is m.Clinic and values.get("specialties"):
        merged = {s.strip() for s in (current["specialties"] or "").split(",") if s.strip()}
        merged |= {s for s in values["specialties"].split(",") if s}
        values["specialties"] = ",".join(sorted(merged))


# --------------------------------------------------------------------------------------------
# FHIR value helpers

_SEMANTIC_TAG = re.compile(
    r"\s*\((?:disorder|procedure|finding|situation|regime/therapy|observable entity|qualifier value|"
    r"occupation|record artifact|person|morphologic abnormality|body structure|substance|"
    r"physical object|environment|event|product|medicinal product)\)\s*$",
    re.IGNORECASE,
)


def _clean(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    cleaned = _SEMANTIC_TAG.sub("", " ".join(str(text).split())).strip()
    return cleaned or None


class _TextConcept:
    """A reason known only by a reference's display text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.coding: list = []


def _concept_text(concept, require_words: bool = False) -> Optional[str]:
    if concept is None:
        return None
    if concept.text:
        return _clean(concept.text)
    for coding in concept.coding or ():
        if coding.display:
            return _clean(coding.display)
    if require_words:
        return None
    return next((c.code for c in concept.coding or () if c.code), None)


def _codings(concept) -> list[tuple[Optional[str], Optional[str]]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in concept.coding or ()]


def _first_code(concept) -> Optional[str]:
    if concept is None:
        return None
    return next((c.code for c in concept.coding or () if c.code), None)


def _primary_code(concept) -> Optional[str]:
    """The SNOMED or ICD-10 code when there is one, else the first code."""
    codings = _codings(concept)
    for system, code in codings:
        if code and (system == SNOMED or system in ICD10_SYSTEMS):
            return code
    return next((code for _s, code in codings if code), None)


def _ref_text(reference) -> Optional[str]:
    return getattr(reference, "reference", None) if reference is not None else None


def _as_date(value) -> Optional[date]:
    """The calendar date as written in the resource (no time-zone shift); None for partial dates."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def _wall_clock(value) -> Optional[datetime]:
    """The local time as written (an appointment at 09:00-05:00 is stored as 09:00)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def _is_future(value, now: datetime) -> bool:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value > now.astimezone().replace(tzinfo=None)
        return value > now
    if isinstance(value, date):
        return value > now.astimezone().date()
    return False


def _ended(period, now: datetime) -> bool:
    end = getattr(period, "end", None) if period is not None else None
    return end is not None and not _is_future(end, now)


def _pick_name(names):
    if not names:
        return None
    for use in ("official", "usual", None):
        for name in names:
            if name.use == use and not _ended(name.period, datetime.now(timezone.utc)):
                return name
    return names[0]


def _human_name(names, with_prefix: bool = False) -> Optional[str]:
    name = _pick_name(names)
    if name is None:
        return None
    if name.text and not (name.given or name.family):
        return _clean(name.text)
    parts = (list(name.prefix or []) if with_prefix else []) + list(name.given or []) + (
        [name.family] if name.family else [])
    return " ".join(p for p in parts if p) or None


def _address(address) -> Optional[str]:
    if address is None:
        return None
    if address.text:
        return " ".join(address.text.split())
    street = ", ".join(address.line or [])
    region = " ".join(p for p in (address.state, address.postalCode) if p)
    return ", ".join(p for p in (street, address.city, region) if p) or None


def _phone(telecoms) -> Optional[str]:
    phones = [t for t in telecoms or () if t.system == "phone" and t.value]
    phones.sort(key=lambda t: {"work": 0, None: 1}.get(t.use, 2))
    return phones[0].value.strip() if phones else None


def _e164(raw: str, default_country_code: str = "1") -> Optional[str]:
    """A phone number in E.164 (+15551234567), or None when it cannot be told for sure."""
    text = raw.strip()
    if re.search(r"[A-Za-z]", re.sub(r"^tel:", "", text)):
        return None  # an extension or a vanity number: leave it out rather than guess
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or text.startswith("tel:+"):
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if text.startswith("00") and 10 <= len(digits) - 2 <= 15:
        return f"+{digits[2:]}"
    if default_country_code == "1":
        if len(digits) == 10 and digits[0] not in "01":
            return f"+1{digits}"
        if len(digits) == 11 and digits[0] == "1" and digits[1] not in "01":
            return f"+{digits}"
    return None


def _mobile_e164(telecoms) -> Optional[str]:
    """Only a number marked mobile (or an SMS contact): a home line is no way to reach or identify."""
    for telecom in telecoms or ():
        if telecom.value and (telecom.system == "sms" or (telecom.system == "phone" and telecom.use == "mobile")):
            if not _ended(telecom.period, datetime.now(timezone.utc)):
                number = _e164(telecom.value)
                if number:
                    return number
    return None


def _language(communications) -> Optional[str]:
    """The preferred language's primary tag (en-US -> en), or None when not given."""
    if not communications:
        return None
    chosen = next((c for c in communications if c.preferred), communications[0])
    concept = chosen.language
    code = next((c.code for c in concept.coding or () if c.code), None) if concept else None
    if code:
        return code.split("-")[0].lower()[:16]
    return None


def _number(value) -> str:
    """A measured value as people write it: no float noise, no trailing zeros."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    magnitude = abs(number)
    places = 1 if magnitude >= 100 else 2 if magnitude >= 1 else None
    if places is None:
        text = f"{float(number):.3g}"
    else:
        text = f"{number:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def _quantity(quantity) -> tuple[Optional[str], Optional[str]]:
    if quantity is None or quantity.value is None:
        return None, None
    comparator = quantity.comparator or ""
    return f"{comparator}{_number(quantity.value)}", quantity.unit or quantity.code


def _observation_value(observation) -> tuple[Optional[str], Optional[str]]:
    value, unit = _value_x(observation)
    if value is not None:
        return value, unit
    parts, units = [], set()
    for component in observation.component or ():
        part, part_unit = _value_x(component)
        if part is None:
            return None, None  # a panel with a missing part (e.g. data-absent): not a value to show
        parts.append(part)
        units.add(part_unit)
    if parts:
        return "/".join(parts), (units.pop() if len(units) == 1 else None)
    return None, None


def _value_x(element) -> tuple[Optional[str], Optional[str]]:
    if getattr(element, "valueQuantity", None) is not None:
        return _quantity(element.valueQuantity)
    if getattr(element, "valueCodeableConcept", None) is not None:
        return _concept_text(element.valueCodeableConcept), None
    if getattr(element, "valueString", None):
        return element.valueString.strip(), None
    if getattr(element, "valueBoolean", None) is not None:
        return ("yes" if element.valueBoolean else "no"), None
    if getattr(element, "valueInteger", None) is not None:
        return str(element.valueInteger), None
    if getattr(element, "valueRange", None) is not None:
        low, unit = _quantity(element.valueRange.low)
        high, high_unit = _quantity(element.valueRange.high)
        if low or high:
            return f"{low or ''}-{high or ''}", unit or high_unit
    if getattr(element, "valueRatio", None) is not None:
        numerator, unit = _quantity(element.valueRatio.numerator)
        denominator, _ = _quantity(element.valueRatio.denominator)
        if numerator and denominator:
            return f"{numerator}/{denominator}", unit
    return None, None


def _reference_range(ranges) -> Optional[str]:
    for rng in ranges or ():
        if rng.text:
            return rng.text
        low, unit = _quantity(rng.low)
        high, high_unit = _quantity(rng.high)
        if low and high:
            return f"{low}-{high} {unit or high_unit or ''}".strip()
        if low:
            return f">= {low} {unit or ''}".strip()
        if high:
            return f"<= {high} {high_unit or ''}".strip()
    return None


def _goal_target(target) -> Optional[str]:
    measure = _concept_text(target.measure)
    detail = None
    if target.detailQuantity is not None:
        value, unit = _quantity(target.detailQuantity)
        detail = f"{value} {unit or ''}".strip() if value else None
    elif target.detailRange is not None:
        low, unit = _quantity(target.detailRange.low)
        high, high_unit = _quantity(target.detailRange.high)
        detail = f"{low or ''}-{high or ''} {unit or high_unit or ''}".strip() if (low or high) else None
    elif target.detailString:
        detail = target.detailString
    elif target.detailCodeableConcept is not None:
        detail = _concept_text(target.detailCodeableConcept)
    elif target.detailInteger is not None:
        detail = str(target.detailInteger)
    elif target.detailBoolean is not None:
        detail = "yes" if target.detailBoolean else "no"
    if measure and detail:
        return f"{measure}: {detail}"
    return detail or measure


_TIMING_UNITS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month",
                 "a": "year"}


def _dose_and_schedule(dosages) -> tuple[Optional[str], Optional[str]]:
    if not dosages:
        return None, None
    dosage = dosages[0]
    dose = None
    for dose_and_rate in dosage.doseAndRate or ():
        if dose_and_rate.doseQuantity is not None:
            value, unit = _quantity(dose_and_rate.doseQuantity)
            dose = f"{value} {unit or ''}".strip() if value else None
        elif dose_and_rate.doseRange is not None:
            low, unit = _quantity(dose_and_rate.doseRange.low)
            high, high_unit = _quantity(dose_and_rate.doseRange.high)
            dose = f"{low or ''}-{high or ''} {unit or high_unit or ''}".strip()
        if dose:
            break
    schedule = _clean(dosage.patientInstruction) or _clean(dosage.text)
    if schedule is None:
        parts = []
        repeat = dosage.timing.repeat if dosage.timing else None
        if dosage.timing is not None and dosage.timing.code is not None:
            parts.append(_concept_text(dosage.timing.code))
        elif repeat is not None and repeat.frequency and repeat.period and repeat.periodUnit:
            unit = _TIMING_UNITS.get(repeat.periodUnit, repeat.periodUnit)
            times = {1: "once", 2: "twice"}.get(repeat.frequency, f"{repeat.frequency} times")
            period = Decimal(str(repeat.period))
            if period == 1:
                parts.append(f"{times} a {unit}")
            else:
                parts.append(f"{times} every {_number(period)} {unit}s")
        if dosage.asNeededBoolean or dosage.asNeededCodeableConcept is not None:
            reason = _concept_text(dosage.asNeededCodeableConcept)
            parts.append(f"as needed for {reason.lower()}" if reason else "as needed")
        schedule = ", ".join(p for p in parts if p) or None
        if schedule:
            schedule = schedule[0].upper() + schedule[1:]
    return dose, schedule


# Clinical-note document types that US Core carries as DiagnosticReports: not test results.
_NOTE_CODES = {"11488-4", "18842-5", "34117-2", "28570-0", "11506-3", "57133-1", "11504-8", "34746-8",
               "51847-2", "34109-9", "68608-9", "34111-5", "18761-7"}
_NOTE_WORDS = re.compile(r"\b(note|summary)\s*$", re.IGNORECASE)


def _is_clinical_note(report) -> bool:
    codes = {c.code for c in (report.code.coding or ())} if report.code else set()
    if codes & _NOTE_CODES:
        return True
    text = _concept_text(report.code)
    return bool(text and _NOTE_WORDS.search(text))


def _activity_kind(fhir_kind: Optional[str], description: str) -> str:
    text = description.lower()
    if fhir_kind == "Appointment" or re.search(r"\b(follow[- ]?up|visit|appointment|check[- ]?up)\b", text):
        return "follow-up"
    if re.search(r"\b(educat\w*|teach\w*|instruct\w*|learn\w*|counsel\w*|advice|class)\b", text):
        return "education"
    if re.search(r"\b(monitor\w*|measur\w*|track\w*|check\w*|log|record\w*|weigh\w*|test\w*)\b", text):
        return "monitoring"
    return "task"


_SPECIALTY_WORDS = (
    ("primary care", r"general pract|family (medicine|practice|physician)|internal medicine|"
                     r"primary care|general medicine|\bpcp\b"),
    ("pediatrics", r"pediatric|paediatric"),
    ("cardiology", r"cardio|heart"),
    ("endocrinology", r"endocrin|diabet"),
    ("gastroenterology", r"gastro|digestive"),
    ("pulmonology", r"pulmon|lung"),
    ("nephrology", r"nephro|kidney"),
    ("neurology", r"neurolog"),
    ("orthopedics", r"orthop"),
    ("dermatology", r"dermat"),
    ("behavioral health", r"psychiat|psycholog|behavio|mental health|counsel|substance"),
    ("obstetrics and gynecology", r"obstet|gynec|midwi"),
    ("ophthalmology", r"ophthalm|optomet"),
    ("physical therapy", r"physical therap|physiotherap"),
    ("oncology", r"oncolog"),
    ("urology", r"urolog"),
    ("allergy", r"allerg"),
    ("podiatry", r"podiatr"),
    ("nutrition", r"nutrition|dietit"),
    ("social work", r"social work|social service"),
    ("pharmacy", r"pharmac"),
    ("nursing", r"\bnurs"),
    ("emergency medicine", r"emergency"),
    ("surgery", r"surg"),
)
_SPECIALTY_PATTERNS = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in _SPECIALTY_WORDS]


def _specialty(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    return next((name for name, pattern in _SPECIALTY_PATTERNS if pattern.search(text)), None)


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
