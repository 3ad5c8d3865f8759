"""Start the assistant's processes (action server, Rasa server, web page) and wait until ready.

Used by `carenav run` (what `make run` starts) and by the integration tests, so that both start
the assistant the same way.
"""
from __future__ import annotations

import os
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

from bot.modeling import PROJECT_ROOT, rasa_executable
from bot.tracker_store import tracker_db_url, tracker_store_endpoint


@dataclass
class Ports:
    rasa: int = 5005
    actions: int = 5055
    web: int = 8000


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def write_endpoints(path: Path, action_port: int, db_url: Optional[str] = None) -> Path:
    """An endpoints file pointing Rasa at the action server on the given port and, given a
    database URL, at an SQL tracker store there (so conversations survive a restart)."""
    # Our actions never read the domain (responses are rendered by the Rasa server), so Rasa need
    # not send the whole domain with every action call.
    lines = ["action_endpoint:", f'  url: "http://localhost:{action_port}/webhook"',
             "  enable_selective_domain: true"]
    text = "\n".join(lines) + "\n"
    if db_url:
        endpoint = tracker_store_endpoint(db_url)
        if endpoint["dialect"].startswith("sqlite"):
            Path(endpoint["db"]).parent.mkdir(parents=True, exist_ok=True)
        text += yaml.safe_dump({"tracker_store": endpoint}, sort_keys=False, default_flow_style=False)
    path.write_text(text)
    return path


@dataclass
class Assistant:
    """The running processes of one assistant."""

    model: Path
    ports: Ports = field(default_factory=Ports)
    env: dict = field(default_factory=dict)
    log_dir: Optional[Path] = None
    with_web: bool = False
    procs: dict = field(default_factory=dict)
    _logs: list = field(default_factory=list)

    def _spawn(self, name: str, cmd: list[str]) -> None:
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

    def start(self, timeout: float = 240.0) -> "Assistant":
        rasa = rasa_executable()
        tmp = Path(tempfile.mkdtemp(prefix="carenav-"))
        # the tracker store the Rasa process will see: its environment is os.environ + self.env
        endpoints = write_endpoints(tmp / "endpoints.yml", self.ports.actions,
                                    db_url=tracker_db_url(dict(os.environ, **self.env)))
        self._spawn("actions", [rasa, "run", "actions", "--actions", "actions",
                                "--port", str(self.ports.actions)])
        self._spawn("rasa", [rasa, "run", "--model", str(self.model), "--port", str(self.ports.rasa),
                             "--credentials", "credentials.yml", "--endpoints", str(endpoints),
                             "--cors", "*"])
        if self.with_web:
            self._spawn("web", [sys.executable, "-m", "bot.cli", "web", "--port", str(self.ports.web),
                                "--rasa-url", f"http://localhost:{self.ports.rasa}"])
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
                if _http_ok(url):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.5)

    def stop(self) -> None:
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

    def wait(self) -> int:
        """Block until one process ends (or Ctrl-C, or SIGTERM); then stop the others."""

        def terminated(_signum, _frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, terminated)  # `kill` stops the servers too, not just this process
        try:
            while True:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        print(f"the {name} server stopped (exit {proc.returncode}); stopping the rest",
                              file=sys.stderr)
                        return proc.returncode or 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        finally:
            self.stop()
