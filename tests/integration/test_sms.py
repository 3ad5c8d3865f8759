"""A whole conversation by SMS: the real Rasa server, webhooks signed like the provider signs
them, and replies read from the local stand-in for the provider's Messages API."""
from __future__ import annotations

import uuid

import requests

from bot.sms.provider import twilio_signature
from bot.sms.segments import split_sms
from tests.conftest import SMS_AUTH_TOKEN


def _send(assistant, phone: str, body: str, token: str = SMS_AUTH_TOKEN, to: str = "+15550109999"):
    url = f"http://localhost:{assistant.ports.rasa}/webhooks/sms/webhook"
    # each message has its own MessageSid, as the provider gives it (the channel answers a sid once)
    params = {"From": phone, "To": to, "Body": body, "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "ACtest"}
    headers = {"X-Twilio-Signature": twilio_signature(token, url, params)}
    return requests.post(url, data=params, headers=headers, timeout=30)


class Phone:
    def __init__(self, assistant, provider, number: str) -> None:
        self.assistant, self.provider, self.number = assistant, provider, number

    def text(self, body: str, expect: int = 1) -> str:
        before = len(self.provider.messages_to(self.number))
        answer = _send(self.assistant, self.number, body)
        assert answer.status_code == 200, answer.text
        bodies = self.provider.wait_for(self.number, before + expect)
        return "\n".join(bodies[before:])


def test_a_bad_signature_is_refused(assistant, sms_provider):
    answer = _send(assistant, "+15550100101", "hi", token="not-the-auth-token")
    assert answer.status_code == 403 and "X-Twilio-Signature" in answer.text


def test_maria_by_sms_verification_numbered_choice_long_reply_and_opt_out(assistant, sms_provider):
    maria = Phone(assistant, sms_provider, "+15550100101")
    assert "CareNav" in maria.text("hi")
    ask = maria.text("what meds am i on")
    assert "date of birth" in ask
    assert "doesn't match" in maria.text("01/01/1970")
    verified = maria.text("04/12/1968", expect=2)  # "verified", then the answer to the waiting question
    assert "verified" in verified and "active medicine" in verified
    assert "metformin" not in verified  # no medicine names by SMS

    choose = maria.text("why was i referred")
    assert "2 open referrals" in choose and "1) Endocrinology" in choose and "2) Nutrition" in choose
    before = len(sms_provider.messages_to(maria.number))
    answer = maria.text("2", expect=2)
    segments = sms_provider.messages_to(maria.number)[before:]
    assert "dietitian" in answer
    assert len(segments) >= 2 and all(len(s) <= 160 for s in segments)
    assert any(s.endswith(f"(1/{len(segments)})") for s in segments[:1]) or any("(1/" in s for s in segments), segments

    stopped = maria.text("STOP")
    assert "unsubscribed" in stopped
    count = len(sms_provider.messages_to(maria.number))
    _send(assistant, maria.number, "hello?")
    import time
    time.sleep(3)
    assert len(sms_provider.messages_to(maria.number)) == count  # nothing to an opted-out number
    assert "subscribed" in maria.text("START")


def test_three_wrong_birth_dates_lock_records_for_that_number(assistant, sms_provider):
    james = Phone(assistant, sms_provider, "+15550100102")
    assert "date of birth" in james.text("are my results back")
    assert "doesn't match" in james.text("1/1/1980")
    assert "doesn't match" in james.text("2/2/1980")
    locked = james.text("3/3/1980")
    assert "15 minutes" in locked and "(555) 010-0100" in locked
    assert "can't share records" in james.text("what meds am i on")
    # the right date does not unlock it early
    assert "EKG" not in james.text("09/03/1957")


def test_an_emergency_by_sms_is_answered_even_while_verifying(assistant, sms_provider):
    linda = Phone(assistant, sms_provider, "+15550100103")
    assert "date of birth" in linda.text("what meds am i on")
    urgent = linda.text("i cant breathe", expect=2)
    assert "911" in urgent.split("\n")[0]


def test_a_failed_send_is_retried_not_lost(assistant, sms_provider):
    aisha = Phone(assistant, sms_provider, "+15550100105")
    sms_provider.fail_next = 2
    assert "CareNav" in aisha.text("hello")


def test_long_replies_split_on_words_and_numbered():
    text = "word " * 100
    parts = split_sms(text)
    assert len(parts) > 1 and all(len(p) <= 160 for p in parts)
    assert parts[0].endswith(f"(1/{len(parts)})") and parts[-1].endswith(f"({len(parts)}/{len(parts)})")
    assert " ".join(p.rsplit(" (", 1)[0] for p in parts).split() == text.split()
    unicode_parts = split_sms("Résumé naïve café ✓ " * 10)
    assert all(len(p) <= 70 for p in unicode_parts)


def test_spanish_stop_and_start_keywords_are_honoured_and_answered_in_spanish(assistant, sms_provider):
    phone = Phone(assistant, sms_provider, f"+1555041{uuid.uuid4().int % 10000:04d}")
    stopped = phone.text("PARAR")
    assert "Ya no recibirá mensajes" in stopped
    before = len(sms_provider.messages_to(phone.number))
    assert _send(assistant, phone.number, "hola").status_code == 200
    import time

    time.sleep(3)
    assert len(sms_provider.messages_to(phone.number)) == before  # opted out: no answer
    assert "Volverá a recibir mensajes" in phone.text("INICIAR")
    assert "Emergencia: 911" in phone.text("AYUDA")
