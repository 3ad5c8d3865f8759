"""What an import found: counts per resource type and outcome, invalid resources, file problems."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

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
