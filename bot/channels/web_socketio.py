"""socket.io for the clinic's web chat page, with the patient's token given at connect.

Rasa's stock SocketIOInput trusts whatever the browser says: any client may join any
`session_id` room (and so read that conversation's replies) and put anything in metadata. This
channel keeps Rasa's protocol (session_request / session_confirm, user_uttered / bot_uttered,
session persistence) and adds:
- the token comes from the connect `auth` payload, is checked, and travels server-side in every
  message's metadata (a token the browser puts in a message is ignored);
- a session id belongs to the patient who first used it: another patient (or an anonymous
  visitor) asking for it gets a fresh session instead; an anonymous visitor who signs in keeps
  their chat.
Configured in credentials.yml as `bot.channels.web_socketio.SecureSocketIOInput`.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels import clean_unicode
from bot.safety.answers import safety_replies
from bot.identity import TokenError, patient_from_token

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
ANONYMOUS = "anonymous"


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_owner: Dict[str, str] = {}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
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
            if not isinstance(wanted, str) or not wanted or len(wanted) > 128:
                wanted = None
            current = self.session_owner.get(wanted) if wanted else None
            if wanted and current is None and owner == ANONYMOUS:
                wanted = None  # an anonymous visitor cannot adopt a session nobody here knows
            elif wanted and current not in (None, owner) and not (current == ANONYMOUS and owner != ANONYMOUS):
                logger.info("socketio sid=%s asked for a session it does not own; new session", sid)
                wanted = None
            if wanted:
                self.session_owner[wanted] = owner  # a visitor who signs in keeps their chat
            session_id = wanted or uuid.uuid4().hex
            self.session_owner.setdefault(session_id, owner)
            session["session_id"] = session_id
            await sio.save_session(sid, session, namespace=namespace)
            sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Dict) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            session_id = session.get("session_id")
            if not session_id:
                await sio.emit(self.bot_message_evt, {"text": "Please reload the page to start a chat."},
                               room=sid, namespace=namespace)
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
            metadata = {k: v for k, v in metadata.items() if k != "token"}
            if session.get("token"):
                metadata["token"] = session["token"]
            output = SocketIOOutput(sio, self.bot_message_evt)
            collector = _Counting(output)
            failed = False
            try:
                await on_new_message(UserMessage(text, collector, session_id, input_channel=self.name(),
                                                 metadata=metadata))
            except Exception:  # ids only in logs
                failed = True
                logger.exception("socketio message in session=%s failed", session_id)
            for extra in safety_replies(text, session_id, failed, collector.sent):
                await output.send_text_message(session_id, extra["text"])

        return socketio_webhook
