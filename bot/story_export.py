"""`carenav story export`: one conversation from the tracker store as a Rasa test story.

The conversation is read with Rasa's own SQLTrackerStore (the same endpoint `carenav run` gives
Rasa, see bot/tracker_store.py) and written with Rasa's YAMLStoryWriter, ready for tests/ and
`rasa test`. The patient's data stays out of it:

- only slots that drive the dialogue (`influence_conversation` in the domain, e.g. emergency_type)
  are kept; the identity and record slots (patient_id, focus_referral, last_questions, ...) and
  every other slot an action or an entity set are dropped;
- no metadata, no bot text, no parse data: user turns keep their intent, their text with dates,
  phone numbers, e-mail addresses, long digit runs, ids and the bound patient's name replaced by
  placeholders, and entities (type and canonical value) only where the value was not redacted.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from bot.modeling import PROJECT_ROOT
from bot.store.db import Database, StoreConfigError, error_reason
from bot.tracker_store import tracker_store_endpoint

# Slots that name the patient or their records: never exported, whatever the domain says.
IDENTITY_SLOTS = ("patient_id", "sms_verified_patient", "focus_referral", "last_situation",
                  "last_specialty", "last_questions")
# Slots (and metadata keys) whose value is a patient id, for the name look-up.
PATIENT_ID_KEYS = ("patient_id", "sms_verified_patient")
# Entities whose value is a record id of the store (button payloads such as report_task_done).
RECORD_ID_ENTITIES = ("activity_id",)
KEPT_ENTITY_KEYS = ("entity", "value", "start", "end", "role", "group")

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# (placeholder, pattern), in the order they are applied; later ones never cut into earlier matches.
# Placeholders are <kind>, not [kind]: a square bracket inside an entity annotation such as
# `[call 911 for [name]]{"entity": "emergency_type", ...}` would break Rasa's annotation syntax.
PATTERNS: Tuple[Tuple[str, "re.Pattern[str]"], ...] = tuple(
    (placeholder, re.compile(pattern, re.IGNORECASE)) for placeholder, pattern in (
        ("<email>", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
        ("<date>", r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b"),                      # 1968-04-12
        ("<date>", r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"),                     # 04/12/1968, 4.12.68
        ("<date>", rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+\d{{2,4}}\b)?"),              # April 12 1968
        ("<date>", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{2,4}}\b)?"),       # 12th of April, 1968
        ("<date>", r"\b\d{1,2}/\d{1,2}\b"),                                     # 4/12
        ("<phone>", r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}\b"),
        ("<number>", r"\d{4,}"),                                               # MRNs, zip codes, years
    )
)
NAME_PLACEHOLDER = "<name>"
ID_PLACEHOLDER = "<id>"


class ConversationNotFound(LookupError):
    """The tracker store has no conversation for this sender id."""


class CannotRedact(RuntimeError):
    """The conversation's patient is not in the care-plan store, so their name cannot be taken out."""


# --------------------------------------------------------------------------- redaction

@dataclass(frozen=True)
class Redaction:
    start: int  # in the original text
    end: int
    new_start: int  # in the redacted text
    new_end: int


@dataclass(frozen=True)
class Redactor:
    """Finds the patient's data in a message and replaces it with placeholders."""

    name_tokens: Tuple[str, ...] = ()
    ids: Tuple[str, ...] = ()

    def _patterns(self) -> List[Tuple[str, "re.Pattern[str]"]]:
        patterns = list(PATTERNS)
        if self.ids:
            alternatives = "|".join(re.escape(i) for i in sorted(self.ids, key=len, reverse=True))
            patterns.insert(0, (ID_PLACEHOLDER, re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.I)))
        if self.name_tokens:
            alternatives = "|".join(re.escape(t) for t in sorted(self.name_tokens, key=len, reverse=True))
            patterns.append((NAME_PLACEHOLDER, re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)))
        return patterns

    def redact(self, text: str) -> Tuple[str, List[Redaction]]:
        """The text with the patient's data replaced, and where each replacement went."""
        found: List[Tuple[int, int, str]] = []
        for placeholder, pattern in self._patterns():
            for match in pattern.finditer(text):
                start, end = match.span()
                if start < end and not any(start < e and s < end for s, e, _ in found):
                    found.append((start, end, placeholder))
        out: List[str] = []
        cuts: List[Redaction] = []
        pos = new_pos = 0
        for start, end, placeholder in sorted(found):
            out.append(text[pos:start])
            new_pos += start - pos
            out.append(placeholder)
            cuts.append(Redaction(start, end, new_pos, new_pos + len(placeholder)))
            new_pos += len(placeholder)
            pos = end
        out.append(text[pos:])
        return "".join(out), cuts

    def changes(self, value: Any) -> bool:
        return isinstance(value, str) and self.redact(value)[0] != value


def _moved(pos: int, cuts: Sequence[Redaction], is_end: bool) -> int:
    """Where a character offset of the original text is in the redacted text."""
    shift = 0
    for cut in cuts:
        if pos <= cut.start:
            break
        if pos < cut.end:
            return cut.new_end if is_end else cut.new_start
        shift = cut.new_end - cut.end
    return pos + shift


def redactor_for(patient_ids: Iterable[str], db: Optional[Database] = None) -> Redactor:
    """A redactor for the patients this conversation was bound to (names from the care-plan store)."""
    ids = tuple(sorted({i for i in patient_ids if i}))
    if not ids:
        return Redactor()
    from bot.store.queries import CareStore

    own = db is None
    db = db or Database()
    try:
        db.check()
        patients = {patient_id: CareStore(db).patient(patient_id) for patient_id in ids}
    finally:
        if own:
            db.dispose()
    tokens = set()
    for patient_id, patient in patients.items():
        if patient is None:
            raise CannotRedact(f"the conversation's patient {patient_id!r} is not in the care-plan store at "
                               f"{db.safe_url}, so their name cannot be taken out; not exported")
        for word in re.split(r"\s+", f"{patient.given_name} {patient.display_name}"):
            for token in {word, *re.split(r"[-']", word)}:
                token = token.strip(".,")
                if len(token) >= 2:
                    tokens.add(token)
    return Redactor(name_tokens=tuple(sorted(tokens)), ids=ids)


# --------------------------------------------------------------------------- events

def patient_ids_in(events: Iterable[Any]) -> List[str]:
    """Every patient id the conversation was bound to (slots, and the SMS channel's metadata)."""
    from rasa.shared.core.events import SlotSet, UserUttered

    found: List[str] = []
    for event in events:
        if isinstance(event, SlotSet) and event.key in PATIENT_ID_KEYS and isinstance(event.value, str):
            found.append(event.value)
        elif isinstance(event, UserUttered):
            for key in PATIENT_ID_KEYS:
                value = (event.metadata or {}).get(key)
                if isinstance(value, str):
                    found.append(value)
    return found


def _clean_user_turn(event: Any, redactor: Redactor) -> Any:
    from rasa.shared.constants import INTENT_MESSAGE_PREFIX
    from rasa.shared.core.events import UserUttered
    from rasa.shared.nlu.constants import FULL_RETRIEVAL_INTENT_NAME_KEY, INTENT_NAME_KEY

    intent: Dict[str, Any] = {}
    if event.intent_name:
        intent[INTENT_NAME_KEY] = event.intent_name
        if event.full_retrieval_intent_name:
            intent[FULL_RETRIEVAL_INTENT_NAME_KEY] = event.full_retrieval_intent_name
    text = event.text or ""
    entities: List[Dict[str, Any]] = []
    if text.startswith(INTENT_MESSAGE_PREFIX):  # a button payload: /intent{"entity": "value"}
        for entity in event.entities:
            if entity.get("entity") in RECORD_ID_ENTITIES or redactor.changes(entity.get("value")):
                continue
            entities.append({k: entity[k] for k in ("entity", "value", "role", "group") if k in entity})
        values = {e["entity"]: e["value"] for e in entities}
        text = f"{INTENT_MESSAGE_PREFIX}{event.intent_name or ''}" + (
            json.dumps(values, separators=(",", ":")) if values else "")
    else:
        original = text
        text, cuts = redactor.redact(original)
        for entity in event.entities:
            value = entity.get("value")
            if entity.get("entity") in RECORD_ID_ENTITIES or redactor.changes(value):
                continue
            kept = {k: entity[k] for k in KEPT_ENTITY_KEYS if k in entity}
            if "start" in entity and "end" in entity:
                start, end = entity["start"], entity["end"]
                touched = any(start < c.end and c.start < end for c in cuts)
                literal = original[start:end].strip().lower() == str(value).strip().lower()
                if touched and literal:  # its value is the very text that was redacted
                    continue
                kept["start"], kept["end"] = _moved(start, cuts, False), _moved(end, cuts, True)
            entities.append(kept)
    return UserUttered(text or None, intent or None, entities, use_text_for_featurization=False)


def story_events(events: Iterable[Any], dialogue_slots: Iterable[str], redactor: Redactor) -> List[Any]:
    """The conversation's events as a test story needs them, with the patient's data taken out."""
    from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered

    keep_slots = set(dialogue_slots) - set(IDENTITY_SLOTS)
    kept: List[Any] = []
    for event in events:
        if isinstance(event, UserUttered):
            kept.append(_clean_user_turn(event, redactor))
        elif isinstance(event, ActionExecuted) and event.action_name:
            kept.append(ActionExecuted(event.action_name))  # no policy, confidence, metadata or bot text
        elif isinstance(event, SlotSet) and event.key in keep_slots and not redactor.changes(event.value):
            kept.append(SlotSet(event.key, event.value))
        elif isinstance(event, ActiveLoop):
            kept.append(ActiveLoop(event.name))
        # BotUttered, SessionStarted, reminders, reverts, ...: not part of a story
    return kept


def story_name(sender_id: str, events: Sequence[Any]) -> str:
    stamps = [e.timestamp for e in events if getattr(e, "timestamp", None)]
    when = dt.datetime.fromtimestamp(min(stamps), dt.timezone.utc) if stamps else dt.datetime.now(dt.timezone.utc)
    return f"exported conversation {sender_id} {when:%Y-%m-%d}"


def as_test_story(tracker: Any, domain: Any, db: Optional[Database] = None) -> str:
    """The tracker's conversation as a YAML test story, without the patient's data."""
    from rasa.shared.core.training_data.story_writer.yaml_story_writer import YAMLStoryWriter
    from rasa.shared.core.training_data.structures import Story

    events = list(tracker.events)
    redactor = redactor_for(patient_ids_in(events), db)
    dialogue_slots = [slot.name for slot in domain.slots if slot.influence_conversation]
    story = Story.from_events(story_events(events, dialogue_slots, redactor),
                              story_name(tracker.sender_id, events))
    return YAMLStoryWriter().dumps(story.story_steps, is_test_story=True)


# --------------------------------------------------------------------------- tracker store

def _check_tracker_store(endpoint: Dict[str, Any]) -> bool:
    """Raise StoreConfigError if the store cannot be reached; False if it has no conversations yet.

    (Rasa's SQLTrackerStore would wait forever, retrying every 5 s, for an unreachable database.)
    """
    from pathlib import Path

    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    if endpoint["dialect"].startswith("sqlite") and not Path(endpoint["db"]).is_file():
        raise StoreConfigError(f"no tracker store at {endpoint['db']} (the assistant has not stored "
                               "any conversation there)")
    url = SQLTrackerStore.get_db_url(endpoint["dialect"], endpoint.get("url"), endpoint.get("port"),
                                     endpoint.get("db", "rasa.db"), endpoint.get("username"),
                                     endpoint.get("password"), None, endpoint.get("query"))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table(SQLTrackerStore.SQLEvent.__tablename__)
    except SQLAlchemyError as exc:
        safe = engine.url.render_as_string(hide_password=True)
        reason = error_reason(exc)
        raise StoreConfigError(f"cannot reach the tracker store at {safe}: {reason}") from exc
    finally:
        engine.dispose()


def load_tracker(sender_id: str, tracker_db_url: str, domain: Any) -> Any:
    """The sender's latest conversation session from the tracker store (Rasa's SQLTrackerStore)."""
    from rasa.core.tracker_store import TrackerStore
    from rasa.utils.endpoints import EndpointConfig

    endpoint = tracker_store_endpoint(tracker_db_url)
    if not _check_tracker_store(endpoint):
        raise ConversationNotFound(sender_id)
    store = TrackerStore.create(EndpointConfig.from_dict(endpoint), domain=domain)
    try:
        tracker = asyncio.run(store.retrieve(sender_id))
    finally:
        engine = getattr(store, "engine", None) or getattr(getattr(store, "_tracker_store", None), "engine", None)
        if engine is not None:
            engine.dispose()
    if tracker is None or not tracker.events:
        raise ConversationNotFound(sender_id)
    return tracker


def export_test_story(sender_id: str, tracker_db_url: str, db: Optional[Database] = None) -> str:
    """`carenav story export SENDER_ID`: the conversation as a YAML test story."""
    # Rasa's and SQLAlchemy's deprecation notices are not for staff. Libraries Rasa imports add
    # their own warning filters, so silence the display too (catch_warnings restores both).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.showwarning = lambda *args, **kwargs: None
        from rasa.shared.core.domain import Domain

        domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
        tracker = load_tracker(sender_id, tracker_db_url, domain)
        return as_test_story(tracker, domain, db)
