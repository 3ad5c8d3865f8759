"""A tiny REST client for the running assistant (Rasa's REST channel)."""
from __future__ import annotations

from typing import Any, Optional

import requests


class RestChat:
    def __init__(self, base_url: str, sender: str, token: Optional[str] = None) -> None:
        self.url = f"{base_url}/webhooks/rest/webhook"
        self.sender = sender
        self.token = token

    def say(self, message: str, **metadata: Any) -> list[dict]:
        body: dict[str, Any] = {"sender": self.sender, "message": message}
        meta = dict(metadata)
        if self.token:
            meta.setdefault("token", self.token)
        if meta:
            body["metadata"] = meta
        response = requests.post(self.url, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def text(self, message: str, **metadata: Any) -> str:
        """All the assistant's reply texts to one message, joined with newlines."""
        return "\n".join(m.get("text", "") for m in self.say(message, **metadata))
