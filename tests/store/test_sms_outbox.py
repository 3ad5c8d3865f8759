"""The SMS outbox and inbox on SQLite and PostgreSQL, against the local stand-in for the
provider's Messages API, with the clock moved by hand: an outage of hours is ridden out,
segments keep their order, crash leftovers are sent, a message that cannot be delivered is
listed for staff, and a retried webhook is processed once."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import pytest
from sqlalchemy import select

from bot.sms.inbound import Inbox
from bot.sms.outbox import Outbox, ProviderClient
from bot.store.models import SmsOutbox
from tests.integration.fake_sms_provider import FakeSmsProvider

SID, TOKEN = "ACoutbox00000000000000000000000000", "outbox-test-token"


@pytest.fixture(scope="module")
def provider():
    p = FakeSmsProvider(SID, TOKEN, 5189)
    p.start()
    yield p
    p.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    from bot.store.db import Database
    from tests.store.conftest import fresh_postgres_database

    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
        database.create_schema()
        yield database
        database.dispose()
    else:
        with fresh_postgres_database("carenav_outbox") as database:
            yield database


def number() -> str:
    """A phone number no other test (or engine) of this module uses."""
    return "+1555" + str(uuid.uuid4().int)[:7]


def outbox(db, provider) -> Outbox:
    return Outbox(db, ProviderClient(SID, TOKEN, "+15550109999", provider.base_url, timeout=5))


def rows(db, phone):
    with db.session() as s:
        return s.execute(select(SmsOutbox).where(SmsOutbox.to_phone == phone).order_by(SmsOutbox.id)).scalars().all()


def test_an_outage_of_hours_is_ridden_out_and_segments_keep_their_order(db, provider):
    box, phone = outbox(db, provider), number()
    provider.fail_until = time.monotonic() + 3600  # the provider is down
    assert asyncio.run(box.send(phone, ["part one (1/2)", "part two (2/2)"])) is False
    start = dt.datetime.now()
    clock = start
    for _ in range(40):  # the loop's passes over six simulated hours
        clock += dt.timedelta(minutes=9)
        asyncio.run(box.run_due(now=clock))
    first, second = rows(db, phone)
    assert first.status == "pending" and first.attempts > 12  # more than the old 12 tries, still going
    assert second.attempts == 0  # never sent ahead of the first segment
    provider.fail_until = 0.0  # the provider is back
    asyncio.run(box.run_due(now=clock + dt.timedelta(hours=1)))
    asyncio.run(box.run_due(now=clock + dt.timedelta(hours=1)))
    assert provider.messages_to(phone) == ["part one (1/2)", "part two (2/2)"]
    assert [r.status for r in rows(db, phone)] == ["sent", "sent"]


def test_rows_a_crash_left_pending_are_sent_and_undeliverable_ones_are_listed(db, provider):
    box, phone = outbox(db, provider), number()
    box.enqueue(phone, ["left behind by a crash"])  # kept, never tried
    asyncio.run(box.run_due())  # within the webhook's own minute: left alone
    assert provider.messages_to(phone) == []
    asyncio.run(box.run_due(now=dt.datetime.now() + dt.timedelta(minutes=2)))
    assert provider.messages_to(phone) == ["left behind by a crash"]

    gone = number()
    provider.fail_until = time.monotonic() + 3600
    asyncio.run(box.send(gone, ["never taken"]))
    asyncio.run(box.run_due(now=dt.datetime.now() + dt.timedelta(hours=25)))  # past the retry window
    provider.fail_until = 0.0
    [row] = rows(db, gone)
    assert row.status == "undeliverable" and "HTTP 500" in row.last_error
    assert [v.to_phone for v in box.undeliverable()][:1] == [gone]
    asyncio.run(box.run_due(now=dt.datetime.now() + dt.timedelta(hours=26)))
    assert provider.messages_to(gone) == []  # given up on, not sent late


def test_a_retried_webhook_is_kept_once_and_stale_leftovers_expire(db):
    inbox, phone = Inbox(db), number()
    first = inbox.receive("SMdup0001", phone, "are my results back")
    assert first is not None
    assert inbox.receive("SMdup0001", phone, "are my results back") is None
    old = inbox.receive("SMold0001", phone, "hello", now=dt.datetime.now() - dt.timedelta(days=2))
    assert inbox.left_pending() == [(first, phone, "are my results back")]
    inbox.done(first)
    assert inbox.left_pending() == []
    assert old is not None
