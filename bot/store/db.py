"""One explicit engine and session factory for the care-plan store.

Nothing here runs at import time: callers build a :class:`Database` once (the CLI, the
action server, a test fixture) and pass it on.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import settings
from bot.store.models import Base

DEFAULT_SQLITE_PATH = Path("var") / "carenav.db"
SQLITE_BUSY_MS = settings().sqlite_busy_ms


class StoreConfigError(RuntimeError):
    """The store URL is malformed or the database cannot be reached."""


def error_reason(exc: SQLAlchemyError) -> str:
    """The database driver's own first line about what went wrong, for a one-line message."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def database_url(url: Optional[str] = None) -> str:
    """The SQLAlchemy URL to use: the argument, else CARENAV_DB_URL, else var/carenav.db under the
    project home (wherever the command is run from)."""
    if url:
        return url
    current = settings()
    if current.db_url:
        return current.db_url
    return f"sqlite:///{current.home() / DEFAULT_SQLITE_PATH}"


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # The action server and the Rasa server (its tracker store) write to the same file: with WAL,
    # readers never block the writer, and a writer waits for the other instead of failing, but
    # only so long (CARENAV_SQLITE_BUSY_MS, default 3 s): a patient gets a clear answer, not a 35 s wait.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file, so Rasa's connections use it too
    except Exception:  # an in-memory database has no WAL; nothing to do
        pass
    cursor.close()


class Database:
    """The store's engine and session factory, built once and passed around explicitly."""

    def __init__(self, url: Optional[str] = None, echo: bool = False) -> None:
        self.url = database_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise StoreConfigError(f"CARENAV_DB_URL is not a valid SQLAlchemy URL: {exc}") from exc
        kwargs: dict[str, Any] = {"future": True, "echo": echo}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise StoreConfigError(f"cannot use database URL {parsed!r}: {exc}") from exc
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _enable_sqlite_foreign_keys)
        self.session_factory = sessionmaker(self.engine, future=True, expire_on_commit=False)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def check(self) -> None:
        """Raise StoreConfigError with a clear reason if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = error_reason(exc)
            raise StoreConfigError(f"cannot reach the care-plan store at {self.safe_url}: {reason}") from exc

    def create_schema(self) -> None:
        """Create missing tables, and add the columns a newer version added to existing tables
        (nullable ones only: the store's schema only ever grows that way)."""
        self.check()
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        from sqlalchemy import inspect

        inspector = inspect(self.engine)
        with self.engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                have = {c["name"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name in have:
                        continue
                    if not column.nullable:
                        raise StoreConfigError(f"table {table.name} lacks the required column {column.name}; "
                                               "recreate the store (carenav db init on a new database)")
                    kind = column.type.compile(dialect=self.engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))

    def drop_schema(self) -> None:
        Base.metadata.drop_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.session_factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


_shared: dict = {}
_schema_ready: set = set()


def shared_database(create_schema: bool = False) -> Database:
    """The one Database of this process for the configured store (CARENAV_DB_URL): the channels,
    the Rasa server's own answers (bot.faults) and the actions share its engine and pool instead
    of each building their own. `create_schema` makes sure the tables exist (once)."""
    url = database_url()
    db = _shared.get(url)
    if db is None:
        db = _shared[url] = Database(url)
    if create_schema and url not in _schema_ready:
        db.create_schema()
        _schema_ready.add(url)
    return db


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[Database]:
    """A new, empty database with the schema on the PostgreSQL server at `server_url` (tests and
    benchmarks), dropped afterwards."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    try:
        db.create_schema()
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

