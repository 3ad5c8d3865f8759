"""Chat load: many concurrent REST conversations against CareNav, and a bare Rasa baseline.

Each conversation is its own sender and sends its turns in order, waiting for each answer.
CareNav's turns hit the care actions and the store (signed-in demo patients); the baseline is
the assistant `rasa init` makes, served the same way (`rasa run`, REST channel), driven in the
same run. Prints p50/p95 latency per message, messages per second and errors, and the ratios.

    .venv/bin/python bench/chat_load.py [--conversations 20] [--turns 10]

Targets (issue 5): one conversation p50 <= 60 ms per turn; 20 concurrent conversations at no
fewer messages per second than the bare baseline; zero errors.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE_DIR = ROOT / "var" / "bench" / "rasa-init"
CARENAV_TURNS = [
    "hi", "what are my next steps", "why was i referred", "when is my next appointment",
    "are my results back", "what meds am i on", "who is on my care team",
    "which clinic has the best patient ratings", "what should i ask at my visit", "thanks",
]
BASELINE_TURNS = ["hi", "i am feeling great", "are you a bot?", "i'm sad", "yes", "no", "bye",
                  "hello", "very good", "goodbye"]


@dataclass
class Run:
    name: str
    latencies: List[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def messages(self) -> int:
        return len(self.latencies) + self.errors

    def pct(self, p: float) -> float:
        from bench.seeded import percentile_ms

        return percentile_ms(self.latencies, p)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def _conversation(session, url: str, sender: str, turns: List[str], token: Optional[str], run: Run):
    for text in turns:
        body = {"sender": sender, "message": text}
        if token:
            body["metadata"] = {"token": token}
        started = time.perf_counter()
        try:
            async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                replies = await resp.json()
                if resp.status != 200 or not replies or any("went wrong" in (r.get("text") or "")
                                                              for r in replies):
                    run.errors += 1
                    continue
        except Exception:  # counted, never hidden
            run.errors += 1
            continue
        run.latencies.append(time.perf_counter() - started)


async def drive(name: str, base: str, conversations: int, turns: int, turn_texts: List[str],
                tokens: Optional[List[str]]) -> Run:
    run = Run(name)
    url = f"{base}/webhooks/rest/webhook"
    async with aiohttp.ClientSession() as session:
        # warm up (first-call model and connection costs are not what a patient waits for)
        await _conversation(session, url, f"warm-{name}", turn_texts[:3], tokens[0] if tokens else None, Run("w"))
        started = time.perf_counter()
        await asyncio.gather(*[
            _conversation(session, url, f"{name}-{conversations}-{i}-{time.time_ns()}",
                          [turn_texts[(i + t) % len(turn_texts)] for t in range(turns)],
                          tokens[i % len(tokens)] if tokens else None, run)
            for i in range(conversations)])
        run.seconds = time.perf_counter() - started
    return run


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def start_baseline(port: int, log_dir: Path) -> subprocess.Popen:
    from bot.modeling import rasa_executable

    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    if not list((BASELINE_DIR / "models").glob("*.tar.gz")):
        print(f"building the bare `rasa init` baseline in {BASELINE_DIR} (once, about 2 minutes)...", flush=True)
        BASELINE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([rasa_executable(), "init", "--no-prompt", "--init-dir", str(BASELINE_DIR)],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    model = sorted((BASELINE_DIR / "models").glob("*.tar.gz"))[-1]
    log = open(log_dir / "baseline.log", "w")
    proc = subprocess.Popen([rasa_executable(), "run", "--model", str(model), "--port", str(port)],
                            cwd=BASELINE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_for(f"http://localhost:{port}/webhooks/rest/", proc)
    return proc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--single-turns", type=int, default=30)
    parser.add_argument("--port", type=int, default=5205)
    args = parser.parse_args(argv)

    from bench.seeded import seeded_carenav

    seeded = seeded_carenav(args.port, "carenav-bench-")
    if seeded is None:
        return 2
    ours, tokens, work = seeded
    baseline = None
    results = {}
    try:
        print("starting CareNav (Rasa + action server)...", flush=True)
        ours.start(timeout=300)
        base = f"http://localhost:{args.port}"
        results["carenav 1 conv"] = asyncio.run(drive("carenav", base, 1, args.single_turns, CARENAV_TURNS, tokens))
        results[f"carenav {args.conversations} conv"] = asyncio.run(
            drive("carenav", base, args.conversations, args.turns, CARENAV_TURNS, tokens))
        ours.stop()
        print("starting the bare rasa init baseline...", flush=True)
        baseline = start_baseline(args.port + 100, work)
        bbase = f"http://localhost:{args.port + 100}"
        results["baseline 1 conv"] = asyncio.run(drive("baseline", bbase, 1, args.single_turns, BASELINE_TURNS, None))
        results[f"baseline {args.conversations} conv"] = asyncio.run(
            drive("baseline", bbase, args.conversations, args.turns, BASELINE_TURNS, None))
    finally:
        ours.stop()
        if baseline is not None:
            baseline.terminate()
            baseline.wait(timeout=30)

    print()
    print(f"{'run':<22} {'messages':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'msg/s':>7}")
    for name, r in results.items():
        print(f"{name:<22} {r.messages:>8} {r.errors:>6} {r.pct(50):>8.1f} {r.pct(95):>8.1f} {r.rate:>7.1f}")
    single, many = results["carenav 1 conv"], results[f"carenav {args.conversations} conv"]
    bsingle, bmany = results["baseline 1 conv"], results[f"baseline {args.conversations} conv"]
    print()
    print(f"one conversation p50: {single.pct(50):.1f} ms (target <= 60 ms); "
          f"ratio to baseline {single.pct(50) / bsingle.pct(50):.2f}x")
    print(f"{args.conversations} conversations: {many.rate:.1f} msg/s vs baseline {bmany.rate:.1f} msg/s "
          f"(ratio {many.rate / bmany.rate:.2f}, target >= 1.00); errors {many.errors}")
    return 0 if many.errors == 0 and single.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
