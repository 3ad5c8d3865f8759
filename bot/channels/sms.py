"""SMS through a Twilio-compatible provider: `POST /webhooks/sms/webhook`, a thin webhook over
the pieces in bot/sms/.

- The provider's `X-Twilio-Signature` is checked over every field sent, empty ones included
  (bot/sms/provider.py, the `twilio` package's RequestValidator; 403 if wrong).
- Each inbound message is kept before the webhook answers 200 (bot/sms/inbound.py): the
  provider's MessageSid is processed once, and messages a crash left unprocessed are handled
  when the server starts again. If the store cannot keep it, the webhook answers 503 (the
  provider tries again later).
- STOP / START / HELP (and their usual synonyms) are handled here, before the assistant.
- The sender's number only names a candidate patient: before the first record, the patient
  confirms their date of birth (bot/sms/verification.py: only date-like text counts; misses
  lock records for that number, 15 minutes then 24 hours with a note to staff). The verified
  patient reaches the actions as a signed claim bound to this conversation
  (`metadata.sms_claim`, bot.identity), which only this channel can make.
- Buttons become numbered choices; a reply of "1" or "2" picks one.
- Long replies are split into numbered segments (bot/sms/segments.py).
- Replies go out through the outbox (bot/sms/outbox.py): kept, sent at once, retried with backoff
  for hours by a loop that starts with the server, and listed for staff when undeliverable.
- What the channel says itself comes from domain.yml (bot/texts.py).
Logs carry a keyed hash of the number, never the number, names or content.

Configuration (environment): CARENAV_SMS_ACCOUNT_SID, CARENAV_SMS_AUTH_TOKEN, CARENAV_SMS_FROM,
CARENAV_SMS_API_BASE (default https://api.twilio.com), CARENAV_SMS_WEBHOOK_URL (the public URL the
provider signs; default the URL the request arrived at).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import parse_qs

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import TURN_FAILURES, clean_unicode
from bot.identity import issue_sms_claim
from bot.metadata import SMS_CLAIM as SMS_CLAIM_KEY
from bot.metadata import SMS_LOCKED, SMS_MARKER, SMS_VERIFY
from bot.sms.inbound import Inbox
from bot.sms.outbox import Outbox, ProviderClient
from bot.sms.provider import E164, phone_ref, signature_ok
from bot.sms.segments import split_sms
from bot.sms.verification import LOCK_MINUTES, LONG_LOCK_HOURS, looks_like_date, verify
from bot.texts import phrase
from bot.texts import text as say

log = logging.getLogger(__name__)

# the carriers' keywords, and their Spanish equivalents (answered in Spanish)
SPANISH_STOP_WORDS = {"para", "parar", "alto", "detener", "cancelar", "baja", "no mas", "no más"}
SPANISH_START_WORDS = {"iniciar", "comenzar", "reanudar", "alta"}
SPANISH_HELP_WORDS = {"ayuda"}
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt out", "revoke"} \
    | SPANISH_STOP_WORDS
START_WORDS = {"start", "unstop", "yes", "subscribe", "optin", "opt in"} | SPANISH_START_WORDS
HELP_WORDS = {"help", "info"} | SPANISH_HELP_WORDS
MAX_BODY_CHARS = 1600


def outreach_reply(s, conversation_id: str, text: str, now: dt.datetime) -> Optional[str]:
    """Words answering the outreach message this number got last ("already booked", "ya tengo
    cita", "worse"), as the payload of that answer (bot/outreach/); None for anything else."""
    from bot.outreach.messages import reply_kind
    from bot.outreach.worker import awaiting_reply, choice_kinds, reply_payload

    row = awaiting_reply(s, conversation_id, now)
    if row is None or len(text) > 80:
        return None
    kind = reply_kind(text, allowed=choice_kinds(row.rule))
    return reply_payload(kind) if kind else None


class SmsCollector(CollectingOutputChannel):
    """Collects replies under the channel name "sms" (so the domain's SMS variants are used),
    keeping each reply whole: segmenting is split_sms's job."""

    @classmethod
    def name(cls) -> Text:
        return "sms"

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text))


class SmsInput(InputChannel):
    """Rasa input channel for Twilio-compatible SMS webhooks."""

    @classmethod
    def name(cls) -> Text:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SmsInput":
        from bot.settings import settings

        c, s = credentials or {}, settings()
        return cls(
            account_sid=c.get("account_sid") or s.sms_account_sid,
            auth_token=c.get("auth_token") or s.sms_auth_token,
            from_number=c.get("from_number") or s.sms_from,
            api_base=c.get("api_base") or s.sms_api_base,
            webhook_url=c.get("webhook_url") or s.sms_webhook_url,
        )

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base: str,
                 webhook_url: str = "", db=None) -> None:
        self.account_sid, self.auth_token, self.from_number = account_sid, auth_token, from_number
        self.api_base, self.webhook_url = api_base, webhook_url
        self._db = db
        self._locks: Dict[str, asyncio.Lock] = {}
        self._outbox: Optional[Outbox] = None
        self._loop_task: Optional[asyncio.Task] = None

    # ---- plumbing
    @property
    def db(self):
        if self._db is None:
            from bot.store.db import shared_database

            self._db = shared_database(create_schema=True)
        return self._db

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            client = ProviderClient(self.account_sid, self.auth_token, self.from_number, self.api_base)
            self._outbox = Outbox(self.db, client)
        return self._outbox

    async def send(self, phone: str, body: str) -> None:
        await self.outbox.send(phone, split_sms(body))

    def _session(self, s, phone: str):
        from bot.store.models import SmsSession

        row = s.get(SmsSession, phone)
        if row is None:
            row = SmsSession(phone=phone, opted_out=False, awaiting_dob=False, failures=0)
            s.add(row)
        row.updated_at = dt.datetime.now()
        return row

    async def _start(self, on_new_message) -> None:
        """With the server: the outbox's retry loop, and the messages a crash left unanswered."""
        if self._loop_task is not None or not self.auth_token:
            return
        self._loop_task = asyncio.ensure_future(self.outbox.run_forever())
        try:
            leftovers = Inbox(self.db).left_pending()
        except Exception as exc:  # the store is down: the loop and the next message will tell
            log.error("sms inbound leftovers not read (%s)", type(exc).__name__)
            return
        for row_id, phone, body in leftovers:
            log.info("sms inbound %s left unprocessed by a restart: processing it now", row_id)
            asyncio.ensure_future(self._handle(row_id, phone, body, on_new_message))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("sms_webhook", __name__)

        @bp.listener("after_server_start")
        async def started(_app, _loop) -> None:
            await self._start(on_new_message)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": bool(self.auth_token)})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.auth_token:
                return response.text("SMS channel is not configured (CARENAV_SMS_AUTH_TOKEN)", status=503)
            # every field the provider sent, empty ones (a picture's Body) included: Sanic's
            # request.form drops empty fields, and the signature covers them
            if (request.content_type or "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                return response.text("the body must be application/x-www-form-urlencoded", status=415)
            try:
                form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True, errors="strict")
            except (ValueError, UnicodeDecodeError):
                return response.text("the form is not valid UTF-8", status=400)
            params = {k: v[0] for k, v in form.items()}
            given = request.headers.get("X-Twilio-Signature", "")
            if not clean_unicode(params) or not clean_unicode(given):
                return response.text("form fields hold invalid Unicode", status=400)
            if not signature_ok(self.auth_token, self.webhook_url or request.url, params, given):
                log.warning("sms webhook: bad signature")
                return response.text("invalid X-Twilio-Signature", status=403)
            phone, body = (params.get("From") or "").strip(), (params.get("Body") or "")[:MAX_BODY_CHARS]
            if not E164.fullmatch(phone):
                return response.text("form field From must be an E.164 phone number", status=400)
            await self._start(on_new_message)  # (already running, except in a server without listeners)
            try:  # kept before the provider hears 200, so a crash loses nothing
                row_id = Inbox(self.db).receive(params.get("MessageSid"), phone, body)
            except Exception as exc:
                log.error("sms inbound from %s not stored (%s): 503, the provider retries", phone_ref(phone),
                          type(exc).__name__)
                return response.text("temporarily unavailable", status=503)
            if row_id is not None:  # None: this MessageSid was already received
                asyncio.ensure_future(self._handle(row_id, phone, body, on_new_message))
            return response.text('<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
                                 content_type="text/xml")

        return bp

    # ---- one inbound message, in order per phone
    async def _handle(self, row_id: int, phone: str, body: str, on_new_message) -> None:
        lock = self._locks.setdefault(phone, asyncio.Lock())
        async with lock:
            try:
                await self._process(phone, body, on_new_message)
            except TURN_FAILURES as exc:
                log.error("sms message from %s failed (%s)", phone_ref(phone), type(exc).__name__)
                from bot.safety.answers import safety_replies

                answers = [r["text"] for r in safety_replies(body, phone_ref(phone), True, []) if r.get("text")]
                try:
                    from bot.settings import CLINIC_HOURS, CLINIC_MAIN_PHONE

                    await self.send(phone, answers[0] if answers else say(
                        "utter_action_failed", None, clinic_phone=CLINIC_MAIN_PHONE, hours=CLINIC_HOURS))
                except Exception as send_exc:  # logged; nothing more can be done here
                    log.error("sms apology to %s not sent (%s)", phone_ref(phone), type(send_exc).__name__)
            try:
                Inbox(self.db).done(row_id)
            except Exception as exc:  # processed; at worst it is processed again after a restart
                log.error("sms inbound %s not marked done (%s)", row_id, type(exc).__name__)

    async def _process(self, phone: str, body: str, on_new_message) -> None:
        from bot.safety.language import detect
        from bot.safety.screen import screen
        from bot.settings import CLINIC_MAIN_PHONE, CLINIC_NAME

        word = " ".join(body.strip().lower().split()).strip(".!")
        now = dt.datetime.now()
        language = detect(body) if body.strip() else None
        if word in SPANISH_STOP_WORDS | SPANISH_START_WORDS | SPANISH_HELP_WORDS:
            language = "es"
        names = {"clinic_name": CLINIC_NAME, "clinic_phone": CLINIC_MAIN_PHONE}
        with self.db.session() as s:
            session = self._session(s, phone)
            if word in STOP_WORDS:
                session.opted_out = True
                session.awaiting_dob = False
                reply = say("utter_sms_stopped", language, **names)
                opted_out = None
            elif word in START_WORDS and session.opted_out:
                session.opted_out = False
                reply = say("utter_sms_restarted", language, **names)
                opted_out = None
            elif word in HELP_WORDS:
                reply = say("utter_sms_help", language, **names)
                opted_out = None
            else:
                reply = None
                opted_out = session.opted_out
        if reply is not None:
            await self.send(phone, reply)
            return
        if opted_out:
            log.info("sms from opted-out %s: not answered", phone_ref(phone))
            return

        text = body.strip()
        if not text:  # a picture, or an empty message: nothing to read
            await self.send(phone, say("utter_sms_text_only", language, **names))
            return
        crisis = screen(text).is_emergency
        with self.db.session() as s:
            session = self._session(s, phone)
            # a numbered choice picks a button offered in the last reply
            choices = json.loads(session.choices or "[]")
            if not crisis and text.isdigit() and 1 <= int(text) <= len(choices):
                text = choices[int(text) - 1]
            elif not crisis and not text.startswith("/"):
                text = outreach_reply(s, phone_ref(phone), text, now) or text
            # the date-of-birth step (an emergency always goes straight to the assistant)
            locked_now = bool(session.locked_until and session.locked_until > now)
            if (session.awaiting_dob or (locked_now and looks_like_date(text))) and not crisis \
                    and not text.startswith("/"):
                outcome = verify(s, session, phone, text, now, phone_ref(phone))
            else:
                outcome = None
            verified = (session.verified_patient_id
                        if session.verified_until and session.verified_until > now else None)
            verified_until = session.verified_until
            locked = bool(session.locked_until and session.locked_until > now)
            pending = session.pending_text if outcome == "verified" else None
            if outcome == "verified":
                session.pending_text = None
        if outcome == "verified":
            await self.send(phone, say("utter_sms_verified", language))
            if not pending:
                return
            text = pending
        elif outcome == "retry":
            await self.send(phone, say("utter_sms_dob_retry", language))
            return
        elif outcome == "locked":
            await self.send(phone, say("utter_sms_dob_locked", language, minutes=LOCK_MINUTES, **names))
            return
        elif outcome == "locked-long":
            await self.send(phone, say("utter_sms_dob_locked_long", language, hours=LONG_LOCK_HOURS, **names))
            return

        # who this number was verified as reaches the actions only as a signed claim bound to this
        # conversation and expiring with the verification (bot.identity); plain metadata proves nothing
        metadata: Dict[str, Any] = {SMS_LOCKED: locked}
        if verified and verified_until:
            metadata[SMS_CLAIM_KEY] = issue_sms_claim(verified, phone_ref(phone), verified_until.timestamp())
        collector = SmsCollector()
        await on_new_message(UserMessage(text, collector, phone_ref(phone), input_channel=self.name(),
                                         metadata=metadata))
        from bot.safety.answers import safety_replies

        await self._send_replies(phone, text, collector.messages
                                 + safety_replies(text, phone_ref(phone), False, collector.messages), language)

    async def _send_replies(self, phone: str, text: str, messages: List[Dict[str, Any]],
                            language: Optional[str] = None) -> None:
        bodies: List[str] = []
        choices: List[str] = []
        awaiting = False
        for m in messages:
            custom = m.get("custom") or {}
            if isinstance(custom, dict) and custom.get(SMS_MARKER) == SMS_VERIFY:
                awaiting = True
                continue
            part = (m.get("text") or "").strip()
            buttons = m.get("buttons") or []
            if buttons:
                lines = []
                for b in buttons:
                    choices.append(b.get("payload") or b.get("title") or "")
                    lines.append(f"{len(choices)}) {b.get('title', '')}")
                part = (part + "\n" if part else "") + phrase("sms.reply_choices", language, choices=" ".join(lines))
            if part:
                bodies.append(part)
        with self.db.session() as s:
            session = self._session(s, phone)
            session.choices = json.dumps(choices) if choices else None
            if awaiting:
                session.awaiting_dob = True
                session.pending_text = text
        segments: List[str] = []
        for body in bodies:
            segments.extend(split_sms(body))
        if segments:
            await self.outbox.send(phone, segments)
