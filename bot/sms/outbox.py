"""The SMS outbox and the provider's Messages API: every reply kept until the provider took it.

- `Outbox.send` writes the segments to `sms_outbox`, then tries each once at once (in order; after
  a failure the rest of that reply waits, so segments never arrive out of order).
- A failed try is retried with backoff (2 s, doubling to 30 minutes) for CARENAV_SMS_RETRY_HOURS
  (default 24): an outage of hours is ridden out, not two minutes as before. A message the
  provider refuses for good (a 4xx other than 429), or still not taken after the window, becomes
  `undeliverable`, logged, and listed for staff (`Outbox.undeliverable`, the care-team console).
- `Outbox.run_forever` is the retry loop, started with the server (not by the next inbound SMS)
  and picking up rows a crash left `pending`: a row the webhook is sending right now is left
  alone for a minute (`next_attempt_at`).
- If the store itself cannot be written, the reply is sent straight to the provider (logged), so
  a patient still gets it.
Logs carry the outbox id and a keyed hash of the number, never the number or the text.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import List, Optional, Tuple

import aiohttp

from bot.settings import settings
from bot.sms.provider import phone_ref

log = logging.getLogger(__name__)

RETRY_WINDOW = dt.timedelta(hours=settings().sms_retry_hours)
FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 30 * 60.0
SENDING_GRACE = dt.timedelta(seconds=60)  # the webhook's own first try, before the loop may take the row
LOOP_SECONDS = 5.0
TO_SEND = ("pending", "failed")  # "failed": older versions' name for pending after a failure


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed try."""
    return dt.timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


class ProviderClient:
    """The provider's Messages API (Twilio's, or a compatible one): one POST per message."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base: str,
                 timeout: float = 10.0) -> None:
        self.account_sid, self.auth_token, self.from_number = account_sid, auth_token, from_number
        self.url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.timeout = timeout

    async def post(self, to: str, body: str) -> Tuple[bool, str, str, bool]:
        """(sent, provider id, error, permanent): permanent when retrying cannot help."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.post(self.url, data={"To": to, "From": self.from_number, "Body": body},
                                        auth=aiohttp.BasicAuth(self.account_sid, self.auth_token)) as resp:
                    payload = await resp.json(content_type=None)
                    if 200 <= resp.status < 300:
                        return True, str((payload or {}).get("sid") or "")[:64], "", False
                    error = f"HTTP {resp.status}: {str((payload or {}).get('message', ''))[:200]}"
                    return False, "", error, 400 <= resp.status < 500 and resp.status != 429
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return False, "", f"{type(exc).__name__}: {exc}"[:200], False


@dataclass(frozen=True)
class UndeliverableView:
    id: int
    to_phone: str
    created_at: dt.datetime
    attempts: int
    last_error: Optional[str]


def add_to_outbox(s, to: str, bodies: List[str], now: dt.datetime, due: Optional[dt.datetime] = None) -> List[int]:
    """Write SMS segments to the outbox in session `s` (the caller's transaction): pending, sent by
    the outbox loop from `due` (default now); their ids."""
    from bot.store.models import SmsOutbox

    ids = []
    for body in bodies:
        row = SmsOutbox(to_phone=to, body=body, status="pending", attempts=0, created_at=now,
                        next_attempt_at=due or now)
        s.add(row)
        s.flush()
        ids.append(row.id)
    return ids


class Outbox:
    def __init__(self, db, client: ProviderClient) -> None:
        self.db, self.client = db, client

    def enqueue(self, to: str, bodies: List[str], now: Optional[dt.datetime] = None) -> List[int]:
        now = now or dt.datetime.now()
        with self.db.session() as s:
            return add_to_outbox(s, to, bodies, now, due=now + SENDING_GRACE)

    async def attempt(self, outbox_id: int, now: Optional[dt.datetime] = None) -> bool:
        """One try at one row; its new state is written. True when the provider took it."""
        from bot.store.models import SmsOutbox

        with self.db.session() as s:
            row = s.get(SmsOutbox, outbox_id)
            if row is None or row.status not in TO_SEND:
                return row is not None and row.status == "sent"
            to, body = row.to_phone, row.body
        sent, provider_id, error, permanent = await self.client.post(to, body)
        now = now or dt.datetime.now()
        with self.db.session() as s:
            row = s.get(SmsOutbox, outbox_id)
            row.attempts = (row.attempts or 0) + 1
            if sent:
                row.status, row.sent_at, row.provider_id, row.next_attempt_at = "sent", now, provider_id, None
                return True
            row.last_error = error
            if permanent or now - row.created_at >= RETRY_WINDOW:
                row.status, row.next_attempt_at = "undeliverable", None
                log.error("sms outbox=%s to=%s undeliverable after %s tries (%s): listed for staff", outbox_id,
                          phone_ref(to), row.attempts, error.split(":")[0])
            else:
                row.status, row.next_attempt_at = "pending", now + backoff(row.attempts)
                log.warning("sms outbox=%s to=%s try %s failed (%s); next at %s", outbox_id, phone_ref(to),
                            row.attempts, error.split(":")[0], row.next_attempt_at.strftime("%H:%M:%S"))
        return False

    async def send(self, to: str, bodies: List[str]) -> bool:
        """Keep, then send, one reply's segments in order. True when all were sent now."""
        try:
            ids = self.enqueue(to, bodies)
        except Exception as exc:  # the store is down: the patient still gets the reply
            log.error("sms outbox unavailable (%s): sending to=%s without it", type(exc).__name__, phone_ref(to))
            ok = True
            for body in bodies:
                ok = (await self.client.post(to, body))[0] and ok
            return ok
        for outbox_id in ids:
            if not await self.attempt(outbox_id):
                return False  # the rest keep their order behind it, for the retry loop
        return True

    async def run_due(self, now: Optional[dt.datetime] = None, limit: int = 100) -> int:
        """Try every row that is due (crash leftovers included), oldest first, keeping each
        number's order. Returns how many were sent."""
        from sqlalchemy import select

        from bot.store.models import SmsOutbox

        now = now or dt.datetime.now()
        with self.db.session() as s:
            rows = s.execute(
                select(SmsOutbox.id, SmsOutbox.to_phone, SmsOutbox.next_attempt_at)
                .where(SmsOutbox.status.in_(TO_SEND))
                .order_by(SmsOutbox.id).limit(limit)).all()
        sent, held = 0, set()
        for outbox_id, phone, due in rows:
            if phone in held:
                continue
            if due is not None and due > now:
                held.add(phone)  # an earlier message to this number waits: so do the later ones
                continue
            if await self.attempt(outbox_id, now=now):
                sent += 1
            else:
                held.add(phone)
        return sent

    async def run_forever(self, every: float = LOOP_SECONDS) -> None:
        while True:
            try:
                await self.run_due()
            except Exception as exc:  # the store is down: try again later
                log.error("sms outbox loop: %s", type(exc).__name__)
            await asyncio.sleep(every)

    def undeliverable(self, limit: int = 200) -> List[UndeliverableView]:
        """Messages that could not be delivered, newest first: for staff to follow up."""
        from sqlalchemy import select

        from bot.store.models import SmsOutbox

        with self.db.session() as s:
            rows = s.execute(select(SmsOutbox).where(SmsOutbox.status == "undeliverable")
                             .order_by(SmsOutbox.id.desc()).limit(limit)).scalars().all()
            return [UndeliverableView(r.id, r.to_phone, r.created_at, r.attempts, r.last_error) for r in rows]
