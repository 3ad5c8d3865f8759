"""`carenav story export`: a stored conversation becomes a Rasa test story without the patient's data.

Conversations are built with Rasa's own classes and saved with Rasa's own SQLTrackerStore (on a
SQLite file, and on the test PostgreSQL server when CARENAV_TEST_PG_URL is set), then exported
with the real command line.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
import yaml

from bot.cli import main
from bot.store.db import Database
from bot.store.seed import seed_demo
from bot.tracker_store import TRACKER_STORE_TYPE, tracker_store_endpoint
from tests.conftest import ROOT

PATIENT = "demo-james"  # James Carter, born 1957-09-03, +15550100102 in the demo seed


@pytest.fixture(scope="module")
def domain():
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml"))


def save_conversation(tracker_db_url: str, sender: str, events: list, domain) -> None:
    """Store the events the way the Rasa server does: Rasa's tracker store from our endpoint config."""
    from rasa.core.tracker_store import TrackerStore
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    store = TrackerStore.create(EndpointConfig.from_dict(tracker_store_endpoint(tracker_db_url)), domain=domain)
    try:
        tracker = DialogueStateTracker.from_events(sender, events, slots=domain.slots)
        asyncio.run(store.save(tracker))
    finally:
        store.engine.dispose()


def conversation(patient) -> list:
    """James says who he is, asks about his referral, has an emergency and says goodbye."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

    born = patient.birth_date
    emergency = "chest pain, call 911 for James"
    referral = (f"my birthday is {born:%B} {born.day} {born:%Y}, why was I referred to cardiology? "
                f"text me at {patient.mobile_phone} or james.carter@example.com")
    return [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered(f"hi, I'm {patient.display_name}, born {born:%m/%d/%Y}",
                    {"name": "greet", "confidence": 0.97}, metadata={"token": "signed.token.for-james"}),
        ActionExecuted("utter_greet", policy="RulePolicy", confidence=1.0),
        BotUttered("Hi! How can I help?", metadata={"utter_action": "utter_greet"}),
        ActionExecuted("action_listen"),
        UserUttered(referral, {"name": "ask_referral_reason", "confidence": 0.9},
                    entities=[{"entity": "specialty", "value": "cardiology", "start": referral.index("cardio"),
                               "end": referral.index("cardio") + len("cardiology"),
                               "extractor": "CareEntityRuler", "confidence": 1.0}]),
        SlotSet("specialty", "cardiology"),
        ActionExecuted("action_referral_reason"),
        SlotSet("patient_id", patient.id),
        SlotSet("focus_referral", "demo-james-ref-cardio"),
        SlotSet("last_specialty", "cardiology"),
        BotUttered(f"{patient.given_name}, Dr. Okafor referred you to cardiology for chest pain."),
        ActionExecuted("action_listen"),
        UserUttered(emergency, {"name": "report_emergency", "confidence": 1.0},
                    entities=[{"entity": "emergency_type", "value": "call_911", "start": 0,
                               "end": len(emergency), "extractor": "CrisisDetector"}]),
        SlotSet("emergency_type", "call_911"),
        ActionExecuted("utter_emergency_911"),
        ActionExecuted("utter_offer_human"),
        ActionExecuted("action_listen"),
        UserUttered('/report_task_done{"activity_id":"demo-james-act-bp"}', {"name": "report_task_done"},
                    entities=[{"entity": "activity_id", "value": "demo-james-act-bp"}]),
        ActionExecuted("action_report_task_done"),
        SlotSet("last_questions", ["Why do I need this test?"]),
        ActionExecuted("action_listen"),
        UserUttered("bye", {"name": "goodbye", "confidence": 0.99}),
        ActionExecuted("utter_goodbye"),
        ActionExecuted("action_listen"),
    ]


EXPECTED_STEPS = [
    ("intent", "greet"), ("action", "utter_greet"),
    ("intent", "ask_referral_reason"), ("action", "action_referral_reason"),
    ("intent", "report_emergency"), ("slot_was_set", "emergency_type"), ("action", "utter_emergency_911"),
    ("action", "utter_offer_human"),
    ("intent", "report_task_done"), ("action", "action_report_task_done"),
    ("intent", "goodbye"), ("action", "utter_goodbye"),
]


def steps_of(story: dict) -> List[Tuple[str, str]]:
    out = []
    for step in story["steps"]:
        if "intent" in step:
            out.append(("intent", step["intent"]))
        elif "action" in step:
            out.append(("action", step["action"]))
        elif "slot_was_set" in step:
            out.extend(("slot_was_set", name) for slot in step["slot_was_set"] for name in slot)
    return out


@contextlib.contextmanager
def seeded_store(kind: str, tmp_path: Path) -> Iterator[Database]:
    if kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'carenav.db'}")
        db.create_schema()
        seed_demo(db)
        try:
            yield db
        finally:
            db.dispose()
    else:
        if not os.environ.get("CARENAV_TEST_PG_URL"):
            pytest.fail("CARENAV_TEST_PG_URL is not set: run `make test`, or start PostgreSQL with "
                        "`scripts/pg-test-server start` and export the URL it prints")
        from tests.store.conftest import fresh_postgres_database

        with fresh_postgres_database("carenav_story") as db:
            seed_demo(db)
            yield db


def export(monkeypatch, capsys, *args: str, db_url: str, tracker_db_url: str = "") -> Tuple[int, str, str]:
    monkeypatch.setenv("CARENAV_DB_URL", db_url)
    if tracker_db_url:
        monkeypatch.setenv("CARENAV_TRACKER_DB_URL", tracker_db_url)
    else:
        monkeypatch.delenv("CARENAV_TRACKER_DB_URL", raising=False)
    code = main(["story", "export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_no_patient_data(text: str, patient) -> None:
    born = patient.birth_date
    lowered = text.lower()
    for secret in (patient.id, patient.given_name, patient.display_name.split()[-1], born.isoformat(),
                   f"{born:%m/%d/%Y}", f"{born:%B}".lower(), str(born.year), patient.mobile_phone,
                   patient.mobile_phone[-4:], "example.com", "signed.token", "demo-james-ref-cardio",
                   "demo-james-act-bp", "why do i need this test"):
        assert secret.lower() not in lowered, f"{secret!r} leaked into the exported story"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_export_is_a_readable_test_story_without_patient_data(kind, tmp_path, monkeypatch, capsys, domain):
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    from bot.store.queries import CareStore

    with seeded_store(kind, tmp_path) as db:
        patient = CareStore(db).patient(PATIENT)
        # the tracker store shares the care-plan store's database, as `carenav run` sets it up
        save_conversation(db.url, "staff-test-1", conversation(patient), domain)

        code, out, err = export(monkeypatch, capsys, "staff-test-1", db_url=db.url)
        assert code == 0, err

    assert_no_patient_data(out, patient)
    parsed = yaml.safe_load(out)
    [story] = parsed["stories"]
    assert story["story"].startswith("exported conversation staff-test-1 ")
    assert steps_of(story) == EXPECTED_STEPS
    assert {"emergency_type": "call_911"} in next(s["slot_was_set"] for s in story["steps"] if "slot_was_set" in s)
    users = [s["user"] for s in story["steps"] if "intent" in s]
    assert "<name> <name>" in users[0] and "<date>" in users[0]
    assert "[cardiology](specialty)" in users[1]  # an entity whose value was not redacted stays
    assert "<phone>" in users[1] and "<email>" in users[1] and "<date>" in users[1]
    assert users[3] == "/report_task_done"  # the record id in the button payload is gone

    # Rasa reads it back as a test story: same intents, actions and (redacted) texts
    path = tmp_path / "test_exported.yml"
    path.write_text(out)
    assert YAMLStoryReader.is_test_stories_file(str(path))
    [step] = YAMLStoryReader(domain).read_from_file(str(path))
    read_back = [e for e in step.events if isinstance(e, UserUttered)]
    assert [e.intent_name for e in read_back] == [i for k, i in EXPECTED_STEPS if k == "intent"]
    assert read_back[1].entities[0]["entity"] == "specialty"
    assert read_back[2].entities[0]["value"] == "call_911"
    assert all(not e.metadata for e in read_back)


def test_export_to_a_file_from_a_separate_tracker_store(tmp_path, monkeypatch, capsys, domain):
    from bot.store.queries import CareStore

    with seeded_store("sqlite", tmp_path) as db:
        patient = CareStore(db).patient(PATIENT)
        tracker_url = f"sqlite:///{tmp_path / 'trackers.db'}"
        save_conversation(tracker_url, "staff-test-2", conversation(patient), domain)
        out_file = tmp_path / "tests" / "story.yml"
        out_file.parent.mkdir()
        code, out, err = export(monkeypatch, capsys, "staff-test-2", "--out", str(out_file),
                                db_url=db.url, tracker_db_url=tracker_url)
    assert code == 0, err
    assert out == ""
    text = out_file.read_text()
    assert_no_patient_data(text, patient)
    assert steps_of(yaml.safe_load(text)["stories"][0]) == EXPECTED_STEPS


def test_unknown_sender_exits_1_with_a_message(tmp_path, monkeypatch, capsys, domain):
    from bot.store.queries import CareStore

    with seeded_store("sqlite", tmp_path) as db:
        # a store with no conversations at all, then one with somebody else's
        code, out, err = export(monkeypatch, capsys, "nobody", db_url=db.url)
        assert (code, out) == (1, "")
        assert "no conversation with sender id 'nobody'" in err and len(err.strip().splitlines()) == 1
        save_conversation(db.url, "someone-else", conversation(CareStore(db).patient(PATIENT)), domain)
        code, out, err = export(monkeypatch, capsys, "nobody", db_url=db.url)
    assert (code, out) == (1, "")
    assert "no conversation with sender id 'nobody'" in err


def test_unreachable_tracker_store_exits_2(tmp_path, monkeypatch, capsys):
    code, out, err = export(monkeypatch, capsys, "anyone", db_url=f"sqlite:///{tmp_path / 'carenav.db'}",
                            tracker_db_url="postgresql+psycopg2://nobody@127.0.0.1:1/nothing")
    assert (code, out) == (2, "")
    assert "cannot reach the tracker store" in err


def test_a_patient_missing_from_the_store_is_not_exported(tmp_path, monkeypatch, capsys, domain):
    from bot.store.queries import CareStore

    with seeded_store("sqlite", tmp_path) as db:
        patient = CareStore(db).patient(PATIENT)
    tracker_url = f"sqlite:///{tmp_path / 'trackers.db'}"
    save_conversation(tracker_url, "staff-test-3", conversation(patient), domain)
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    empty.create_schema()
    code, out, err = export(monkeypatch, capsys, "staff-test-3", db_url=empty.url, tracker_db_url=tracker_url)
    empty.dispose()
    assert (code, out) == (1, "")
    assert "cannot be taken out" in err


# --------------------------------------------------------------------------- endpoint mapping

def test_tracker_store_endpoint_for_a_relative_sqlite_path_is_absolute_under_the_root(tmp_path):
    assert tracker_store_endpoint("sqlite:///var/carenav.db", root=tmp_path) == {
        "type": TRACKER_STORE_TYPE, "dialect": "sqlite", "db": str(tmp_path / "var" / "carenav.db"),
        "query": {"timeout": "3.0"}}


def test_tracker_store_endpoint_for_an_absolute_sqlite_path(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    endpoint = tracker_store_endpoint(f"sqlite:///{tmp_path / 'carenav.db'}")
    assert endpoint == {"type": TRACKER_STORE_TYPE, "dialect": "sqlite", "db": str(tmp_path / "carenav.db"),
                        "query": {"timeout": "3.0"}}  # a write waits at most 3 s for another writer
    # Rasa turns it back into the same SQLAlchemy URL, and SQLAlchemy hands the wait to sqlite3
    url = SQLTrackerStore.get_db_url(endpoint["dialect"], None, None, endpoint["db"], query=endpoint["query"])
    assert str(url) == f"sqlite:///{tmp_path / 'carenav.db'}?timeout=3.0"
    from sqlalchemy import create_engine

    engine = create_engine(url)
    assert engine.dialect.create_connect_args(engine.url)[1]["timeout"] == 3.0


def test_tracker_store_endpoint_for_postgresql_keeps_every_part_of_the_url():
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.utils.endpoints import EndpointConfig
    from sqlalchemy.engine import make_url

    db_url = "postgresql+psycopg2://care:s3cr%40t%3Aw@db.clinic.example:5433/carenav?sslmode=require"
    endpoint = tracker_store_endpoint(db_url)
    assert endpoint == {"type": TRACKER_STORE_TYPE, "dialect": "postgresql+psycopg2", "url": "db.clinic.example",
                        "port": 5433, "db": "carenav", "username": "care", "password": "s3cr@t:w",
                        "query": {"sslmode": "require"}}
    # through endpoints.yml and EndpointConfig, as the Rasa server reads it
    config = EndpointConfig.from_dict(yaml.safe_load(yaml.safe_dump(endpoint)))
    kw = config.kwargs
    url = SQLTrackerStore.get_db_url(kw["dialect"], config.url, kw["port"], kw["db"], kw["username"],
                                     kw["password"], None, kw["query"])
    assert url == make_url(db_url)


def test_runner_endpoints_file_has_the_tracker_store(tmp_path):
    from bot.runner import write_endpoints

    db_path = tmp_path / "store" / "carenav.db"
    path = write_endpoints(tmp_path / "endpoints.yml", 5355, db_url=f"sqlite:///{db_path}")
    written = yaml.safe_load(path.read_text())
    assert written["action_endpoint"]["url"] == "http://localhost:5355/webhook"
    assert written["action_endpoint"]["headers"]["X-CareNav-Action-Secret"]  # the action server wants it
    assert path.stat().st_mode & 0o077 == 0  # so only its owner reads it
    assert written["tracker_store"] == {"type": TRACKER_STORE_TYPE, "dialect": "sqlite", "db": str(db_path),
                                        "query": {"timeout": "3.0"}}
    assert db_path.parent.is_dir()  # Rasa's SQLTrackerStore would retry forever on a missing folder


def test_root_endpoints_file_uses_the_default_store():
    from bot.store.db import DEFAULT_SQLITE_PATH

    written = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    assert written["tracker_store"] == {"type": TRACKER_STORE_TYPE, "dialect": "sqlite", "db": str(DEFAULT_SQLITE_PATH)}
