"""Conversations are kept in the SQL tracker store of the running server, without the sign-in token,
and a kept conversation exports as a test story that `rasa test` reads and passes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from tests.integration.rest import RestChat

ROOT = Path(__file__).resolve().parents[2]


def _stored_events(db_url: str, sender: str) -> list[dict]:
    engine = create_engine(db_url, future=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})
            return [json.loads(r[0]) for r in rows]
    finally:
        engine.dispose()


def test_a_conversation_is_stored_without_its_token_and_exports_as_a_passing_story(
        assistant, demo_db_url, sender, token_for, tmp_path):
    token = token_for("demo-james")
    chat = RestChat(f"http://localhost:{assistant.ports.rasa}", sender, token=token)
    assert "chest discomfort" in chat.text("why was i referred")
    chat.text("what should i ask them")
    chat.text("thanks")

    events = _stored_events(demo_db_url, sender)
    said = [e.get("text") for e in events if e.get("event") == "user"]
    assert said == ["why was i referred", "what should i ask them", "thanks"]
    raw = json.dumps(events)
    assert token not in raw and token.split(".")[2] not in raw  # no sign-in credential kept

    env = dict(os.environ, CARENAV_DB_URL=demo_db_url, RASA_TELEMETRY_ENABLED="false", PYTHONWARNINGS="ignore")
    story_file = tmp_path / "stories" / "test_exported.yml"
    story_file.parent.mkdir()
    result = subprocess.run([sys.executable, "-m", "bot.cli", "story", "export", sender, "--out", str(story_file)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    written = story_file.read_text()
    for private in ("James", "Carter", "demo-james", token[:20], "chest discomfort"):
        assert private not in written
    steps = yaml.safe_load(written)["stories"][0]["steps"]
    assert [s.get("intent") for s in steps if "intent" in s] == \
        ["ask_referral_reason", "ask_questions_to_ask", "thank"]
    assert [s["action"] for s in steps if "action" in s] == \
        ["action_referral_reason", "action_questions_to_ask", "utter_youre_welcome"]

    from bot.modeling import model_path, rasa_executable

    tested = subprocess.run([rasa_executable(), "test", "core", "--model", str(model_path()),
                             "--stories", str(story_file.parent), "--out", str(tmp_path / "results"),
                             "--fail-on-prediction-errors"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
