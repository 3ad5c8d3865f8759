"""Store fixtures: the demo store on SQLite and on the real PostgreSQL that `make test` starts."""
from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from typing import Iterator

import pytest

from bot.store.db import Database, scratch_database

# A fixed "today" keeps the assertions exact; the seed is relative to it like it is to the real date.
TODAY = dt.date(2026, 3, 10)


@contextmanager
def fresh_postgres_database(prefix: str = "carenav_test") -> Iterator[Database]:
    """A new, empty database on the test PostgreSQL server, dropped afterwards."""
    url = os.environ.get("CARENAV_TEST_PG_URL")
    if not url:
        pytest.fail("CARENAV_TEST_PG_URL is not set: run `make test`, or start PostgreSQL with "
                    "`scripts/pg-test-server start` and export the URL it prints")
    with scratch_database(url, prefix) as db:
        yield db


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded_db(request, tmp_path) -> Iterator[Database]:
    """A freshly seeded demo store (as of TODAY), once per database engine."""
    from bot.store.seed import seed_demo

    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'store.db'}")
        db.create_schema()
        seed_demo(db, today=TODAY)
        yield db
        db.dispose()
    else:
        with fresh_postgres_database() as db:
            seed_demo(db, today=TODAY)
            yield db
