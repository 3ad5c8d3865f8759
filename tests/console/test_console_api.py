"""The care-team console's API on the clinic's web app, against a real store: staff sign in with
a hashed password (locked after repeated misses), the session cookie is HttpOnly and SameSite,
nothing is shown without a session (a patient's token is not one), changes need the CSRF token,
idle sessions end, the hand-off queue and the referral loop list what needs doing, and every
patient shown to staff is audited with who looked."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.console.accounts import StaffAccounts
from bot.store import models as m

PASSWORD = "correct horse battery staple"


@pytest.fixture
def db(tmp_path):
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.create_schema()
    seed_demo(database)
    StaffAccounts(database).add("megan@clinic.example", PASSWORD, "coordinator")
    yield database
    database.dispose()


def run(db, scenario):
    from bot.store.queries import CareStore
    from bot.web.app import create_app

    async def go():
        async with TestClient(TestServer(create_app(store=CareStore(db), demo_signin=False))) as client:
            return await scenario(client)
    return asyncio.run(go())


async def sign_in(client, password=PASSWORD):
    return await client.post("/staff/api/login", json={"email": "megan@clinic.example", "password": password})


def test_sign_in_sets_a_protected_cookie_and_the_queue_needs_it(db, token_for):
    async def scenario(client):
        anonymous = await client.get("/staff/api/callbacks?status=open")
        bearer = {"Authorization": f"Bearer {token_for('demo-maria')}"}
        patient = await client.get("/staff/api/callbacks", headers=bearer)
        login = await sign_in(client)
        cookie = login.headers["Set-Cookie"]
        queue = await client.get("/staff/api/callbacks?status=open")
        return anonymous.status, patient.status, login.status, cookie, queue.status, await queue.json()

    anonymous, patient, login, cookie, queue, body = run(db, scenario)
    assert (anonymous, patient, login, queue) == (401, 401, 200, 200)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/staff" in cookie
    assert isinstance(body, list)


def test_the_hand_off_queue_lists_callbacks_oldest_first_urgent_marked_and_audits_the_view(db):
    from bot.store.queries import CareStore

    store = CareStore(db)
    first = store.record_callback_request("demo-linda", "asked about: medications", "sms", "c1",
                                          now=dt.datetime(2026, 3, 1, 9), urgent=True)
    store.record_callback_request(None, None, "rest", "c2", now=dt.datetime(2026, 3, 2, 9))

    async def scenario(client):
        await sign_in(client)
        return await (await client.get("/staff/api/callbacks?status=open")).json()

    queue = run(db, scenario)
    assert {k: queue[0][k] for k in ("id", "patient_id", "reason", "channel", "created_at", "status", "urgent")} == {
        "id": first, "patient_id": "demo-linda", "reason": "asked about: medications", "channel": "sms",
        "created_at": "2026-03-01T09:00:00", "status": "open", "urgent": True}
    assert queue[1]["patient_id"] is None and queue[1]["urgent"] is False
    audit = [a for a in store.audit_for("demo-linda") if a.channel == "staff"]
    assert [(a.actor, a.record_kind) for a in audit] == [("megan@clinic.example", "callback request")]


def test_a_coordinator_claims_notes_and_resolves_a_hand_off_and_nobody_else_can_take_it(db):
    from bot.store.queries import CareStore

    StaffAccounts(db).add("nina@clinic.example", PASSWORD, "nurse")
    store = CareStore(db)
    handoff = store.record_callback_request("demo-robert", "asked about: next steps", "rest", "c9")

    async def scenario(client):
        csrf = (await (await sign_in(client)).json())["csrf"]
        headers = {"X-CSRF-Token": csrf}
        base = f"/staff/api/callbacks/{handoff}"
        forged = (await client.post(f"{base}/claim")).status
        claimed = await (await client.post(f"{base}/claim", headers=headers)).json()
        noted = await (await client.post(f"{base}/note", json={"note": "called, no answer; try after 5"},
                                         headers=headers)).json()
        async with TestClient(TestServer(client.server.app)) as other:  # a second staff member
            csrf2 = (await (await other.post("/staff/api/login", json={"email": "nina@clinic.example",
                                                                       "password": PASSWORD})).json())["csrf"]
            taken = (await other.post(f"{base}/claim", headers={"X-CSRF-Token": csrf2})).status
        bad = (await client.post(f"{base}/resolve", json={"outcome": "whatever"}, headers=headers)).status
        done = await (await client.post(f"{base}/resolve", json={"outcome": "left_message"}, headers=headers)).json()
        again = (await client.post(f"{base}/note", json={"note": "x"}, headers=headers)).status
        open_now = await (await client.get("/staff/api/callbacks?status=open")).json()
        return forged, claimed, noted, taken, bad, done, again, open_now

    forged, claimed, noted, taken, bad, done, again, open_now = run(db, scenario)
    assert forged == 403 and claimed["claimed_by"] == "megan@clinic.example"
    assert noted["notes"][0].endswith("megan@clinic.example: called, no answer; try after 5")
    assert taken == 409 and bad == 409 and again == 409
    assert done["status"] == "closed" and done["outcome"] == "left_message"
    assert handoff not in [c["id"] for c in open_now]
    actions = [a.action for a in store.audit_for("demo-robert") if a.channel == "staff"]
    assert {"hand-off claim", "hand-off note", "hand-off resolve"} <= set(actions)


def test_the_referral_loop_flags_referrals_not_scheduled_and_reports_not_back(db):
    today = dt.date.today()
    with db.session() as s:
        s.execute(update(m.Referral).where(m.Referral.id == "demo-james-ref-cardio")
                  .values(status="approved", sent_on=today - dt.timedelta(days=9)))
        maria = s.execute(select(m.Referral).where(m.Referral.patient_id == "demo-maria")).scalars().first()
        s.execute(update(m.Referral).where(m.Referral.id == maria.id)
                  .values(status="completed", completed_on=today - dt.timedelta(days=20), report_received=False))

    async def scenario(client):
        await sign_in(client)
        flagged = await (await client.get("/staff/api/referrals")).json()
        bad = await client.get("/staff/api/referrals?flag=whatever")
        return flagged, bad.status

    flagged, bad = run(db, scenario)
    assert bad == 400
    flags = {(r["id"], r["flag"]) for r in flagged}
    assert ("demo-james-ref-cardio", "not_scheduled") in flags and (maria.id, "no_report") in flags


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(db):
    async def scenario(client):
        wrong = [(await sign_in(client, "not the password")).status for _ in range(5)]
        right = (await sign_in(client)).status
        return wrong, right

    wrong, right = run(db, scenario)
    assert wrong == [401] * 5 and right == 401
    with db.session() as s:
        user = s.execute(select(m.StaffUser)).scalar_one()
        assert user.locked_until is not None and "correct" not in user.password_hash


def test_logout_needs_the_csrf_token_and_ends_the_session(db):
    async def scenario(client):
        csrf = (await (await sign_in(client)).json())["csrf"]
        forged = (await client.post("/staff/api/logout")).status
        done = (await client.post("/staff/api/logout", headers={"X-CSRF-Token": csrf})).status
        after = (await client.get("/staff/api/callbacks")).status
        return forged, done, after

    assert run(db, scenario) == (403, 204, 401)


def test_an_idle_session_ends(db):
    accounts = StaffAccounts(db)
    token = accounts.login("megan@clinic.example", PASSWORD, now=dt.datetime(2026, 3, 10, 9, 0))
    assert accounts.session(token, now=dt.datetime(2026, 3, 10, 9, 20)) is not None
    assert accounts.session(token, now=dt.datetime(2026, 3, 10, 9, 51)) is None  # 31 minutes idle
    assert accounts.session(token, now=dt.datetime(2026, 3, 10, 9, 52)) is None  # and it stays ended


def test_staff_add_from_the_command_line(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    env = dict(os.environ, CARENAV_DB_URL=f"sqlite:///{tmp_path / 'cli.db'}")

    def carenav(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "bot.cli", "staff", "add", *args], input=stdin, cwd=root,
                              env=env, capture_output=True, text=True, timeout=120)

    added = carenav("ana@clinic.example", "--role", "nurse", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0 and "ana@clinic.example (nurse) added" in added.stdout
    assert carenav("ana@clinic.example", "--role", "nurse", "--password-stdin", stdin=PASSWORD + "\n").returncode == 1
    assert carenav("bo@clinic.example", "--role", "nurse", "--password-stdin", stdin="short\n").returncode == 1
