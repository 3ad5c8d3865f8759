"""Shared fixtures: a seeded demo store, and the real assistant (Rasa + action server) over REST."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def demo_db_url(tmp_path_factory) -> str:
    """A SQLite store with the demo patients, shared by the tests that only read it."""
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    path = tmp_path_factory.mktemp("store") / "carenav.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    db.create_schema()
    seed_demo(db)
    # and the real (synthetic) FHIR patients, imported the way a clinic would import them
    from bot.store.fhir import import_paths

    fhir_dir = ROOT.parent / "shared" / "data" / "fhir"
    if fhir_dir.is_dir():
        import_paths(db, [fhir_dir], skip_invalid=True, show_progress=False)
    db.dispose()
    return url


TEST_TOKEN_SECRET = "carenav-test-token-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def token_for():
    """Tokens as the clinic's website would hand them out, signed with the servers' test secret."""
    from bot.identity import issue_token

    def make(patient_id: str, ttl_seconds: int = 3600) -> str:
        os.environ["CARENAV_TOKEN_SECRET"] = TEST_TOKEN_SECRET
        return issue_token(patient_id, ttl_seconds=ttl_seconds)
    return make


SMS_ACCOUNT_SID = "ACtest0000000000000000000000000000"
SMS_AUTH_TOKEN = "sms-test-auth-token-0123456789"
SMS_FROM = "+15550109999"


@pytest.fixture(scope="session")
def sms_provider():
    """The local stand-in for the SMS provider's Messages API."""
    from tests.integration.fake_sms_provider import FakeSmsProvider

    port = int(os.environ.get("CARENAV_TEST_SMS_PORT", "5188"))
    provider = FakeSmsProvider(SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, port)
    provider.start()
    yield provider
    provider.stop()


RASA_PORT_FOR_TESTS = int(os.environ.get("CARENAV_TEST_RASA_PORT", "5105"))
ACTION_PORT_FOR_TESTS = RASA_PORT_FOR_TESTS + 50


@pytest.fixture(scope="session")
def assistant(demo_db_url, tmp_path_factory, sms_provider):
    """The real Rasa server and action server, started the way `make run` starts them."""
    from bot.modeling import model_path
    from bot.runner import Assistant, Ports

    model = model_path()
    if not model.exists():
        pytest.fail(f"no trained model {model.name}: run `make model` (make test does) first")
    ports = Ports(rasa=RASA_PORT_FOR_TESTS, actions=ACTION_PORT_FOR_TESTS, web=RASA_PORT_FOR_TESTS + 3000)
    logs = tmp_path_factory.mktemp("logs")
    running = Assistant(model=model, ports=ports, log_dir=logs, with_web=True,
                        env={"CARENAV_DB_URL": demo_db_url, "CARENAV_DEMO": "1",
                             "CARENAV_ACTION_TIMEOUT": "10",  # a stuck action server, found out sooner
                             "CARENAV_TOKEN_SECRET": TEST_TOKEN_SECRET,
                             "CARENAV_SMS_ACCOUNT_SID": SMS_ACCOUNT_SID,
                             "CARENAV_SMS_AUTH_TOKEN": SMS_AUTH_TOKEN,
                             "CARENAV_SMS_FROM": SMS_FROM,
                             "CARENAV_SMS_API_BASE": sms_provider.base_url})
    try:
        running.start(timeout=300)
    except RuntimeError as exc:
        for log in sorted(logs.glob("*.log")):
            print(f"--- {log.name}\n" + log.read_text(errors="replace")[-4000:])
        pytest.fail(str(exc))
    running.supervise_in_background()  # as `carenav run` does: a server that dies comes back
    yield running
    running.stop()


@pytest.fixture
def sender() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def chat_as(assistant, sender, token_for):
    """A REST chat as a demo patient (signed in with a token), or as a visitor with None."""
    from tests.integration.rest import RestChat

    def make(patient_id=None):
        token = token_for(patient_id) if patient_id else None
        return RestChat(f"http://localhost:{assistant.ports.rasa}", sender, token=token)
    return make
