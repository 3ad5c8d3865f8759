"""Every setting CareNav reads from the environment, in one object read once.

`settings()` is the process's Settings, built from the `CARENAV_*` variables the first time it is
asked for; nothing else in CareNav reads the environment. (It is built again only if a
`CARENAV_*` variable changed since: a test that sets one, or a command that sets a default before
it starts; a server's environment does not change.) Defaults suit the demo on one machine; the
README's "What an operator must configure" says which a clinic must set.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional, Tuple


def _flag(value: Optional[str]) -> bool:
    return (value or "").strip() == "1"


def _number(value: Optional[str], default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    # the clinic, in patients' words
    clinic_name: str = "Riverside Community Health"
    clinic_phone: str = "(555) 010-0100"
    clinic_hours: str = "Monday to Friday, 8 am to 5 pm"
    callback_promise: str = "within one business day"  # how soon staff call back after a hand-off
    sms_shares_details: bool = False  # over SMS, results and medicines are "ready", not listed
    # where things are
    home_dir: str = ""  # CARENAV_HOME (see home())
    db_url: str = ""  # CARENAV_DB_URL; empty: var/carenav.db under the home
    tracker_db_url: str = ""  # CARENAV_TRACKER_DB_URL; empty: the care-plan store's
    sqlite_busy_ms: int = 3000  # how long an SQLite write waits for another writer
    # identity and trust
    token_secret: str = ""  # CARENAV_TOKEN_SECRET; empty: a local secret file under var/
    token_secret_file: str = ""  # CARENAV_TOKEN_SECRET_FILE
    action_secret: str = ""  # CARENAV_ACTION_SECRET; empty: derived from the token secret
    actions_host: str = "127.0.0.1"  # where the action server listens
    action_timeout: float = 20.0  # seconds the Rasa server waits for an action
    demo: bool = False  # CARENAV_DEMO=1: the demo sign-in, seeded demo patients only
    web_origins_raw: str = ""  # CARENAV_WEB_ORIGINS, comma-separated
    # SMS
    sms_account_sid: str = ""
    sms_auth_token: str = ""
    sms_from: str = ""
    sms_api_base: str = "https://api.twilio.com"
    sms_webhook_url: str = ""
    sms_retry_hours: float = 24.0  # how long an undelivered SMS is retried
    # data
    retention_days: int = 90  # personal text kept this many days
    fhir_release_results: str = ""  # CARENAV_FHIR_RELEASE_RESULTS (bot.store.fhir.importer)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        env = {k: v for k, v in environ.items() if k.startswith("CARENAV_")}
        d = cls()

        def text(name: str, default: str) -> str:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else default

        return cls(
            clinic_name=text("CARENAV_CLINIC_NAME", d.clinic_name),
            clinic_phone=text("CARENAV_CLINIC_PHONE", d.clinic_phone),
            clinic_hours=text("CARENAV_CLINIC_HOURS", d.clinic_hours),
            callback_promise=text("CARENAV_CALLBACK_PROMISE", d.callback_promise),
            sms_shares_details=_flag(env.get("CARENAV_SMS_SHARES_DETAILS")),
            home_dir=text("CARENAV_HOME", ""),
            db_url=text("CARENAV_DB_URL", ""),
            tracker_db_url=text("CARENAV_TRACKER_DB_URL", ""),
            sqlite_busy_ms=int(_number(env.get("CARENAV_SQLITE_BUSY_MS"), d.sqlite_busy_ms)),
            token_secret=text("CARENAV_TOKEN_SECRET", ""),
            token_secret_file=text("CARENAV_TOKEN_SECRET_FILE", ""),
            action_secret=text("CARENAV_ACTION_SECRET", ""),
            actions_host=text("CARENAV_ACTIONS_HOST", d.actions_host),
            action_timeout=_number(env.get("CARENAV_ACTION_TIMEOUT"), d.action_timeout),
            demo=_flag(env.get("CARENAV_DEMO")),
            web_origins_raw=text("CARENAV_WEB_ORIGINS", ""),
            sms_account_sid=text("CARENAV_SMS_ACCOUNT_SID", ""),
            sms_auth_token=text("CARENAV_SMS_AUTH_TOKEN", ""),
            sms_from=text("CARENAV_SMS_FROM", ""),
            sms_api_base=text("CARENAV_SMS_API_BASE", d.sms_api_base),
            sms_webhook_url=text("CARENAV_SMS_WEBHOOK_URL", ""),
            sms_retry_hours=_number(env.get("CARENAV_SMS_RETRY_HOURS"), d.sms_retry_hours),
            retention_days=max(1, int(_number(env.get("CARENAV_RETENTION_DAYS"), d.retention_days))),
            fhir_release_results=text("CARENAV_FHIR_RELEASE_RESULTS", ""),
        )

    def home(self) -> Path:
        """The project home: where domain.yml, data/, models/ and var/ (the SQLite store, the
        local secret, caches, logs) are. CARENAV_HOME; else the source checkout this package is
        in; else (an installed wheel) the current directory."""
        if self.home_dir:
            return Path(self.home_dir).resolve()
        checkout = Path(__file__).resolve().parent.parent
        return checkout if (checkout / "domain.yml").is_file() else Path.cwd().resolve()

    def web_origins(self, web_port: int = 8000) -> List[str]:
        """The origins (scheme://host[:port]) allowed to talk to the Rasa server from a browser:
        CARENAV_WEB_ORIGINS, else the chat page's own origin on this machine."""
        if self.web_origins_raw:
            return [o.strip().rstrip("/") for o in self.web_origins_raw.split(",") if o.strip()]
        return [f"http://localhost:{web_port}", f"http://127.0.0.1:{web_port}"]


_cache: Optional[Tuple[tuple, Settings]] = None


def settings() -> Settings:
    """This process's settings (see the module's docstring)."""
    global _cache
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("CARENAV_")))
    if _cache is None or _cache[0] != key:
        _cache = (key, Settings.from_environ(os.environ))
    return _cache[1]


def home() -> Path:
    return settings().home()


def demo_mode() -> bool:
    return settings().demo


def web_origins(web_port: int = 8000) -> List[str]:
    return settings().web_origins(web_port)


# The clinic's words, used in many replies (read once, at import).
CLINIC_NAME = settings().clinic_name
CLINIC_MAIN_PHONE = settings().clinic_phone
CLINIC_HOURS = settings().clinic_hours
CALLBACK_PROMISE = settings().callback_promise
SMS_SHARES_DETAILS = settings().sms_shares_details
ACTIONS_HOST = settings().actions_host
