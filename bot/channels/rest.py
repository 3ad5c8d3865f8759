"""The REST channel with the stock path and body, but it cannot pretend to be another channel.

Rasa's RestInput lets the request body choose `input_channel`; here it is always "rest", so a
REST client can never claim to be the SMS channel (whose verified patient the actions trust).
Malformed requests get a 400 with the reason; a browser request from an origin that is not one of
the clinic's web origins (CARENAV_WEB_ORIGINS) gets a 403.
"""
from __future__ import annotations

import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from bot.channels import TURN_FAILURES, clean_unicode
from bot.safety.answers import safety_replies
from bot.settings import web_origins
from bot.tracker_store import tracker_store_healthy

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 10_000


class SecureRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("secure_rest_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request):
            if not tracker_store_healthy():
                return response.json({"status": "the conversation store is failing"}, status=503)
            return response.json({"status": "ok"})

        allowed_origins = set(web_origins())

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            origin = request.headers.get("Origin")
            if origin is not None and origin.rstrip("/") not in allowed_origins:
                # a page of another site, in a visitor's browser: never answered (servers and
                # apps send no Origin, and need a token for records anyway)
                return response.json({"error": "this origin may not use the chat"}, status=403)
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "the body must be a JSON object with sender and message"}, status=400)
            if not clean_unicode(body):
                return response.json({"error": "the body holds invalid Unicode (a lone surrogate)"}, status=400)
            if not isinstance(body.get("sender"), str) or not body["sender"].strip():
                return response.json({"error": "sender must be a non-empty string"}, status=400)
            if not isinstance(body.get("message"), str):
                return response.json({"error": "message must be a string"}, status=400)
            if len(body["message"]) > MAX_MESSAGE_CHARS:
                return response.json({"error": f"message is longer than {MAX_MESSAGE_CHARS} characters"},
                                     status=413)
            if "metadata" in body and not isinstance(body["metadata"], (dict, type(None))):
                return response.json({"error": "metadata must be an object"}, status=400)
            collector = CollectingOutputChannel()
            sender = body["sender"].strip()[:128]
            failed = False
            try:
                await on_new_message(UserMessage(body["message"], collector, sender,
                                                 input_channel=self.name(), metadata=body.get("metadata") or {}))
            except CancelledError:
                failed = True
                log.error("rest message from conversation=%s timed out", sender)
            except TURN_FAILURES as exc:  # ids only in logs: never the message text
                failed = True
                log.error("rest message from conversation=%s failed (%s)", sender, type(exc).__name__)
            return response.json(collector.messages + safety_replies(body["message"], sender, failed,
                                                                     collector.messages))

        return bp
