"""Run actions the way the action server does: a Tracker, a dispatcher, the seeded demo store.

Replies are rendered with the responses in domain.yml (the channel's variant when it has one),
so tests read what the patient would read.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa.core.nlg.interpolator import interpolate_text
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-for-actions-0123456789abcdef0123456789abcdef0123456789"


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


@pytest.fixture(autouse=True)
def action_env(demo_db_url, monkeypatch):
    from actions.base import care_store

    monkeypatch.setenv("CARENAV_DB_URL", demo_db_url)
    monkeypatch.setenv("CARENAV_TOKEN_SECRET", SECRET)
    care_store.cache_clear()
    yield
    care_store.cache_clear()


def render(message: Dict[str, Any], domain: Dict[str, Any], channel: str) -> str:
    name = message.get("response")
    if not name:
        return message.get("text") or ""
    variants = domain["responses"][name]
    chosen = [v for v in variants if v.get("channel") == channel] or [v for v in variants if not v.get("channel")]
    assert chosen, f"{name} has no variant for channel {channel}"
    values = {k: v for k, v in message.items() if k not in ("response", "template", "buttons", "text")}
    return interpolate_text(chosen[0]["text"], values)


@dataclass
class Turn:
    texts: List[str]
    buttons: List[Dict[str, str]]
    events: List[Dict[str, Any]]
    responses: List[str]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def slot(self, name: str) -> Any:
        values = [e["value"] for e in self.events if e.get("event") == "slot" and e.get("name") == name]
        return values[-1] if values else None


@dataclass
class Conversation:
    domain: Dict[str, Any]
    patient_id: Optional[str] = None
    channel: str = "rest"
    sender_id: str = "conv-test"
    slots: Dict[str, Any] = field(default_factory=dict)
    token: Optional[str] = None

    def run(self, action, text: str = "", intent: str = "", entities: Optional[List[Dict[str, Any]]] = None,
            token: Optional[str] = "default", metadata: Optional[Dict[str, Any]] = None) -> Turn:
        from bot.identity import issue_token

        if token == "default":
            token = self.token or (issue_token(self.patient_id) if self.patient_id else None)
        metadata = dict(metadata or {})
        if token:
            metadata["token"] = token
        latest = {"text": text, "intent": {"name": intent, "confidence": 0.99},
                  "entities": entities or [], "metadata": metadata, "intent_ranking": []}
        events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": self.channel,
                   "metadata": metadata}]
        tracker = Tracker(self.sender_id, dict(self.slots), latest, events, False, None, None, "action_listen")
        dispatcher = CollectingDispatcher()
        out = asyncio.run(action.run(dispatcher, tracker, self.domain))
        for e in out:
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]
        said = [m for m in dispatcher.messages if m.get("response") or m.get("text")]
        return Turn(texts=[render(m, self.domain, self.channel) for m in said],
                    buttons=[b for m in dispatcher.messages for b in (m.get("buttons") or [])],
                    events=out, responses=[m.get("response") for m in said])


@pytest.fixture
def chat(domain):
    def make(patient_id: Optional[str] = None, channel: str = "rest", **kw) -> Conversation:
        return Conversation(domain=domain, patient_id=patient_id, channel=channel, **kw)
    return make


def ent(name: str, value: str) -> Dict[str, Any]:
    return {"entity": name, "value": value}
