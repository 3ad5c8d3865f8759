"""Planning outreach on the demo patients with a fixed clock: who gets what, on which channel and
when (never in quiet hours in the patient's time zone); nothing twice; nobody paused; the reason
checked again at send time; the words (the clinic's name, how to stop, Spanish, never a result's
value); and two planners at once, on SQLite and on PostgreSQL, planning each message once."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from typing import List, Optional

import pytest
from sqlalchemy import func, select

from bot.outreach import rules
from bot.outreach.messages import Message, render, reply_kind
from bot.outreach.rules import clinic_zone, in_waking_hours, next_waking, patient_zone, plan, send_time, still_due
from bot.sms.segments import split_sms
from bot.store import models as m
from bot.store.db import Database
from bot.store.seed import seed_demo
from tests.conftest import ROOT
from tests.store.conftest import TODAY, fresh_postgres_database

JAMES, LINDA, ROBERT, AISHA, TOM, MARIA = ("demo-james", "demo-linda", "demo-robert", "demo-aisha", "demo-tom",
                                           "demo-maria")
CLINIC = "Riverside Community Health"
STOP_EN = "Reply STOP to stop texts."
STOP_ES = "Responda STOP para no recibir mensajes."
MONDAY = TODAY - dt.timedelta(days=TODAY.weekday())


def d(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


@pytest.fixture(autouse=True)
def clinic_time_zone(monkeypatch):
    monkeypatch.delenv("CARENAV_TIME_ZONE", raising=False)  # the default: America/New_York


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 's.db'}")
    database.create_schema()
    seed_demo(database, today=TODAY)
    yield database
    database.dispose()


def local(day: dt.date, hour: int, minute: int = 0, zone=None) -> dt.datetime:
    """Naive server-local time of hour:minute on `day` in `zone` (default: the clinic's)."""
    zone = zone or clinic_zone()
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone().replace(tzinfo=None)


def in_zone(moment: dt.datetime, zone) -> dt.datetime:
    return moment.astimezone(zone)


def plan_at(db, day: dt.date, hour: int = 7, **kw) -> List[dict]:
    return plan(db, today=day, now=local(day, hour), **kw)


def outreach(db, patient_id: Optional[str] = None, rule: Optional[str] = None) -> List[m.Outreach]:
    with db.session() as s:
        query = select(m.Outreach).order_by(m.Outreach.id)
        if patient_id:
            query = query.where(m.Outreach.patient_id == patient_id)
        if rule:
            query = query.where(m.Outreach.rule == rule)
        found = s.execute(query).scalars().all()
        s.expunge_all()
        return found


def change(db, model, key, **values) -> None:
    with db.session() as s:
        row = s.get(model, key)
        for name, value in values.items():
            setattr(row, name, value)


def message_of(db, row: m.Outreach) -> Message:
    with db.session() as s:
        return render(s, s.get(m.Outreach, row.id))


def reason_of(db, row: m.Outreach) -> Optional[str]:
    with db.session() as s:
        return still_due(s, s.get(m.Outreach, row.id))


# ---------------------------------------------------------------------------------------------
# who gets what, when


def test_on_the_demo_day_james_linda_and_robert_are_due(db):
    planned = plan_at(db, TODAY, 7)
    assert {(p["patient_id"], p["rule"]) for p in planned} == {
        (JAMES, "referral_not_scheduled"), (LINDA, "discharge_checkin"), (ROBERT, "overdue_steps")}
    assert all(set(p) >= {"patient_id", "rule", "send_after", "channel"} for p in planned)
    [james] = [p for p in planned if p["patient_id"] == JAMES]
    # approved 4 days ago, urgent: due after 3 days; planned at 7 am, sent at the preferred hour (10 am)
    assert james["channel"] == "sms" and james["subject_id"] == "demo-james-ref-cardio"
    assert james["due_date"] == d(-1).isoformat()
    assert dt.datetime.fromisoformat(james["send_after"]) == local(TODAY, 10) == send_time(clinic_zone(), TODAY)
    [row] = outreach(db, JAMES)
    assert (row.status, row.channel, row.language, row.planned_at) == ("planned", "sms", "en", local(TODAY, 7))
    assert row.expires_at is None


def test_linda_gets_check_ins_two_and_seven_days_after_her_discharge(db):
    with db.session() as s:
        stay = s.get(m.HospitalStay, "demo-linda-stay")
        assert stay.patient_id == LINDA and stay.discharged_on == d(-3)
    discharged = d(-3)
    for offset in (2, 7):
        day = discharged + dt.timedelta(days=offset)
        planned = [p for p in plan_at(db, day, 6) if p["rule"] == "discharge_checkin"]
        assert [(p["patient_id"], p["due_date"]) for p in planned] == [(LINDA, day.isoformat())]
        assert dt.datetime.fromisoformat(planned[0]["send_after"]) == local(day, 10)
    rows = outreach(db, LINDA, "discharge_checkin")
    assert [(r.subject_id, r.due_date) for r in rows] == [("demo-linda-stay", discharged + dt.timedelta(days=2)),
                                                         ("demo-linda-stay", discharged + dt.timedelta(days=7))]
    # each expires once it is more than a day late
    assert rows[0].expires_at == local(discharged + dt.timedelta(days=4), 0)
    message = message_of(db, rows[0])
    assert [kind for _label, kind in message.choices] == ["fine", "worse", "question"]
    assert message.answers["worse"] == "I'm asking a nurse to call you today. If it's an emergency, call 911."
    assert "Riverside General Hospital" in message.web and "new or worse symptoms" in message.web
    assert "Your next visit: Saturday, March 14 at 11 am at Northside Family Clinic." in message.web


def test_an_appointment_in_two_days_gets_visit_preparation_until_it_starts(db):
    planned = [p for p in plan_at(db, d(2), 7) if p["rule"] == "visit_prep"]
    assert [(p["patient_id"], p["subject_id"]) for p in planned] == [(LINDA, "demo-linda-appt-followup")]
    [row] = outreach(db, LINDA, "visit_prep")
    assert row.due_date == d(2) and row.expires_at == dt.datetime.combine(d(4), dt.time(11, 0))
    message = message_of(db, row)
    assert "Bring your discharge papers" in message.sms and "Questions to ask:" in message.sms
    assert message.sms.startswith(f"{CLINIC}: ") and message.sms.endswith(STOP_EN)
    assert "Saturday, March 14 at 11 am" in message.sms
    # the web variant: all three questions for a visit after a hospital stay, numbered
    assert "1. Which of my medicines changed, and why?" in message.web and "\n3. " in message.web
    assert message.choices == []
    assert reason_of(db, row) is None
    change(db, m.Appointment, "demo-linda-appt-followup", status="cancelled")
    assert reason_of(db, row) == "appointment cancelled"
    change(db, m.Appointment, "demo-linda-appt-followup", status="booked",
           starts_at=dt.datetime.combine(d(6), dt.time(9)))
    assert reason_of(db, row) == "appointment moved"


def test_released_results_are_announced_without_their_value(db):
    # James's EKG came back nine days before the demo day: announced while it is a week old at most
    planned = [p for p in plan_at(db, d(-3)) if p["rule"] == "results_ready"]
    assert [(p["patient_id"], p["subject_id"]) for p in planned] == [(JAMES, "demo-james-res-ekg")]
    # Aisha's thyroid test (back four days ago, value 6.8) once her doctor releases it
    assert not [p for p in plan_at(db, TODAY) if p["rule"] == "results_ready"]
    change(db, m.TestResult, "demo-aisha-res-tsh", released_to_patient=True, status="reviewed")
    planned = [p for p in plan_at(db, TODAY, 9) if p["rule"] == "results_ready"]
    assert [(p["patient_id"], p["subject_id"]) for p in planned] == [(AISHA, "demo-aisha-res-tsh")]
    [row] = outreach(db, AISHA, "results_ready")
    message = message_of(db, row)
    texts = [message.sms, message.web, *message.answers.values()]
    assert all("6.8" not in t and "mIU" not in t and "0.4-4.0" not in t for t in texts)
    assert "a test result" in message.sms.lower() and "Thyroid" not in message.sms  # no test name by SMS
    assert "Thyroid test (TSH)" in message.web  # the name is fine on the web page
    change(db, m.TestResult, "demo-aisha-res-tsh", released_to_patient=False)
    assert reason_of(db, row) == "result withdrawn"


def test_overdue_steps_come_as_one_digest_a_week(db):
    planned = [p for p in plan_at(db, TODAY) if p["rule"] == "overdue_steps"]
    assert [(p["patient_id"], p["subject_id"], p["due_date"]) for p in planned] == [
        (ROBERT, "2026-W11", MONDAY.isoformat())]
    # planned on the Tuesday: sent that day (the Monday is past)
    assert dt.datetime.fromisoformat(planned[0]["send_after"]) == local(TODAY, 10)
    [row] = outreach(db, ROBERT, "overdue_steps")
    assert row.expires_at == local(MONDAY + dt.timedelta(days=7), 0)
    message = message_of(db, row)
    assert "You have 2 care-plan steps past their due date" in message.sms
    assert "Send your two-week home blood pressure log to the nurse" in message.sms
    assert "Kidney-friendly eating class" not in message.sms + message.web  # not due yet
    # later that week: nothing new for Robert; the next week: a new digest
    assert not [p for p in plan_at(db, d(3)) if p["patient_id"] == ROBERT and p["rule"] == "overdue_steps"]
    later = [p for p in plan_at(db, d(6)) if p["patient_id"] == ROBERT and p["rule"] == "overdue_steps"]
    assert [(p["subject_id"], p["due_date"]) for p in later] == [("2026-W12", d(6).isoformat())]
    # done since: not sent
    for step in ("demo-robert-act-bplog", "demo-robert-act-urine"):
        change(db, m.CareActivity, step, status="completed", completion_source="patient-reported")
    assert reason_of(db, row) == "already done"


def test_a_specialists_report_back_is_announced_with_the_next_steps(db):
    now = local(TODAY, 9)
    assert not [p for p in plan(db, today=TODAY, now=now) if p["rule"] == "report_back"]
    change(db, m.Referral, "demo-robert-ref-neph", report_summary="Your kidney function is stable.",
           report_next_steps="Get a kidney blood test in 3 months", report_recorded_at=now,
           report_recorded_by="nurse@clinic.example")
    planned = [p for p in plan(db, today=TODAY, now=now) if p["rule"] == "report_back"]
    assert [(p["patient_id"], p["subject_id"]) for p in planned] == [(ROBERT, "demo-robert-ref-neph")]
    [row] = outreach(db, ROBERT, "report_back")
    message = message_of(db, row)
    assert "The report from your specialist visit is back. What to do next: Get a kidney blood test in 3 months." \
        in message.sms
    assert "nephrology visit with Dr. Hannah Brooks" in message.web
    assert "stable" not in message.sms  # the findings are not texted
    # when the console already told the patient, it is not told twice
    with db.session() as s:
        s.add(m.PatientNotice(patient_id=ROBERT, kind="report_back", subject_id="demo-robert-ref-neph",
                              text="...", channel="sms", created_at=now))
    assert reason_of(db, row) == "already told"
    change(db, m.Referral, "demo-robert-ref-neph", report_received=False)
    assert reason_of(db, row) == "report withdrawn"


def test_every_rule_is_triggered_by_the_demo_data_on_some_day(db):
    seen = set()
    for offset in range(-40, 41):
        seen.update(p["rule"] for p in plan_at(db, d(offset), 7))
    assert seen == set(rules.RULE_NAMES)


# ---------------------------------------------------------------------------------------------
# consent, pause, once


def test_without_consent_to_texts_the_message_waits_for_the_web_page(db):
    # Tom did not agree to texts: his yearly checkup's preparation is for the web page
    planned = [p for p in plan_at(db, d(38)) if p["patient_id"] == TOM]
    assert [(p["rule"], p["channel"]) for p in planned] == [("visit_prep", "web")]
    # no consent; consent but no mobile number; consent but STOP sent: the web page
    change(db, m.Patient, JAMES, sms_consent=False)
    change(db, m.Patient, LINDA, mobile_phone=None)
    with db.session() as s:
        s.add(m.SmsSession(phone="+15550100104", opted_out=True, awaiting_dob=False, failures=0))  # Robert
    channels = {(p["patient_id"], p["rule"]): p["channel"] for p in plan_at(db, TODAY)}
    assert channels == {(JAMES, "referral_not_scheduled"): "web", (LINDA, "discharge_checkin"): "web",
                        (ROBERT, "overdue_steps"): "web"}
    for offset in range(-10, 41, 2):
        plan_at(db, d(offset))
    assert {r.channel for r in outreach(db, TOM)} == {"web"}
    with db.session() as s:
        patient = s.get(m.Patient, MARIA)
        assert (patient.sms_consent_method, patient.sms_consent_scope) == (
            "intake form", "care reminders and follow-up from the clinic") and patient.sms_consent_at
        assert s.get(m.Patient, TOM).sms_consent_at is None


def test_a_paused_patient_gets_nothing(db):
    change(db, m.Patient, JAMES, outreach_paused=True, outreach_paused_by="megan@clinic.example",
           outreach_paused_at=local(TODAY, 6))
    for offset in range(-10, 15):
        assert not [p for p in plan_at(db, d(offset)) if p["patient_id"] == JAMES]
    assert outreach(db, JAMES) == []


def test_planning_twice_plans_nothing_new_and_a_dry_run_writes_nothing(db):
    dry = plan_at(db, TODAY, 7, dry_run=True)
    assert dry and outreach(db) == []
    first = plan_at(db, TODAY, 7)
    assert first == dry
    assert plan_at(db, TODAY, 7) == [] and plan_at(db, TODAY, 15) == []
    assert plan_at(db, TODAY, 15, dry_run=True) == []
    assert len(outreach(db)) == len(first)


# ---------------------------------------------------------------------------------------------
# time zones and quiet hours


def test_waking_hours_in_the_patients_time_zone():
    la = rules._zone("America/Los_Angeles")
    assert not in_waking_hours(la, local(TODAY, 7, 59, la)) and in_waking_hours(la, local(TODAY, 8, 0, la))
    assert in_waking_hours(la, local(TODAY, 20, 59, la)) and not in_waking_hours(la, local(TODAY, 21, 0, la))
    assert next_waking(la, local(TODAY, 12, 0, la)) == local(TODAY, 12, 0, la)
    assert next_waking(la, local(TODAY, 22, 30, la)) == local(d(1), 8, 0, la)
    assert next_waking(la, local(TODAY, 3, 0, la)) == local(TODAY, 8, 0, la)
    assert send_time(la, TODAY) == local(TODAY, 10, 0, la)
    assert send_time(la, TODAY) - send_time(clinic_zone(), TODAY) == dt.timedelta(hours=3)


def test_nothing_is_planned_inside_quiet_hours(db):
    change(db, m.Patient, JAMES, time_zone="America/Los_Angeles")
    la = rules._zone("America/Los_Angeles")
    night = local(TODAY, 22, 30, la)  # 1:30 am the next day in New York
    planned = plan(db, today=TODAY, now=night)
    [james] = [p for p in planned if p["patient_id"] == JAMES]
    send_after = dt.datetime.fromisoformat(james["send_after"])
    assert send_after >= local(d(1), 8, 0, la) and in_waking_hours(la, send_after)
    with db.session() as s:
        assert patient_zone(s.get(m.Patient, JAMES)).key == "America/Los_Angeles"
        assert patient_zone(s.get(m.Patient, LINDA)).key == "America/New_York"
    # whenever it is planned, every message's time is inside the patient's waking hours
    for hour in range(0, 24, 3):
        for offset in (-3, 2, 4, 7):
            plan(db, today=d(offset), now=local(d(offset), hour))
    with db.session() as s:
        for row in s.execute(select(m.Outreach)).scalars():
            zone = patient_zone(s.get(m.Patient, row.patient_id))
            assert in_waking_hours(zone, row.send_after), (row.patient_id, row.rule, row.send_after)


def test_the_clinic_time_zone_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CARENAV_TIME_ZONE", "America/Chicago")
    assert clinic_zone().key == "America/Chicago"
    monkeypatch.setenv("CARENAV_TIME_ZONE", "Not/AZone")
    assert clinic_zone().key == "America/New_York"


# ---------------------------------------------------------------------------------------------
# at send time


def test_still_due_says_booked_once_the_referral_is_booked(db):
    plan_at(db, TODAY)
    [row] = outreach(db, JAMES, "referral_not_scheduled")
    assert reason_of(db, row) is None
    with db.session() as s:  # James booked the cardiology visit himself: the referral does not say so yet
        s.add(m.Appointment(id="james-cardio", patient_id=JAMES, starts_at=dt.datetime.combine(d(5), dt.time(9)),
                            clinic_id="clinic-eastgate", specialty="cardiology", status="booked"))
    assert "booked" in reason_of(db, row)
    assert not [p for p in plan_at(db, d(1)) if p["rule"] == "referral_not_scheduled" and p["patient_id"] == JAMES]
    change(db, m.Appointment, "james-cardio", status="cancelled")
    assert reason_of(db, row) is None
    change(db, m.Referral, "demo-james-ref-cardio", status="scheduled", scheduled_on=TODAY,
           appointment_id="james-cardio")
    assert reason_of(db, row) == "referral booked"
    change(db, m.Referral, "demo-james-ref-cardio", status="cancelled", appointment_id=None)
    assert reason_of(db, row) == "referral cancelled"


def test_sms_names_the_clinic_and_how_to_stop_and_offers_numbered_replies(db):
    for offset in (-38, -3, 0, 2, 4, 7):
        plan_at(db, d(offset))
    rows = outreach(db)
    assert {r.rule for r in rows} == set(rules.RULE_NAMES)
    for row in rows:
        message = message_of(db, row)
        assert message.sms.startswith(f"{CLINIC}: ") and message.sms.endswith(STOP_EN), message.sms
        assert "Reply STOP" not in message.web and message.web
        for number, (label, kind) in enumerate(message.choices, 1):
            assert f"{number} {label}" in message.sms and kind in message.answers
        assert all(kind in rules.REPLY_KINDS for kind in message.answers)
        assert len(split_sms(message.sms)) <= 3, message.sms
        assert "8.4" not in message.sms + message.web  # Maria's A1c value, never
    [nudge] = [r for r in rows if r.rule == "referral_not_scheduled" and r.patient_id == JAMES]
    message = message_of(db, nudge)
    assert message.choices == [("for how to book", "yes"), ("if you already booked", "booked"),
                               ("if you have a question", "question")]
    assert "Reply 1 for how to book, 2 if you already booked, 3 if you have a question." in message.sms
    assert "(555) 010-0300" in message.sms and len(split_sms(message.sms)) <= 2
    assert "first opening" in message.answers["yes"] and "EKG" in message.answers["yes"]  # how to book, what to bring


def test_spanish_for_a_patient_who_prefers_spanish(db):
    change(db, m.Patient, JAMES, preferred_language="es")
    change(db, m.Patient, LINDA, preferred_language="es")
    plan_at(db, TODAY)
    plan_at(db, d(2))
    [nudge] = outreach(db, JAMES, "referral_not_scheduled")
    assert nudge.language == "es"
    message = message_of(db, nudge)
    assert message.sms.startswith(f"{CLINIC}: Su referido a Eastgate Heart and Vascular fue aprobado")
    assert message.sms.endswith(STOP_ES)
    assert "Responda 1 para recibir los pasos, 2 si ya hizo la cita, 3 si tiene una pregunta." in message.sms
    assert len(split_sms(message.sms)) <= 2
    assert message.answers["booked"].startswith("¡Gracias por hacer la cita!")
    assert "(cardiología)" in message.web
    [checkin] = outreach(db, LINDA, "discharge_checkin")
    message = message_of(db, checkin)
    assert "Queremos saber de usted" in message.sms and message.sms.endswith(STOP_ES)
    assert message.answers["worse"] == "Voy a pedir que una enfermera le llame hoy. Si es una emergencia, llame al 911."
    assert "el sábado 14 de marzo a las 11 a. m." in message.web
    [prep] = outreach(db, LINDA, "visit_prep")
    message = message_of(db, prep)
    assert "su cita es el 14 de marzo a las 11 a. m." in message.sms and "¿Qué medicinas me cambiaron" in message.sms
    # a language CareNav does not speak: English
    with db.session() as s:
        s.get(m.Outreach, nudge.id).language = "fr"
    assert message_of(db, nudge).sms.endswith(STOP_EN)


def test_free_text_replies_are_recognised_in_both_languages():
    assert reply_kind("Ya tengo cita") == "booked" and reply_kind("I already booked it!") == "booked"
    assert reply_kind("Sí") == "yes" and reply_kind("ok thanks") == "yes"
    assert reply_kind("not good") == "worse" and reply_kind("me siento peor") == "worse"
    assert reply_kind("all good thanks") == "fine" and reply_kind("tengo una pregunta") == "question"
    assert reply_kind("no") == "no" and reply_kind("what's the weather") is None
    assert reply_kind("yes", allowed=["fine", "worse"]) is None


def test_the_rules_file_has_every_rule_in_english_and_spanish():
    cfg = rules.rules()
    assert set(cfg["rules"]) == set(rules.RULE_NAMES)
    assert cfg["caps"] == {"per_day": 1, "per_week": 3}
    assert (cfg["waking_hours"], cfg["send_at"]) == ({"start": "08:00", "end": "21:00"}, "10:00")
    referral = cfg["rules"]["referral_not_scheduled"]
    assert referral["days_after_approval"]["routine"] == 7 and referral["days_after_approval"]["urgent"] == 3
    assert [c["kind"] for c in referral["choices"]] == ["yes", "booked", "question"]
    assert [c["kind"] for c in cfg["rules"]["discharge_checkin"]["choices"]] == ["fine", "worse", "question"]


# ---------------------------------------------------------------------------------------------
# the command line


def test_the_command_plans_once_and_prints_json_lines(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = dict(os.environ, CARENAV_DB_URL=url)

    def carenav(*args):
        result = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result

    carenav("db", "seed")  # the demo as of the real today
    dry = carenav("outreach", "plan", "--dry-run")
    lines = [json.loads(line) for line in dry.stdout.splitlines()]
    assert lines and all({"patient_id", "rule", "send_after", "channel"} <= set(line) for line in lines)
    assert ("demo-james", "referral_not_scheduled") in {(x["patient_id"], x["rule"]) for x in lines}
    assert "would plan" in dry.stderr and "nothing written" in dry.stderr
    first = carenav("outreach", "plan")
    assert len(first.stdout.splitlines()) == len(lines) and f"planned {len(lines)} new" in first.stderr
    again = carenav("outreach", "plan")
    assert again.stdout == "" and "planned 0 new messages" in again.stderr
    dated = carenav("outreach", "plan", "--today", (dt.date.today() + dt.timedelta(days=4)).isoformat(), "--dry-run")
    assert ("demo-linda", "discharge_checkin") in {(json.loads(x)["patient_id"], json.loads(x)["rule"])
                                                   for x in dated.stdout.splitlines()}


# ---------------------------------------------------------------------------------------------
# two planners at once


def _add_load(db, count: int) -> None:
    """`count` patients with an approved routine referral, approved ten days before TODAY."""
    with db.session() as s:
        s.add_all([m.Patient(id=f"load-{i}", given_name="Load", family_name=f"Test{i}",
                             mobile_phone=f"+1555030{i:04d}", preferred_language="en", sms_consent=True,
                             source="demo") for i in range(count)])
        s.flush()
        s.add_all([m.Referral(id=f"load-ref-{i}", patient_id=f"load-{i}", specialty="cardiology", priority="routine",
                              status="approved", sent_on=d(-12), approved_on=d(-10), report_received=False)
                   for i in range(count)])


def _plan_concurrently(db, planners: int = 2) -> List[List[dict]]:
    barrier = threading.Barrier(planners)
    results: List[List[dict]] = [[] for _ in range(planners)]
    errors: List[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = plan(db, today=TODAY, now=local(TODAY, 9))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(planners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def _assert_planned_once(db, results: List[List[dict]], at_least: int) -> None:
    returned = [(p["patient_id"], p["rule"], p["subject_id"], p["due_date"]) for r in results for p in r]
    assert len(returned) == len(set(returned)) >= at_least  # each new row reported by one planner only
    with db.session() as s:
        rows = s.execute(select(m.Outreach.patient_id, m.Outreach.rule, m.Outreach.subject_id,
                                m.Outreach.due_date)).all()
        duplicates = s.execute(select(func.count()).select_from(
            select(m.Outreach.patient_id).group_by(m.Outreach.patient_id, m.Outreach.rule, m.Outreach.subject_id,
                                                   m.Outreach.due_date).having(func.count() > 1).subquery())).scalar()
    assert duplicates == 0
    assert sorted(returned) == sorted((p, r, sub, due.isoformat()) for p, r, sub, due in rows)


def test_two_planners_at_once_on_sqlite_plan_each_row_once(db):
    _add_load(db, 300)
    _assert_planned_once(db, _plan_concurrently(db), at_least=300)


def test_two_planners_at_once_on_postgresql_plan_each_row_once():
    with fresh_postgres_database("carenav_outreach_plan") as pg:
        seed_demo(pg, today=TODAY)
        _add_load(pg, 2000)
        results = _plan_concurrently(pg)
        _assert_planned_once(pg, results, at_least=2000)
        assert plan(pg, today=TODAY, now=local(TODAY, 11)) == []
        # the same rows as on SQLite for the demo patients
        with pg.session() as s:
            demo = set(s.execute(select(m.Outreach.patient_id, m.Outreach.rule)
                                 .where(m.Outreach.patient_id.like("demo-%"))).all())
        assert demo == {(JAMES, "referral_not_scheduled"), (LINDA, "discharge_checkin"), (ROBERT, "overdue_steps")}
