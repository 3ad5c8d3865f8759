"""The care-team console's pages under /staff/ on the clinic's web app: server-rendered HTML with
plain forms (no script at all, nothing loaded from elsewhere), so every control is a native link,
button or field a keyboard reaches.

- /staff/login (a login form with its own CSRF token, a cookie matched by a hidden field),
  /staff/logout.
- /staff/ at a glance: open hand-offs by age, referral loops closed, fallback rate and emergency
  answers per day, as small SVG charts drawn here (each with the same figures as a table).
- /staff/handoffs: the hand-off queue (urgent first, then oldest; age against the target), claim,
  note, resolve; and the texts the SMS outbox could not deliver.
- /staff/referrals: referral loops not closed, by status and age, flagged; record a report back.
- /staff/patients/{id}: a patient's conversations; /staff/patients/{id}/conversations/{sender}:
  the turns, fallbacks and unsure ones marked, "keep as test story".
- /staff/team: the staff list; an admin adds staff here.
Every form posts the session's CSRF token; a post without it gets 403 and changes nothing. Every
staff view of a patient is audited (bot/console/queues.py, review.py). Changing posts redirect
back with a fixed message key (never text from the request).
"""
from __future__ import annotations

import asyncio
import hmac
import html
import logging
import secrets
import urllib.parse
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from aiohttp import web

from bot.console import queues
from bot.console.accounts import COOKIE, IDLE_MINUTES, ROLES, AccountError, SessionInfo, StaffAccounts
from bot.settings import CLINIC_NAME

LOGIN_COOKIE = "carenav_staff_login"
log = logging.getLogger(__name__)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
NAV = (("/staff/", "At a glance"), ("/staff/handoffs", "Hand-offs"), ("/staff/referrals", "Referral loop"),
       ("/staff/review", "Conversations to review"), ("/staff/team", "Team"))
MESSAGES = {
    "claimed": "You are working on this hand-off.",
    "noted": "Note added.",
    "resolved": "Hand-off resolved; the patient is told.",
    "report": "Report recorded; the patient is told and their care plan has a follow-up step.",
    "kept": "Kept as a test story.",
    "added": "Staff account added.",
    "paused": "Outreach paused: CareNav sends this patient nothing first until it is resumed.",
    "resumed": "Outreach resumed.",
}
RULE_LABELS = {"visit_prep": "Visit preparation", "referral_not_scheduled": "Referral not booked",
               "overdue_steps": "Overdue care-plan steps", "results_ready": "A result is ready",
               "discharge_checkin": "Check-in after a hospital stay", "report_back": "Specialist's report back"}
LANGUAGES = {"en": "English", "es": "Spanish"}
CHANNELS = {"socketio": "web chat", "rest": "the clinic's app (REST)", "sms": "text message"}
OUTCOME_LABELS = {"reached": "Reached", "no_answer": "No answer", "left_message": "Left a message"}
STATUS_ORDER = ("sent", "received", "approved", "scheduled", "completed")


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _age(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h" + (f" {minutes % 60:02d} min" if minutes % 60 else "")
    return f"{minutes // 1440} days"


def layout(title: str, body: str, info: Optional[SessionInfo] = None, here: str = "",
           message: Optional[str] = None, error: Optional[str] = None) -> str:
    nav = ""
    if info is not None:
        links = "".join(
            f'<li><a href="{href}"{" aria-current=page" if href == here else ""}>{label}</a></li>'
            for href, label in NAV)
        nav = (f'<nav aria-label="Console"><ul>{links}</ul>'
               f'<form method="post" action="/staff/logout" class="logout">{csrf_field(info)}'
               f'<span>{e(info.staff.email)} ({e(info.staff.role)})</span> '
               f'<button type="submit">Sign out</button></form></nav>')
    notice = f'<p class="flash" role="status">{e(message)}</p>' if message else ""
    problem = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{e(title)} - CareNav care-team console</title>'
            f'<link rel="stylesheet" href="/static/staff.css"></head><body>'
            f'<a class="skip" href="#main">Skip to content</a>'
            f'<header class="site"><p class="brand">{e(CLINIC_NAME)} - CareNav care-team console</p>{nav}</header>'
            f'<main id="main" tabindex="-1"><h1>{e(title)}</h1>{notice}{problem}{body}</main></body></html>')


def csrf_field(info: SessionInfo) -> str:
    return f'<input type="hidden" name="csrf" value="{e(info.csrf)}">'


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-store", "Referrer-Policy": "same-origin"})


def bar_chart(title: str, rows: Sequence[Tuple[str, float]], unit: str = "", width: int = 420) -> str:
    """A small horizontal bar chart in SVG with a table of the same figures (for screen readers)."""
    top = max([v for _, v in rows] + [1])
    bar_h, gap, label_w = 22, 8, 130
    height = len(rows) * (bar_h + gap) + gap
    bars = []
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = int((width - label_w - 60) * value / top) if value else 0
        shown = f"{value:g}{unit}"
        bars.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" class="lbl">{e(label)}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" class="bar" rx="3"></rect>'
                    f'<text x="{label_w + w + 6}" y="{y + 16}" class="val">{e(shown)}</text>')
    table = "".join(f"<tr><th scope=row>{e(label)}</th><td>{value:g}{e(unit)}</td></tr>" for label, value in rows)
    return (f'<figure class="chart"><figcaption>{e(title)}</figcaption>'
            f'<svg role="img" aria-label="{e(title)}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{e(title)}</title>{"".join(bars)}</svg>'
            f'<table class="visually-hidden"><caption>{e(title)}</caption>{table}</table></figure>')


def add_pages(app: web.Application, db_for: Callable[[], object], tracker_url: Callable[[], str],
              stories_dir: Callable[[], Path]) -> None:
    def accounts() -> StaffAccounts:
        return StaffAccounts(db_for())

    def signed_in(request: web.Request) -> SessionInfo:
        info = accounts().session(request.cookies.get(COOKIE))
        if info is None:
            raise web.HTTPSeeOther("/staff/login")
        return info

    async def form_of(request: web.Request, info: Optional[SessionInfo] = None) -> Dict[str, str]:
        """The posted form; 403 without the session's CSRF token (or the login form's)."""
        data = await request.post()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        given = fields.get("csrf", "")
        expected = info.csrf if info is not None else request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not given or not hmac.compare_digest(given, expected):
            raise web.HTTPForbidden(text="This form has expired or did not come from the console. "
                                         "Go back, reload the page and try again.")
        return fields

    def message_of(request: web.Request) -> Optional[str]:
        return MESSAGES.get(request.query.get("done", ""))

    def back(path: str, done: str) -> web.HTTPSeeOther:
        return web.HTTPSeeOther(f"{path}?done={done}")

    # ---- sign in and out
    async def login_page(request: web.Request, error: Optional[str] = None, status: int = 200) -> web.Response:
        token = secrets.token_urlsafe(24)
        body = (f'<form method="post" action="/staff/login" class="card narrow">'
                f'<input type="hidden" name="csrf" value="{token}">'
                f'<p><label for="email">Email</label><input id="email" name="email" type="email" '
                f'autocomplete="username" required></p>'
                f'<p><label for="password">Password</label><input id="password" name="password" '
                f'type="password" autocomplete="current-password" required></p>'
                f'<p><button type="submit">Sign in</button></p></form>'
                f'<p class="muted">After {IDLE_MINUTES} minutes without use you are signed out. '
                f'Five wrong passwords lock the account for 15 minutes.</p>')
        response = html_response(layout("Sign in", body, error=error), status)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=over_tls(request),
                            path="/staff", max_age=3600)
        return response

    async def login_get(request: web.Request) -> web.Response:
        if accounts().session(request.cookies.get(COOKIE)) is not None:
            raise web.HTTPSeeOther("/staff/")
        return await login_page(request)

    async def login_post(request: web.Request) -> web.Response:
        fields = await form_of(request)
        token = accounts().login(fields.get("email", "")[:254], fields.get("password", "")[:1024])
        if token is None:
            return await login_page(request, "Wrong email or password, or the account is locked.", 401)
        response = web.HTTPSeeOther("/staff/")
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=over_tls(request),
                            path="/staff")
        response.del_cookie(LOGIN_COOKIE, path="/staff")
        raise response

    async def logout_post(request: web.Request) -> web.Response:
        info = signed_in(request)
        await form_of(request, info)
        accounts().logout(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther("/staff/login")
        response.del_cookie(COOKIE, path="/staff")
        raise response

    # ---- at a glance
    async def overview(request: web.Request) -> web.Response:
        info = signed_in(request)
        from bot.console import review

        glance = queues.at_a_glance(db_for())
        days = review.daily_stats(tracker_url(), days=14)
        share = glance["loops_closed_share"]
        cards = (f'<ul class="cards">'
                 f'<li><a href="/staff/handoffs"><strong>{glance["open_handoffs"]}</strong> open hand-offs</a>'
                 f'<span>{glance["urgent"]} urgent, {glance["overdue"]} past their target</span></li>'
                 f'<li><a href="/staff/referrals"><strong>{"-" if share is None else f"{share:.0%}"}</strong> '
                 f'referral loops closed</a><span>{glance["loops_closed"]} of {glance["referrals"]} referrals '
                 f'seen with the report back</span></li></ul>')
        rate_rows = [(d["day"][5:], round(100 * d["fallbacks"] / d["user_turns"]) if d["user_turns"] else 0)
                     for d in days]
        charts = (bar_chart("Open hand-offs by age", [(b["label"], b["count"]) for b in glance["by_age"]])
                  + bar_chart("Referral loops", [("closed", glance["loops_closed"]),
                                                 ("not closed", glance["referrals"] - glance["loops_closed"])])
                  + bar_chart("Fallback rate per day (share of patient messages)", rate_rows, unit="%")
                  + bar_chart("Emergency answers per day", [(d["day"][5:], d["emergencies"]) for d in days]))
        return html_response(layout("At a glance", cards + f'<div class="charts">{charts}</div>', info,
                                    "/staff/", message_of(request)))

    # ---- hand-offs
    async def handoffs(request: web.Request) -> web.Response:
        info = signed_in(request)
        rows = queues.callbacks(db_for(), info.staff.email, "open", detail=True)
        rows.sort(key=lambda r: (not r["urgent"], r["created_at"], r["id"]))
        items = "".join(_handoff(r, info) for r in rows) or '<p>No open hand-offs.</p>'
        texts = queues.undeliverable_sms(db_for(), info.staff.email)
        failed = "".join(
            f'<tr><td>{_patient_link(t["patient_id"], t["patient_name"])}</td><td>{e(t["to_phone"])}</td>'
            f'<td>{e(t["created_at"].replace("T", " "))}</td><td>{t["attempts"]}</td><td>{e(t["last_error"])}</td></tr>'
            for t in texts)
        failed_html = ('<h2 id="undeliverable">Texts we could not deliver</h2>' + (
            '<p>Call these patients instead; the text was not received.</p>'
            f'<table><thead><tr><th scope=col>Patient</th>'
            f'<th scope=col>Number</th><th scope=col>Written</th><th scope=col>Tries</th><th scope=col>Last error</th>'
            f'</tr></thead><tbody>{failed}</tbody></table>' if texts else '<p>None.</p>'))
        return html_response(layout("Hand-offs", f'<ol class="queue">{items}</ol>{failed_html}', info,
                                    "/staff/handoffs", message_of(request)))

    async def handoff_post(request: web.Request) -> web.Response:
        info = signed_in(request)
        fields = await form_of(request, info)
        action = request.match_info["action"]
        try:
            callback_id = int(request.match_info["id"])
            queues.work_on(db_for(), info.staff.email, callback_id, action, note=fields.get("note"),
                           outcome=fields.get("outcome"))
        except (ValueError, LookupError) as exc:
            if isinstance(exc, queues.QueueError):
                return html_response(layout("Hand-offs", '<p><a href="/staff/handoffs">Back to the hand-offs</a></p>',
                                            info, "/staff/handoffs", error=str(exc)), 409)
            raise web.HTTPNotFound(text="No such hand-off.")
        raise back("/staff/handoffs", {"claim": "claimed", "note": "noted", "resolve": "resolved"}[action])

    # ---- referral loop
    async def referrals(request: web.Request) -> web.Response:
        info = signed_in(request)
        rows = queues.referral_loop(db_for(), info.staff.email)
        rows.sort(key=lambda r: (r["flag"] is None, STATUS_ORDER.index(r["status"]), -(r["age_days"] or 0)))
        body = [f'<p>Flagged: sent and not scheduled after {queues.NOT_SCHEDULED_DAYS} days; seen and no report '
                f'back after {queues.NO_REPORT_DAYS} days.</p>']
        if not rows:
            body.append("<p>Every referral loop is closed.</p>")
        for r in rows:
            flag = {"not_scheduled": "Not scheduled", "no_report": "No report back"}.get(r["flag"] or "", "")
            form = ""
            if r["status"] in ("scheduled", "completed"):
                fid = f'ref-{e(r["id"])}'
                form = (f'<details><summary>Record the report</summary>'
                        f'<form method="post" action="/staff/referrals/{_q(r["id"])}/report">'
                        f'{csrf_field(info)}<p><label for="{fid}-summary">What the specialist found, in plain '
                        f'language</label><textarea id="{fid}-summary" name="summary" rows="3" maxlength="2000" '
                        f'required></textarea></p><p><label for="{fid}-next">Next steps for the patient</label>'
                        f'<textarea id="{fid}-next" name="next_steps" rows="2" maxlength="1000" required></textarea>'
                        '</p><p><button type="submit">Record report and tell the patient</button></p>'
                        '</form></details>')
            facts = [f'Status: <strong>{e(r["status"])}</strong>', f'sent {e(r["sent_on"] or "-")}'
                     + (f' ({r["age_days"]} days ago)' if r["age_days"] is not None else "")]
            if r["to"]:
                facts.append(f'to {e(r["to"])}')
            if r["completed_on"]:
                facts.append(f'seen {e(r["completed_on"])}')
            flag_html = f'<p class="flag">{flag}</p>' if flag else ""
            body.append(
                f'<article class="card{" flagged" if flag else ""}" aria-labelledby="h-{e(r["id"])}">'
                f'<h2 id="h-{e(r["id"])}">{e((r["specialty"] or "specialist").capitalize())} referral: '
                f'{_patient_link(r["patient_id"], r["patient_name"])}</h2>{flag_html}'
                f'<p>{"; ".join(facts)}</p>{form}</article>')
        return html_response(layout("Referral loop", "".join(body), info, "/staff/referrals", message_of(request)))

    async def report_post(request: web.Request) -> web.Response:
        info = signed_in(request)
        fields = await form_of(request, info)
        try:
            queues.record_report(db_for(), info.staff.email, request.match_info["id"], fields.get("summary", ""),
                                 fields.get("next_steps", ""))
        except queues.QueueError as exc:
            back_link = '<p><a href="/staff/referrals">Back to the referral loop</a></p>'
            return html_response(layout("Referral loop", back_link, info, "/staff/referrals", error=str(exc)), 409)
        except LookupError:
            raise web.HTTPNotFound(text="No such referral.")
        raise back("/staff/referrals", "report")

    # ---- conversation review
    async def patient_page(request: web.Request) -> web.Response:
        info = signed_in(request)
        from bot.console import review

        patient_id = request.match_info["id"]
        name = queues.patient_name(db_for(), patient_id)
        if name is None:
            raise web.HTTPNotFound(text="No such patient.")
        rows = review.conversations_of(db_for(), tracker_url(), info.staff.email, patient_id)
        table = "".join(
            f'<tr><td><a href="/staff/patients/{_q(patient_id)}/conversations/{_q(c["sender_id"])}">'
            f'{e(c["started_at"].replace("T", " "))}</a></td><td>{e(c["channel"])}</td><td>{c["user_turns"]}</td>'
            f'<td>{c["fallbacks"]}</td><td>{c["unsure"]}</td><td>{c["emergencies"]}</td></tr>' for c in rows)
        body = ('<p>Viewing is recorded in the audit trail.</p>' + _outreach_html(
            queues.outreach_of(db_for(), info.staff.email, patient_id), patient_id, info)
            + '<h2>Conversations</h2>' + (
            f'<table><thead><tr><th scope=col>Started</th><th scope=col>Channel</th><th scope=col>Messages</th>'
            f'<th scope=col>Fell back</th><th scope=col>Unsure</th><th scope=col>Emergency answers</th></tr></thead>'
            f'<tbody>{table}</tbody></table>' if rows else "<p>No conversations kept for this patient.</p>"))
        return html_response(layout(f"Patient: {name}", body, info, "", message_of(request)))

    async def pause_post(request: web.Request) -> web.Response:
        info = signed_in(request)
        fields = await form_of(request, info)
        patient_id = request.match_info["id"]
        try:
            queues.pause_outreach(db_for(), info.staff.email, patient_id, fields.get("paused") == "1")
        except LookupError:
            raise web.HTTPNotFound(text="No such patient.")
        raise back(f"/staff/patients/{urllib.parse.quote(patient_id, safe='')}",
                   "paused" if fields.get("paused") == "1" else "resumed")

    async def conversation_page(request: web.Request) -> web.Response:
        info = signed_in(request)
        from bot.console import review

        patient_id, sender = request.match_info["id"], request.match_info["sender"]
        try:
            convo = review.conversation(db_for(), tracker_url(), info.staff.email, patient_id, sender)
        except LookupError:
            raise web.HTTPNotFound(text="No such conversation for this patient.")
        labels = {"fallback": "fell back", "unsure": "unsure", "emergency": "emergency answer"}
        turns = []
        for t in convo["turns"]:
            flag = t.get("flag")
            extra = ""
            if t["who"] == "patient" and t.get("intent"):
                extra = f'<span class="intent">{e(t["intent"])} {t.get("confidence") or 0:.2f}</span>'
            mark = f'<strong class="mark {e(flag)}">{e(labels.get(flag, flag))}</strong> ' if flag else ""
            turns.append(f'<li class="turn {e(t["who"])}{" flagged" if flag else ""}"><span class="who">'
                         f'{"Patient" if t["who"] == "patient" else "CareNav"}</span> {mark}'
                         f'<span class="text">{e(t.get("text"))}</span> {extra}</li>')
        keep = (f'<form method="post" action="/staff/patients/{_q(patient_id)}/conversations/{_q(sender)}/keep">'
                f'{csrf_field(info)}<button type="submit">Keep as test story</button></form>')
        kept = request.query.get("story")
        kept_html = f'<p>Saved as <code>{e(kept)}</code> (names, dates and numbers replaced).</p>' if kept else ""
        body = (f'<p><a href="/staff/patients/{_q(patient_id)}">Back to the patient</a></p>{kept_html}{keep}'
                f'<ol class="turns">{"".join(turns)}</ol>')
        return html_response(layout("Conversation", body, info, "", message_of(request)))

    async def keep_post(request: web.Request) -> web.Response:
        info = signed_in(request)
        await form_of(request, info)
        from bot.console import review
        from bot.story_export import CannotRedact

        patient_id, sender = request.match_info["id"], request.match_info["sender"]
        try:
            # the export reads the conversation with Rasa's own tracker store on an event loop of its own
            path = await asyncio.get_running_loop().run_in_executor(
                None, review.keep_as_story, db_for(), tracker_url(), info.staff.email, patient_id, sender,
                stories_dir())
        except LookupError:
            raise web.HTTPNotFound(text="No such conversation for this patient.")
        except CannotRedact as exc:
            return html_response(layout("Conversation", "", info, error=str(exc)), 409)
        raise web.HTTPSeeOther(f"/staff/patients/{_q(patient_id)}/conversations/{_q(sender)}?done=kept&"
                               + urllib.parse.urlencode({"story": getattr(path, "name", str(path))}))

    async def to_review(request: web.Request) -> web.Response:
        info = signed_in(request)
        from bot.console import review

        rows = review.to_review(db_for(), tracker_url(), info.staff.email, days=7)
        table = "".join(
            f'<tr><td>{_patient_link(c["patient_id"], c["patient_name"])}</td><td><a href="/staff/patients/'
            f'{_q(c["patient_id"])}/conversations/{_q(c["sender_id"])}">{e((c["last_at"] or "").replace("T", " "))}'
            f'</a></td><td>{c["user_turns"]}</td><td>{c["fallbacks"]}</td><td>{c["unsure"]}</td>'
            f'<td>{c["emergencies"]}</td></tr>' for c in rows)
        body = ('<p>Signed-in patients\' conversations of the last 7 days where CareNav fell back or was unsure, '
                'most first. Open one to see the turns; keep it as a test story for the people who change the '
                'dialogue. Viewing is recorded in the audit trail.</p>' + (
                    '<table><thead><tr><th scope=col>Patient</th><th scope=col>Last message</th>'
                    '<th scope=col>Messages</th><th scope=col>Fell back</th><th scope=col>Unsure</th>'
                    f'<th scope=col>Emergency answers</th></tr></thead><tbody>{table}</tbody></table>'
                    if rows else "<p>Nothing to review.</p>"))
        return html_response(layout("Conversations to review", body, info, "/staff/review", message_of(request)))

    # ---- the team
    async def team(request: web.Request, error: Optional[str] = None, status: int = 200) -> web.Response:
        info = signed_in(request)
        staff = accounts().all()
        rows = "".join(f"<tr><td>{e(s.email)}</td><td>{e(s.role)}</td></tr>" for s in staff)
        body = (f'<table><thead><tr><th scope=col>Email</th><th scope=col>Role</th></tr></thead>'
                f'<tbody>{rows}</tbody></table>')
        if info.staff.role == "admin":
            options = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
            body += (f'<h2>Add a staff member</h2><form method="post" action="/staff/team" class="card narrow">'
                     f'{csrf_field(info)}<p><label for="new-email">Email</label>'
                     f'<input id="new-email" name="email" type="email" required></p>'
                     f'<p><label for="new-role">Role</label><select id="new-role" name="role">{options}</select></p>'
                     f'<p><label for="new-password">First password (at least 12 characters)</label>'
                     f'<input id="new-password" name="password" type="password" minlength="12" '
                     f'autocomplete="new-password" required></p><p><button type="submit">Add</button></p></form>')
        else:
            body += "<p>Only an admin adds staff.</p>"
        return html_response(layout("Team", body, info, "/staff/team", message_of(request), error), status)

    async def team_post(request: web.Request) -> web.Response:
        info = signed_in(request)
        fields = await form_of(request, info)
        if info.staff.role != "admin":
            raise web.HTTPForbidden(text="Only an admin adds staff.")
        try:
            added = accounts().add(fields.get("email", ""), fields.get("password", ""), fields.get("role", ""))
        except AccountError as exc:
            return await team(request, str(exc), 400)
        log.info("staff account %s (%s) added from the console by staff %s", added.id, added.role, info.staff.id)
        raise back("/staff/team", "added")

    async def root(_request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/staff/")

    app.router.add_get("/staff", root)
    app.router.add_get("/staff/", overview)
    app.router.add_get("/staff/login", login_get)
    app.router.add_post("/staff/login", login_post)
    app.router.add_post("/staff/logout", logout_post)
    app.router.add_get("/staff/handoffs", handoffs)
    app.router.add_post(r"/staff/handoffs/{id}/{action:claim|note|resolve}", handoff_post)
    app.router.add_get("/staff/referrals", referrals)
    app.router.add_post("/staff/referrals/{id}/report", report_post)
    app.router.add_get("/staff/patients/{id}", patient_page)
    app.router.add_post("/staff/patients/{id}/outreach", pause_post)
    app.router.add_get("/staff/patients/{id}/conversations/{sender}", conversation_page)
    app.router.add_post("/staff/patients/{id}/conversations/{sender}/keep", keep_post)
    app.router.add_get("/staff/review", to_review)
    app.router.add_get("/staff/team", team)
    app.router.add_post("/staff/team", team_post)


def _outreach_html(data: dict, patient_id: str, info: SessionInfo) -> str:
    consent = (f'agreed to texts {e(data["consent_at"] or "")} ({e(data["consent_method"] or "how not recorded")}'
               f'{": " + e(data["consent_scope"]) if data["consent_scope"] else ""})' if data["sms_consent"]
               else "no consent to texts: outreach waits for the web page")
    state = (f'<p class="flag">Paused by {e(data["paused_by"])} at {e(data["paused_at"])}.</p>'
             if data["paused"] else "")
    button = "Resume outreach" if data["paused"] else "Pause outreach"
    form = (f'<form method="post" action="/staff/patients/{_q(patient_id)}/outreach">{csrf_field(info)}'
            f'<input type="hidden" name="paused" value="{"0" if data["paused"] else "1"}">'
            f'<button type="submit">{button}</button></form>')
    rows = "".join(
        f'<tr><td>{e(RULE_LABELS.get(o["rule"], o["rule"]))}</td><td>{e(o["channel"])}</td>'
        f'<td>{e(o["send_after"].replace("T", " "))}</td><td>{e(o["status"])}'
        f'{" (" + e(o["reason"]) + ")" if o["reason"] else ""}</td><td>{e((o["sent_at"] or "").replace("T", " "))}</td>'
        f'<td>{e(o["body"] or "")}</td><td>{e(o["reply"] or "")}</td></tr>' for o in data["outreach"])
    table = ('<table><thead><tr><th scope=col>What</th><th scope=col>Channel</th><th scope=col>Planned for</th>'
             '<th scope=col>Status</th><th scope=col>Sent</th><th scope=col>Message</th><th scope=col>Reply</th>'
             f'</tr></thead><tbody>{rows}</tbody></table>') if rows else "<p>Nothing sent or planned.</p>"
    return f'<h2>Messages CareNav sends first</h2><p>{consent}.</p>{state}{form}{table}'


def over_tls(request: web.Request) -> bool:
    """Served over TLS: directly, or by a proxy in front that says so (cookies are then Secure)."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _q(value: str) -> str:
    return e(urllib.parse.quote(value, safe=""))


def _patient_link(patient_id: Optional[str], name: Optional[str]) -> str:
    if not patient_id:
        return "not signed in (no record)"
    return f'<a href="/staff/patients/{_q(patient_id)}">{e(name or patient_id)}</a>'


def _handoff(r: dict, info: SessionInfo) -> str:
    cid = r["id"]
    base = f"/staff/handoffs/{cid}"
    mine = r["claimed_by"] == info.staff.email
    claim = "" if r["claimed_by"] else (
        f'<form method="post" action="{base}/claim">{csrf_field(info)}<button type="submit">Claim</button></form>')
    outcomes = "".join(f'<option value="{k}">{v}</option>' for k, v in OUTCOME_LABELS.items())
    work = ""
    if mine or not r["claimed_by"]:
        work = (f'<form method="post" action="{base}/note" class="inline">{csrf_field(info)}'
                f'<label for="note-{cid}">Note</label><input id="note-{cid}" name="note" maxlength="1000" required>'
                f'<button type="submit">Add note</button></form>'
                f'<form method="post" action="{base}/resolve" class="inline">{csrf_field(info)}'
                f'<label for="outcome-{cid}">Outcome</label><select id="outcome-{cid}" name="outcome">{outcomes}'
                f'</select><button type="submit">Resolve</button></form>')
    notes = "".join(f"<li>{e(n)}</li>" for n in r["notes"])
    state = f"Claimed by {e(r['claimed_by'])}" if r["claimed_by"] else "Not claimed"
    age = f'{_age(r["age_minutes"])} old (target {_age(r["target_minutes"])})'
    return (f'<li class="card{" urgent" if r["urgent"] else ""}{" overdue" if r["overdue"] else ""}" '
            f'aria-labelledby="hand-{cid}"><h2 id="hand-{cid}">{"URGENT: " if r["urgent"] else ""}'
            f'{_patient_link(r["patient_id"], r["patient_name"])}</h2>'
            f'<p>{e(r["reason"] or "no topic given")}; by {e(CHANNELS.get(r["channel"], r["channel"]))}; '
            f'language {e(LANGUAGES.get(r["language"], r["language"]))}'
            f'{"; phone " + e(r["phone"]) if r["phone"] else ""}</p>'
            f'<p class="{"late" if r["overdue"] else "age"}">{age}{": past the target" if r["overdue"] else ""}. '
            f'{state}.</p>{f"<ul class=notes>{notes}</ul>" if notes else ""}{claim}{work}</li>')
