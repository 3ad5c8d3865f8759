"""The care-team console's pages (/staff/...) against a real store, through real HTTP: sign in with
the login form (its own CSRF token), forms refused without the session's CSRF token, a hand-off
resolved tells the patient on their channel (SMS through the outbox when they can get texts, else
on the web page at their next visit, once), a specialist's report recorded closes the loop, adds a
care-plan step and changes the patient's answer, only an admin adds staff, every view audited."""
from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.console.accounts import StaffAccounts
from bot.store import models as m

PASSWORD = "correct horse battery staple"


@pytest.fixture
def sms(monkeypatch):
    """The clinic has an SMS provider (the outbox sends; nothing here reaches it)."""
    for name, value in (("SID", "AC0123"), ("AUTH_TOKEN", "secret"), ("FROM", "+15550100000")):
        monkeypatch.setenv(f"CARENAV_SMS_{name if name != 'SID' else 'ACCOUNT_SID'}", value)


@pytest.fixture
def db(tmp_path):
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.create_schema()
    seed_demo(database)
    accounts = StaffAccounts(database)
    accounts.add("megan@clinic.example", PASSWORD, "coordinator")
    accounts.add("nina@clinic.example", PASSWORD, "nurse")
    accounts.add("ada@clinic.example", PASSWORD, "admin")
    yield database
    database.dispose()


def run(db, tmp_path, scenario):
    from bot.store.queries import CareStore
    from bot.web.app import create_app

    async def go():
        app = create_app(store=CareStore(db), demo_signin=False, tracker_url=f"sqlite:///{tmp_path / 'tracker.db'}")
        async with TestClient(TestServer(app)) as client:
            return await scenario(client)
    return asyncio.run(go())


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def sign_in(client, email="megan@clinic.example", password=PASSWORD):
    form = await (await client.get("/staff/login")).text()
    return await client.post("/staff/login", data={"csrf": csrf_of(form), "email": email, "password": password},
                             allow_redirects=False)


def test_the_login_form_needs_its_csrf_token_and_then_the_right_password(db, tmp_path):
    async def scenario(client):
        before = await client.get("/staff/handoffs", allow_redirects=False)
        await client.get("/staff/login")
        forged = await client.post("/staff/login", data={"email": "megan@clinic.example", "password": PASSWORD},
                                   allow_redirects=False)
        wrong = await sign_in(client, password="not it at all")
        right = await sign_in(client)
        page = await client.get("/staff/")
        return (before.status, before.headers.get("Location"), forged.status, wrong.status, right.status,
                right.headers.get("Set-Cookie", ""), page.status, await page.text(),
                page.headers["Content-Security-Policy"])

    before, where, forged, wrong, right, cookie, status, page, csp = run(db, tmp_path, scenario)
    assert (before, where) == (303, "/staff/login")
    assert forged == 403 and wrong == 401 and right == 303
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert status == 200 and "open hand-offs" in page and "<svg" in page and "<script" not in page
    assert "default-src 'none'" in csp


def test_five_wrong_passwords_in_the_form_lock_the_account(db, tmp_path):
    async def scenario(client):
        wrong = [(await sign_in(client, password="wrong password!")).status for _ in range(5)]
        return wrong, (await sign_in(client)).status

    assert run(db, tmp_path, scenario) == ([401] * 5, 401)


def test_a_form_post_without_the_csrf_token_changes_nothing(db, tmp_path):
    from bot.store.queries import CareStore

    handoff = CareStore(db).record_callback_request("demo-robert", "asked about: next steps", "rest", "c1")

    async def scenario(client):
        await sign_in(client)
        forged = await client.post(f"/staff/handoffs/{handoff}/claim", data={}, allow_redirects=False)
        wrong = await client.post(f"/staff/handoffs/{handoff}/resolve", data={"csrf": "guess", "outcome": "reached"},
                                  allow_redirects=False)
        report = await client.post("/staff/referrals/demo-linda-ref-cardio/report",
                                   data={"summary": "x", "next_steps": "y"}, allow_redirects=False)
        return forged.status, wrong.status, report.status

    assert run(db, tmp_path, scenario) == (403, 403, 403)
    with db.session() as s:
        row = s.get(m.CallbackRequest, handoff)
        assert row.claimed_by is None and row.status == "open"
        assert s.get(m.Referral, "demo-linda-ref-cardio").report_received is False


def test_a_hand_off_asked_for_by_text_is_answered_by_text(db, tmp_path, sms):
    from bot.store.queries import CareStore

    handoff = CareStore(db).record_callback_request("demo-linda", "asked about: medications", "sms", "c2",
                                                    urgent=True)

    async def scenario(client):
        await sign_in(client)
        queue = await (await client.get("/staff/handoffs")).text()
        csrf = csrf_of(queue)
        claimed = await client.post(f"/staff/handoffs/{handoff}/claim", data={"csrf": csrf})
        resolved = await client.post(f"/staff/handoffs/{handoff}/resolve", data={"csrf": csrf, "outcome": "no_answer"})
        return queue, await claimed.text(), await resolved.text()

    queue, claimed, resolved = run(db, tmp_path, scenario)
    assert "URGENT" in queue and "Linda Nguyen" in queue and "asked about: medications" in queue
    assert "Claimed by megan@clinic.example" in claimed
    assert "the patient is told" in resolved and "Linda Nguyen" not in resolved  # gone from the queue
    with db.session() as s:
        linda = s.get(m.Patient, "demo-linda")
        texts = s.execute(select(m.SmsOutbox).where(m.SmsOutbox.to_phone == linda.mobile_phone)).scalars().all()
        assert texts and {t.status for t in texts} == {"pending"}  # the outbox's loop sends them
        text = "".join(t.body for t in texts)
        assert "could not reach you" in text and "Reply STOP" in text
        actions = {a.action for a in s.execute(select(m.AuditEvent).where(
            m.AuditEvent.patient_id == "demo-linda", m.AuditEvent.actor == "megan@clinic.example")).scalars()}
    assert {"listed in the hand-off queue", "hand-off claim", "hand-off resolve"} <= actions


def test_a_hand_off_asked_for_on_the_web_is_answered_once_at_the_next_web_visit(db, tmp_path, token_for, sms):
    from bot.store.queries import CareStore

    # Tom gets no texts; Maria agreed to texts but asked on the web page: both hear back there
    handoff = CareStore(db).record_callback_request("demo-tom", "asked about: appointments", "socketio", "c3")
    CareStore(db).record_callback_request("demo-maria", None, "socketio", "c4")

    async def scenario(client):
        await sign_in(client)
        csrf = csrf_of(await (await client.get("/staff/handoffs")).text())
        await client.post(f"/staff/handoffs/{handoff}/resolve", data={"csrf": csrf, "outcome": "left_message"})
        tom = {"Authorization": f"Bearer {token_for('demo-tom')}"}
        nobody = await client.get("/api/notices")
        other = await (await client.get("/api/notices", headers={
            "Authorization": f"Bearer {token_for('demo-linda')}"})).json()
        first = await (await client.get("/api/notices", headers=tom)).json()
        again = await (await client.get("/api/notices", headers=tom)).json()  # not shown yet: still there
        ids = [n["id"] for n in first["notices"]]
        forged = await client.post("/api/notices/seen", json={"ids": ids}, headers={
            "Authorization": f"Bearer {token_for('demo-linda')}"})  # not Linda's: nothing changes
        seen = await (await client.post("/api/notices/seen", json={"ids": ids}, headers=tom)).json()
        second = await (await client.get("/api/notices", headers=tom)).json()
        assert again == first and (await forged.json())["seen"] == 0 and seen["seen"] == 1
        await client.post(f"/staff/handoffs/{handoff + 1}/resolve", data={"csrf": csrf, "outcome": "reached"})
        maria = await (await client.get("/api/notices", headers={
            "Authorization": f"Bearer {token_for('demo-maria')}"})).json()
        assert (await client.post("/api/notices/seen", json={"ids": "x"}, headers=tom)).status == 400
        return nobody.status, other, first, second, maria

    nobody, other, first, second, maria = run(db, tmp_path, scenario)
    assert nobody == 401 and other["notices"] == [] and second["notices"] == []
    assert len(first["notices"]) == 1 and "left you a voicemail" in first["notices"][0]["text"]
    assert [n["text"].split(".")[0] for n in maria["notices"]] == ["Thank you for talking with our care team"]
    with db.session() as s:
        assert s.execute(select(m.SmsOutbox)).first() is None  # asked on the web: nothing texted


def test_recording_a_report_closes_the_loop_adds_a_step_and_changes_the_patients_answer(db, tmp_path, sms):
    from bot.services.referrals import referral_status
    from bot.store.queries import CareStore

    async def scenario(client):
        await sign_in(client)
        page = await (await client.get("/staff/referrals")).text()
        empty = await client.post("/staff/referrals/demo-linda-ref-cardio/report",
                                  data={"csrf": csrf_of(page), "summary": " ", "next_steps": ""})
        done = await client.post("/staff/referrals/demo-linda-ref-cardio/report", data={
            "csrf": csrf_of(page), "summary": "Your heart rhythm test was normal.",
            "next_steps": "Keep taking your medicines and see Dr. Lee in 2 weeks."})
        after = await (await client.get("/staff/referrals")).text()
        return page, empty.status, await done.text(), after

    page, empty, done, after = run(db, tmp_path, scenario)
    assert "Linda Nguyen" in page and "Record the report" in page
    assert empty == 409 and "Report recorded" in done
    assert "demo-linda-ref-cardio" not in after  # the loop is closed
    with db.session() as s:
        ref = s.get(m.Referral, "demo-linda-ref-cardio")
        assert ref.status == "completed" and ref.report_received and ref.report_recorded_by == "megan@clinic.example"
        steps = s.execute(select(m.CareActivity).where(m.CareActivity.patient_id == "demo-linda",
                                                       m.CareActivity.responsible == "primary care team")).scalars()
        assert any("cardiology report" in step.description for step in steps)
        texts = s.execute(select(m.SmsOutbox.body)).scalars().all()
        assert any("see Dr. Lee in 2 weeks" in body for body in texts)
    answer = referral_status(CareStore(db), "demo-linda", specialty="cardiology", focus_referral_id=None,
                             short=False)
    said = " ".join(str(v) for say in answer.says for v in say.variables.values())
    assert "heart rhythm test was normal" in said and "see Dr. Lee in 2 weeks" in said


def test_only_an_admin_adds_staff_and_the_new_account_signs_in(db, tmp_path):
    async def scenario(client):
        await sign_in(client, "nina@clinic.example")
        nurse_page = await (await client.get("/staff/team")).text()
        refused = await client.post("/staff/team", data={"csrf": csrf_of(nurse_page), "email": "x@clinic.example",
                                                         "role": "admin", "password": PASSWORD})
        async with TestClient(TestServer(client.server.app)) as admin:
            await sign_in(admin, "ada@clinic.example")
            team = await (await admin.get("/staff/team")).text()
            short = await admin.post("/staff/team", data={"csrf": csrf_of(team), "email": "sam@clinic.example",
                                                          "role": "coordinator", "password": "short"})
            added = await admin.post("/staff/team", data={"csrf": csrf_of(team), "email": "sam@clinic.example",
                                                          "role": "coordinator", "password": PASSWORD})
            added_text = await added.text()
        async with TestClient(TestServer(client.server.app)) as sam:
            signed = await sign_in(sam, "sam@clinic.example")
        return nurse_page, refused.status, short.status, added_text, signed.status

    nurse_page, refused, short, added, signed = run(db, tmp_path, scenario)
    assert "Only an admin adds staff" in nurse_page and refused == 403 and short == 400
    assert "Staff account added" in added and "sam@clinic.example" in added and signed == 303
    with db.session() as s:
        assert s.execute(select(m.StaffUser).where(m.StaffUser.email == "x@clinic.example")).first() is None


def test_the_patient_page_lists_outreach_and_a_coordinator_pauses_it(db, tmp_path, sms):
    import datetime as dt

    from bot.outreach import worker
    from bot.outreach.rules import plan

    now = dt.datetime.now()
    plan(db, today=now.date(), now=now)
    with db.session() as s:
        s.query(m.Outreach).filter(m.Outreach.patient_id == "demo-james").update({"send_after": now})
    worker.send_due(db, now=now, worker="w1", patient_ids=["demo-james"])

    async def scenario(client):
        await sign_in(client)
        page = await (await client.get("/staff/patients/demo-james")).text()
        forged = await client.post("/staff/patients/demo-james/outreach", data={"paused": "1"})
        paused = await client.post("/staff/patients/demo-james/outreach", data={"csrf": csrf_of(page), "paused": "1"})
        return page, forged.status, await paused.text()

    page, forged, paused = run(db, tmp_path, scenario)
    assert "Messages CareNav sends first" in page and "Referral not booked" in page and "sent" in page
    assert "agreed to texts" in page and "intake form" in page
    assert forged == 403 and "Outreach paused" in paused and "Resume outreach" in paused
    with db.session() as s:
        james = s.get(m.Patient, "demo-james")
        assert james.outreach_paused and james.outreach_paused_by == "megan@clinic.example"
    assert worker.send_due(db, now=now + dt.timedelta(days=1), worker="w1", patient_ids=["demo-james"]).get(
        "sent") is None  # paused: nothing more goes out
