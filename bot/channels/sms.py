"""SMS through a Twilio-compatible provider: `POST /webhooks/sms/webhook`.

- The provider's `X-Twilio-Signature` is checked over every field sent, empty ones included,
  with the `twilio` package's RequestValidator and the account's auth token (403 if wrong).
- STOP / START / HELP (and their usual synonyms) are handled here, before the assistant.
- The sender's number only names a candidate patient: before the first record, the patient
  confirms their date of birth (bot/sms/verification.py: only date-like text counts; misses
  lock records for that number, 15 minutes then 24 hours with a note to staff). The verified
  patient reaches the actions as a signed claim bound to this conversation
  (`metadata.sms_claim`, bot.identity), which only this channel can make.
- Buttons become numbered choices; a reply of "1" or "2" picks one.
- Long replies are split into numbered segments that fit an SMS (160 GSM-7 / 70 UCS-2).
- The webhook answers at once; replies go out through the provider's Messages REST API with a
  timeout and retries. Every outgoing SMS is kept in `sms_outbox` and failed ones are retried.
Logs carry a short hash of the number, never the number, names or content.

Configuration (environment): CARENAV_SMS_ACCOUNT_SID, CARENAV_SMS_AUTH_TOKEN, CARENAV_SMS_FROM,
CARENAV_SMS_API_BASE (default https://api.twilio.com), CARENAV_SMS_WEBHOOK_URL (the public URL the
provider signs; default the URL the request arrived at).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import parse_qs

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from twilio.request_validator import RequestValidator

from bot.channels import clean_unicode
from bot.identity import SMS_CLAIM_KEY, issue_sms_claim
from bot.sms.verification import LOCK_MINUTES, LONG_LOCK_HOURS, looks_like_date, verify

log = logging.getLogger(__name__)

STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt out", "revoke"}
START_WORDS = {"start", "unstop", "yes", "subscribe", "optin", "opt in"}
HELP_WORDS = {"help", "info"}
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")
VERIFY_MARKER = "carenav_sms"


def phone_ref(phone: str) -> str:
    """The id of a number's conversation, for the tracker store and logs: never the number itself.

    Keyed with the server's secret, so the id cannot be turned back into the number by trying
    every phone number."""
    from bot.identity import token_secret

    return "sms-" + hmac.new(token_secret().encode(), phone.encode(), hashlib.sha256).hexdigest()[:16]


def twilio_signature(auth_token: str, url: str, params: Dict[str, str]) -> str:
    """The provider's request signature over the URL and every form field, empty ones included
    (the `twilio` package's RequestValidator, which also checks the signature on arrival)."""
    return RequestValidator(auth_token).compute_signature(url, params)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7 for ch in text)


def split_sms(text: str) -> List[str]:
    """Segments that each fit one SMS, split on word boundaries, numbered '(1/3)' when several."""
    text = text.strip()
    limit = 160 if is_gsm7(text) else 70
    if len(text) <= limit:
        return [text] if text else []
    for digits in (1, 2, 3):
        suffix_len = len(f" ({'9' * digits}/{'9' * digits})")
        room = limit - suffix_len
        parts: List[str] = []
        current = ""
        for word in re.split(r"(\s+)", text):
            if not word:
                continue
            while len(word) > room:  # a single very long "word" (a URL, say) is cut
                if current.strip():
                    parts.append(current.strip())
                    current = ""
                parts.append(word[:room])
                word = word[room:]
            if len(current) + len(word) > room:
                if current.strip():
                    parts.append(current.strip())
                current = word.lstrip()
            else:
                current += word
        if current.strip():
            parts.append(current.strip())
        if len(parts) < 10 ** digits:
            n = len(parts)
            return [f"{p} ({i}/{n})" for i, p in enumerate(parts, 1)]
    raise ValueError("reply too long to send by SMS")


class SmsSender:
    """Sends through the provider's Messages API; every SMS goes through the outbox first."""

    def __init__(self, db, account_sid: str, auth_token: str, from_number: str, api_base: str,
                 timeout: float = 10.0, retries: int = 3) -> None:
        self.db = db
        self.account_sid, self.auth_token, self.from_number = account_sid, auth_token, from_number
        self.url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.timeout, self.retries = timeout, retries

    def enqueue(self, to: str, bodies: List[str]) -> List[int]:
        from bot.store.models import SmsOutbox

        now = dt.datetime.now()
        ids = []
        with self.db.session() as s:
            for body in bodies:
                row = SmsOutbox(to_phone=to, body=body, status="pending", attempts=0, created_at=now)
                s.add(row)
                s.flush()
                ids.append(row.id)
        return ids

    async def deliver(self, outbox_id: int) -> bool:
        from bot.store.models import SmsOutbox

        with self.db.session() as s:
            row = s.get(SmsOutbox, outbox_id)
            if row is None or row.status == "sent":
                return True
            to, body = row.to_phone, row.body
        error = ""
        for attempt in range(1, self.retries + 1):
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                    async with session.post(self.url, data={"To": to, "From": self.from_number, "Body": body},
                                            auth=aiohttp.BasicAuth(self.account_sid, self.auth_token)) as resp:
                        payload = await resp.json(content_type=None)
                        if 200 <= resp.status < 300:
                            with self.db.session() as s:
                                row = s.get(SmsOutbox, outbox_id)
                                row.status, row.sent_at = "sent", dt.datetime.now()
                                row.attempts += attempt
                                row.provider_id = str((payload or {}).get("sid") or "")[:64]
                            return True
                        error = f"HTTP {resp.status}: {str((payload or {}).get('message', ''))[:200]}"
                        if 400 <= resp.status < 500 and resp.status != 429:
                            break  # the provider refused this message: retrying won't help
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
            await asyncio.sleep(min(2 ** attempt * 0.25, 4))
        with self.db.session() as s:
            row = s.get(SmsOutbox, outbox_id)
            row.status, row.last_error = "failed", error
            row.attempts += self.retries
        log.error("sms send failed outbox=%s to=%s: %s (kept for retry)", outbox_id, phone_ref(to), error)
        return False

    async def send(self, to: str, bodies: List[str]) -> bool:
        ok = True
        for outbox_id in self.enqueue(to, bodies):
            ok = await self.deliver(outbox_id) and ok
        return ok

    async def retry_failed(self, max_attempts: int = 12) -> int:
        from sqlalchemy import select

        from bot.store.models import SmsOutbox

        with self.db.session() as s:
            ids = s.execute(select(SmsOutbox.id).where(SmsOutbox.status == "failed",
                                                       SmsOutbox.attempts < max_attempts)
                            .order_by(SmsOutbox.id)).scalars().all()
        sent = 0
        for outbox_id in ids:
            sent += await self.deliver(outbox_id)
        return sent


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
        c = credentials or {}
        env = os.environ.get
        return cls(
            account_sid=c.get("account_sid") or env("CARENAV_SMS_ACCOUNT_SID", ""),
            auth_token=c.get("auth_token") or env("CARENAV_SMS_AUTH_TOKEN", ""),
            from_number=c.get("from_number") or env("CARENAV_SMS_FROM", ""),
            api_base=c.get("api_base") or env("CARENAV_SMS_API_BASE", "https://api.twilio.com"),
            webhook_url=c.get("webhook_url") or env("CARENAV_SMS_WEBHOOK_URL", ""),
        )

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base: str,
                 webhook_url: str = "", db=None) -> None:
        self.account_sid, self.auth_token, self.from_number = account_sid, auth_token, from_number
        self.api_base, self.webhook_url = api_base, webhook_url
        self._db = db
        self._locks: Dict[str, asyncio.Lock] = {}
        self._sender: Optional[SmsSender] = None
        self._retry_task: Optional[asyncio.Task] = None

    # ---- plumbing
    @property
    def db(self):
        if self._db is None:
            from bot.store.db import Database

            self._db = Database()
            self._db.create_schema()
        return self._db

    @property
    def sender(self) -> SmsSender:
        if self._sender is None:
            self._sender = SmsSender(self.db, self.account_sid, self.auth_token, self.from_number, self.api_base)
        return self._sender

    def _session(self, s, phone: str):
        from bot.store.models import SmsSession

        row = s.get(SmsSession, phone)
        if row is None:
            row = SmsSession(phone=phone, opted_out=False, awaiting_dob=False, failures=0)
            s.add(row)
        row.updated_at = dt.datetime.now()
        return row

    def _ensure_retry_loop(self) -> None:
        if self._retry_task is None or self._retry_task.done():
            async def loop():
                while True:
                    await asyncio.sleep(30)
                    try:
                        await self.sender.retry_failed()
                    except Exception:  # keep retrying later
                        log.exception("sms retry loop")
            self._retry_task = asyncio.ensure_future(loop())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("sms_webhook", __name__)

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
            if not clean_unicode(params):
                return response.text("form fields hold invalid Unicode", status=400)
            url = self.webhook_url or request.url
            given = request.headers.get("X-Twilio-Signature", "")
            if not given or not clean_unicode(given) or not RequestValidator(self.auth_token).validate(
                    url, params, given):
                log.warning("sms webhook: bad signature")
                return response.text("invalid X-Twilio-Signature", status=403)
            phone, body = (params.get("From") or "").strip(), (params.get("Body") or "")
            if not re.fullmatch(r"\+[1-9][0-9]{6,14}", phone, flags=re.ASCII):
                return response.text("form field From must be an E.164 phone number", status=400)
            if len(body) > 1600:
                body = body[:1600]
            self._ensure_retry_loop()
            asyncio.ensure_future(self._handle(phone, body, on_new_message))
            return response.text('<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
                                 content_type="text/xml")

        return bp

    # ---- one inbound message, in order per phone
    async def _handle(self, phone: str, body: str, on_new_message) -> None:
        lock = self._locks.setdefault(phone, asyncio.Lock())
        async with lock:
            try:
                await self._process(phone, body, on_new_message)
            except Exception:
                log.exception("sms message from %s failed", phone_ref(phone))
                from bot.safety.answers import safety_replies
                from bot.settings import CLINIC_MAIN_PHONE

                answer = next((r["text"] for r in safety_replies(body, phone_ref(phone), True, [])), None)
                await self.sender.send(phone, split_sms(answer or (
                    f"Sorry, something went wrong. Please call the clinic at {CLINIC_MAIN_PHONE}. "
                    "In an emergency, call 911.")))

    async def _process(self, phone: str, body: str, on_new_message) -> None:
        from bot.safety.screen import screen
        from bot.settings import CLINIC_MAIN_PHONE, CLINIC_NAME

        word = " ".join(body.strip().lower().split()).strip(".!")
        now = dt.datetime.now()
        with self.db.session() as s:
            session = self._session(s, phone)
            if word in STOP_WORDS:
                session.opted_out = True
                session.awaiting_dob = False
                reply = (f"You're unsubscribed from {CLINIC_NAME} CareNav texts and won't get more. "
                         "Reply START to subscribe again.")
                opted_out = None
            elif word in START_WORDS and session.opted_out:
                session.opted_out = False
                reply = f"You're subscribed to {CLINIC_NAME} CareNav texts again. Reply HELP for help, STOP to stop."
                opted_out = None
            elif word in HELP_WORDS:
                reply = (f"{CLINIC_NAME} CareNav: questions about your care. Call {CLINIC_MAIN_PHONE}. "
                         "Emergency: 911. Reply STOP to unsubscribe.")
                opted_out = None
            else:
                reply = None
                opted_out = session.opted_out
        if reply is not None:
            await self.sender.send(phone, split_sms(reply))
            return
        if opted_out:
            log.info("sms from opted-out %s: not answered", phone_ref(phone))
            return

        text = body.strip()
        if not text:  # a picture, or an empty message: nothing to read
            await self.sender.send(phone, split_sms(
                f"I can only read text messages. Please type your question, or call the clinic at "
                f"{CLINIC_MAIN_PHONE}. In an emergency, call 911."))
            return
        crisis = screen(text).is_emergency
        with self.db.session() as s:
            session = self._session(s, phone)
            # a numbered choice picks a button offered in the last reply
            choices = json.loads(session.choices or "[]")
            if not crisis and text.isdigit() and 1 <= int(text) <= len(choices):
                text = choices[int(text) - 1]
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
            await self.sender.send(phone, split_sms("Thanks, you're verified."))
            if not pending:
                return
            text = pending
        elif outcome == "retry":
            await self.sender.send(phone, split_sms(
                "That doesn't match our records. Please reply with your date of birth, like 04/12/1968."))
            return
        elif outcome == "locked":
            await self.sender.send(phone, split_sms(
                f"That didn't match, so for your privacy I can't share records by text for {LOCK_MINUTES} "
                f"minutes. Please call the clinic at {CLINIC_MAIN_PHONE}."))
            return
        elif outcome == "locked-long":
            await self.sender.send(phone, split_sms(
                f"That didn't match again, so for your privacy I can't share records by text for "
                f"{LONG_LOCK_HOURS} hours, and the clinic's staff have been told. Please call the clinic at "
                f"{CLINIC_MAIN_PHONE}. In an emergency, call 911."))
            return

        # who this number was verified as reaches the actions only as a signed claim bound to this
        # conversation and expiring with the verification (bot.identity); plain metadata proves nothing
        metadata: Dict[str, Any] = {"sms_locked": locked}
        if verified and verified_until:
            metadata[SMS_CLAIM_KEY] = issue_sms_claim(verified, phone_ref(phone), verified_until.timestamp())
        collector = SmsCollector()
        await on_new_message(UserMessage(text, collector, phone_ref(phone), input_channel=self.name(),
                                         metadata=metadata))
        from bot.safety.answers import safety_replies

        await self._send_replies(phone, text, collector.messages
                                 + safety_replies(text, phone_ref(phone), False, collector.messages))

    async def _send_replies(self, phone: str, text: str, messages: List[Dict[str, Any]]) -> None:
        bodies: List[str] = []
        choices: List[str] = []
        awaiting = False
        for m in messages:
            custom = m.get("custom") or {}
            if isinstance(custom, dict) and custom.get(VERIFY_MARKER) == "verify":
                awaiting = True
                continue
            part = (m.get("text") or "").strip()
            buttons = m.get("buttons") or []
            if buttons:
                lines = []
                for b in buttons:
                    choices.append(b.get("payload") or b.get("title") or "")
                    lines.append(f"{len(choices)}) {b.get('title', '')}")
                part = (part + "\n" if part else "") + "Reply " + " ".join(lines)
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
            await self.sender.send(phone, segments)
