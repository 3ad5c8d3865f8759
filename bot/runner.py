"""Start the assistant's processes (action server, Rasa server, web page) and wait until ready.

Used by `carenav run` (what `make run` starts) and by the integration tests, so that both start
the assistant the same way.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

import yaml

from bot.identity import ACTION_SECRET_HEADER, action_secret
from bot.modeling import PROJECT_ROOT, rasa_executable
from bot.settings import Settings, settings
from bot.tracker_store import tracker_db_url, tracker_store_endpoint

PURGE_EVERY = 24 * 3600.0  # seconds between retention purges under `carenav run`


@dataclass
class Ports:
    rasa: int = 5005
    actions: int = 5055
    web: int = 8000
    sms: int = 8088  # the demo's SMS stand-in (bot/sms/standin.py), when no provider is configured


def _http_status(url: str) -> Optional[int]:
    """The HTTP status a GET gets (None: no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError, ValueError):
        return None


def write_endpoints(path: Path, action_port: int, db_url: Optional[str] = None,
                    secret: Optional[str] = None) -> Path:
    """An endpoints file pointing Rasa at the action server on the given port, with the action
    secret the action server checks (bot/action_server.py) in a header of every call, and, given a
    database URL, at an SQL tracker store there (so conversations survive a restart). The file
    holds a secret: it is readable by its owner only."""
    # Our actions never read the domain (responses are rendered by the Rasa server), so Rasa need
    # not send the whole domain with every action call.
    endpoint = {"url": f"http://localhost:{action_port}/webhook", "enable_selective_domain": True,
                "headers": {ACTION_SECRET_HEADER: secret or action_secret()}}
    text = yaml.safe_dump({"action_endpoint": endpoint}, sort_keys=False, default_flow_style=False)
    if db_url:
        store = tracker_store_endpoint(db_url)
        if str(store["dialect"]).startswith("sqlite"):
            Path(store["db"]).parent.mkdir(parents=True, exist_ok=True)
        text += yaml.safe_dump({"tracker_store": store}, sort_keys=False, default_flow_style=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@dataclass
class Assistant:
    """The running processes of one assistant, restarted when one dies (see `supervise`)."""

    model: Path
    ports: Ports = field(default_factory=Ports)
    env: dict = field(default_factory=dict)
    log_dir: Optional[Path] = None
    with_web: bool = False
    with_outreach: bool = False  # the outreach worker (`carenav outreach run`)
    sms_standin: bool = False  # the demo's local SMS stand-in, used when no SMS provider is configured
    procs: dict = field(default_factory=dict)
    restarts: dict = field(default_factory=dict)
    _cmds: dict = field(default_factory=dict)
    _due: dict = field(default_factory=dict)
    _started: dict = field(default_factory=dict)
    _logs: list = field(default_factory=list)

    def _spawn(self, name: str, cmd: Optional[list] = None) -> None:
        cmd = cmd or self._cmds[name]
        self._cmds[name] = cmd
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3",
                   SQLALCHEMY_SILENCE_UBER_WARNING="1", **self.env)
        out: Optional[IO] = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")
            self._logs.append(out)
        self.procs[name] = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        self._started[name] = time.monotonic()

    def start(self, timeout: float = 240.0) -> "Assistant":
        rasa = rasa_executable()
        tmp = Path(tempfile.mkdtemp(prefix="carenav-"))
        # one secret for this run, shown by the Rasa server to the action server on every call
        self.env.setdefault("CARENAV_ACTION_SECRET", settings().action_secret or secrets.token_urlsafe(32))
        # Rasa's HTTP API (the outreach worker adds its messages to conversations through it, so the
        # lock store orders them with the patient's): on, behind a token for this run only
        self.env.setdefault("CARENAV_RASA_API_TOKEN", secrets.token_urlsafe(32))
        self.env.setdefault("CARENAV_RASA_URL", f"http://localhost:{self.ports.rasa}")
        standin = self.sms_standin and not Settings.from_environ(dict(os.environ, **self.env)).sms_account_sid
        if standin:
            self.env.update({"CARENAV_SMS_ACCOUNT_SID": "ACdemo0000000000000000000000000000",
                             "CARENAV_SMS_AUTH_TOKEN": secrets.token_hex(16),
                             "CARENAV_SMS_FROM": "+15550100000",
                             "CARENAV_SMS_API_BASE": f"http://127.0.0.1:{self.ports.sms}",
                             "CARENAV_SMS_WEBHOOK_URL": f"http://localhost:{self.ports.rasa}/webhooks/sms/webhook"})
        environ = dict(os.environ, **self.env)  # what the servers will see
        origins = ",".join(Settings.from_environ(environ).web_origins(self.ports.web))
        self.env.setdefault("CARENAV_WEB_ORIGINS", origins)
        # the tracker store the Rasa process will see: its environment is os.environ + self.env
        endpoints = write_endpoints(tmp / "endpoints.yml", self.ports.actions,
                                    db_url=tracker_db_url(environ), secret=self.env["CARENAV_ACTION_SECRET"])
        self._spawn("actions", [sys.executable, "-m", "bot.action_server", "--actions", "actions",
                                "--port", str(self.ports.actions)])
        self._spawn("rasa", [rasa, "run", "--model", str(self.model), "--port", str(self.ports.rasa),
                             "--credentials", "credentials.yml", "--endpoints", str(endpoints),
                             "--enable-api", "--auth-token", self.env["CARENAV_RASA_API_TOKEN"],
                             "--cors", *origins.split(",")])
        if standin:
            # its account and token come from the environment (CARENAV_SMS_*), not the command line
            self._spawn("sms", [sys.executable, "-m", "bot.sms.standin", "--port", str(self.ports.sms),
                                "--phones-from-store"])
        if self.with_outreach:
            self._spawn("outreach", [sys.executable, "-m", "bot.cli", "outreach", "run"])
        if self.with_web:
            self._spawn("web", [sys.executable, "-m", "bot.cli", "web", "--port", str(self.ports.web),
                                "--rasa-url", f"http://localhost:{self.ports.rasa}",
                                "--actions-url", f"http://localhost:{self.ports.actions}"])
        self.wait_ready(timeout)
        return self

    def urls(self) -> dict[str, str]:
        urls = {"actions": f"http://localhost:{self.ports.actions}/health",
                "rasa": f"http://localhost:{self.ports.rasa}/webhooks/rest/"}
        if self.with_web:
            urls["web"] = f"http://localhost:{self.ports.web}/health"
        return urls

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = self.urls()
        while pending:
            for name, url in list(pending.items()):
                proc = self.procs[name]
                if proc.poll() is not None:
                    self.stop()
                    where = f" (see {self.log_dir / (name + '.log')})" if self.log_dir else ""
                    raise RuntimeError(f"the {name} server exited with code {proc.returncode}{where}")
                status = _http_status(url)  # the web page answers (503 until the others are up)
                if status == 200 or (name == "web" and status is not None):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.5)

    def supervise(self, now: Optional[float] = None) -> list[str]:
        """One look at the processes: a server that died is started again after a backoff
        (1 s, doubling to 60 s; back to 1 s once it ran for 5 minutes); the others keep serving.
        Returns what it did, one line each (also printed to stderr)."""
        now = time.monotonic() if now is None else now
        said = []
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            if name not in self._due:
                ran = now - self._started.get(name, now)
                count = 0 if ran > 300 else self.restarts.get(name, 0)
                delay = min(60.0, 2.0 ** count)
                self._due[name] = now + delay
                said.append(f"carenav: the {name} server stopped (exit {proc.returncode}); "
                            f"restarting it in {delay:.0f} s")
            elif now >= self._due[name]:
                del self._due[name]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._spawn(name)
                said.append(f"carenav: the {name} server restarted (restart {self.restarts[name]})")
        for line in said:
            print(line, file=sys.stderr, flush=True)
            if self.log_dir is not None:
                with open(self.log_dir / "carenav.log", "a") as handle:
                    handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        return said

    def supervise_in_background(self, every: float = 0.5) -> None:
        """Supervise from a thread (the integration tests, which do not block in `wait`)."""
        import threading

        self._stopping = threading.Event()

        def loop() -> None:
            while not self._stopping.wait(every):
                self.supervise()

        threading.Thread(target=loop, name="carenav-supervisor", daemon=True).start()

    def stop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is not None:
            stopping.set()
        self._due.clear()
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def purge(self) -> None:
        """The retention purge (bot/retention.py), at start and then daily; a failure is logged
        and tried again the next day."""
        from bot.retention import purge, retention_days
        from bot.store.db import Database

        try:
            db = Database((self.env.get("CARENAV_DB_URL") or None))
            try:
                counts = purge(db, tracker_url=tracker_db_url(dict(os.environ, **self.env)))
            finally:
                db.dispose()
            line = (f"carenav: retention purge (older than {retention_days()} days): "
                    + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        except Exception as exc:  # noqa: BLE001 - logged; the servers keep running
            line = f"carenav: retention purge failed ({type(exc).__name__}); tried again in a day"
        if self.log_dir is not None:
            with open(self.log_dir / "carenav.log", "a") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def wait(self) -> int:
        """Serve until Ctrl-C or SIGTERM, restarting a server that dies; then stop them all."""

        def terminated(_signum, _frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, terminated)  # `kill` stops the servers too, not just this process
        # Ctrl-C too, even when started from a script in the background (which starts us with
        # SIGINT ignored)
        signal.signal(signal.SIGINT, terminated)
        last_purge = None
        try:
            while True:
                self.supervise()
                if last_purge is None or time.monotonic() - last_purge > PURGE_EVERY:
                    last_purge = time.monotonic()
                    self.purge()
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        finally:
            # a second Ctrl-C (people press it twice) must not cut the shutdown short and leave
            # servers running: stop them all, ignoring further interrupts meanwhile
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("carenav: stopping the servers ...", flush=True)
            self.stop()
