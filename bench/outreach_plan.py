"""How fast outreach planning (bot/outreach/rules.py `plan()`) is on 100,000 patients, on SQLite
and PostgreSQL.

    .venv/bin/python bench/outreach_plan.py [--patients 100000] [--pg-url URL] [--seed 7]

For each store the script makes the synthetic patients in a fresh database (a new SQLite file; a
scratch database on the PostgreSQL server from --pg-url or CARENAV_TEST_PG_URL, dropped
afterwards; without either PostgreSQL is skipped with a note), with bulk inserts and a realistic
mix: most patients have visits, some referrals (a few approved and not booked), test results
(some released), care-plan steps (some overdue), a few hospital stays and recorded specialist
reports; 70% agreed to texts; some live in other time zones; 1% are paused. Then it times:

- plan: the first planning of the day (every due message inserted);
- re-plan: planning again the same day (nothing new: the idempotent path);
- peak memory: Python's allocations during a first planning (tracemalloc, after deleting the
  planned rows), and the process's peak resident memory at the end (ru_maxrss, which includes
  making the data).

Target: `plan()` for 100,000 patients in under 60 s on each backend; the table gives the ratio.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, insert, select, text  # noqa: E402

from bot.outreach.rules import plan  # noqa: E402
from bot.store import models as m  # noqa: E402
from bot.store.db import Database, scratch_database  # noqa: E402

TARGET_SECONDS = 60.0
CHUNK = 5000
ZONES = [None] * 14 + ["America/Chicago"] * 3 + ["America/Denver", "America/Los_Angeles", "America/Phoenix"]
SPECIALTIES = ["cardiology", "endocrinology", "nephrology", "dermatology", "gastroenterology", "orthopedics"]
KINDS = ["follow-up visit", "annual checkup", "new patient visit", "lab test", "hospital follow-up visit"]


def _flush(conn, table, rows: List[dict]) -> None:
    if rows:
        conn.execute(insert(table), rows)
        rows.clear()


def make_patients(db: Database, n: int, today: dt.date, seed: int) -> Dict[str, int]:
    """`n` synthetic patients and their records, inserted in bulk; counts by table."""
    rnd = random.Random(seed)
    day = lambda offset: today + dt.timedelta(days=offset)  # noqa: E731
    counts: Dict[str, int] = {}
    clinics = [{"id": f"bench-clinic-{i}", "name": f"Bench Clinic {i}", "phone": f"(555) 011-{i:04d}",
                "address": f"{i} Bench Street", "specialties": ",".join(SPECIALTIES)} for i in range(20)]
    buffers: Dict[str, List[dict]] = {name: [] for name in (
        "patients", "appointments", "referrals", "test_results", "hospital_stays", "care_activities")}
    tables = {t.name: t for t in m.Base.metadata.sorted_tables}
    order = ["patients", "appointments", "referrals", "test_results", "hospital_stays", "care_activities"]
    with db.engine.begin() as conn:
        conn.execute(insert(tables["clinics"]), clinics)

        def add(name: str, row: dict) -> None:
            buffers[name].append(row)
            counts[name] = counts.get(name, 0) + 1

        for i in range(n):
            pid = f"bench-{i:06d}"
            consent = rnd.random() < 0.7
            add("patients", {
                "id": pid, "mrn": f"B{i:07d}", "given_name": "Bench", "family_name": f"Patient{i}",
                "birth_date": dt.date(1930 + i % 70, 1 + i % 12, 1 + i % 28), "mobile_phone": f"+1555{i:07d}",
                "preferred_language": "es" if rnd.random() < 0.2 else "en", "sms_consent": consent,
                "sms_consent_at": dt.datetime.combine(day(-rnd.randint(1, 900)), dt.time(10)) if consent else None,
                "sms_consent_method": "intake form" if consent else None,
                "sms_consent_scope": "care reminders and follow-up from the clinic" if consent else None,
                "time_zone": rnd.choice(ZONES), "outreach_paused": rnd.random() < 0.01, "source": "demo"})
            clinic = rnd.choice(clinics)["id"]
            for j in range(rnd.choice((0, 1, 1, 2, 2, 3))):  # visits from a month ago to two months ahead
                add("appointments", {
                    "id": f"{pid}-a{j}", "patient_id": pid, "clinic_id": clinic,
                    "starts_at": dt.datetime.combine(day(rnd.randint(-30, 60)),
                                                     dt.time(rnd.randint(8, 16), 15 * rnd.randint(0, 3))),
                    "kind": rnd.choice(KINDS), "specialty": rnd.choice(SPECIALTIES + ["primary care"] * 3),
                    "preparation": "Bring your medicine bottles." if rnd.random() < 0.5 else None,
                    "status": "booked" if rnd.random() < 0.9 else "cancelled"})
            if rnd.random() < 0.4:  # a referral, at some step of its way
                approved = day(-rnd.randint(0, 60))
                status = rnd.choice(["sent", "received", "approved", "approved", "scheduled", "completed"])
                recorded = (dt.datetime.combine(day(-rnd.randint(0, 30)), dt.time(14))
                            if status == "completed" and rnd.random() < 0.5 else None)
                add("referrals", {
                    "id": f"{pid}-r", "patient_id": pid, "receiving_clinic_id": clinic,
                    "specialty": rnd.choice(SPECIALTIES), "priority": rnd.choice(["routine"] * 4 + ["urgent"]),
                    "status": status, "sent_on": approved - dt.timedelta(days=3),
                    "approved_on": approved if status not in ("sent", "received") else None,
                    "how_to_book": f"Call Bench Clinic at (555) 011-{i % 10000:04d}." if rnd.random() < 0.7 else None,
                    "report_received": recorded is not None, "report_recorded_at": recorded,
                    "report_next_steps": "See your primary care doctor in 2 weeks." if recorded else None})
            add("test_results", {
                "id": f"{pid}-t", "patient_id": pid, "name": "Basic metabolic panel",
                "resulted_on": day(-rnd.randint(0, 30)), "status": "resulted",
                "released_to_patient": rnd.random() < 0.6, "value": "5.1", "unit": "mmol/L"})
            if rnd.random() < 0.02:
                add("hospital_stays", {"id": f"{pid}-h", "patient_id": pid, "facility": "Bench General",
                                       "admitted_on": day(-14), "discharged_on": day(-rnd.randint(0, 10))})
            for j in range(rnd.choice((0, 1, 2, 3))):
                add("care_activities", {
                    "id": f"{pid}-c{j}", "patient_id": pid, "description": f"Step {j} of the plan",
                    "kind": "task", "due_date": day(rnd.randint(-20, 30)),
                    "status": rnd.choice(["not-started", "in-progress", "completed", "scheduled"]),
                    "responsible": rnd.choice(["you", "you", None, "care coordinator"])})
            if len(buffers["patients"]) >= CHUNK:
                for name in order:
                    _flush(conn, tables[name], buffers[name])
        for name in order:
            _flush(conn, tables[name], buffers[name])
    return counts


@contextmanager
def sqlite_store(workdir: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{workdir / f'outreach-bench-{uuid.uuid4().hex[:8]}.db'}")
    db.create_schema()
    try:
        yield db
    finally:
        db.dispose()


def timed(run: Callable[[], object]) -> tuple:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def bench(label: str, store, patients: int, seed: int) -> dict:
    today = dt.date.today()
    now = dt.datetime.combine(today, dt.time(7, 30))
    with store as db:
        made, counts = timed(lambda: make_patients(db, patients, today, seed))
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        print(f"{label}: {patients} patients made in {made:.1f} s ("
              + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + ")", flush=True)
        first, planned = timed(lambda: plan(db, today=today, now=now))
        again, replanned = timed(lambda: plan(db, today=today, now=now + dt.timedelta(hours=2)))
        dry, _ = timed(lambda: plan(db, today=today, now=now, dry_run=True))
        by_rule: Dict[str, int] = {}
        for row in planned:
            by_rule[row["rule"]] = by_rule.get(row["rule"], 0) + 1
        with db.session() as s:
            stored = s.execute(select(func.count()).select_from(m.Outreach)).scalar()
            s.execute(delete(m.Outreach))
        tracemalloc.start()
        try:
            plan(db, today=today, now=now)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert stored == len(planned) and not replanned, "planning is not idempotent"
    print(f"  planned {len(planned)}: " + ", ".join(f"{n} {rule}" for rule, n in sorted(by_rule.items())), flush=True)
    return {"backend": label, "patients": patients, "planned": len(planned), "plan": first, "replan": again,
            "dry": dry, "peak": peak}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--pg-url", default=os.environ.get("CARENAV_TEST_PG_URL"),
                        help="PostgreSQL server URL (default: CARENAV_TEST_PG_URL)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the synthetic data")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)

    results = []
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as workdir:
            results.append(bench("SQLite", sqlite_store(Path(workdir)), args.patients, args.seed))
    if args.pg_url:
        store = scratch_database(args.pg_url, "carenav_outreach_bench")
        results.append(bench("PostgreSQL", store, args.patients, args.seed))
    else:
        print("PostgreSQL: skipped (no --pg-url and CARENAV_TEST_PG_URL is not set)")
    print()
    print(f"{'backend':<11} {'patients':>8} {'planned':>8} {'plan s':>7} {'re-plan s':>9} {'dry run s':>9} "
          f"{'peak MB':>8} {'vs 60 s':>7}  target")
    for r in results:
        ratio = r["plan"] / TARGET_SECONDS
        print(f"{r['backend']:<11} {r['patients']:>8} {r['planned']:>8} {r['plan']:>7.2f} {r['replan']:>9.2f} "
              f"{r['dry']:>9.2f} {r['peak'] / 2**20:>8.1f} {ratio:>7.3f}  {'met' if ratio < 1 else 'NOT MET'}")
    print(f"(peak MB: Python allocations during one first planning, tracemalloc; process peak resident memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, data making included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
