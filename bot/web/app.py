"""The clinic web page with CareNav's chat widget, served by aiohttp (`carenav web`, port 8000).

Everything the page loads is served from here (the widget is the project's own JavaScript,
speaking socket.io to the Rasa server over a WebSocket). In demo mode only (CARENAV_DEMO=1, which
`make run` sets and says so), a clearly marked demo sign-in stands in for the clinic's own login:
it lists the seeded demo patients (never an imported or real one) and hands out a token for one of
them, the way the clinic's website would for its signed-in patient.

`GET /health` reports each part (this page, the Rasa server, the action server): 200 when all
answer, 503 naming the part that does not.
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
from pathlib import Path
from typing import Optional

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bot.identity import issue_token
from bot.settings import CLINIC_MAIN_PHONE, CLINIC_NAME, demo_mode

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
STORE_KEY = web.AppKey("store", object) if hasattr(web, "AppKey") else "store"


def _page(rasa_url: str, demo: bool) -> str:
    template = (STATIC / "index.html").read_text(encoding="utf-8")
    config = json.dumps({"rasaUrl": rasa_url, "demoSignIn": demo})
    return (template.replace("{{CLINIC_NAME}}", html.escape(CLINIC_NAME))
            .replace("{{CLINIC_PHONE}}", html.escape(CLINIC_MAIN_PHONE))
            .replace("{{CONFIG}}", html.escape(config, quote=True)))


def create_app(rasa_url: str = "http://localhost:5005", store=None, demo_signin: Optional[bool] = None,
               actions_url: Optional[str] = None, tracker_url: Optional[str] = None) -> web.Application:
    demo = demo_signin if demo_signin is not None else demo_mode()
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

    parts = {"rasa": rasa_url.rstrip("/") + "/webhooks/rest/"}
    if actions_url:
        parts["actions"] = actions_url.rstrip("/") + "/health"

    async def health(_request: web.Request) -> web.Response:
        report = {"web": "ok"}
        async with ClientSession(timeout=ClientTimeout(total=3)) as session:
            for name, url in parts.items():
                try:
                    async with session.get(url) as answer:
                        report[name] = "ok" if answer.status == 200 else f"HTTP {answer.status}"
                except (ClientError, asyncio.TimeoutError, OSError):
                    report[name] = "down"
        ok = all(v == "ok" for v in report.values())
        return web.json_response({"status": "ok" if ok else "degraded", "parts": report},
                                 status=200 if ok else 503)

    async def demo_patients(_request: web.Request) -> web.Response:
        if not demo:
            raise web.HTTPNotFound(reason="demo sign-in is off")
        patients = care_store().list_patients(source="demo")
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
        if patient is None or patient.source != "demo":  # imported and real patients: never
            log.warning("demo sign-in refused for a patient that is not a demo patient")
            return web.json_response({"error": "no such demo patient"}, status=404)
        log.info("demo sign-in patient=%s", patient_id)
        return web.json_response({"token": issue_token(patient_id), "patient_id": patient_id,
                                  "name": patient.display_name})

    def patient_of(request: web.Request) -> Optional[str]:
        from bot.identity import TokenError, patient_from_token

        auth = request.headers.get("Authorization", "")
        try:
            return patient_from_token(auth[7:] if auth.startswith("Bearer ") else None)
        except TokenError:
            return None

    async def notices(request: web.Request) -> web.Response:
        """What the care team told the signed-in patient since their last visit (until shown)."""
        from bot.console.notices import pending_for_web

        patient_id = patient_of(request)
        if patient_id is None:
            return web.json_response({"error": "sign in first"}, status=401)
        return web.json_response({"notices": pending_for_web(care_store().db, patient_id)},
                                 headers={"Cache-Control": "no-store"})

    async def notices_seen(request: web.Request) -> web.Response:
        """The page showed these notices: `{"ids": [...]}` (the patient's own only)."""
        from bot.console.notices import mark_seen

        patient_id = patient_of(request)
        if patient_id is None:
            return web.json_response({"error": "sign in first"}, status=401)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) > 100 or not all(isinstance(i, int) for i in ids):
            return web.json_response({"error": "send {\"ids\": [notice ids]}"}, status=400)
        return web.json_response({"seen": mark_seen(care_store().db, patient_id, ids)})

    app.router.add_get("/", index)
    app.router.add_get("/api/notices", notices)
    app.router.add_post("/api/notices/seen", notices_seen)
    app.router.add_get("/health", health)
    app.router.add_get("/demo/patients", demo_patients)
    app.router.add_post("/demo/sign-in", demo_sign_in)
    app.router.add_static("/static/", STATIC, show_index=False)
    from bot.console.api import add_routes
    from bot.console.pages import add_pages

    def tracker() -> str:
        from bot.tracker_store import tracker_db_url

        return tracker_url or tracker_db_url()

    def stories_dir() -> Path:
        from bot.settings import home

        return home() / "var" / "kept-stories"

    add_routes(app, lambda: care_store().db)
    add_pages(app, lambda: care_store().db, tracker, stories_dir)
    return app


def csp(rasa_url: str) -> str:
    ws = rasa_url.replace("http://", "ws://").replace("https://", "wss://")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {rasa_url} {ws}; frame-ancestors 'none'")


def serve(port: int = 8000, rasa_url: str = "http://localhost:5005", host: str = "localhost",
          actions_url: Optional[str] = None) -> None:
    web.run_app(create_app(rasa_url, actions_url=actions_url), host=host, port=port, print=None)
