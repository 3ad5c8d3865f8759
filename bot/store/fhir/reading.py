"""Finding bundle files and reading one bundle (the Bundle model, without its resources)."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from fhir.resources.bundle import Bundle
from pydantic import ValidationError

from bot.store.fhir.report import FileProblem, ImportReport

log = logging.getLogger(__name__)

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
