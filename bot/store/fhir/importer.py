"""Importing bundle files into the store: the import run, the release policy, the command."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Optional, Union

from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import Database, error_reason
from bot.store.fhir.mapper import BundleMapper
from bot.store.fhir.reading import _bundle_files, _progress, _read_bundle
from bot.store.fhir.reasons import ReferralReasons, referral_reasons
from bot.store.fhir.report import FileProblem, ImportReport

log = logging.getLogger(__name__)

RELEASE_RESULTS_ENV = "CARENAV_FHIR_RELEASE_RESULTS"
RELEASE_POLICIES = {
    "final": "final and amended results are released to the patient",
    "none": "imported results stay unreleased until the clinic releases them",
}


def release_policy(value: Optional[str] = None) -> str:
    """The clinic's result-release setting: the argument, else CARENAV_FHIR_RELEASE_RESULTS, else final."""
    from bot.settings import settings

    raw = value if value is not None else settings().fhir_release_results
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




def _import_file(db, path: Path, label: str, number: int, report: ImportReport, policy: str,
                 reasons: ReferralReasons) -> None:
    raw = _read_bundle(path, report, label)
    if raw is None:
        return
    mapper = BundleMapper(raw, label, policy, reasons)
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
