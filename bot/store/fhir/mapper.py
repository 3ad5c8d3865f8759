"""One bundle: validate its resources, map them to rows (handlers in the mixins), check references, write."""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from fhir.resources import construct_fhir_element
from pydantic import ValidationError
from sqlalchemy import select

from bot.store import models as m
from bot.store.fhir.clinical import ClinicalMixin
from bot.store.fhir.directory import DirectoryMixin
from bot.store.fhir.ids import Key, row_id
from bot.store.fhir.mapper_rows import _TYPE_ID, _URN, _WRITE_ORDER, _Invalid, _Row, _Skip, _TeamEntry
from bot.store.fhir.plans import PlanMixin
from bot.store.fhir.reading import _field_path
from bot.store.fhir.reasons import ReferralReasons
from bot.store.fhir.referrals import ReferralMixin
from bot.store.fhir.report import MAPPED_TYPES, InvalidResource
from bot.store.fhir.values import _ref_text
from bot.store.fhir.writer import _IDS, _chunks, _existing_ids, _fit, _foreign_keys, _insert_values, _keep_store_state

log = logging.getLogger(__name__)

class BundleMapper(DirectoryMixin, PlanMixin, ReferralMixin, ClinicalMixin):
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
