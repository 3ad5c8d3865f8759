"""A local stand-in for the SMS provider, the one piece of the SMS channel that is outside this
machine: for the demo (`make run`) only, so a person trying CareNav on one machine can text with
it. Never used in production, where the channel talks to the real provider (Twilio or a
compatible one).

- It answers the provider's Messages API as CareNav's outbox uses it
  (`POST /2010-04-01/Accounts/{sid}/Messages.json`, HTTP Basic auth sid:token, form fields To, From,
  Body; 201 with the message's "sid"), and keeps every message in memory instead of sending it.
- `GET /` is a page for people, "Demo phone": one thread per number (the demo patients' numbers,
  and any number that sent or received a text), oldest first, each with a form to text the clinic
  "from that phone". `POST /send` posts that text to CareNav's SMS webhook the way the provider
  would (form fields From, To, Body, MessageSid, NumMedia..., signed `X-Twilio-Signature`).
- `GET /messages.json` is the same threads as JSON, for scripts and tests.

Nothing leaves this machine: it binds 127.0.0.1 and loads nothing from the internet. Logs carry
message ids and a keyed hash of the number (`phone_ref`), never numbers or message bodies.

    python -m bot.sms.standin --port 5188 --account-sid AC... --auth-token ... --from +1555...
        --webhook http://localhost:5005/webhooks/sms/webhook --phones-from-store

The sid, token, sender number and webhook URL default to CARENAV_SMS_ACCOUNT_SID,
CARENAV_SMS_AUTH_TOKEN, CARENAV_SMS_FROM and CARENAV_SMS_WEBHOOK_URL (so the token need not be on
the command line).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import datetime as dt
import hmac
import logging
import uuid
from dataclasses import dataclass, field
from html import escape
from typing import Any, Dict, List, Optional, Sequence

import aiohttp
from aiohttp import web

from bot.sms.provider import E164, phone_ref, twilio_signature

log = logging.getLogger(__name__)

DEFAULT_PORT = 5188
DEFAULT_WEBHOOK = "http://localhost:5005/webhooks/sms/webhook"
MAX_BODY_CHARS = 1600  # the provider's own limit for one message
MAX_MESSAGES = 5000  # kept in memory; the oldest go first
TO_PHONE, FROM_PHONE = "to phone", "from phone"
TITLE = "Demo phone (SMS stand-in: nothing leaves this machine)"


@dataclass
class Message:
    time: dt.datetime
    direction: str  # TO_PHONE: CareNav texted the phone; FROM_PHONE: the phone texted CareNav
    phone: str
    body: str
    sid: str
    status: str  # TO_PHONE: "received"; FROM_PHONE: "delivered" or why CareNav did not take it

    def as_json(self) -> Dict[str, str]:
        return {"time": self.time.isoformat(timespec="seconds"), "direction": self.direction,
                "phone": self.phone, "body": self.body, "sid": self.sid, "status": self.status}


@dataclass
class StandIn:
    account_sid: str
    auth_token: str
    from_number: str
    webhook_url: str
    labels: Dict[str, str] = field(default_factory=dict)  # number -> label
    messages: List[Message] = field(default_factory=list)
    webhook_timeout: float = 15.0

    def record(self, message: Message) -> None:
        self.messages.append(message)
        del self.messages[:-MAX_MESSAGES]

    def threads(self) -> List[Dict[str, Any]]:
        """Every known number (labelled ones first, then in the order they first texted or were
        texted), each with its messages oldest first."""
        order = list(self.labels)
        for m in self.messages:
            if m.phone not in order:
                order.append(m.phone)
        return [{"phone": phone, "label": self.labels.get(phone, ""),
                 "messages": [m for m in self.messages if m.phone == phone]} for phone in order]

    def authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            sid, _, token = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(sid.encode(), self.account_sid.encode()) and \
            hmac.compare_digest(token.encode(), self.auth_token.encode())

    async def deliver(self, phone: str, body: str) -> Message:
        """Text CareNav from `phone`, as the provider would post it to the webhook."""
        sid = "SM" + uuid.uuid4().hex
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "Body": body, "From": phone,
                  "MessageSid": sid, "NumMedia": "0", "NumSegments": "1", "SmsMessageSid": sid, "SmsSid": sid,
                  "SmsStatus": "received", "To": self.from_number}
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, self.webhook_url, params)}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)) as session:
                async with session.post(self.webhook_url, data=params, headers=headers) as resp:
                    await resp.read()
                    ok = 200 <= resp.status < 300
                    status = "delivered" if ok else f"not taken: CareNav answered HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            status = f"not delivered: CareNav's SMS webhook did not answer ({type(exc).__name__})"
        message = Message(dt.datetime.now(), FROM_PHONE, phone, body, sid, status)
        self.record(message)
        log.info("sms stand-in: message %s from %s to the webhook: %s", sid, phone_ref(phone), status.split(":")[0])
        return message


STATE = web.AppKey("standin", StandIn)


# ---- the provider's Messages API

async def messages_api(request: web.Request) -> web.Response:
    standin = request.app[STATE]
    if not hmac.compare_digest(request.match_info["sid"].encode(), standin.account_sid.encode()):
        return web.json_response({"code": 20404, "message": "The requested resource was not found",
                                  "status": 404}, status=404)
    if not standin.authorized(request.headers.get("Authorization", "")):
        return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401,
                                 headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
    form = await request.post()
    to, sender, body = (str(form.get(k) or "") for k in ("To", "From", "Body"))
    if not to or not sender or not body:
        return web.json_response({"code": 21604, "message": "To, From and Body are required", "status": 400},
                                 status=400)
    if not E164.fullmatch(to):
        return web.json_response({"code": 21211, "message": "The 'To' number is not a valid phone number",
                                  "status": 400}, status=400)
    if len(body) > MAX_BODY_CHARS:
        return web.json_response({"code": 21617, "message": f"Body exceeds {MAX_BODY_CHARS} characters",
                                  "status": 400}, status=400)
    if sender != standin.from_number:
        log.warning("sms stand-in: a message is sent from a number other than --from (check CARENAV_SMS_FROM)")
    message = Message(dt.datetime.now(), TO_PHONE, to, body, "SM" + uuid.uuid4().hex, "received")
    standin.record(message)
    log.info("sms stand-in: message %s to %s kept", message.sid, phone_ref(to))
    return web.json_response({
        "sid": message.sid, "account_sid": standin.account_sid, "to": to, "from": sender, "body": body,
        "status": "queued", "direction": "outbound-api", "num_segments": "1", "api_version": "2010-04-01",
        "date_created": message.time.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z"),
        "uri": f"/2010-04-01/Accounts/{standin.account_sid}/Messages/{message.sid}.json"}, status=201)


# ---- the page for people

STYLE = """
:root { color-scheme: light dark; --line: #8a8a8a; --them: #e8eef7; --me: #e6f4ea; --ink: #1a1a1a; }
@media (prefers-color-scheme: dark) { :root { --them: #1f2a38; --me: #1d3325; --ink: #f2f2f2; } }
body { font: 1rem/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1rem; color: var(--ink); }
.skip { position: absolute; left: -100vw; }
.skip:focus { position: static; display: inline-block; padding: .5rem; background: #ffd; color: #000; }
:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
section.phone { border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; margin: 1.5rem 0; }
ol.thread { list-style: none; padding: 0; margin: 0 0 1rem; }
ol.thread li { border-radius: .5rem; padding: .5rem .75rem; margin: .5rem 0; max-width: 85%; }
li.to-phone { background: var(--them); }
li.from-phone { background: var(--me); margin-left: auto !important; }
.meta { font-size: .875rem; margin: 0; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: .25rem 0 0; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
textarea, input[type=tel] { box-sizing: border-box; width: 100%; font: inherit; padding: .4rem; }
button { font: inherit; padding: .4rem 1rem; margin-top: .5rem; cursor: pointer; }
.note { font-size: .9rem; }
label.inline { display: inline; font-weight: normal; }
"""

# Reloads the page every 5 seconds to show new texts, except while a text is being written (so
# nothing typed is lost); the checkbox pauses it. Without JavaScript, the <noscript> refresh.
SCRIPT = """
(function () {
  var box = document.getElementById("auto-refresh");
  box.checked = sessionStorage.getItem("standin-pause") !== "1";
  box.addEventListener("change", function () { sessionStorage.setItem("standin-pause", box.checked ? "0" : "1"); });
  setInterval(function () {
    if (!box.checked) return;
    var fields = document.querySelectorAll("textarea, input[type=tel]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value || fields[i] === document.activeElement) return;
    }
    location.reload();
  }, 5000);
})();
"""


def _thread_html(index: int, thread: Dict[str, Any], clinic: str) -> str:
    phone, label, messages = thread["phone"], thread["label"], thread["messages"]
    name = f"{escape(label)} <span class=\"number\">{escape(phone)}</span>" if label else escape(phone)
    items = []
    for m in messages:
        if m.direction == TO_PHONE:
            meta = f"From the clinic ({escape(clinic)}), {m.time:%H:%M:%S}"
            css = "to-phone"
        else:
            meta = f"Sent from this phone, {m.time:%H:%M:%S}"
            if m.status != "delivered":
                meta += f" ({escape(m.status)})"
            css = "from-phone"
        items.append(f'<li class="{css}"><p class="meta">{meta}</p><p class="text">{escape(m.body)}</p></li>')
    thread_html = f'<ol class="thread">{"".join(items)}</ol>' if items else '<p>No texts yet.</p>'
    return f"""
<section class="phone" id="{escape(phone)}" aria-labelledby="h-{index}">
<h2 id="h-{index}">{name}</h2>
{thread_html}
<form method="post" action="/send">
<input type="hidden" name="phone" value="{escape(phone)}">
<label for="body-{index}">Text the clinic from this phone</label>
<textarea id="body-{index}" name="body" rows="2" maxlength="{MAX_BODY_CHARS}" required></textarea>
<button type="submit">Send text</button>
</form>
</section>"""


def page_html(standin: StandIn) -> str:
    threads = standin.threads()
    links = "".join(f'<li><a href="#{escape(t["phone"])}">{escape(t["label"] or t["phone"])}</a></li>'
                    for t in threads)
    nav = f'<nav aria-label="Phones"><ul>{links}</ul></nav>' if links else ""
    sections = "".join(_thread_html(i, t, standin.from_number) for i, t in enumerate(threads, 1))
    if not threads:
        sections = "<p>No phones yet: texts CareNav sends appear here, under the number they went to.</p>"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<title>{escape(TITLE)}</title>
<style>{STYLE}</style>
</head>
<body>
<a class="skip" href="#phones">Skip to the phones</a>
<header>
<h1>{escape(TITLE)}</h1>
<p class="note">This page stands in for patients' phones and the SMS provider, for the demo. Texts
CareNav sends to a number appear under it; a text sent from a number goes to CareNav
({escape(standin.webhook_url)}) as if from that phone. Nothing is sent to real phones.</p>
<p class="note"><input type="checkbox" id="auto-refresh" checked>
<label for="auto-refresh" class="inline">Show new texts every 5 seconds
(not while you are writing one)</label></p>
{nav}
</header>
<main id="phones" tabindex="-1">
{sections}
<section class="phone" aria-labelledby="h-other">
<h2 id="h-other">Text the clinic from another number</h2>
<form method="post" action="/send">
<label for="phone-other">Phone number (international format, e.g. +15550100199)</label>
<input type="tel" id="phone-other" name="phone" required pattern="\\+[1-9][0-9]{{6,14}}" autocomplete="off">
<label for="body-other">Text</label>
<textarea id="body-other" name="body" rows="2" maxlength="{MAX_BODY_CHARS}" required></textarea>
<button type="submit">Send text</button>
</form>
</section>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _problem(status: int, text: str) -> web.Response:
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(TITLE)}</title></head>'
            f'<body><main><h1>Not sent</h1><p>{escape(text)}</p><p><a href="/">Back to the demo phone</a></p>'
            f'</main></body></html>')
    return web.Response(text=body, status=status, content_type="text/html")


async def page(request: web.Request) -> web.Response:
    return web.Response(text=page_html(request.app[STATE]), content_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy":
                                 "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                 "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"})


async def send(request: web.Request) -> web.Response:
    # only this page may send (a form on another site posting to 127.0.0.1 is refused)
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or \
            (origin and origin not in (f"http://{request.host}", f"https://{request.host}")):
        return _problem(403, "Texts can only be sent from this page.")
    form = await request.post()
    phone, body = str(form.get("phone") or "").strip(), str(form.get("body") or "")
    if not E164.fullmatch(phone):
        return _problem(400, "The phone number must be in international format, e.g. +15550100199.")
    if not body.strip():
        return _problem(400, "The text is empty.")
    if len(body) > MAX_BODY_CHARS:
        return _problem(400, f"The text is longer than {MAX_BODY_CHARS} characters.")
    await request.app[STATE].deliver(phone, body.replace("\r\n", "\n"))
    raise web.HTTPSeeOther(f"/#{phone}")


async def messages_json(request: web.Request) -> web.Response:
    standin = request.app[STATE]
    threads = [{"phone": t["phone"], "label": t["label"], "messages": [m.as_json() for m in t["messages"]]}
               for t in standin.threads()]
    return web.json_response({"from_number": standin.from_number, "threads": threads},
                             headers={"Cache-Control": "no-store"})


def create_app(account_sid: str, auth_token: str, from_number: str, webhook_url: str,
               phones: Optional[Dict[str, str]] = None) -> web.Application:
    """The stand-in: the Messages API, the demo phone page (`GET /`, `POST /send`) and
    `GET /messages.json`. `phones`: number -> label, the numbers listed before any text."""
    app = web.Application(client_max_size=64 * 1024)
    app[STATE] = StandIn(account_sid, auth_token, from_number, webhook_url, dict(phones or {}))
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages_api)
    app.router.add_get("/", page)
    app.router.add_post("/send", send)
    app.router.add_get("/messages.json", messages_json)
    return app


def demo_phones_from_store() -> Dict[str, str]:
    """The demo patients' numbers from the store, labelled with their names."""
    from sqlalchemy import select

    from bot.store.db import Database
    from bot.store.models import Patient

    db = Database()
    try:
        with db.session() as s:
            patients = s.execute(select(Patient).where(Patient.source == "demo", Patient.mobile_phone.isnot(None))
                                 .order_by(Patient.mobile_phone)).scalars().all()
            return {p.mobile_phone: f"{p.display_name} (demo)" for p in patients if p.mobile_phone}
    finally:
        db.dispose()


def main(argv: Optional[Sequence[str]] = None) -> None:
    from bot.settings import settings

    s = settings()
    parser = argparse.ArgumentParser(prog="python -m bot.sms.standin", description=(
        "A local stand-in for the SMS provider, for the demo: a page at http://127.0.0.1:PORT/ to text "
        "with CareNav from demo phones. Nothing leaves this machine. Never for production."))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--account-sid", default=s.sms_account_sid, help="default CARENAV_SMS_ACCOUNT_SID")
    parser.add_argument("--auth-token", default=s.sms_auth_token, help="default CARENAV_SMS_AUTH_TOKEN")
    parser.add_argument("--from", dest="from_number", default=s.sms_from,
                        help="the clinic's number CareNav texts from (default CARENAV_SMS_FROM)")
    parser.add_argument("--webhook", default=s.sms_webhook_url or DEFAULT_WEBHOOK,
                        help=f"CareNav's SMS webhook URL (default CARENAV_SMS_WEBHOOK_URL, else {DEFAULT_WEBHOOK})")
    parser.add_argument("--phones-from-store", action="store_true",
                        help="list the demo patients' numbers from the store, with their names")
    parser.add_argument("--phone", action="append", default=[], metavar="NUMBER=LABEL",
                        help="list this number with this label (repeatable)")
    args = parser.parse_args(argv)
    for name, value in (("--account-sid", args.account_sid), ("--auth-token", args.auth_token),
                        ("--from", args.from_number)):
        if not value:
            parser.error(f"{name} is required (or its CARENAV_SMS_* variable)")
    if not E164.fullmatch(args.from_number):
        parser.error("--from must be an E.164 number, e.g. +15550109999")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    phones: Dict[str, str] = {}
    if args.phones_from_store:
        try:
            phones.update(demo_phones_from_store())
        except Exception as exc:  # the page still works: numbers appear as they text
            log.warning("sms stand-in: demo patients not read from the store (%s)", type(exc).__name__)
    for item in args.phone:
        number, _, label = item.partition("=")
        if not E164.fullmatch(number.strip()):
            parser.error(f"--phone {item!r}: the number must be E.164, e.g. +15550100199")
        phones[number.strip()] = label.strip()
    app = create_app(args.account_sid, args.auth_token, args.from_number, args.webhook, phones)
    log.info("sms stand-in (demo only, nothing leaves this machine) on http://127.0.0.1:%s/, %s numbers listed; "
             "Messages API at http://127.0.0.1:%s (CARENAV_SMS_API_BASE)", args.port, len(phones), args.port)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
