"""Conversation review: what the care team reads of a patient's conversations with the assistant.

Conversations are read from Rasa's tracker store (its `events` table, see bot/tracker_store.py)
with SQLAlchemy, one patient's conversations at a time (filtered by sender id and event type in
SQL). Only conversations bound to the patient (their `patient_id` slot was set to them, from a
verified identity) are shown; asking for any other sender id is a LookupError, so a staff member
cannot read a conversation by guessing its id.

- `conversations_of`: the patient's conversations, most recently active first, with how many
  patient turns each had and how many were flagged.
- `conversation`: one conversation, turn by turn, patient turns with their intent and confidence.
- `keep_as_story`: one conversation written as a Rasa test story, without the patient's data
  (bot/story_export.py), for tests/.
- `daily_stats`: patient turns, fallbacks and emergencies per day over all conversations (counts
  only, no patient data).

Each patient turn gets at most one flag, the first that applies:
- "emergency": answered with an emergency answer (a domain response whose name contains
  "emergency", e.g. utter_emergency_911), or the safety screen marked it (intent report_emergency,
  or the emergency_type / emergency_category slot set from it);
- "fallback": its intent is nlu_fallback, or the assistant answered with a fallback action or
  utterance (the policies' core fallback action, utter_default, utter_ask_rephrase);
- "unsure": its top intent's confidence is below the FallbackClassifier threshold in config.yml.
The assistant's turns are flagged "emergency" or "fallback" when they are such an answer.

Every view is audited like the queues' (who, which patient, what; ids only): channel "staff",
record kind "conversation", the staff member's email as actor. The daily statistics are not.
Times are the server's local time, as in the rest of the store.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Union

import yaml
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import make_url

from bot.modeling import PROJECT_ROOT
from bot.retention import Conversations
from bot.store import models as m

log = logging.getLogger(__name__)

RECORD_KIND = "conversation"
FALLBACK_INTENT = "nlu_fallback"
EMERGENCY_INTENT = "report_emergency"
EMERGENCY_SLOTS = ("emergency_type", "emergency_category")
PATIENT_SLOT = "patient_id"
# Rasa's own: the core fallback, and what the two-stage fallback says when it gives up or asks to rephrase
FALLBACK_ACTIONS = ("action_default_fallback", "action_default_ask_rephrase")
FALLBACK_UTTERANCES = ("utter_default", "utter_ask_rephrase")
TWO_STAGE_FALLBACK = "action_two_stage_fallback"  # its question is a fallback answer; see _walk
RASA_DEFAULT_FALLBACK_THRESHOLD = 0.3  # FallbackClassifier's default
EXTERNAL_PREFIX = "EXTERNAL: "  # an intent triggered from outside (reminders, external events), not the patient
LATE_ANSWER_SECONDS = 3600  # daily_stats reads this long past the last day, for the answers to its last turns


# --------------------------------------------------------------------------- what is flagged

def _read_yaml(path: Path) -> Dict[str, Any]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return raw if isinstance(raw, dict) else {}


@lru_cache(maxsize=1)
def unsure_threshold() -> float:
    """The FallbackClassifier's threshold in config.yml: a patient turn below it is "unsure"."""
    for component in _read_yaml(PROJECT_ROOT / "config.yml").get("pipeline") or []:
        if isinstance(component, dict) and component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", RASA_DEFAULT_FALLBACK_THRESHOLD))
    return RASA_DEFAULT_FALLBACK_THRESHOLD


@lru_cache(maxsize=1)
def fallback_actions() -> FrozenSet[str]:
    """Actions and utterances that mean the assistant did not understand the turn before."""
    names = set(FALLBACK_ACTIONS) | set(FALLBACK_UTTERANCES)
    for policy in _read_yaml(PROJECT_ROOT / "config.yml").get("policies") or []:
        if isinstance(policy, dict) and policy.get("core_fallback_action_name"):
            names.add(str(policy["core_fallback_action_name"]))
    return frozenset(names)


@lru_cache(maxsize=1)
def emergency_answers() -> FrozenSet[str]:
    """The domain's emergency answers (utter_emergency_911, ...)."""
    responses = _read_yaml(PROJECT_ROOT / "domain.yml").get("responses") or {}
    return frozenset(name for name in responses if "emergency" in name)


# --------------------------------------------------------------------------- reading the tracker store

@dataclass
class _Row:
    sender_id: str
    type_name: str
    timestamp: Optional[float]
    action_name: Optional[str]
    data: Optional[str]


@dataclass
class _Turn:
    at: Optional[float]
    who: str  # patient | assistant
    text: Optional[str]
    intent: Optional[str] = None
    confidence: Optional[float] = None
    flag: Optional[str] = None
    channel: Optional[str] = None
    message_id: Optional[str] = None
    fallback: bool = False  # signals, for a patient turn
    emergency: bool = False


def _open(tracker_url: str) -> Optional[Conversations]:
    """The tracker store, or None when it holds no conversations (a SQLite file that does not exist
    is not created)."""
    url = make_url(tracker_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not Path(url.database).is_file():
        return None
    conversations = Conversations(tracker_url)
    if conversations.table is None:
        conversations.dispose()
        return None
    return conversations


def _like(value: str) -> str:
    """`value` as a LIKE pattern matching it anywhere (with escape character backslash)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json(data: Optional[str]) -> Dict[str, Any]:
    try:
        event = json.loads(data or "{}")
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _bound_senders(conversations: Conversations, patient_id: str, sender_id: Optional[str] = None) -> Set[str]:
    """The conversations whose patient_id slot was set to this patient (of `sender_id` only, if given)."""
    t = conversations.table
    assert t is not None
    query = select(t.c.sender_id, t.c.data).where(
        t.c.type_name == "slot", t.c.data.like(_like(json.dumps(patient_id)), escape="\\"))
    if sender_id is not None:
        query = query.where(t.c.sender_id == sender_id)
    with conversations.engine.connect() as conn:
        rows = conn.execute(query).all()
    found = set()
    for sender, data in rows:
        event = _json(data)
        if event.get("name") == PATIENT_SLOT and event.get("value") == patient_id:
            found.add(sender)
    return found


def _events(conversations: Conversations, senders: Optional[Sequence[str]] = None,
            since: Optional[float] = None, until: Optional[float] = None, bot_text: bool = False) -> List[_Row]:
    """The events the review needs, in order per sender: patient turns, actions, reverts, the
    emergency slots, and the assistant's messages (all of them with `bot_text`, else only the
    fallback and emergency answers)."""
    t = conversations.table
    assert t is not None
    answers = sorted(fallback_actions() | emergency_answers())
    bot = t.c.type_name == "bot"
    if not bot_text:
        bot = and_(bot, or_(*(t.c.data.like(_like(json.dumps(name)), escape="\\") for name in answers)))
    slots = and_(t.c.type_name == "slot",
                 or_(*(t.c.data.like(_like(json.dumps(name)), escape="\\") for name in EMERGENCY_SLOTS)))
    query = select(t.c.sender_id, t.c.type_name, t.c.timestamp, t.c.action_name, t.c.data).where(
        or_(t.c.type_name.in_(("user", "action", "rewind")), bot, slots))
    if senders is not None:
        query = query.where(t.c.sender_id.in_(list(senders)))
    if since is not None:
        query = query.where(t.c.timestamp >= since)
    if until is not None:
        query = query.where(t.c.timestamp < until)
    with conversations.engine.connect() as conn:
        rows = conn.execute(query.order_by(t.c.sender_id, t.c.id)).all()
    return [_Row(*row) for row in rows]


def _confidence(intent: Dict[str, Any]) -> float:
    try:
        return float(intent.get("confidence") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _walk(rows: Iterable[_Row]) -> List[_Turn]:
    """One conversation's turns (rows of one sender, in order), flagged."""
    emergency, fallback = emergency_answers(), fallback_actions()
    turns: List[_Turn] = []
    current: Optional[_Turn] = None  # the patient turn the assistant is answering
    reverted: Optional[_Turn] = None
    last_action: Optional[str] = None
    for row in rows:
        if row.type_name == "user":
            event = _json(row.data)
            text = event.get("text")
            if isinstance(text, str) and text.startswith(EXTERNAL_PREFIX):
                current = reverted = None
                continue
            if reverted is not None and (text, event.get("message_id")) == (reverted.text, reverted.message_id):
                # the two-stage fallback's clarification: a copy of the patient's message (same id) once
                # they chose its meaning from the buttons; the same turn, not a new one
                current, reverted = reverted, None
                continue
            reverted = None
            intent = (event.get("parse_data") or {}).get("intent") or {}
            name = intent.get("name") if isinstance(intent, dict) else None
            current = _Turn(at=row.timestamp, who="patient", text=text, intent=name,
                            confidence=_confidence(intent) if isinstance(intent, dict) else 0.0,
                            channel=event.get("input_channel"), message_id=event.get("message_id"))
            current.fallback = name == FALLBACK_INTENT
            current.emergency = name == EMERGENCY_INTENT
            turns.append(current)
        elif row.type_name == "action":
            last_action = row.action_name
            if current is not None and last_action in emergency:
                current.emergency = True
            elif current is not None and last_action in fallback:
                current.fallback = True
        elif row.type_name == "slot":
            event = _json(row.data)
            if current is not None and event.get("name") in EMERGENCY_SLOTS and event.get("value"):
                current.emergency = True
        elif row.type_name == "rewind":  # UserUtteranceReverted: the last patient turn is taken back
            # by the two-stage fallback, which then adds the clarified copy of it (see above); the
            # core fallback's revert is followed by the patient's next message, a new turn
            reverted = current if last_action == TWO_STAGE_FALLBACK else None
            current = None
        elif row.type_name == "bot":
            event = _json(row.data)
            said = (event.get("metadata") or {}).get("utter_action") or last_action
            flag = None
            if said in emergency or last_action in emergency:
                flag = "emergency"
            elif said in fallback or last_action in fallback or last_action == TWO_STAGE_FALLBACK:
                flag = "fallback"
            if current is not None and said in emergency:
                current.emergency = True
            elif current is not None and said in fallback:
                current.fallback = True
            turns.append(_Turn(at=row.timestamp, who="assistant", text=event.get("text"), flag=flag))
    threshold = unsure_threshold()
    for turn in turns:
        if turn.who != "patient":
            continue
        if turn.emergency:
            turn.flag = "emergency"
        elif turn.fallback:
            turn.flag = "fallback"
        elif (turn.confidence or 0.0) < threshold:
            turn.flag = "unsure"
    return turns


def _by_sender(rows: List[_Row]) -> Dict[str, List[_Turn]]:
    return {sender: _walk(group) for sender, group in itertools.groupby(rows, key=lambda r: r.sender_id)}


def _iso(timestamp: Optional[float]) -> Optional[str]:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")


def _channel(turns: Sequence[_Turn]) -> Optional[str]:
    """The channel of the conversation's latest patient turn that has one."""
    for turn in reversed(turns):
        if turn.who == "patient" and turn.channel:
            return turn.channel
    return None


def _patient_turns(turns: Sequence[_Turn], flag: Optional[str] = None) -> int:
    return sum(1 for t in turns if t.who == "patient" and (flag is None or t.flag == flag))


def _audit(db, staff_email: str, patient_id: str, action: str, now: Optional[dt.datetime],
           conversation_id: Optional[str] = None) -> None:
    with db.session() as s:
        s.add(m.AuditEvent(at=now or dt.datetime.now(), conversation_id=conversation_id, channel="staff",
                           patient_id=patient_id, record_kind=RECORD_KIND, action=action, actor=staff_email))


def _outreach_senders(db, patient_id: str) -> Set[str]:
    """The SMS conversations the assistant's outreach to this patient went to (their number's)."""
    with db.session() as s:
        return {c for c in s.execute(select(m.Outreach.conversation_id).where(
            m.Outreach.patient_id == patient_id, m.Outreach.conversation_id.isnot(None)).distinct()).scalars()}


def _check_bound(conversations: Optional[Conversations], staff_email: str, patient_id: str, sender_id: str,
                 db=None) -> None:
    theirs = sender_id in _outreach_senders(db, patient_id) if db is not None else False
    if conversations is None or not (theirs or sender_id in _bound_senders(conversations, patient_id, sender_id)):
        log.warning("staff %s asked for conversation=%s as patient=%s's: not one of theirs; refused",
                    staff_email, sender_id, patient_id)
        raise LookupError(f"no conversation {sender_id!r} of patient {patient_id!r}")


# --------------------------------------------------------------------------- the console's views

def conversations_of(db, tracker_url: str, staff_email: str, patient_id: str,
                     now: Optional[dt.datetime] = None) -> List[dict]:
    """The patient's conversations, most recently active first, with their counts; audited."""
    out: List[dict] = []
    conversations = _open(tracker_url)
    if conversations is not None:
        try:
            senders = sorted(_bound_senders(conversations, patient_id) | _outreach_senders(db, patient_id))
            if senders:
                t = conversations.table
                assert t is not None
                with conversations.engine.connect() as conn:
                    spans = {sender: (first, last) for sender, first, last in conn.execute(
                        select(t.c.sender_id, func.min(t.c.timestamp), func.max(t.c.timestamp))
                        .where(t.c.sender_id.in_(senders)).group_by(t.c.sender_id)).all()}
                turns = _by_sender(_events(conversations, senders))
                for sender in senders:
                    first, last = spans.get(sender, (None, None))
                    mine = turns.get(sender, [])
                    out.append({"sender_id": sender, "channel": _channel(mine), "started_at": _iso(first),
                                "last_at": _iso(last), "user_turns": _patient_turns(mine),
                                "fallbacks": _patient_turns(mine, "fallback"),
                                "unsure": _patient_turns(mine, "unsure"),
                                "emergencies": _patient_turns(mine, "emergency")})
        finally:
            conversations.dispose()
    out.sort(key=lambda c: (c["last_at"] or "", c["sender_id"]), reverse=True)
    _audit(db, staff_email, patient_id, "conversation list viewed", now)
    return out


def conversation(db, tracker_url: str, staff_email: str, patient_id: str, sender_id: str,
                 now: Optional[dt.datetime] = None) -> dict:
    """One of the patient's conversations, turn by turn; LookupError if it is not theirs; audited."""
    conversations = _open(tracker_url)
    try:
        _check_bound(conversations, staff_email, patient_id, sender_id, db)
        assert conversations is not None
        turns = _walk(_events(conversations, [sender_id], bot_text=True))
    finally:
        if conversations is not None:
            conversations.dispose()
    _audit(db, staff_email, patient_id, "conversation viewed", now, sender_id)
    return {"sender_id": sender_id, "channel": _channel(turns),
            "turns": [{"at": _iso(t.at), "who": t.who, "text": t.text, "intent": t.intent,
                       "confidence": t.confidence, "flag": t.flag} for t in turns]}


def story_file_name(sender_id: str) -> str:
    """A file name for the conversation's story: a hash of its sender id (which may be anything)."""
    return f"conversation-{hashlib.sha256(sender_id.encode('utf-8')).hexdigest()[:16]}.yml"


def keep_as_story(db, tracker_url: str, staff_email: str, patient_id: str, sender_id: str,
                  out_dir: Union[str, Path], now: Optional[dt.datetime] = None) -> Path:
    """Write one of the patient's conversations as a test story (without the patient's data) to
    out_dir; LookupError if it is not theirs, CannotRedact if their name cannot be taken out; audited."""
    from bot.story_export import export_test_story

    conversations = _open(tracker_url)
    try:
        _check_bound(conversations, staff_email, patient_id, sender_id, db)
    finally:
        if conversations is not None:
            conversations.dispose()
    story = export_test_story(sender_id, tracker_url, db)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / story_file_name(sender_id)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(story, encoding="utf-8")
    partial.replace(path)
    _audit(db, staff_email, patient_id, "kept as test story", now, sender_id)
    return path


def daily_stats(tracker_url: str, days: int = 14, today: Optional[dt.date] = None) -> List[dict]:
    """Patient turns, fallbacks and emergencies per day, oldest first, `days` days ending today."""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = today or dt.date.today()
    first = today - dt.timedelta(days=days - 1)
    counts: Dict[dt.date, List[int]] = {first + dt.timedelta(days=i): [0, 0, 0] for i in range(days)}
    start = dt.datetime.combine(first, dt.time()).timestamp()
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time()).timestamp()
    conversations = _open(tracker_url)
    if conversations is not None:
        try:
            rows = _events(conversations, since=start, until=end + LATE_ANSWER_SECONDS)
        finally:
            conversations.dispose()
        for turns in _by_sender(rows).values():
            for turn in turns:
                if turn.who != "patient" or turn.at is None or not start <= turn.at < end:
                    continue
                day = counts[dt.datetime.fromtimestamp(turn.at).date()]
                day[0] += 1
                day[1] += turn.flag == "fallback"
                day[2] += turn.flag == "emergency"
    return [{"day": day.isoformat(), "user_turns": n, "fallbacks": f, "emergencies": e}
            for day, (n, f, e) in sorted(counts.items())]



def to_review(db, tracker_url: str, staff_email: str, days: int = 7,
              now: Optional[dt.datetime] = None) -> List[dict]:
    """Signed-in patients' conversations of the last `days` days where the assistant fell back or
    was unsure, most flagged first: [{sender_id, patient_id, patient_name, last_at, user_turns,
    fallbacks, unsure, emergencies}]. Each patient shown is audited."""
    now = now or dt.datetime.now()
    since = (now - dt.timedelta(days=days)).timestamp()
    conversations = _open(tracker_url)
    if conversations is None:
        return []
    try:
        turns = _by_sender(_events(conversations, since=since))
        flagged = {sender: mine for sender, mine in turns.items()
                   if _patient_turns(mine, "fallback") or _patient_turns(mine, "unsure")}
        owners: Dict[str, str] = {}
        if flagged:
            t = conversations.table
            assert t is not None
            with conversations.engine.connect() as conn:
                for sender, data in conn.execute(select(t.c.sender_id, t.c.data).where(
                        t.c.type_name == "slot", t.c.sender_id.in_(list(flagged)),
                        t.c.data.like(_like(json.dumps(PATIENT_SLOT)), escape="\\")).order_by(t.c.id)).all():
                    event = _json(data)
                    if event.get("name") == PATIENT_SLOT and isinstance(event.get("value"), str):
                        owners[sender] = event["value"]
    finally:
        conversations.dispose()
    out: List[dict] = []
    with db.session() as s:
        for sender, mine in flagged.items():
            patient = s.get(m.Patient, owners[sender]) if sender in owners else None
            if patient is None:
                continue
            last = max((t.at for t in mine if t.at is not None), default=None)
            out.append({"sender_id": sender, "patient_id": patient.id, "patient_name": patient.display_name,
                        "last_at": _iso(last), "user_turns": _patient_turns(mine),
                        "fallbacks": _patient_turns(mine, "fallback"), "unsure": _patient_turns(mine, "unsure"),
                        "emergencies": _patient_turns(mine, "emergency")})
        for pid in sorted({o["patient_id"] for o in out}):
            s.add(m.AuditEvent(at=now, conversation_id=None, channel="staff", patient_id=pid,
                               record_kind=RECORD_KIND, action="listed for review", actor=staff_email))
    out.sort(key=lambda c: (-(c["fallbacks"] + c["unsure"]), c["last_at"] or ""))
    return out
