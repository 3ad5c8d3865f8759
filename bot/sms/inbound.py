"""Inbound SMS, kept before the webhook answers: each processed once, and none lost to a crash.

The provider's MessageSid is unique in `sms_inbound`: a retried webhook (providers retry when an
answer is slow or lost) is recognised and not answered twice. A row stays `pending` until the
assistant has handled it; the channel picks up rows a crash left pending when it starts (those
younger than STALE_AFTER: a days-old question is not answered out of the blue).
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import List, Optional, Tuple

from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(hours=12)


class Inbox:
    def __init__(self, db) -> None:
        self.db = db

    def receive(self, message_sid: Optional[str], phone: str, body: str,
                now: Optional[dt.datetime] = None) -> Optional[int]:
        """Keep one inbound message; its row id, or None when this MessageSid was already kept."""
        from bot.store.models import SmsInbound

        sid = (message_sid or "").strip()[:64] or f"local-{uuid.uuid4().hex}"
        try:
            with self.db.session() as s:
                row = SmsInbound(message_sid=sid, from_phone=phone, body=body, status="pending",
                                 received_at=now or dt.datetime.now())
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:
            log.info("sms inbound %s already received: not processed again", sid[:40])
            return None

    def done(self, row_id: int, now: Optional[dt.datetime] = None) -> None:
        from bot.store.models import SmsInbound

        with self.db.session() as s:
            row = s.get(SmsInbound, row_id)
            if row is not None:
                row.status, row.processed_at = "done", now or dt.datetime.now()

    def left_pending(self, now: Optional[dt.datetime] = None) -> List[Tuple[int, str, str]]:
        """(id, phone, body) of messages a crash left unprocessed, oldest first; older ones than
        STALE_AFTER are marked `expired` (logged) instead."""
        from sqlalchemy import select

        from bot.store.models import SmsInbound

        now = now or dt.datetime.now()
        with self.db.session() as s:
            rows = s.execute(select(SmsInbound).where(SmsInbound.status == "pending")
                             .order_by(SmsInbound.id)).scalars().all()
            todo = []
            for row in rows:
                if now - row.received_at > STALE_AFTER:
                    row.status = "expired"
                    log.warning("sms inbound %s too old to answer after a restart: expired", row.id)
                else:
                    todo.append((row.id, row.from_phone, row.body or ""))
            return todo
