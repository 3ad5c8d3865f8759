"""The clinic web page with CareNav's chat widget, served by aiohttp (`carenav web`, port 8000).

Everything the page loads is served from here (the widget is the project's own JavaScript,
speaking socket.io to the Rasa server over a WebSocket). A clearly marked demo sign-in stands in
for the clinic's own login: it lists the store's patients and hands out a token, the way the
clinic's website would for its signed-in patient. Turn it off with CARENAV_DEMO_SIGNIN=0.
"""
from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from typing import Optional

from aiohttp import web

from bot.identity import issue_token
from bot.settings import CLINIC_MAIN_PHONE, CLINIC_NAME

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
STORE_KEY = web.AppKey("store", object) if hasattr(web, "AppKey") else "store"


def _page(rasa_url: str, demo: bool) -> str:
    template = (STATIC / "index.html").read_text(encoding="utf-8")
    config = json.dumps({"rasaUrl": rasa_url, "demoSignIn": demo})
    return (template.replace("{{CLINIC_NAME}}", html.escape(CLINIC_NAME))
            .replace("{{CLINIC_PHONE}}", html.escape(CLINIC_MAIN_PHONE))
            .replace("{{CONFIG}}", html.escape(config, quote=True)))


def create_app(rasa_url: str = "http://localhost:5005", store=None, demo_signin: Optional[bool] = None) -> web.Application:
    demo = demo_signin if demo_signin is not None else os.environ.get("CARENAV_DEMO_SIGNIN", "1") != "0"
    app = web.Application(client_max_size=64 * 1024)
    page = _page(rasa_url, demo)

    def care_store():
        if app.get(STORE_KEY) is None:
            from bot.store.db import Database
            from bot.store.queries import CareStore

            app[STORE_KEY] = store or CareStore(Database())
        return app[STORE_KEY]

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html",
                            headers={"Content-Security-Policy": csp(rasa_url),
                                     "X-Content-Type-Options": "nosniff"})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def demo_patients(_request: web.Request) -> web.Response:
        if not demo:
            raise web.HTTPNotFound(reason="demo sign-in is off")
        patients = care_store().list_patients()
        return web.json_response({"demo": True, "patients": [{"id": i, "name": n} for i, n in patients]})

    async def demo_sign_in(request: web.Request) -> web.Response:
        if not demo:
            raise web.HTTPNotFound(reason="demo sign-in is off")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "the body must be JSON: {\"patient_id\": \"...\"}"}, status=400)
        patient_id = body.get("patient_id") if isinstance(body, dict) else None
        if not isinstance(patient_id, str) or not patient_id or len(patient_id) > 64:
            return web.json_response({"error": "patient_id is required (a string)"}, status=400)
        patient = care_store().patient(patient_id)
        if patient is None:
            return web.json_response({"error": "no such patient"}, status=404)
        log.info("demo sign-in patient=%s", patient_id)
        return web.json_response({"token": issue_token(patient_id), "patient_id": patient_id,
                                  "name": patient.display_name})

    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_get("/demo/patients", demo_patients)
    app.router.add_post("/demo/sign-in", demo_sign_in)
    app.router.add_static("/static/", STATIC, show_index=False)
    return app


def csp(rasa_url: str) -> str:
    ws = rasa_url.replace("http://", "ws://").replace("https://", "wss://")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {rasa_url} {ws}; frame-ancestors 'none'")


def serve(port: int = 8000, rasa_url: str = "http://localhost:5005", host: str = "localhost") -> None:
    web.run_app(create_app(rasa_url), host=host, port=port, print=None)
