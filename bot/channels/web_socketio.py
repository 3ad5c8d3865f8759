"""socket.io for the clinic's web chat page, with the patient's token given at connect.

Rasa's stock SocketIOInput trusts whatever the browser says: any client may join any
`session_id` room (and so read that conversation's replies) and put anything in metadata. This
channel keeps Rasa's protocol (session_request / session_confirm, user_uttered / bot_uttered,
session persistence) and adds:
- the token comes from the connect `auth` payload, is checked, and travels server-side in every
  message's metadata (a token the browser puts in a message is ignored);
- only the configured web origins may connect (CARENAV_WEB_ORIGINS, default the chat page's own
  origin: bot.settings.web_origins);
- a session id belongs to whoever it was issued to, recorded in the store (`web_sessions`), so
  it holds across a restart and several servers: only ids this channel issued can be resumed;
  another patient (or an anonymous visitor) asking for one gets a fresh session instead; an
  anonymous visitor who signs in keeps their chat, and every other socket still in that room
  (the anonymous one) is taken out of it before any of the patient's records are sent.
Configured in credentials.yml as `bot.channels.web_socketio.SecureSocketIOInput`.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels import TURN_FAILURES, clean_unicode
from bot.identity import TokenError, patient_from_token
from bot.metadata import SECRETS, TOKEN
from bot.safety.answers import safety_replies

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
ANONYMOUS = "anonymous"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,128}", re.ASCII)


class _Counting(SocketIOOutput):
    """The socket.io output, remembering whether anything was sent (for the safety replies)."""

    def __init__(self, inner: SocketIOOutput) -> None:
        super().__init__(inner.sio, inner.bot_message_evt)
        self.sent: list = []

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        self.sent.append(response)
        await super()._send_message(socket_id, response)


class SecureSocketIOInput(SocketIOInput):
    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def __init__(self, *args: Any, db=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._db = db

    @property
    def db(self):
        if self._db is None:
            from bot.store.db import shared_database

            self._db = shared_database(create_schema=True)
        return self._db

    def owner_of(self, session_id: str) -> Optional[str]:
        """Who the session belongs to ("anonymous" or a patient id); None: not one we issued."""
        from bot.store.models import WebSession

        with self.db.session() as s:
            row = s.get(WebSession, session_id)
            return row.owner if row is not None else None

    def set_owner(self, session_id: str, owner: str) -> None:
        from bot.store.models import WebSession

        now = dt.datetime.now()
        with self.db.session() as s:
            row = s.get(WebSession, session_id)
            if row is None:
                s.add(WebSession(session_id=session_id, owner=owner, created_at=now, updated_at=now))
            else:
                row.owner, row.updated_at = owner, now

    def session_for(self, owner: str, wanted: Optional[str]) -> Tuple[str, bool]:
        """The session id a socket of `owner` gets when it asks for `wanted`, and whether it is
        a visitor's session the signed-in patient now takes over."""
        current = self.owner_of(wanted) if wanted else None
        if wanted is not None and current is not None and current == owner:
            return wanted, False
        if wanted is not None and current == ANONYMOUS and owner != ANONYMOUS:
            self.set_owner(wanted, owner)  # a visitor who signs in keeps their chat
            return wanted, True
        # unknown ids (never issued here) and sessions of someone else: a fresh session
        fresh = uuid.uuid4().hex
        self.set_owner(fresh, owner)
        return fresh, False

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot.settings import web_origins

        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=web_origins())
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            token = (auth or {}).get("token") if isinstance(auth, dict) else None
            if not clean_unicode(token):
                token = None
            patient_id, token_ok = None, None
            if token:
                try:
                    patient_id = patient_from_token(token)
                    token_ok = token
                except TokenError as exc:
                    logger.info("socketio sid=%s token refused: %s", sid, exc)
            await sio.save_session(sid, {"patient_id": patient_id, "token": token_ok}, namespace=namespace)
            logger.debug("socketio sid=%s connected (patient=%s)", sid, patient_id or "-")
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: Text) -> None:
            logger.debug("socketio sid=%s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) and clean_unicode(data) else {}
            session = await sio.get_session(sid, namespace=namespace)
            owner = session.get("patient_id") or ANONYMOUS
            wanted = data.get("session_id")
            if not isinstance(wanted, str) or not SESSION_ID.fullmatch(wanted):
                wanted = None
            session_id, taken_over = self.session_for(owner, wanted)
            if wanted and session_id != wanted:
                logger.info("socketio sid=%s asked for a session it may not resume; new session", sid)
            if taken_over:  # nobody else still in the room hears the patient's conversation
                for other, _eio in list(sio.manager.get_participants(namespace or "/", session_id)):
                    if other == sid:
                        continue
                    sio.leave_room(other, session_id, namespace=namespace)
                    other_session = await sio.get_session(other, namespace=namespace)
                    other_session["session_id"] = None
                    await sio.save_session(other, other_session, namespace=namespace)
                    logger.info("socketio sid=%s left session=%s (signed in elsewhere)", other, session_id)
            session["session_id"] = session_id
            await sio.save_session(sid, session, namespace=namespace)
            sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Dict) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            session_id = session.get("session_id")
            if not session_id:
                from bot.texts import text as words

                await sio.emit(self.bot_message_evt, {"text": words("utter_web_reload")}, room=sid, namespace=namespace)
                return
            if not isinstance(data, dict) or not clean_unicode(data):
                return  # a lone surrogate cannot be stored (see bot.channels.clean_unicode)
            text = data.get("message", "")
            if not isinstance(text, str) or not text.strip():
                return
            text = text[:MAX_MESSAGE_CHARS]
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            metadata = {k: v for k, v in metadata.items() if k not in SECRETS}  # only the server vouches
            if session.get("token"):
                metadata[TOKEN] = session["token"]
            output = SocketIOOutput(sio, self.bot_message_evt)
            collector = _Counting(output)
            failed = False
            try:
                await on_new_message(UserMessage(text, collector, session_id, input_channel=self.name(),
                                                 metadata=metadata))
            except TURN_FAILURES as exc:  # ids only in logs
                failed = True
                logger.error("socketio message in session=%s failed (%s)", session_id, type(exc).__name__)
            for extra in safety_replies(text, session_id, failed, collector.sent):
                await output.send_text_message(session_id, extra["text"])

        return socketio_webhook
