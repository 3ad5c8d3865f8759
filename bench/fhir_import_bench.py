"""How fast `carenav import-fhir` loads the shared FHIR bundles, into SQLite and PostgreSQL.

    .venv/bin/python bench/fhir_import_bench.py [--pg-url URL] [--repeat N] [PATH ...]

PATH defaults to ../shared/data/fhir (ten bundles of about 0.5 MB). For each store the script
imports every bundle into a fresh database (and then again, the idempotent re-import) and prints
bundles/s, MB/s and peak memory. The baseline, measured in the same run on the same files, is what
reading them costs without any store: json.load plus parsing every resource with fhir.resources.
PostgreSQL comes from --pg-url or CARENAV_TEST_PG_URL (a scratch database is created on that
server and dropped afterwards); without either it is skipped with a note.
Target: >= 20 bundles/s for ~0.5 MB bundles.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir.resources import construct_fhir_element  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.store.db import Database  # noqa: E402
from bot.store.fhir import import_paths  # noqa: E402

TARGET_BUNDLES_PER_S = 20.0
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fhir"


def bundle_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    return files


def baseline(files: list[Path]) -> None:
    """Read every bundle and parse every resource in it with fhir.resources, no store."""
    for path in files:
        with open(path, "rb") as fh:
            bundle = json.load(fh)
        for entry in bundle.get("entry", []):
            resource_ = entry.get("resource")
            if isinstance(resource_, dict):
                try:
                    construct_fhir_element(resource_["resourceType"], resource_)
                except (ValidationError, LookupError, ValueError):
                    pass


def timed(run: Callable[[], object], repeat: int, setup: Optional[Callable[[], object]] = None) -> float:
    """The median wall time of ``repeat`` runs (``setup`` before each, not timed)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_python_memory(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextmanager
def sqlite_store(workdir: Path) -> Iterator[Callable[[], Database]]:
    created: list[Database] = []

    def fresh() -> Database:
        for db in created:
            db.dispose()
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        db = Database(f"sqlite:///{path}")
        db.create_schema()
        created.append(db)
        return db

    try:
        yield fresh
    finally:
        for db in created:
            db.dispose()


@contextmanager
def postgres_store(url: str) -> Iterator[Callable[[], Database]]:
    admin = create_engine(url, future=True, isolation_level="AUTOCOMMIT")
    names: list[str] = []
    created: list[Database] = []

    def fresh() -> Database:
        for db in created:
            db.dispose()
        name = f"carenav_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        db = Database(make_url(url).set(database=name).render_as_string(hide_password=False))
        db.create_schema()
        created.append(db)
        return db

    try:
        yield fresh
    finally:
        for db in created:
            db.dispose()
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def rate_line(label: str, seconds: float, n_files: int, megabytes: float, base_seconds: float) -> str:
    return (f"  {label:<22} {seconds * 1000:8.0f} ms  {n_files / seconds:7.1f} bundles/s  "
            f"{megabytes / seconds:6.2f} MB/s  {base_seconds / seconds:5.2f}x baseline")


def bench_store(name: str, store, files: list[Path], megabytes: float, repeat: int, base_seconds: float) -> float:
    with store as fresh:
        holder: dict = {}

        def new_db() -> None:
            holder["db"] = fresh()

        def import_all() -> None:
            report = import_paths(holder["db"], files, skip_invalid=True)
            if report.file_problems:
                raise SystemExit(f"bench: {report.file_problems[0]}")

        first = timed(import_all, repeat, setup=new_db)
        again = timed(import_all, repeat)  # the last fresh store, imported again: nothing changes
        new_db()
        peak = peak_python_memory(import_all)
    print(f"{name}:")
    print(rate_line("first import", first, len(files), megabytes, base_seconds))
    print(rate_line("re-import (no change)", again, len(files), megabytes, base_seconds))
    print(f"  {'peak Python memory':<22} {peak / 2**20:8.1f} MB (tracemalloc, one import of all bundles)")
    verdict = "met" if len(files) / first >= TARGET_BUNDLES_PER_S else "NOT MET"
    print(f"  target >= {TARGET_BUNDLES_PER_S:.0f} bundles/s: {verdict}")
    return len(files) / first


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=[str(DEFAULT_DATA)], help="bundle files or folders")
    parser.add_argument("--pg-url", default=os.environ.get("CARENAV_TEST_PG_URL"),
                        help="PostgreSQL server URL (default: CARENAV_TEST_PG_URL)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args(argv)

    files = bundle_files(args.paths)
    if not files:
        print(f"bench: no bundles in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    print(f"{len(files)} bundles, {megabytes:.1f} MB ({megabytes / len(files):.2f} MB per bundle on average)")

    # Warm up: the first parse of each FHIR model class and the first statements cost extra.
    with tempfile.TemporaryDirectory() as warm:
        db = Database(f"sqlite:///{Path(warm) / 'warm.db'}")
        db.create_schema()
        import_paths(db, files[:2], skip_invalid=True)
        db.dispose()
    baseline(files[:2])

    base_seconds = timed(lambda: baseline(files), args.repeat)
    base_peak = peak_python_memory(lambda: baseline(files))
    print("baseline (json.load + fhir.resources parse of every resource, no store):")
    print(f"  {'parse only':<22} {base_seconds * 1000:8.0f} ms  {len(files) / base_seconds:7.1f} bundles/s  "
          f"{megabytes / base_seconds:6.2f} MB/s")
    print(f"  {'peak Python memory':<22} {base_peak / 2**20:8.1f} MB")

    with tempfile.TemporaryDirectory() as workdir:
        bench_store("SQLite", sqlite_store(Path(workdir)), files, megabytes, args.repeat, base_seconds)
    if args.pg_url:
        bench_store(f"PostgreSQL ({make_url(args.pg_url).render_as_string(hide_password=True)})",
                    postgres_store(args.pg_url), files, megabytes, args.repeat, base_seconds)
    else:
        print("PostgreSQL: skipped (no --pg-url and CARENAV_TEST_PG_URL is not set)")
    print(f"process peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
