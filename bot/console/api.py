"""The console's JSON API under /staff/api/ (added to the clinic's web app, bot/web/app.py).

- POST /staff/api/login {"email", "password"} -> 200 {"email", "role", "csrf"} and the session
  cookie, or 401 (wrong email or password, or a locked account: the same answer).
- POST /staff/api/logout (X-CSRF-Token) -> 204.
- GET /staff/api/callbacks?status=open -> [{id, patient_id, reason, channel, created_at, status, urgent}]
- POST /staff/api/callbacks/{id}/claim | note {"note"} | resolve {"outcome": reached|no_answer|left_message}
  (X-CSRF-Token) -> the hand-off; 409 when someone else claimed it or it is resolved, 404 unknown.
- GET /staff/api/referrals?flag=not_scheduled|no_report -> [{id, patient_id, specialty, status, sent_on, flag}]
Without a valid session (a patient's token is not one) every call but login gets 401. A changing
request without the session's CSRF token gets 403.
"""
from __future__ import annotations

from typing import Callable

from aiohttp import web

from bot.console import queues
from bot.console.accounts import COOKIE, IDLE_MINUTES, SessionInfo, StaffAccounts
from bot.console.pages import over_tls

MAX_BODY = 4096


def add_routes(app: web.Application, db_for: Callable[[], object]) -> None:
    def accounts() -> StaffAccounts:
        return StaffAccounts(db_for())

    def current(request: web.Request) -> SessionInfo:
        info = accounts().session(request.cookies.get(COOKIE))
        if info is None:
            raise web.HTTPUnauthorized(text='{"error": "sign in to the console"}', content_type="application/json")
        return info

    async def login(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("email"), str) \
                or not isinstance(body.get("password"), str) or len(body["password"]) > 1024:
            return web.json_response({"error": "send {\"email\", \"password\"}"}, status=400)
        token = accounts().login(body["email"], body["password"])
        if token is None:
            return web.json_response({"error": "wrong email or password, or the account is locked"}, status=401)
        info = accounts().session(token)
        assert info is not None
        response = web.json_response({"email": info.staff.email, "role": info.staff.role, "csrf": info.csrf})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=over_tls(request), path="/staff",
                            max_age=IDLE_MINUTES * 60 * 24)
        return response

    async def logout(request: web.Request) -> web.Response:
        info = current(request)
        if request.headers.get("X-CSRF-Token") != info.csrf:
            return web.json_response({"error": "missing or wrong X-CSRF-Token"}, status=403)
        accounts().logout(request.cookies.get(COOKIE))
        response = web.Response(status=204)
        response.del_cookie(COOKIE, path="/staff")
        return response

    async def callbacks(request: web.Request) -> web.Response:
        info = current(request)
        status = request.query.get("status", "open")
        if status not in ("open", "called", "closed"):
            return web.json_response({"error": "status is open, called or closed"}, status=400)
        return web.json_response(queues.callbacks(db_for(), info.staff.email, status))

    async def referrals(request: web.Request) -> web.Response:
        info = current(request)
        flag = request.query.get("flag")
        if flag is not None and flag not in queues.FLAGS:
            return web.json_response({"error": f"flag is one of {', '.join(queues.FLAGS)}"}, status=400)
        return web.json_response(queues.referral_flags(db_for(), info.staff.email, flag))

    async def work(request: web.Request) -> web.Response:
        info = current(request)
        if request.headers.get("X-CSRF-Token") != info.csrf:
            return web.json_response({"error": "missing or wrong X-CSRF-Token"}, status=403)
        try:
            callback_id = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no such hand-off"}, status=404)
        try:
            body = await request.json() if request.can_read_body else {}
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        note, outcome = body.get("note"), body.get("outcome")
        if (note is not None and not isinstance(note, str)) or (outcome is not None and not isinstance(outcome, str)):
            return web.json_response({"error": "note and outcome are strings"}, status=400)
        try:
            return web.json_response(queues.work_on(db_for(), info.staff.email, callback_id,
                                                    request.match_info["action"], note=note, outcome=outcome))
        except LookupError:
            return web.json_response({"error": "no such hand-off"}, status=404)
        except queues.QueueError as exc:
            return web.json_response({"error": str(exc)}, status=409)

    app.router.add_post("/staff/api/login", login)
    app.router.add_post(r"/staff/api/callbacks/{id}/{action:claim|note|resolve}", work)
    app.router.add_post("/staff/api/logout", logout)
    app.router.add_get("/staff/api/callbacks", callbacks)
    app.router.add_get("/staff/api/referrals", referrals)
