"""Where Rasa keeps conversations: an SQL tracker store, by default beside the care-plan store.

Rasa's SQLTrackerStore (rasa/core/tracker_store.py) is configured in endpoints.yml with the keys
dialect, url (the host), port, db, username, password and query, and keeps its own `events` table
(no table of bot/store/models.py has that name). `tracker_store_endpoint` turns an SQLAlchemy URL
into that section, so `carenav run`, the integration tests and `carenav story export` all use the
same store: CARENAV_TRACKER_DB_URL if set, else the care-plan store's CARENAV_DB_URL.

The store is `RedactingSQLTrackerStore`: Rasa's SQLTrackerStore, except that
- a bad value never stops the server: Rasa's `session_scope` turns *any* ValueError raised while a
  session is open (a UnicodeEncodeError from text UTF-8 cannot encode, say) into "PostgreSQL schema
  not found" and exits the process; here that stays an error of the one message;
- a sign-in token or SMS claim never reaches the database;
- a read or save that fails is tried again once, then fails the turn visibly
  (TrackerStoreUnavailable: the channel answers with the clinic's number, and the server reports
  itself unhealthy until a read or save succeeds again) instead of Rasa's silent fall-back to an
  empty conversation or to one process's memory. SQLite writes wait at most
  CARENAV_SQLITE_BUSY_MS for another writer.
The token travels in each message's metadata (the actions check it during the turn); what is
kept for later (the message's metadata, the session_started_metadata slot) has every `token`
value replaced, so the events table holds no credential.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.metadata import SECRETS
from bot.modeling import PROJECT_ROOT
from bot.store.db import SQLITE_BUSY_MS, StoreConfigError, database_url

logger = logging.getLogger(__name__)

TRACKER_DB_ENV = "CARENAV_TRACKER_DB_URL"
TRACKER_STORE_TYPE = "bot.tracker_store.RedactingSQLTrackerStore"
SECRET_KEYS = SECRETS  # bot.metadata: the sign-in token and the SMS claim
REDACTED = "[redacted]"


def without_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with every secret key's value replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v else without_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


try:  # the Rasa server and the story export have Rasa; the rest of bot/ does not need it
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import Event
except ImportError:  # pragma: no cover
    SQLTrackerStore = None  # type: ignore[assignment,misc]

if SQLTrackerStore is not None:

    async def _with_retries(what: str, sender_id: str, call):
        """Run a store call, trying again after a short wait; when it still fails, raise
        TrackerStoreUnavailable (which Rasa's fail-safe wrapper cannot swallow) and mark the
        store unhealthy until a call succeeds (the REST channel's health, and the web page's)."""
        global _last_failure
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                result = await call()
                _last_failure = None  # healthy again
                return result
            except TrackerStoreValueError:
                raise TrackerStoreUnavailable("a value the tracker store cannot hold") from None
            except Exception as exc:  # noqa: BLE001 - a database error of any driver
                if attempt < STORE_ATTEMPTS:
                    await asyncio.sleep(0.3 * attempt)
                    continue
                _last_failure = time.monotonic()
                logger.error("tracker store %s for conversation=%s failed after %s tries (%s)", what, sender_id,
                             STORE_ATTEMPTS, type(exc).__name__)
                raise TrackerStoreUnavailable(type(exc).__name__) from None

    class TrackerStoreValueError(RuntimeError):
        """A value the tracker store could not handle (not a ValueError: Rasa exits on those)."""

    class RedactingSQLTrackerStore(SQLTrackerStore):  # type: ignore[misc,valid-type]
        """Rasa's SQL tracker store that never exits on a bad value, never stores a credential,
        and never lets a conversation be silently forgotten."""

        async def save(self, tracker) -> None:
            await _with_retries("save", tracker.sender_id, lambda: super(RedactingSQLTrackerStore, self).save(tracker))

        async def retrieve(self, sender_id):
            return await _with_retries("retrieve", sender_id,
                                       lambda: super(RedactingSQLTrackerStore, self).retrieve(sender_id))

        async def retrieve_full_tracker(self, sender_id):
            return await _with_retries("retrieve", sender_id,
                                       lambda: super(RedactingSQLTrackerStore, self).retrieve_full_tracker(sender_id))

        @contextlib.contextmanager
        def session_scope(self):
            with super().session_scope() as session:  # Rasa's own checks (the PostgreSQL schema) run here
                try:
                    yield session
                except ValueError as exc:  # turned into an error Rasa's scope lets through
                    raise TrackerStoreValueError(type(exc).__name__) from None

        def _additional_events(self, session, tracker):
            for event in super()._additional_events(session, tracker):
                data = event.as_dict()
                clean = without_secrets(data)
                yield event if clean == data else Event.from_parameters(clean)


STORE_ATTEMPTS = 2
_last_failure: Optional[float] = None


class TrackerStoreUnavailable(BaseException):
    """The conversation could not be read or saved. A BaseException on purpose: Rasa wraps every
    tracker store in a FailSafeTrackerStore that catches Exception and then carries on with an
    empty conversation (on a read) or keeps it in one process's memory (on a save), both silently.
    The channels catch this and answer the patient; see bot/channels/__init__.py."""


def tracker_store_healthy() -> bool:
    """False from a failed read or save of a conversation until the next one succeeds."""
    return _last_failure is None


def tracker_db_url(environ: Optional[Mapping[str, str]] = None) -> str:
    """CARENAV_TRACKER_DB_URL, else CARENAV_DB_URL, else the default care-plan store (var/carenav.db)."""
    from bot.settings import Settings, settings

    current = settings() if environ is None else Settings.from_environ(environ)
    return current.tracker_db_url or database_url(current.db_url or None)


def tracker_store_endpoint(db_url: str, root: Path = PROJECT_ROOT) -> Dict[str, Any]:
    """The `tracker_store:` section of endpoints.yml for Rasa's SQLTrackerStore on this database.

    A relative SQLite path is taken from `root` (the Rasa server runs with cwd=PROJECT_ROOT), and
    written absolute, so it does not depend on where Rasa is started.
    """
    try:
        url = make_url(db_url)
    except ArgumentError as exc:
        raise StoreConfigError(f"the tracker store URL is not a valid SQLAlchemy URL: {exc}") from exc
    endpoint: Dict[str, Any] = {"type": TRACKER_STORE_TYPE, "dialect": url.drivername}
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise StoreConfigError("the tracker store must be a SQLite file or a server, not an in-memory "
                                   "database (conversations would not survive a restart)")
        path = Path(url.database)
        endpoint["db"] = str(path if path.is_absolute() else (root / path).resolve())
    else:
        # Rasa builds sqlalchemy URL(dialect, username, password, host, port, database=db, query=query)
        # from these; `url` is its name for the host.
        for key, value in (("url", url.host), ("port", url.port), ("db", url.database),
                           ("username", url.username), ("password", url.password)):
            if value is not None:
                endpoint[key] = value
    query = {k: (list(v) if isinstance(v, tuple) else v) for k, v in url.query.items()}
    if url.get_backend_name() == "sqlite":
        # how long a write waits for another writer (pysqlite's `timeout`, seconds): bounded
        query.setdefault("timeout", str(SQLITE_BUSY_MS / 1000))
    if query:
        endpoint["query"] = query
    return endpoint

