"""What the SMS channel needs to know about the provider and numbers: the request signature
(the `twilio` package's RequestValidator) and the id a number's conversation goes by."""
from __future__ import annotations

import hashlib
import hmac
import re
from typing import Dict

from twilio.request_validator import RequestValidator

E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def phone_ref(phone: str) -> str:
    """The id of a number's conversation, for the tracker store and logs: never the number itself.

    Keyed with the server's secret, so the id cannot be turned back into the number by trying
    every phone number."""
    from bot.identity import token_secret

    return "sms-" + hmac.new(token_secret().encode(), phone.encode(), hashlib.sha256).hexdigest()[:16]


def twilio_signature(auth_token: str, url: str, params: Dict[str, str]) -> str:
    """The provider's request signature over the URL and every form field, empty ones included."""
    return RequestValidator(auth_token).compute_signature(url, params)


def signature_ok(auth_token: str, url: str, params: Dict[str, str], given: str) -> bool:
    return bool(given) and RequestValidator(auth_token).validate(url, params, given)
