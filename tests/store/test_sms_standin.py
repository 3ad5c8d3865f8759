"""The demo's local stand-in for the SMS provider (bot/sms/standin.py): its Messages API refuses a
wrong account, wrong credentials and missing fields and keeps what it accepts; the demo phone page
sends a text to CareNav's webhook signed as the provider would, shows both directions, and escapes
what it shows; `main` labels the demo patients' numbers from the store and binds 127.0.0.1 only."""
from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs

import pytest
from aiohttp import BasicAuth, web
from aiohttp.test_utils import TestClient, TestServer

from bot.sms import standin
from bot.sms.outbox import ProviderClient
from bot.sms.provider import signature_ok

SID, TOKEN, CLINIC = "ACstandin000000000000000000000000", "standin-test-token", "+15550109999"
JAMES = "+15550100102"
API = f"/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture(autouse=True)
def token_secret(monkeypatch):
    # phone_ref (the logs) is keyed with the server's secret: a fixed one, no file written
    monkeypatch.setenv("CARENAV_TOKEN_SECRET", "carenav-test-token-secret-0123456789abcdef0123456789abcdef")


def run(scenario, webhook_status: int = 200, phones=None):
    """`scenario(client, rasa)` against the stand-in, whose webhook is a second local app standing
    in for the Rasa server: `rasa` records what it was posted (and its URL)."""
    rasa: dict = {"requests": []}

    async def webhook(request: web.Request) -> web.Response:
        rasa["requests"].append({"body": (await request.read()).decode(), "headers": dict(request.headers),
                                 "content_type": request.content_type})
        return web.Response(text="<Response></Response>", status=webhook_status, content_type="text/xml")

    async def go():
        rasa_app = web.Application()
        rasa_app.router.add_post("/webhooks/sms/webhook", webhook)
        async with TestServer(rasa_app) as rasa_server:
            rasa["url"] = str(rasa_server.make_url("/webhooks/sms/webhook"))
            app = standin.create_app(SID, TOKEN, CLINIC, rasa["url"],
                                     {JAMES: "James Carter (demo)"} if phones is None else phones)
            async with TestClient(TestServer(app)) as client:
                return await scenario(client, rasa)
    return asyncio.run(go())


def test_the_messages_api_refuses_a_wrong_account_wrong_auth_and_missing_fields_and_keeps_a_good_one():
    async def scenario(client, _rasa):
        good = BasicAuth(SID, TOKEN)
        form = {"To": JAMES, "From": CLINIC, "Body": "Your appointment is on Friday."}
        statuses = {
            "wrong sid": (await client.post(API.replace(SID, "ACother"), data=form, auth=good)).status,
            "no auth": (await client.post(API, data=form)).status,
            "wrong token": (await client.post(API, data=form, auth=BasicAuth(SID, "nope"))).status,
            "wrong user": (await client.post(API, data=form, auth=BasicAuth("ACother", TOKEN))).status,
        }
        for missing in ("To", "From", "Body"):
            partial = {k: v for k, v in form.items() if k != missing}
            statuses[f"no {missing}"] = (await client.post(API, data=partial, auth=good)).status
        refused = await (await client.get("/messages.json")).json()
        accepted = await client.post(API, data=form, auth=good)
        # and CareNav's own outbox client, as the demo uses it
        outbox = ProviderClient(SID, TOKEN, CLINIC, str(client.make_url("")), timeout=5)
        by_client = await outbox.post("+15550100199", "A second text")
        wrong = await ProviderClient(SID, "nope", CLINIC, str(client.make_url("")), timeout=5).post(JAMES, "x")
        return (statuses, refused, accepted.status, await accepted.json(), by_client, wrong,
                await (await client.get("/messages.json")).json(), await (await client.get("/")).text())

    statuses, refused, status, created, by_client, wrong, listed, page = run(scenario)
    assert statuses == {"wrong sid": 404, "no auth": 401, "wrong token": 401, "wrong user": 401,
                        "no To": 400, "no From": 400, "no Body": 400}
    assert all(not t["messages"] for t in refused["threads"])
    assert status == 201 and re.fullmatch(r"SM[0-9a-f]{32}", created["sid"])
    assert by_client[0] is True and by_client[1].startswith("SM")
    assert wrong[0] is False and wrong[3] is True  # refused for good: 401
    threads = {t["phone"]: t for t in listed["threads"]}
    assert [t["phone"] for t in listed["threads"]] == [JAMES, "+15550100199"]
    assert threads[JAMES]["label"] == "James Carter (demo)"
    (kept,) = threads[JAMES]["messages"]
    assert {k: kept[k] for k in ("direction", "phone", "body", "sid")} == {
        "direction": "to phone", "phone": JAMES, "body": "Your appointment is on Friday.", "sid": created["sid"]}
    assert kept["time"]
    assert threads["+15550100199"]["messages"][0]["body"] == "A second text"
    assert "Demo phone (SMS stand-in: nothing leaves this machine)" in page
    assert "James Carter (demo)" in page and "Your appointment is on Friday." in page and "A second text" in page
    assert f'id="{JAMES}"' in page


def test_a_text_from_the_page_reaches_the_webhook_signed_as_the_provider_would_and_shows_in_the_thread():
    async def scenario(client, rasa):
        await client.post(API, data={"To": JAMES, "From": CLINIC, "Body": "Please reply with your date of birth."},
                          auth=BasicAuth(SID, TOKEN))
        sent = await client.post("/send", data={"phone": JAMES, "body": "09/03/1957"}, allow_redirects=False)
        return (sent.status, sent.headers.get("Location"), rasa,
                await (await client.get("/messages.json")).json(), await (await client.get("/")).text())

    status, location, rasa, listed, page = run(scenario)
    assert (status, location) == (303, f"/#{JAMES}")
    (posted,) = rasa["requests"]
    assert posted["content_type"] == "application/x-www-form-urlencoded"
    params = {k: v[0] for k, v in parse_qs(posted["body"], keep_blank_values=True).items()}
    assert signature_ok(TOKEN, rasa["url"], params, posted["headers"]["X-Twilio-Signature"])
    assert not signature_ok("another-token", rasa["url"], params, posted["headers"]["X-Twilio-Signature"])
    assert {k: params[k] for k in ("From", "To", "Body", "NumMedia", "AccountSid")} == {
        "From": JAMES, "To": CLINIC, "Body": "09/03/1957", "NumMedia": "0", "AccountSid": SID}
    assert re.fullmatch(r"SM[0-9a-f]{32}", params["MessageSid"])
    (thread,) = [t for t in listed["threads"] if t["phone"] == JAMES]
    assert [(m["direction"], m["body"]) for m in thread["messages"]] == [
        ("to phone", "Please reply with your date of birth."), ("from phone", "09/03/1957")]
    assert thread["messages"][1]["sid"] == params["MessageSid"] and thread["messages"][1]["status"] == "delivered"
    section = page[page.index(f'id="{JAMES}"'):]
    assert section.index("Please reply with your date of birth.") < section.index("09/03/1957")
    assert '<meta http-equiv="refresh" content="5">' in page
    assert 'href="#phones"' in page and '<label for="body-1">' in page and 'action="/send"' in page
    assert "http://" not in page.replace(rasa["url"], "") and "https://" not in page  # loads nothing from outside


def test_a_webhook_that_does_not_take_the_text_is_said_on_the_page():
    async def scenario(client, rasa):
        sent = await client.post("/send", data={"phone": JAMES, "body": "hello"}, allow_redirects=False)
        return sent.status, await (await client.get("/messages.json")).json(), await (await client.get("/")).text()

    status, listed, page = run(scenario, webhook_status=503)
    assert status == 303
    (thread,) = [t for t in listed["threads"] if t["phone"] == JAMES]
    assert thread["messages"][0]["status"] == "not taken: CareNav answered HTTP 503"
    assert "not taken: CareNav answered HTTP 503" in page


def test_html_in_a_body_or_label_is_escaped_on_the_page():
    evil = '<script>alert("x")</script> & <b onmouseover=1>'

    async def scenario(client, _rasa):
        await client.post(API, data={"To": JAMES, "From": CLINIC, "Body": evil}, auth=BasicAuth(SID, TOKEN))
        await client.post("/send", data={"phone": "+15550100199", "body": evil})
        return await (await client.get("/")).text()

    page = run(scenario, phones={JAMES: '<img src=x onerror=alert(1)> "James"'})
    assert "<script>alert" not in page and "<b onmouseover" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b onmouseover=1&gt;") == 2
    assert "&lt;img src=x onerror=alert(1)&gt; &quot;James&quot;" in page


def test_the_page_refuses_a_bad_number_an_empty_text_and_a_post_from_another_site():
    async def scenario(client, rasa):
        bad = await client.post("/send", data={"phone": "5550100", "body": "hi"}, allow_redirects=False)
        empty = await client.post("/send", data={"phone": JAMES, "body": "  "}, allow_redirects=False)
        other = await client.post("/send", data={"phone": JAMES, "body": "hi"}, allow_redirects=False,
                                  headers={"Origin": "https://evil.example"})
        return bad.status, empty.status, other.status, len(rasa["requests"])

    assert run(scenario) == (400, 400, 403, 0)


def test_main_labels_the_demo_patients_from_the_store_and_binds_localhost_only(tmp_path, monkeypatch):
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    db.create_schema()
    seed_demo(db)
    db.dispose()
    monkeypatch.setenv("CARENAV_DB_URL", url)
    started = {}

    def fake_run_app(app, host, port, **_kwargs):
        started.update(app=app, host=host, port=port)

    monkeypatch.setattr(standin.web, "run_app", fake_run_app)
    standin.main(["--port", "0", "--account-sid", SID, "--auth-token", TOKEN, "--from", CLINIC,
                  "--webhook", "http://localhost:5005/webhooks/sms/webhook", "--phones-from-store"])
    state = started["app"][standin.STATE]
    assert (started["host"], started["port"]) == ("127.0.0.1", 0)
    assert state.labels[JAMES] == "James Carter (demo)"
    assert state.webhook_url == "http://localhost:5005/webhooks/sms/webhook"
    assert state.from_number == CLINIC and state.account_sid == SID
