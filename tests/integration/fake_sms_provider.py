"""A local HTTP server that speaks the SMS provider's Messages API (Twilio-compatible) and
records what it was sent. It stands in for the provider, which is outside this machine."""
from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from typing import List, Optional

from aiohttp import web


class FakeSmsProvider:
    def __init__(self, account_sid: str, auth_token: str, port: int) -> None:
        self.account_sid, self.auth_token, self.port = account_sid, auth_token, port
        self.sent: List[dict] = []
        self.fail_next = 0  # answer this many requests with 500 (to exercise retries)
        self.fail_until = 0.0  # and every request until this time.monotonic() (an outage)
        self.requests = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _messages(self, request: web.Request) -> web.Response:
        if request.match_info["sid"] != self.account_sid:
            return web.json_response({"message": "unknown account"}, status=404)
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "authentication failed"}, status=401)
        form = await request.post()
        with self._lock:
            self.requests += 1
            if self.fail_next > 0 or time.monotonic() < self.fail_until:
                self.fail_next = max(0, self.fail_next - 1)
                return web.json_response({"message": "temporary failure"}, status=500)
            if not form.get("To") or not form.get("Body") or not form.get("From"):
                return web.json_response({"message": "To, From and Body are required"}, status=400)
            sid = "SM" + uuid.uuid4().hex
            self.sent.append({"to": form["To"], "from": form["From"], "body": form["Body"], "sid": sid})
        return web.json_response({"sid": sid, "status": "queued"}, status=201)

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._messages)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("fake SMS provider did not start")

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def messages_to(self, phone: str) -> List[str]:
        with self._lock:
            return [m["body"] for m in self.sent if m["to"] == phone]

    def wait_for(self, phone: str, count: int, timeout: float = 30.0) -> List[str]:
        """The bodies sent to `phone` once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.messages_to(phone)
            if len(bodies) >= count:
                time.sleep(0.3)  # let a reply's remaining segments arrive
                return self.messages_to(phone)
            time.sleep(0.1)
        raise AssertionError(f"expected {count} SMS to {phone}, got {self.messages_to(phone)}")
