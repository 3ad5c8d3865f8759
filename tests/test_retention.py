"""Retention and the patient's rights, on a real store with conversations written by Rasa's own
SQL tracker store (ours): purge drops personal text past the retention period and keeps the
rest; export holds everything about the patient; forget removes their conversations and
messages, keeps the clinical record and the audit trail, and touches no one else."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store import models as m

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A seeded store whose tracker store holds an old and a recent conversation of Maria's, an SMS
    conversation of hers, one of Linda's, and SMS rows old and new."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.sms.provider import phone_ref
    from bot.store.db import Database
    from bot.store.seed import seed_demo
    from bot.tracker_store import RedactingSQLTrackerStore

    monkeypatch.setenv("CARENAV_TOKEN_SECRET", "retention-test-secret-0123456789abcdef0123456789")
    path = tmp_path / "carenav.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    db.create_schema()
    seed_demo(db)
    domain = Domain.load(str(ROOT / "domain.yml"))
    store = RedactingSQLTrackerStore(domain, dialect="sqlite", db=str(path))
    old = time.time() - 120 * 86400
    maria_sms = phone_ref("+15550100101")

    def conversation(sender, patient, words, answer, at=None):
        at = at or time.time()
        events = [ActionExecuted("action_listen", timestamp=at),
                  UserUttered(words, {"name": "ask_medications"}, metadata={"token": "secret-token"}, timestamp=at),
                  SlotSet("patient_id", patient, timestamp=at), BotUttered(answer, timestamp=at)]
        asyncio.run(store.save(DialogueStateTracker.from_events(sender, events, slots=domain.slots)))

    conversation("web-maria-old", "demo-maria", "I'm Maria, born 04/12/1968, what meds", "metformin 500 mg", at=old)
    conversation("web-maria-new", "demo-maria", "what are my medicines", "metformin 500 mg")
    conversation(maria_sms, "demo-maria", "are my results back", "1 result is ready")
    conversation("web-linda", "demo-linda", "what are my medicines", "furosemide 40 mg")
    now = dt.datetime.now()
    long_ago = now - dt.timedelta(days=120)
    with db.session() as s:
        s.add_all([
            m.SmsInbound(message_sid="SMold", from_phone="+15550100101", body="my old words", received_at=long_ago,
                         status="done"),
            m.SmsInbound(message_sid="SMnew", from_phone="+15550100101", body="my new words", received_at=now,
                         status="done"),
            m.SmsOutbox(to_phone="+15550100101", body="an old reply", status="sent", attempts=1, created_at=long_ago),
            m.SmsOutbox(to_phone="+15550100101", body="a new reply", status="sent", attempts=1, created_at=now),
            m.SmsSession(phone="+15550100101", opted_out=False, awaiting_dob=False, failures=0, updated_at=now,
                         pending_text="are my results back"),
            m.SmsSession(phone="+15550100177", opted_out=True, awaiting_dob=False, failures=0, updated_at=long_ago,
                         pending_text="old words of someone who said STOP"),
            m.SmsSession(phone="+15550100178", opted_out=False, awaiting_dob=False, failures=0, updated_at=long_ago),
            m.AuditEvent(at=long_ago, conversation_id="web-maria-old", channel="rest", patient_id="demo-maria",
                         record_kind="medication", action="listed"),
        ])
    yield db, url
    db.dispose()


def texts(url):
    from bot.retention import Conversations

    conversations = Conversations(url)
    try:
        return {sender: [e.get("text") for e in events if e.get("text")]
                for sender, events in conversations.events_of(_all_senders(conversations)).items()}
    finally:
        conversations.dispose()


def _all_senders(conversations):
    with conversations.engine.connect() as conn:
        return set(conn.execute(select(conversations.table.c.sender_id)).scalars().all())


def test_purge_drops_personal_text_past_retention_and_keeps_the_rest(world):
    from bot.retention import purge

    db, url = world
    counts = purge(db, older_than_days=90, tracker_url=url)
    assert counts["conversation events"] == 4 and counts["inbound sms"] == 1 and counts["outgoing sms"] == 1
    kept = texts(url)
    assert "web-maria-old" not in kept and kept["web-maria-new"] == ["what are my medicines", "metformin 500 mg"]
    with db.session() as s:
        assert [r.body for r in s.execute(select(m.SmsInbound)).scalars()] == ["my new words"]
        assert [r.body for r in s.execute(select(m.SmsOutbox)).scalars()] == ["a new reply"]
        sessions = {r.phone: r for r in s.execute(select(m.SmsSession)).scalars()}
        assert "+15550100178" not in sessions  # a stale session is gone
        assert sessions["+15550100177"].opted_out and sessions["+15550100177"].pending_text is None  # STOP kept
        assert sessions["+15550100101"].pending_text == "are my results back"  # recent: kept
        assert s.execute(select(m.AuditEvent).where(m.AuditEvent.conversation_id == "web-maria-old")).first()
    assert not any("secret-token" in json.dumps(t) for t in kept.values())


def test_export_holds_everything_about_the_patient_and_is_audited(world):
    from bot.retention import export

    db, url = world
    data = export(db, "demo-maria", tracker_url=url)
    assert data["patient"]["id"] == "demo-maria" and data["patient"]["birth_date"] == "1968-04-12"
    assert {"web-maria-old", "web-maria-new"} <= set(data["conversations"]) and "web-linda" not in data["conversations"]
    assert any(e.get("text") == "metformin 500 mg" for e in data["conversations"]["web-maria-new"])
    assert {r["body"] for r in data["sms_inbound"]} == {"my old words", "my new words"}
    assert any(r["name"].startswith("metformin") for r in data["medications"])
    assert any(r["action"] == "exported" for r in export(db, "demo-maria", tracker_url=url)["audit_events"])
    json.dumps(data)  # all of it is JSON


def test_forget_removes_the_patients_words_keeps_the_record_and_audit_and_no_one_elses(world):
    from bot.retention import export, forget

    db, url = world
    counts = forget(db, "demo-maria", tracker_url=url)
    assert counts["conversation events"] == 12 and counts["sms sessions"] == 1
    kept = texts(url)
    assert set(kept) == {"web-linda"}  # her web and SMS conversations are gone, Linda's stays
    after = export(db, "demo-maria", tracker_url=url)
    assert after["conversations"] == {} and after["sms_inbound"] == [] and after["sms_outbox"] == []
    assert after["medications"]  # the clinical record stays
    actions = [r["action"] for r in after["audit_events"]]
    assert "forgotten" in actions and "listed" in actions  # the audit trail stays, ids only


def test_the_command_line(world):
    db, url = world
    env = dict(os.environ, CARENAV_DB_URL=url, CARENAV_TOKEN_SECRET=os.environ["CARENAV_TOKEN_SECRET"])

    def carenav(*args):
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    exported = carenav("patient", "export", "demo-linda")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["patient"]["id"] == "demo-linda"
    assert carenav("patient", "forget", "nobody-here").returncode == 1
    purged = carenav("retention", "purge", "--older-than", "90")
    assert purged.returncode == 0 and "conversation events\t4 removed" in purged.stdout
    forgotten = carenav("patient", "forget", "demo-linda")
    assert forgotten.returncode == 0 and "conversation events\t4 removed" in forgotten.stdout
