"""The outreach worker on a real store with a fixed clock: a due message is sent once, through the
SMS outbox (naming the clinic and how to stop) or as a web notice; never at night in the patient's
time zone; at most one a day and three a week; not to a paused patient or one who sent STOP; a
crash between taking a row and sending it leaves it to be sent once after the restart; two
workers on PostgreSQL send each message once."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from bot.outreach import worker
from bot.store import models as m
from tests.store.conftest import TODAY, fresh_postgres_database

JAMES = "demo-james"


@pytest.fixture(autouse=True)
def sms(monkeypatch):
    """The clinic has an SMS provider (the outbox delivers; nothing here reaches it)."""
    monkeypatch.setenv("CARENAV_SMS_ACCOUNT_SID", "AC0123")
    monkeypatch.setenv("CARENAV_SMS_AUTH_TOKEN", "secret")
    monkeypatch.setenv("CARENAV_SMS_FROM", "+15550100000")


@pytest.fixture
def db(tmp_path):
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.create_schema()
    seed_demo(database, today=TODAY)
    yield database
    database.dispose()


def zone_of(db, patient_id):
    from bot.outreach.rules import patient_zone

    with db.session() as s:
        return patient_zone(s.get(m.Patient, patient_id))


def at(db, patient_id, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """Naive server-local time of `hour` o'clock on `day` in the patient's time zone."""
    zone = zone_of(db, patient_id)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone().replace(tzinfo=None)


def rows(db, patient_id=None, rule=None):
    with db.session() as s:
        q = select(m.Outreach)
        if patient_id:
            q = q.where(m.Outreach.patient_id == patient_id)
        if rule:
            q = q.where(m.Outreach.rule == rule)
        found = s.execute(q.order_by(m.Outreach.id)).scalars().all()
        s.expunge_all()
        return found


def texts_to(db, patient_id):
    with db.session() as s:
        phone = s.get(m.Patient, patient_id).mobile_phone
        return [r.body for r in s.execute(select(m.SmsOutbox).where(m.SmsOutbox.to_phone == phone)
                                          .order_by(m.SmsOutbox.id)).scalars()]


def plan_and_send(db, now):
    from bot.outreach.rules import plan

    plan(db, today=now.date(), now=now)
    return worker.send_due(db, now=now, worker="w1")


def test_james_gets_his_referral_nudge_once_at_the_right_hour_with_numbered_replies(db):
    from bot.outreach.rules import plan

    plan(db, today=TODAY, now=at(db, JAMES, TODAY, 7))
    [nudge] = rows(db, JAMES, "referral_not_scheduled")
    assert nudge.status == "planned" and nudge.channel == "sms"
    early = worker.send_due(db, now=at(db, JAMES, TODAY, 7), worker="w1")
    assert texts_to(db, JAMES) == [] and not early.get("sent")  # not before its hour
    worker.send_due(db, now=nudge.send_after, worker="w1")
    sent = "".join(texts_to(db, JAMES))
    assert "Riverside Community Health" in sent and "STOP" in sent and "(555) 010-0300" in sent
    worker.send_due(db, now=nudge.send_after + dt.timedelta(hours=1), worker="w1")
    assert "".join(texts_to(db, JAMES)) == sent  # once
    [nudge] = rows(db, JAMES, "referral_not_scheduled")
    assert nudge.status == "sent" and nudge.conversation_id and nudge.body
    with db.session() as s:
        phone = s.get(m.Patient, JAMES).mobile_phone
        choices = s.get(m.SmsSession, phone).choices
        audit = s.execute(select(m.AuditEvent.action).where(m.AuditEvent.patient_id == JAMES,
                                                            m.AuditEvent.record_kind == "outreach")).scalars().all()
    assert worker.reply_payload("booked") in json.loads(choices) and audit == ["sent: referral_not_scheduled"]


def test_nothing_is_texted_at_night_in_the_patients_time_zone(db):
    with db.session() as s:
        s.get(m.Patient, JAMES).time_zone = "America/Los_Angeles"
    night = at(db, JAMES, TODAY, 22, 30)
    plan_and_send(db, night)
    assert texts_to(db, JAMES) == []
    [nudge] = rows(db, JAMES, "referral_not_scheduled")
    assert nudge.status == "planned" and nudge.send_after >= at(db, JAMES, TODAY + dt.timedelta(days=1), 8)
    worker.send_due(db, now=at(db, JAMES, TODAY + dt.timedelta(days=1), 6), worker="w1")
    assert texts_to(db, JAMES) == []  # still night there
    worker.send_due(db, now=at(db, JAMES, TODAY + dt.timedelta(days=1), 10), worker="w1")
    assert texts_to(db, JAMES)


def test_at_most_one_a_day_and_three_a_week(db):
    # five outreach rows due today for James: one goes today, the next ones a day apart, never
    # more than three in seven days
    start = at(db, JAMES, TODAY, 10)
    with db.session() as s:
        for i in range(5):
            s.add(m.Outreach(patient_id=JAMES, rule="referral_not_scheduled", subject_id="demo-james-ref-cardio",
                             due_date=TODAY - dt.timedelta(days=i), send_after=start, channel="sms", language="en",
                             status="planned", planned_at=start))
    sent_days = []
    for day in range(9):
        now = at(db, JAMES, TODAY + dt.timedelta(days=day), 11)
        before = len([r for r in rows(db, JAMES) if r.status == "sent"])
        worker.send_due(db, now=now, worker="w1")
        if len([r for r in rows(db, JAMES) if r.status == "sent"]) > before:
            sent_days.append(day)
    assert sent_days[:3] == [0, 1, 2]
    for i, day in enumerate(sent_days):  # any seven days hold at most three
        assert len([d for d in sent_days if day <= d < day + 7]) <= 3
    assert len(sent_days) == 5 and sent_days[3] >= 7


def test_paused_stopped_and_web_only_patients(db):
    from bot.outreach.rules import plan

    now = at(db, JAMES, TODAY, 11)
    with db.session() as s:
        s.get(m.Patient, JAMES).outreach_paused = True
        linda = s.get(m.Patient, "demo-linda")
        s.add(m.SmsSession(phone=linda.mobile_phone, opted_out=True, awaiting_dob=False, failures=0))
    plan(db, today=TODAY, now=now)
    worker.send_due(db, now=now, worker="w1")
    assert texts_to(db, JAMES) == [] and texts_to(db, "demo-linda") == []
    assert all(r.status in ("skipped", "planned") for r in rows(db, JAMES))
    assert {r.reason for r in rows(db, "demo-linda") if r.status == "skipped" and r.channel == "sms"} <= {
        "no consent to texts, STOP, or no SMS provider"}
    web = [r for r in rows(db) if r.channel == "web" and r.status == "sent"]
    with db.session() as s:
        notices = s.execute(select(m.PatientNotice).where(m.PatientNotice.kind.like("outreach:%"))).scalars().all()
        assert {n.subject_id for n in notices} == {str(r.id) for r in web}
        assert all(n.delivered_at is None for n in notices)  # waiting for the web visit


def test_a_crash_between_taking_a_row_and_sending_it_sends_once_after_the_restart(db, monkeypatch):
    from bot.outreach import messages, rules

    now = at(db, JAMES, TODAY, 11)
    rules.plan(db, today=TODAY, now=now)
    real = messages.render

    def crash(*_a, **_k):
        raise KeyboardInterrupt("the worker died here")

    monkeypatch.setattr(messages, "render", crash)
    with pytest.raises(KeyboardInterrupt):
        worker.send_due(db, now=now, worker="w1")
    assert texts_to(db, JAMES) == [] and all(r.status == "planned" for r in rows(db, JAMES))
    monkeypatch.setattr(messages, "render", real)
    worker.send_due(db, now=now, worker="w2")
    worker.send_due(db, now=now + dt.timedelta(minutes=5), worker="w3")
    sent = [r for r in rows(db, JAMES) if r.status == "sent"]
    assert len(sent) == 1 and sent[0].sent_by == "w2"
    assert len(texts_to(db, JAMES)) == len(__import__("bot.sms.segments", fromlist=["x"]).split_sms(sent[0].body))


def test_two_workers_on_postgresql_send_each_message_once():
    from bot.store.seed import seed_demo

    with fresh_postgres_database("carenav_outreach") as db:
        seed_demo(db, today=TODAY)
        now = at(db, JAMES, TODAY, 11)
        with db.session() as s:
            phones = {}
            for i in range(60):  # sixty patients with a referral each, approved ten days ago
                pid = f"load-{i}"
                phones[pid] = f"+1555020{i:04d}"
                s.add(m.Patient(id=pid, given_name="Load", family_name=f"Test{i}", mobile_phone=phones[pid],
                                preferred_language="en", sms_consent=True, source="demo"))
                s.flush()
                s.add(m.Referral(id=f"load-ref-{i}", patient_id=pid, specialty="cardiology", priority="routine",
                                 status="approved", sent_on=TODAY - dt.timedelta(days=12),
                                 approved_on=TODAY - dt.timedelta(days=10), report_received=False,
                                 how_to_book="Call (555) 010-0300."))
        from bot.outreach.rules import plan

        plan(db, today=TODAY, now=now)
        due = len([r for r in rows(db) if r.status == "planned" and r.send_after <= now])
        assert due >= 60
        errors = []

        def run(name):
            try:
                worker.send_due(db, now=now, worker=name, limit=500)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        sent = [r for r in rows(db) if r.status == "sent"]
        assert {r.sent_by for r in sent} == {"w0", "w1"}  # both worked
        with db.session() as s:
            per_phone = dict(s.execute(select(m.SmsOutbox.to_phone, func.count()).group_by(m.SmsOutbox.to_phone)).all())
        from bot.sms.segments import split_sms

        for r in sent:
            if r.channel == "sms":
                with db.session() as s:
                    phone = s.get(m.Patient, r.patient_id).mobile_phone
                assert per_phone[phone] == len(split_sms(r.body)), r.patient_id  # once, not twice
