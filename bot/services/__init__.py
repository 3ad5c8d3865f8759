"""Services: what the actions call. Each asks the store and returns a Reply (responses + slots).

A Reply names responses from domain.yml and fills their variables; the words live in the
domain (with short SMS variants) and, for the pieces of sentences built from facts, in
bot/knowledge/phrases.yml (`phrase`); the facts come from the store. `short` is True on SMS.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from bot.texts import phrase

LIST_LIMIT = 5  # long lists: the first few, then an offer of more
SMS_LIST_LIMIT = 3


@dataclass
class Say:
    response: str
    variables: Dict[str, Any] = field(default_factory=dict)
    buttons: Optional[List[Dict[str, str]]] = None


@dataclass
class Reply:
    says: List[Say] = field(default_factory=list)
    slots: Dict[str, Any] = field(default_factory=dict)
    # (record kind, action) pairs disclosed to the patient, for the audit log
    disclosed: List[tuple] = field(default_factory=list)

    def say(self, response: str, buttons: Optional[List[Dict[str, str]]] = None, **variables) -> "Reply":
        self.says.append(Say(response, variables, buttons))
        return self


def button(title: str, intent: str, **entities) -> Dict[str, str]:
    """A button that sends an intent (with entities) straight to the dialogue."""
    import json

    payload = f"/{intent}" + (json.dumps(entities, separators=(",", ":")) if entities else "")
    return {"title": title, "payload": payload}


def day(d: Optional[dt.date], today: Optional[dt.date] = None) -> str:
    """'today', 'tomorrow', 'yesterday', or 'Tuesday, December 3'."""
    if d is None:
        return phrase("date.none")
    if isinstance(d, dt.datetime):
        d = d.date()
    today = today or dt.date.today()
    near = {0: "date.today", 1: "date.tomorrow", -1: "date.yesterday"}.get((d - today).days)
    if near:
        return phrase(near)
    if d.year == today.year:
        return phrase("date.day", weekday=f"{d:%A}", month=f"{d:%B}", day=d.day)
    return phrase("date.day_year", weekday=f"{d:%A}", month=f"{d:%B}", day=d.day, year=d.year)


def time_of_day(t: dt.datetime) -> str:
    minutes = f":{t.minute:02d}" if t.minute else ""
    return phrase("time.am" if t.hour < 12 else "time.pm", hour=t.hour % 12 or 12, minutes=minutes)


def when(t: dt.datetime, today: Optional[dt.date] = None) -> str:
    return phrase("date.when", day=day(t.date(), today), time=time_of_day(t))


def bullets(items: Sequence[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def limited(items: Sequence[Any], short: bool) -> tuple:
    """(the first few items, how many more there are)."""
    limit = SMS_LIST_LIMIT if short else LIST_LIMIT
    return list(items[:limit]), max(0, len(items) - limit)
