"""A lone UTF-16 surrogate anywhere in a request gets a 400 and changes nothing; the server stays
up and answers the next message (Rasa's SQL tracker store would otherwise exit the process)."""
from __future__ import annotations

import pytest
import requests

from bot.channels import clean_unicode
from tests.integration.test_sms import _send


@pytest.mark.parametrize("body", [
    '{"sender": "x\\ud800", "message": "hi"}',
    '{"sender": "visitor-1", "message": "hi \\udfff there"}',
    '{"sender": "visitor-1", "message": "hi", "metadata": {"token": "abc\\ud800"}}',
    '{"sender": "visitor-1", "message": "hi", "metadata": {"\\ud800": "x"}}',
])
def test_a_lone_surrogate_in_any_rest_field_is_refused_and_the_server_stays_up(assistant, sender, body):
    url = f"http://localhost:{assistant.ports.rasa}/webhooks/rest/webhook"
    refused = requests.post(url, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=30)
    assert refused.status_code == 400 and "Unicode" in refused.text
    after = requests.post(url, json={"sender": sender, "message": "hi"}, timeout=30)
    assert after.status_code == 200 and "CareNav" in after.json()[0]["text"]


def test_bytes_that_are_not_utf8_in_an_sms_field_are_refused(assistant, sms_provider):
    url = f"http://localhost:{assistant.ports.rasa}/webhooks/sms/webhook"
    answer = requests.post(url, data=b"From=%2B15550100188&To=%2B15550109999&Body=hi%ED%A0%80",
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "X-Twilio-Signature": "x"}, timeout=30)
    assert answer.status_code in (400, 403)  # refused either way, before anything is stored
    assert _send(assistant, "+15550100188", "hi").status_code == 200


def test_a_phone_number_in_other_digits_is_refused(assistant, sms_provider):
    assert _send(assistant, "+١٥٥٥٠١٠٠١٨٨", "hi").status_code == 400  # Arabic-Indic digits


def test_clean_unicode_looks_inside_lists_and_mappings():
    assert clean_unicode({"a": ["b", {"c": "d"}]}) and clean_unicode(None) and clean_unicode(3)
    assert not clean_unicode({"a": ["b", {"c": "d\udc00"}]})
    assert not clean_unicode({"\ud800": 1})
