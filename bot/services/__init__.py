"""Services: what the actions call. Each asks the store and returns a Reply (responses + slots).

A Reply names responses from domain.yml and fills their variables; the words live in the
domain (with short SMS variants) and, for the pieces of sentences built from facts, in
bot/knowledge/phrases.yml (`phrase`); the facts come from the store. `short` is True on SMS.

Language: phrases come in the current language (bot.texts.use_language, set by the action from
the conversation's `language` slot), and so do the store's vocabulary words a Reply passes to a
response (a specialty, a referral's status: bot.texts.term); Rasa picks the response's own
language variation from the same slot.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from bot.texts import localized, phrase

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
        # plain strings (a Day is one with more to it), store vocabulary in the current language
        plain = {k: str(v) if isinstance(v, str) else v for k, v in localized(variables).items()}
        self.says.append(Say(response, plain, buttons))
        return self


def button(title: str, intent: str, **entities) -> Dict[str, str]:
    """A button that sends an intent (with entities) straight to the dialogue."""
    import json

    payload = f"/{intent}" + (json.dumps(entities, separators=(",", ":")) if entities else "")
    return {"title": title, "payload": payload}


class Day(str):
    """A date in words ('Tuesday, December 3', 'tomorrow'), and as `.on` the same date where it
    follows a verb or a preposition: Spanish puts an article before a weekday ('vence el martes 3
    de diciembre') but none before 'hoy' or 'mañana'. A phrase writes `{day.on}` there."""

    on: str

    def __new__(cls, words: str, on: Optional[str] = None) -> "Day":
        made = super().__new__(cls, words)
        made.on = words if on is None else on
        return made


def day(d: Optional[dt.date], today: Optional[dt.date] = None) -> Day:
    """'today', 'tomorrow', 'yesterday', or 'Tuesday, December 3' ('martes 3 de diciembre'), with
    the year when it is not this year's; in the current language."""
    if d is None:
        return Day(phrase("date.none"))
    if isinstance(d, dt.datetime):
        d = d.date()
    today = today or dt.date.today()
    near = {0: "date.today", 1: "date.tomorrow", -1: "date.yesterday"}.get((d - today).days)
    if near:
        return Day(phrase(near))
    names = {"weekday": phrase(f"date.weekday.{d.weekday()}"), "month": phrase(f"date.month.{d.month}")}
    if d.year == today.year:
        words = phrase("date.day", day=d.day, **names)
    else:
        words = phrase("date.day_year", day=d.day, year=d.year, **names)
    return Day(words, phrase("date.on", day=words))


def time_of_day(t: dt.datetime) -> str:
    minutes = f":{t.minute:02d}" if t.minute else ""
    return phrase("time.am" if t.hour < 12 else "time.pm", hour=t.hour % 12 or 12, minutes=minutes)


def when(t: dt.datetime, today: Optional[dt.date] = None) -> Day:
    """'Thursday, March 19 at 10:30 am' ('jueves 19 de marzo a las 10:30 a. m.')."""
    on_day, at = day(t.date(), today), time_of_day(t)
    key = "date.when_one" if t.hour % 12 == 1 else "date.when"  # Spanish: "a la una", "a las dos"
    return Day(phrase(key, day=on_day, time=at), phrase(key, day=on_day.on, time=at))


def bullets(items: Sequence[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def limited(items: Sequence[Any], short: bool) -> tuple:
    """(the first few items, how many more there are)."""
    limit = SMS_LIST_LIMIT if short else LIST_LIMIT
    return list(items[:limit]), max(0, len(items) - limit)
