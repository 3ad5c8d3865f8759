"""Faults injected into the running servers (issue 17): each ends with a helpful reply and
nothing lost. The action server stuck or killed; the store locked by a long write; the SMS
provider down, then back; the Rasa server killed with replies and a message left unsent; the
provider retrying a webhook."""
from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import time

import requests

from tests.integration.test_sms import Phone, _send

CLINIC = "(555) 010-0100"


def health(assistant) -> requests.Response:
    return requests.get(f"http://localhost:{assistant.ports.web}/health", timeout=10)


def wait_healthy(assistant, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if health(assistant).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"not healthy after {timeout:.0f} s: {health(assistant).text}")


def store(demo_db_url):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    return CareStore(Database(demo_db_url))


def test_a_stuck_action_server_gets_a_helpful_reply_not_silence(assistant, chat_as):
    linda = chat_as("demo-linda")
    assert "CareNav" in linda.text("hi")
    group = assistant.procs["actions"].pid
    os.killpg(group, signal.SIGSTOP)  # alive but answering nothing
    try:
        started = time.monotonic()
        reply = linda.text("what medicines am i taking")
        took = time.monotonic() - started
    finally:
        os.killpg(group, signal.SIGCONT)
    assert "can't do that right now" in reply and CLINIC in reply and "911" in reply
    assert "furosemide" not in reply
    assert took < 20, took
    wait_healthy(assistant)
    assert "furosemide" in linda.text("what medicines am i taking")


def test_a_handoff_asked_for_while_the_action_server_is_down_is_recorded(assistant, chat_as, demo_db_url):
    robert = chat_as("demo-robert")
    assert "CareNav" in robert.text("hi")
    before = [c.id for c in store(demo_db_url).open_callback_requests("demo-robert")]
    os.killpg(assistant.procs["actions"].pid, signal.SIGKILL)
    reply = robert.text("can i talk to a real person please")
    assert "your request is recorded" in reply and CLINIC in reply and "911" in reply
    new = [c for c in store(demo_db_url).open_callback_requests("demo-robert") if c.id not in before]
    assert len(new) == 1 and new[0].channel == "rest" and new[0].conversation_id == robert.sender
    assert new[0].reason.startswith("asked while")
    audit = [a for a in store(demo_db_url).audit_for("demo-robert") if a.conversation_id == robert.sender]
    assert any(a.record_kind == "callback request" for a in audit)
    wait_healthy(assistant)  # the supervisor brought it back
    assert assistant.restarts.get("actions", 0) >= 1


def test_over_sms_and_the_web_page_a_failed_action_is_never_silence(assistant, sms_provider, token_for):
    """The same fault on the other two channels: a texter asking for a person while the action
    server is down is answered (and the request kept); a web chat asking for records while it is
    stuck gets the apology, not silence."""
    from tests.integration.test_security import Socket

    number = "+15550100181"
    os.killpg(assistant.procs["actions"].pid, signal.SIGKILL)
    assert _send(assistant, number, "can i talk to a real person").status_code == 200
    reply = " ".join(sms_provider.wait_for(number, 1, timeout=60))
    assert CLINIC in reply and "911" in reply
    wait_healthy(assistant)

    async def web_chat():
        import asyncio

        tab = Socket(assistant, token=token_for("demo-linda"))
        await tab.open()
        group = assistant.procs["actions"].pid
        os.killpg(group, signal.SIGSTOP)
        try:
            answer = await tab.say("what medicines am i taking", wait=30)
        finally:
            os.killpg(group, signal.SIGCONT)
        await tab.close()
        await asyncio.sleep(0)
        return answer

    import asyncio

    answer = asyncio.run(web_chat())
    assert "can't do that right now" in answer and CLINIC in answer and "furosemide" not in answer
    wait_healthy(assistant)


def test_a_locked_store_gets_an_apology_within_seconds_and_never_a_record_without_its_audit(
        assistant, chat_as, demo_db_url):
    maria = chat_as("demo-maria")
    assert "CareNav" in maria.text("hi")
    path = demo_db_url.split("sqlite:///", 1)[1]
    holder = sqlite3.connect(path, timeout=1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a long write holds the store
    try:
        started = time.monotonic()
        reply = maria.text("what medicines am i taking")
        took = time.monotonic() - started
        unhealthy = health(assistant)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "metformin" not in reply.lower() and CLINIC in reply and "911" in reply
    assert took < 15, took
    assert unhealthy.status_code == 503 and unhealthy.json()["parts"]["rasa"] != "ok"
    audited = [a for a in store(demo_db_url).audit_for("demo-maria") if a.conversation_id == maria.sender]
    assert audited == []  # nothing was shown, so nothing is audited
    answer = maria.text("what medicines am i taking")  # the store is back: so is the answer
    assert "metformin" in answer.lower()
    audited = [a for a in store(demo_db_url).audit_for("demo-maria") if a.conversation_id == maria.sender]
    assert [a.record_kind for a in audited] == ["medications"] or audited and all(
        a.record_kind.startswith("medication") for a in audited)
    assert health(assistant).status_code == 200


def test_an_sms_provider_outage_is_ridden_out(assistant, sms_provider):
    aisha = Phone(assistant, sms_provider, "+15550100105")
    before = len(sms_provider.messages_to(aisha.number))
    sms_provider.fail_until = time.monotonic() + 20
    assert _send(assistant, aisha.number, "hello").status_code == 200
    time.sleep(5)
    assert len(sms_provider.messages_to(aisha.number)) == before  # nothing got through yet
    bodies = sms_provider.wait_for(aisha.number, before + 1, timeout=90)
    assert "CareNav" in bodies[before]


def test_the_same_inbound_message_is_answered_once(assistant, sms_provider):
    from bot.sms.provider import twilio_signature
    from tests.conftest import SMS_AUTH_TOKEN

    number = "+15550100177"
    url = f"http://localhost:{assistant.ports.rasa}/webhooks/sms/webhook"
    form = {"From": number, "To": "+15550109999", "Body": "hi", "MessageSid": "SMretried0000000001"}
    headers = {"X-Twilio-Signature": twilio_signature(SMS_AUTH_TOKEN, url, form)}
    for _ in range(3):  # the provider retries the webhook
        assert requests.post(url, data=form, headers=headers, timeout=30).status_code == 200
    sms_provider.wait_for(number, 1)
    time.sleep(4)
    bodies = sms_provider.messages_to(number)
    assert sum("I'm CareNav" in b for b in bodies) == 1 and len(set(bodies)) == len(bodies), bodies


def test_after_the_rasa_server_is_killed_nothing_is_lost(assistant, sms_provider, demo_db_url):
    """Killed with a reply not yet sent and a message not yet processed: the restarted server
    sends the one and answers the other."""
    from bot.sms.inbound import Inbox
    from bot.sms.outbox import SENDING_GRACE, Outbox, ProviderClient

    db = store(demo_db_url).db
    os.killpg(assistant.procs["rasa"].pid, signal.SIGKILL)
    unsent, unread = "+15550100178", "+15550100179"
    outbox = Outbox(db, ProviderClient("x", "x", "x", "http://127.0.0.1:9"))
    [row] = outbox.enqueue(unsent, ["a reply the crash left unsent"],
                           now=dt.datetime.now() - SENDING_GRACE - dt.timedelta(seconds=5))
    assert Inbox(db).receive("SMcrash000000000001", unread, "hi") is not None
    wait_healthy(assistant, timeout=240)
    assert sms_provider.wait_for(unsent, 1, timeout=60) == ["a reply the crash left unsent"]
    assert "CareNav" in sms_provider.wait_for(unread, 1, timeout=60)[0]
    assert Inbox(db).left_pending() == []
    assert row
