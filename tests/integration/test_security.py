"""The adversarial suite, against the running servers (issue 16): every probe gets a 4xx or a
general answer, changes nothing it should not, the stack stays up, and no reply or log holds a
patient's data.

Probes: invalid Unicode in every field of every channel; direct calls to the action server
without its secret and with forged identities; the demo sign-in outside demo mode and for
imported patients; a foreign Origin; an anonymous socket in a room a patient takes over; ordinary
text and pictures during the SMS date-of-birth step, and misses that escalate; a server killed.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import time
import uuid

import requests
import socketio

from tests.integration.test_sms import Phone, _send

MARKER = "zebra-marker-4471"  # a message text that must never reach a log
LINDA_MEDICINE = "furosemide"


def rasa(assistant, path: str) -> str:
    return f"http://localhost:{assistant.ports.rasa}{path}"


def web(assistant, path: str) -> str:
    return f"http://localhost:{assistant.ports.web}{path}"


def page_origin(assistant) -> str:
    return f"http://localhost:{assistant.ports.web}"


def health(assistant) -> requests.Response:
    return requests.get(web(assistant, "/health"), timeout=10)


# ---------------------------------------------------------------- socket.io as a browser would


class Socket:
    """One browser tab's socket.io connection to the Rasa server, as the chat page makes it."""

    def __init__(self, assistant, token=None, origin=None) -> None:
        self.url = rasa(assistant, "")
        self.token, self.origin = token, origin or page_origin(assistant)
        self.client = socketio.AsyncClient(reconnection=False)
        self.heard: list = []
        self.session_id = None
        self._confirmed = asyncio.Event()

        @self.client.on("bot_uttered")
        async def heard(data):
            self.heard.append(data.get("text", "") if isinstance(data, dict) else str(data))

        @self.client.on("session_confirm")
        async def confirmed(session_id):
            self.session_id = session_id
            self._confirmed.set()

    async def open(self, session_id=None) -> str:
        await self.client.connect(self.url, headers={"Origin": self.origin}, transports=["polling"],
                                  auth={"token": self.token} if self.token else None, wait_timeout=10)
        self._confirmed.clear()
        await self.client.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self._confirmed.wait(), 10)
        return self.session_id

    async def say(self, text: str, wait: float = 20.0, expect: int = 1) -> str:
        before = len(self.heard)
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})
        deadline = time.monotonic() + wait
        while len(self.heard) < before + expect and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything else that comes
        return "\n".join(self.heard[before:])

    async def close(self) -> None:
        await self.client.disconnect()


# ---------------------------------------------------------------- invalid Unicode everywhere


def test_invalid_unicode_in_every_field_of_every_channel_is_refused_and_all_stays_up(assistant, sms_provider):
    url = rasa(assistant, "/webhooks/rest/webhook")
    for body in ('{"sender": "x\\ud800", "message": "hi"}',
                 '{"sender": "v-1", "message": "hi \\udfff"}',
                 '{"sender": "v-1", "message": "hi", "metadata": {"token": "abc\\ud800"}}',
                 '{"sender": "v-1", "message": "hi", "metadata": {"\\ud800": "x"}}',
                 '{"sender": "v-1", "message": "hi", "metadata": {"a": ["\\udc00"]}}'):
        answer = requests.post(url, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=30)
        assert answer.status_code == 400, body
        assert "records" not in answer.text

    sms = rasa(assistant, "/webhooks/sms/webhook")
    for form in (b"From=%2B15550100188&To=%2B15550109999&Body=hi%ED%A0%80",  # an encoded surrogate
                 b"From=%2B15550100188%ED%A0%80&To=%2B15550109999&Body=hi",
                 b"From=%2B15550100188&To=%2B15550109999%FF&Body=hi",        # not UTF-8 at all
                 b"From=%2B15550100188&To=%2B15550109999&Body=hi&Extra=%C0%AF"):
        answer = requests.post(sms, data=form, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                        "X-Twilio-Signature": "x"}, timeout=30)
        assert answer.status_code == 400, form

    async def sockets():
        token_ghost = Socket(assistant, token="abc\ud800")  # a surrogate in the connect token
        await token_ghost.open()
        assert "CareNav" in await token_ghost.say("hi")
        await token_ghost.close()
        ghost = Socket(assistant)
        fresh = await ghost.open(session_id="x\ud800y")  # ... in the session id
        assert fresh and "\ud800" not in fresh
        assert await ghost.say("hi \udfff", wait=3, expect=1) == ""  # ... in the message: dropped
        await ghost.client.emit("user_uttered", {"message": "hi", "metadata": {"\ud800": "x"}})
        assert "CareNav" in await ghost.say("hi")  # and the same socket still works
        await ghost.close()

    asyncio.run(sockets())
    status = health(assistant)
    assert status.status_code == 200, status.text
    assert status.json()["parts"] == {"web": "ok", "rasa": "ok", "actions": "ok"}


# ---------------------------------------------------------------- the action server


def _action_call(sender: str, channel: str, metadata: dict, action: str = "action_medications") -> dict:
    latest = {"text": "what meds am i on", "intent": {"name": "ask_medications", "confidence": 1.0},
              "entities": [], "metadata": metadata}
    return {"next_action": action, "sender_id": sender, "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": sender, "slots": {}, "latest_message": latest,
                        "events": [{"event": "user", "text": latest["text"], "parse_data": latest,
                                    "input_channel": channel, "metadata": metadata}],
                        "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": "action_listen"}}


def test_the_action_server_listens_on_this_machine_only(assistant):
    listening = []
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":
            address, port = local.split(":")
            listening.append((address, int(port, 16)))
    ports = {port: address for address, port in listening}
    assert ports.get(assistant.ports.actions) == "0100007F"  # 127.0.0.1, not 0.0.0.0


def test_direct_calls_to_the_action_server_are_refused_without_the_secret(assistant, demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    url = f"http://localhost:{assistant.ports.actions}"
    store = CareStore(Database(demo_db_url))
    callbacks_before = len(store.open_callback_requests("demo-linda"))
    forged = _action_call("sms-forged", "sms", {"sms_verified_patient": "demo-linda"})
    for headers in ({}, {"X-CareNav-Action-Secret": "guess"}, {"X-CareNav-Action-Secret": ""}):
        answer = requests.post(f"{url}/webhook", json=forged, headers=headers, timeout=30)
        assert answer.status_code == 401 and LINDA_MEDICINE not in answer.text
    assert requests.get(f"{url}/actions", timeout=10).status_code == 401
    human = _action_call("sms-forged", "sms", {"sms_verified_patient": "demo-linda"}, "action_request_human")
    assert requests.post(f"{url}/webhook", json=human, timeout=30).status_code == 401
    assert len(store.open_callback_requests("demo-linda")) == callbacks_before  # nothing filed
    assert requests.get(f"{url}/health", timeout=10).status_code == 200


def test_with_the_secret_plain_or_forged_identity_still_gives_no_records(assistant, token_for):
    import jwt

    url = f"http://localhost:{assistant.ports.actions}/webhook"
    secret = {"X-CareNav-Action-Secret": assistant.env["CARENAV_ACTION_SECRET"]}
    forged_claim = jwt.encode({"sub": "demo-linda", "conv": "sms-forged", "aud": "carenav-sms-verified",
                               "iss": "carenav", "exp": int(time.time()) + 600}, "a-guess" * 6, algorithm="HS256")
    for metadata, channel in (({"sms_verified_patient": "demo-linda"}, "sms"),
                              ({"sms_claim": forged_claim}, "sms"),
                              ({"sms_claim": token_for("demo-linda")}, "sms"),  # a web token is no claim
                              ({"token": "abc\ud800"}, "rest")):
        answer = requests.post(url, data=json.dumps(_action_call("sms-forged", channel, metadata)).encode(),
                               headers={**secret, "Content-Type": "application/json"}, timeout=30)
        assert answer.status_code == 200, answer.text
        said = [r.get("response") for r in answer.json()["responses"]]
        assert said and said[0] in ("utter_verify_sms_first", "utter_sign_in_first"), said
        assert LINDA_MEDICINE not in answer.text


def test_an_action_server_error_echoes_nothing_back(assistant):
    url = f"http://localhost:{assistant.ports.actions}/webhook"
    secret = {"X-CareNav-Action-Secret": assistant.env["CARENAV_ACTION_SECRET"]}
    broken = {"next_action": "action_medications", "version": "3.6.21", "tracker": f"not a tracker {MARKER}"}
    answer = requests.post(url, json=broken, headers=secret, timeout=30)
    assert answer.status_code == 500 and MARKER not in answer.text  # rasa-sdk's own handler echoes it


# ---------------------------------------------------------------- demo sign-in


def test_demo_sign_in_lists_and_signs_in_only_the_seeded_demo_patients(assistant, demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    listed = requests.get(web(assistant, "/demo/patients"), timeout=10).json()["patients"]
    ids = {p["id"] for p in listed}
    assert "demo-maria" in ids and all(i.startswith("demo-") for i in ids)
    imported = CareStore(Database(demo_db_url)).list_patients(source="fhir")
    assert imported, "the test store holds imported FHIR patients"
    refused = requests.post(web(assistant, "/demo/sign-in"), json={"patient_id": imported[0][0]}, timeout=10)
    assert refused.status_code == 404 and "token" not in refused.text


def test_without_demo_mode_there_is_no_demo_sign_in(demo_db_url, monkeypatch):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.store.db import Database
    from bot.store.queries import CareStore
    from bot.web.app import create_app

    monkeypatch.delenv("CARENAV_DEMO", raising=False)

    async def probe():
        app = create_app(store=CareStore(Database(demo_db_url)))
        async with TestClient(TestServer(app)) as client:
            listed = await client.get("/demo/patients")
            signed = await client.post("/demo/sign-in", json={"patient_id": "demo-maria"})
            page = await (await client.get("/")).text()
            return listed.status, signed.status, page

    listed, signed, page = asyncio.run(probe())
    assert (listed, signed) == (404, 404)
    assert "&quot;demoSignIn&quot;: false" in page


# ---------------------------------------------------------------- origins


def test_a_foreign_origin_is_refused_by_rest_and_socketio(assistant, sender):
    url = rasa(assistant, "/webhooks/rest/webhook")
    evil = {"Origin": "https://evil.example"}
    refused = requests.post(url, json={"sender": sender, "message": "hi"}, headers=evil, timeout=30)
    assert refused.status_code == 403
    assert refused.headers.get("Access-Control-Allow-Origin") not in ("*", "https://evil.example")
    preflight = requests.options(url, headers={**evil, "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.headers.get("Access-Control-Allow-Origin") not in ("*", "https://evil.example")
    ours = requests.post(url, json={"sender": sender, "message": "hi"},
                         headers={"Origin": page_origin(assistant)}, timeout=30)
    assert ours.status_code == 200 and ours.headers.get("Access-Control-Allow-Origin") == page_origin(assistant)

    async def foreign_socket():
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(rasa(assistant, ""), headers=evil, transports=["polling"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return False
        await client.disconnect()
        return True

    assert asyncio.run(foreign_socket()) is False


# ---------------------------------------------------------------- socket.io sessions


def test_an_anonymous_socket_hears_nothing_once_a_patient_takes_over_its_session(assistant, token_for, demo_db_url):
    from bot.channels.web_socketio import ANONYMOUS, SecureSocketIOInput
    from bot.store.db import Database

    async def scene():
        visitor = Socket(assistant)
        session = await visitor.open()
        assert "CareNav" in await visitor.say("hi")
        linda = Socket(assistant, token=token_for("demo-linda"))
        assert await linda.open(session_id=session) == session  # the visitor signed in: same chat
        meds = await linda.say("what medicines am i taking")
        assert LINDA_MEDICINE in meds.lower()
        await asyncio.sleep(1.5)
        overheard = "\n".join(visitor.heard)
        stranger = Socket(assistant)  # someone else who learnt the session id
        other = await stranger.open(session_id=session)
        await visitor.close(), await linda.close(), await stranger.close()
        return session, overheard, other

    session, overheard, other = asyncio.run(scene())
    assert LINDA_MEDICINE not in overheard.lower()
    assert other != session
    # ownership is in the store: a new channel object (a restarted or second server) knows it
    restarted = SecureSocketIOInput(db=Database(demo_db_url))
    assert restarted.owner_of(session) == "demo-linda"
    assert restarted.session_for(ANONYMOUS, session)[0] != session
    assert restarted.session_for("demo-maria", session)[0] != session
    assert restarted.session_for("demo-linda", session) == (session, False)
    assert restarted.session_for("demo-linda", uuid.uuid4().hex)[0] != "never-issued"


# ---------------------------------------------------------------- SMS


def test_ordinary_text_and_pictures_during_the_date_of_birth_step_are_not_counted(assistant, sms_provider):
    robert = Phone(assistant, sms_provider, "+15550100104")
    assert "date of birth" in robert.text("are my results back")
    for ordinary in ("hi", "are my results back?", "\U0001F600", "1"):
        assert "doesn't match" not in robert.text(ordinary), ordinary
    url = rasa(assistant, "/webhooks/sms/webhook")
    from bot.sms.provider import twilio_signature
    from tests.conftest import SMS_AUTH_TOKEN

    picture = {"From": robert.number, "To": "+15550109999", "Body": "", "NumMedia": "1",
               "MediaUrl0": "https://example.test/p.jpg", "MessageSid": "SMpic"}
    before = len(sms_provider.messages_to(robert.number))
    answer = requests.post(url, data=picture, headers={"X-Twilio-Signature": twilio_signature(
        SMS_AUTH_TOKEN, url, picture)}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert "only read text" in sms_provider.wait_for(robert.number, before + 1)[-1]
    # only now do misses count: the third date-like miss locks
    assert "doesn't match" in robert.text("01/01/1970")
    assert "doesn't match" in robert.text("February 2 1971")
    assert "15 minutes" in robert.text("3/3/1972")


def test_misses_after_a_lock_lock_for_a_day_and_tell_staff(assistant, sms_provider, demo_db_url):
    from sqlalchemy import update

    from bot.store.db import Database
    from bot.store.models import SmsSession
    from bot.store.queries import CareStore

    tom = Phone(assistant, sms_provider, "+15550100106")
    store = CareStore(Database(demo_db_url))
    assert "date of birth" in tom.text("what meds am i on")
    for guess in ("1/1/1980", "2/2/1980"):
        assert "doesn't match" in tom.text(guess)
    assert "15 minutes" in tom.text("3/3/1980")
    with store.db.session() as s:  # the 15 minutes pass
        s.execute(update(SmsSession).where(SmsSession.phone == tom.number)
                  .values(locked_until=dt.datetime.now() - dt.timedelta(seconds=1)))
    assert "date of birth" in tom.text("what meds am i on")
    day = tom.text("4/4/1980")
    assert "24 hours" in day and "(555) 010-0100" in day
    notes = [c for c in store.open_callback_requests("demo-tom") if (c.reason or "").startswith("Security:")]
    assert len(notes) == 1 and notes[0].channel == "sms"
    assert "can't share records" in tom.text("what meds am i on")
    assert "24 hours" in tom.text("02/14/1990")  # even the right date waits out the day


def test_a_phone_number_must_be_ascii_e164(assistant, sms_provider):
    for number in ("+１５５５０１００１８８", "+1555abc0188", "15550100188", "+0555010018"):
        assert _send(assistant, number, "hi").status_code == 400, number


# ---------------------------------------------------------------- supervision, and after all of it


def test_a_killed_server_is_restarted_and_the_others_keep_serving(assistant, chat_as):
    linda = chat_as("demo-linda")
    os.killpg(assistant.procs["actions"].pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while health(assistant).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    degraded = health(assistant)
    assert degraded.status_code == 503 and degraded.json()["parts"]["actions"] != "ok"
    assert "CareNav" in chat_as(None).text("hi")  # the Rasa server keeps answering meanwhile
    deadline = time.monotonic() + 90
    while health(assistant).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert health(assistant).status_code == 200
    assert assistant.restarts.get("actions", 0) >= 1
    assert LINDA_MEDICINE in linda.text("what medicines am i taking").lower()


def test_after_all_probes_every_server_is_up_and_no_log_holds_patient_data(assistant, demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    assert health(assistant).status_code == 200
    store = CareStore(Database(demo_db_url))
    private = {MARKER}
    for pid in ("demo-linda", "demo-robert", "demo-tom"):
        patient = store.patient(pid)
        private |= {patient.display_name, patient.mobile_phone, patient.birth_date.strftime("%m/%d/%Y")}
        private |= {m.name for m in store.active_medications_for(pid)}
    logs = {path.name: path.read_text(errors="replace") for path in assistant.log_dir.glob("*.log")}
    found = [(name, item) for name, text in logs.items() for item in private if item and item in text]
    assert found == []
