"""Clinic-level settings, from the environment with demo defaults."""
from __future__ import annotations

import os

CLINIC_NAME = os.environ.get("CARENAV_CLINIC_NAME", "Riverside Community Health")
CLINIC_MAIN_PHONE = os.environ.get("CARENAV_CLINIC_PHONE", "(555) 010-0100")
CLINIC_HOURS = os.environ.get("CARENAV_CLINIC_HOURS", "Monday to Friday, 8 am to 5 pm")
# How soon staff call back after a hand-off request, in plain words.
CALLBACK_PROMISE = os.environ.get("CARENAV_CALLBACK_PROMISE", "within one business day")
# Over SMS, say results/medicines are ready instead of sending them, unless the clinic allows it.
SMS_SHARES_DETAILS = os.environ.get("CARENAV_SMS_SHARES_DETAILS", "0") == "1"


def home():
    """The project home: where domain.yml, data/, models/ and var/ (the SQLite store, the local
    secret, caches, logs) are. CARENAV_HOME; else the source checkout this package is in; else
    (an installed wheel) the current directory."""
    from pathlib import Path

    if os.environ.get("CARENAV_HOME"):
        return Path(os.environ["CARENAV_HOME"]).resolve()
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "domain.yml").is_file() else Path.cwd().resolve()


def demo_mode() -> bool:
    """CARENAV_DEMO=1: the web page's demo sign-in is on (seeded demo patients only)."""
    return os.environ.get("CARENAV_DEMO", "").strip() == "1"


def web_origins(web_port: int = 8000) -> list:
    """The origins (scheme://host[:port]) allowed to talk to the Rasa server from a browser:
    CARENAV_WEB_ORIGINS (comma-separated), else the chat page's own origin on this machine."""
    raw = os.environ.get("CARENAV_WEB_ORIGINS", "").strip()
    if raw:
        return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    return [f"http://localhost:{web_port}", f"http://127.0.0.1:{web_port}"]


# The action server listens on this host (CARENAV_ACTIONS_HOST; default only this machine).
ACTIONS_HOST = os.environ.get("CARENAV_ACTIONS_HOST", "127.0.0.1")
