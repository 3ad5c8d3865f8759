"""The services against a freshly seeded store with a fixed "today": each test gets its own store."""
from __future__ import annotations

import datetime as dt

import pytest

TODAY = dt.date(2026, 3, 10)
NOW = dt.datetime(2026, 3, 10, 9, 30)


@pytest.fixture
def store(tmp_path):
    from bot.store.db import Database
    from bot.store.queries import CareStore
    from bot.store.seed import seed_demo

    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    db.create_schema()
    seed_demo(db, today=TODAY)
    yield CareStore(db)
    db.dispose()


def said(reply, response):
    """The variables of the one message of `reply` that uses `response`."""
    found = [s.variables for s in reply.says if s.response == response]
    assert len(found) == 1, [s.response for s in reply.says]
    return found[0]
