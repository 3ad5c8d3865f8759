"""The `carenav` command line: store set-up, demo data, FHIR import, tokens and running."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence, TextIO, Union

from bot.store.db import Database, StoreConfigError

log = logging.getLogger("carenav")


def _open_store(create: bool = False) -> Database:
    db = Database()
    if create:
        db.create_schema()
    else:
        db.check()
    return db


def cmd_db_init(args: argparse.Namespace) -> int:
    db = _open_store(create=True)
    print(f"care-plan store ready at {db.safe_url}")
    return 0


def cmd_db_seed(args: argparse.Namespace) -> int:
    from bot.store.queries import CareStore
    from bot.store.seed import seed_demo

    db = _open_store(create=True)
    if args.if_empty and CareStore(db).list_patients():
        print(f"the care-plan store at {db.safe_url} already has patients; left as it is")
        return 0
    counts = seed_demo(db)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) if isinstance(counts, dict) else ""
    print(f"demo data loaded into {db.safe_url}" + (f": {summary}" if summary else ""))
    return 0


def cmd_patients(args: argparse.Namespace) -> int:
    db = _open_store()
    from bot.store.queries import CareStore

    for patient_id, name in CareStore(db).list_patients():
        print(f"{patient_id}\t{name}")
    return 0


def cmd_import_fhir(args: argparse.Namespace) -> int:
    db = _open_store(create=True)
    return print_import(db, args.paths, skip_invalid=args.skip_invalid, show_progress=not args.no_progress)


def print_import(
    db,
    paths: Sequence[Union[str, Path]],
    skip_invalid: bool = False,
    show_progress: bool = True,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """`carenav import-fhir`: import, print the problems and a summary table, return the exit code."""
    from bot.store.fhir import EXIT_UNREADABLE, import_paths
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


def cmd_web(args: argparse.Namespace) -> int:
    from bot.web.app import serve

    _open_store()
    serve(port=args.port, rasa_url=args.rasa_url, host=args.host, actions_url=args.actions_url)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from bot.identity import issue_token

    db = _open_store()
    from bot.store.queries import CareStore

    if CareStore(db).patient(args.patient_id) is None:
        print(f"carenav: no patient with id {args.patient_id!r} in the store "
              "(see 'carenav patients')", file=sys.stderr)
        return 1
    print(issue_token(args.patient_id, ttl_seconds=args.ttl))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from bot.store.queries import CareStore

    db = _open_store()
    store = CareStore(db)
    if store.patient(args.patient_id) is None:
        print(f"carenav: no patient with id {args.patient_id!r} in the store "
              "(see 'carenav patients')", file=sys.stderr)
        return 1
    rows = store.audit_for(args.patient_id, limit=args.limit)
    print("time\tconversation\tchannel\trecord kind\taction\tstaff")
    for r in rows:
        print(f"{r.at:%Y-%m-%d %H:%M:%S}\t{r.conversation_id or '-'}\t{r.channel or '-'}\t"
              f"{r.record_kind}\t{r.action}\t{r.actor or '-'}")
    if not rows:
        print(f"(no record of {args.patient_id} has been shown to any conversation)", file=sys.stderr)
    return 0


def cmd_story_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bot.story_export import CannotRedact, ConversationNotFound, export_test_story
    from bot.tracker_store import tracker_db_url

    url = tracker_db_url()
    try:
        story = export_test_story(args.sender_id, url)
    except ConversationNotFound:
        print(f"carenav: no conversation with sender id {args.sender_id!r} in the tracker store at "
              f"{make_url(url).render_as_string(hide_password=True)}", file=sys.stderr)
        return 1
    except CannotRedact as exc:
        print(f"carenav: {exc}", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_text(story)
        print(f"test story for {args.sender_id} written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(story)
    return 0


def cmd_patient_export(args: argparse.Namespace) -> int:
    import json

    from bot.retention import export

    db = _open_store(create=True)
    try:
        data = export(db, args.patient_id)
    except KeyError:
        print(f"carenav: no patient {args.patient_id} in the store", file=sys.stderr)
        return 1
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    return 0


def cmd_patient_forget(args: argparse.Namespace) -> int:
    from bot.retention import forget

    db = _open_store(create=True)
    try:
        counts = forget(db, args.patient_id)
    except KeyError:
        print(f"carenav: no patient {args.patient_id} in the store", file=sys.stderr)
        return 1
    for kind, n in counts.items():
        print(f"{kind}\t{n} removed")
    print(f"{args.patient_id}: conversations and messages removed; the clinical record and the audit trail "
          "(ids only) are kept", file=sys.stderr)
    return 0


def cmd_retention_purge(args: argparse.Namespace) -> int:
    from bot.retention import purge, retention_days

    db = _open_store(create=True)
    days = args.older_than if args.older_than is not None else retention_days()
    for kind, n in purge(db, older_than_days=days).items():
        print(f"{kind}\t{n} removed")
    print(f"personal text older than {days} days removed", file=sys.stderr)
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    import getpass

    from bot.console.accounts import AccountError, StaffAccounts

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.email} (12 characters or more): ")
    db = _open_store(create=True)
    try:
        staff = StaffAccounts(db).add(args.email, password, args.role)
    except AccountError as exc:
        print(f"carenav: {exc}", file=sys.stderr)
        return 1
    print(f"staff account {staff.email} ({staff.role}) added")
    return 0


def cmd_outreach_plan(args: argparse.Namespace) -> int:
    """Plan the outreach due today (bot/outreach/rules.py): one JSON line per message on stdout, a
    summary on stderr; --dry-run writes nothing."""
    import datetime as dt
    import json

    from bot.outreach.rules import plan

    db = _open_store(create=not args.dry_run)
    today = args.today
    now = dt.datetime.combine(today, dt.datetime.now().time()) if today else None
    planned = plan(db, today=today, now=now, dry_run=args.dry_run)
    for row in planned:
        print(json.dumps(row, sort_keys=True))
    by_rule: dict = {}
    by_channel: dict = {}
    for row in planned:
        by_rule[row["rule"]] = by_rule.get(row["rule"], 0) + 1
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + 1
    detail = "; ".join([", ".join(f"{n} {rule}" for rule, n in sorted(by_rule.items())),
                        ", ".join(f"{n} {channel}" for channel, n in sorted(by_channel.items()))]) if planned else ""
    verb = "would plan" if args.dry_run else "planned"
    print(f"outreach: {verb} {len(planned)} new message{'' if len(planned) == 1 else 's'}"
          + (f" ({detail})" if detail else "") + (" (dry run: nothing written)" if args.dry_run else ""),
          file=sys.stderr)
    return 0


def cmd_outreach_run(args: argparse.Namespace) -> int:
    from bot.outreach.worker import main

    return main(args)


def _iso_day(value: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}")


def cmd_train(args: argparse.Namespace) -> int:
    from bot.modeling import train_if_stale

    train_if_stale(config=args.config, force=args.force)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.modeling import PROJECT_ROOT, model_path
    from bot.runner import Assistant, Ports

    _open_store()
    model = model_path()
    if not model.exists():
        print(f"carenav: no trained model for the current data ({model.name}); run 'make run' "
              "or 'carenav train' first", file=sys.stderr)
        return 2
    ports = Ports(rasa=args.port, actions=args.actions_port, web=args.web_port)
    print(f"starting CareNav with {model.name} (this takes about a minute) ...", flush=True)
    log_dir = PROJECT_ROOT / "var" / "log"
    print(f"the servers write their logs to {log_dir.relative_to(PROJECT_ROOT)}/ (rasa.log, actions.log, web.log)",
          flush=True)
    from bot.settings import demo_mode

    # the outreach worker always; in demo mode, without an SMS provider configured, a local stand-in
    # for one (a "demo phone" page) so texts can be tried on this machine
    assistant = Assistant(model=model, ports=ports, with_web=_web_available(), log_dir=log_dir,
                          with_outreach=True, sms_standin=demo_mode())
    try:
        assistant.start()
    except RuntimeError as exc:
        print(f"carenav: {exc}", file=sys.stderr)
        return 1
    print(_how_to_talk(ports, web=_web_available(), demo_staff=_demo_staff() if _web_available() else None,
                       demo_phone="sms" in assistant.procs), flush=True)
    return assistant.wait()


def _demo_staff():
    """In demo mode, the console's demo admin (email, password), made on first run."""
    from bot.settings import demo_mode

    if not demo_mode():
        return None
    from bot.console.accounts import demo_admin
    from bot.modeling import PROJECT_ROOT

    db = _open_store()
    try:
        return demo_admin(db, PROJECT_ROOT / "var" / "demo-staff-password")
    finally:
        db.dispose()


def _web_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bot.web") is not None


def _how_to_talk(ports, web: bool, demo_staff=None, demo_phone: bool = False) -> str:
    lines = [
        "",
        "CareNav is running. Press Ctrl-C to stop.",
        f"  Rasa server     http://localhost:{ports.rasa}",
        f"  Action server   http://localhost:{ports.actions}",
    ]
    if web:
        lines.append(f"  Web chat page   http://localhost:{ports.web}   (open it in a browser)")
        lines.append(f"  Health          http://localhost:{ports.web}/health   (each part; a part that "
                     "stops is restarted)")
        lines.append(f"  Care-team console http://localhost:{ports.web}/staff/   (staff accounts: carenav staff add)")
        if demo_staff:
            lines.append(f"    demo admin: {demo_staff[0]}  password: {demo_staff[1]}  "
                         "(demo only; kept in var/demo-staff-password)")
    if demo_phone:
        lines.append(f"  Demo phone      http://localhost:{ports.sms}/   (a local stand-in for the SMS provider: "
                     "text the assistant as a demo patient, see the texts it sends first)")
    lines.append("  Outreach worker sends what is due (quiet hours 9 pm to 8 am; log: var/log/outreach.log)")
    from bot.settings import demo_mode

    if demo_mode():
        lines.append("  DEMO MODE is on (CARENAV_DEMO=1): the web page offers a demo sign-in for the seeded demo "
                     "patients. Never on a clinic's real server.")
    else:
        lines.append("  Demo mode is off: the web page has no sign-in (the clinic's website hands out tokens).")
    lines += [
        "Talk to it over REST:",
        f"  curl -s localhost:{ports.rasa}/webhooks/rest/webhook -H 'Content-Type: application/json' \\",
        "       -d '{\"sender\": \"me\", \"message\": \"hi\"}'",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carenav", description="CareNav care-navigation assistant")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="create the care-plan store or load the demo patients")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("init", help="create the schema").set_defaults(func=cmd_db_init)
    seed = db_sub.add_parser("seed", help="load the demo patients, clinics and resources")
    seed.add_argument("--if-empty", action="store_true", help="only when the store has no patients yet")
    seed.set_defaults(func=cmd_db_seed)

    sub.add_parser("patients", help="list the patients in the store: id<TAB>name").set_defaults(func=cmd_patients)

    imp = sub.add_parser("import-fhir", help="load FHIR R4 Bundles (files or folders) into the store")
    imp.add_argument("paths", nargs="+", help="bundle files or folders of bundles")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="exit 0 even if some resources were invalid (they are still reported)")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    imp.set_defaults(func=cmd_import_fhir)

    webp = sub.add_parser("web", help="serve the clinic web chat page (aiohttp)")
    webp.add_argument("--port", type=int, default=8000)
    webp.add_argument("--host", default="localhost")
    webp.add_argument("--rasa-url", default="http://localhost:5005", help="the Rasa server the page talks to")
    webp.add_argument("--actions-url", default="http://localhost:5055",
                      help="the action server, for GET /health")
    webp.set_defaults(func=cmd_web)

    token = sub.add_parser("token", help="print a signed, expiring token for a patient (web and REST)")
    token.add_argument("patient_id")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    token.set_defaults(func=cmd_token)

    audit = sub.add_parser("audit", help="list every disclosure of a patient's records (ids only)")
    audit.add_argument("patient_id")
    audit.add_argument("--limit", type=int, default=200)
    audit.set_defaults(func=cmd_audit)

    story = sub.add_parser("story", help="conversation tests: turn a stored conversation into a test story")
    story_sub = story.add_subparsers(dest="story_command", required=True)
    export = story_sub.add_parser("export", help="write a conversation as a Rasa test story, without the "
                                                 "patient's data (names, dates, numbers, record slots)")
    export.add_argument("sender_id", help="the conversation's sender id")
    export.add_argument("--out", metavar="FILE", help="write the story here (default: standard output)")
    export.set_defaults(func=cmd_story_export)

    staff = sub.add_parser("staff", help="care-team accounts for the console (/staff/ on the web app)")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    sadd = staff_sub.add_parser("add", help="add a staff account (the password from a prompt, or one line on stdin)")
    sadd.add_argument("email")
    sadd.add_argument("--role", required=True, choices=["coordinator", "nurse", "admin"])
    sadd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sadd.set_defaults(func=cmd_staff_add)

    patient = sub.add_parser("patient", help="a patient's rights: everything held about them, or forget them")
    patient_sub = patient.add_subparsers(dest="patient_command", required=True)
    pexport = patient_sub.add_parser("export", help="everything held about a patient, as JSON on stdout (audited)")
    pexport.add_argument("patient_id")
    pexport.set_defaults(func=cmd_patient_export)
    pforget = patient_sub.add_parser("forget", help="remove the patient's conversations and messages "
                                                   "(the clinical record and audit ids stay; audited)")
    pforget.add_argument("patient_id")
    pforget.set_defaults(func=cmd_patient_forget)

    retention = sub.add_parser("retention", help="remove personal text past the retention period")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    rpurge = retention_sub.add_parser("purge", help="drop conversation text and SMS bodies past retention "
                                                    "(CARENAV_RETENTION_DAYS, default 90)")
    rpurge.add_argument("--older-than", type=int, metavar="DAYS", help="instead of the retention setting")
    rpurge.set_defaults(func=cmd_retention_purge)

    outreach = sub.add_parser("outreach", help="messages the assistant sends first, with consent (bot/outreach/)")
    outreach_sub = outreach.add_subparsers(dest="outreach_command", required=True)
    oplan = outreach_sub.add_parser("plan", help="plan the outreach due today: one JSON line per new message")
    oplan.add_argument("--today", type=_iso_day, metavar="YYYY-MM-DD",
                       help="plan as of this day (at the current time of day)")
    oplan.add_argument("--dry-run", action="store_true", help="print what would be planned; write nothing")
    oplan.set_defaults(func=cmd_outreach_plan)
    orun = outreach_sub.add_parser("run", help="the outreach worker: plan and send due messages until stopped")
    orun.add_argument("--once", action="store_true", help="one pass, then exit")
    orun.add_argument("--every", type=float, default=30, metavar="SECONDS",
                      help="seconds between passes (default 30)")
    orun.set_defaults(func=cmd_outreach_run)

    train = sub.add_parser("train", help="train the Rasa model if data, config or domain changed")
    train.add_argument("--config", default="config.yml")
    train.add_argument("--force", action="store_true", help="train even if a model for these inputs exists")
    train.set_defaults(func=cmd_train)

    run = sub.add_parser("run", help="start the action server, the Rasa server and the web chat page")
    run.add_argument("--port", type=int, default=5005, help="Rasa server port")
    run.add_argument("--actions-port", type=int, default=5055)
    run.add_argument("--web-port", type=int, default=8000)
    run.set_defaults(func=cmd_run)

    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    # Rasa's tracker store (read by the retention and story commands) warns about SQLAlchemy 2.0
    # on import; CareNav pins SQLAlchemy 1.4 (Rasa's range), so the warning only adds noise
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except StoreConfigError as exc:
        print(f"carenav: {exc}", file=sys.stderr)
        which = "CARENAV_TRACKER_DB_URL (or CARENAV_DB_URL)" if args.command == "story" else "CARENAV_DB_URL"
        print(f"carenav: set {which} to a reachable SQLAlchemy URL "
              "(default sqlite:///var/carenav.db)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
