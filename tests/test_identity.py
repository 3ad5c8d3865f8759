"""Tokens and who a message may see: forged, expired and other-patient tokens give nothing."""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from bot.identity import TokenError, identity_for, issue_sms_claim, issue_token, patient_from_token

SECRET = "test-secret-for-identity-tests-0123456789"


def test_valid_token_names_its_patient():
    token = issue_token("pat-1", secret=SECRET)
    assert patient_from_token(token, secret=SECRET) == "pat-1"


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("make_token, reason", [
    (lambda: None, "no token"),
    (lambda: "", "no token"),
    (lambda: "not.a.jwt", "invalid token"),
    (lambda: issue_token("pat-1", secret="another-key-entirely-0123456789abcdef"), "invalid token"),
    (lambda: issue_token("pat-1", ttl_seconds=-5, secret=SECRET), "token expired"),
    # alg: none, unsigned
    (lambda: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(
        {"sub": "pat-1", "exp": int(time.time()) + 600, "iss": "carenav"}) + ".", "invalid token"),
    # HS512 with the right key is still refused: only HS256 is accepted
    (lambda: jwt.encode({"sub": "pat-1", "exp": int(time.time()) + 600, "iss": "carenav"}, SECRET,
                        algorithm="HS512"), "invalid token"),
    (lambda: "x" * 5000, "token too long"),
])
def test_bad_tokens_are_refused(make_token, reason):
    with pytest.raises(TokenError, match=reason):
        patient_from_token(make_token(), secret=SECRET)


def test_edited_payload_is_refused():
    header, _payload, signature = issue_token("pat-1", secret=SECRET).split(".")
    forged = _b64({"sub": "pat-2", "exp": int(time.time()) + 600, "iat": int(time.time()),
                   "iss": "carenav"})
    with pytest.raises(TokenError):
        patient_from_token(f"{header}.{forged}.{signature}", secret=SECRET)


def test_rest_message_needs_a_token_of_this_message():
    token = issue_token("pat-1", secret=SECRET)
    assert identity_for("rest", {"token": token}, None, secret=SECRET).patient_id == "pat-1"
    # a conversation already bound to pat-1, but this message carries no token: nothing
    nobody = identity_for("rest", {}, "pat-1", secret=SECRET)
    assert nobody.patient_id is None and nobody.reason == "no token"


def test_token_for_another_patient_than_the_bound_one_is_refused():
    other = issue_token("pat-2", secret=SECRET)
    refused = identity_for("rest", {"token": other}, "pat-1", secret=SECRET)
    assert refused.patient_id is None
    assert refused.reason == "token for another patient"


def test_sms_needs_the_channels_claim_for_this_conversation_and_ignores_tokens():
    token = issue_token("pat-1", secret=SECRET)
    assert identity_for("sms", {"token": token}, None, "sms-1", secret=SECRET).patient_id is None
    assert identity_for("sms", {"sms_claim": token}, None, "sms-1", secret=SECRET).patient_id is None
    claim = issue_sms_claim("pat-3", "sms-1", time.time() + 60, secret=SECRET)
    assert identity_for("sms", {"sms_claim": claim}, None, "sms-1", secret=SECRET).patient_id == "pat-3"
    assert identity_for("sms", {"sms_claim": claim}, None, "sms-2", secret=SECRET).patient_id is None
    # and a claim is no web token
    assert identity_for("rest", {"token": claim}, None, "sms-1", secret=SECRET).patient_id is None


def test_unknown_channels_see_nothing():
    token = issue_token("pat-1", secret=SECRET)
    assert identity_for("cmdline", {"token": token}, None, secret=SECRET).patient_id is None
    assert identity_for(None, {"token": token}, None, secret=SECRET).patient_id is None


def test_local_secret_file_is_created_private(tmp_path, monkeypatch):
    monkeypatch.delenv("CARENAV_TOKEN_SECRET", raising=False)
    secret_file = tmp_path / "secret"
    monkeypatch.setenv("CARENAV_TOKEN_SECRET_FILE", str(secret_file))
    token = issue_token("pat-9")
    assert secret_file.exists() and (secret_file.stat().st_mode & 0o077) == 0
    assert patient_from_token(token) == "pat-9"
