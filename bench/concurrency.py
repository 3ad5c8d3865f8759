"""Concurrency: 50, 100 and 200 conversations at once against CareNav, in one run.

Each conversation is a signed-in demo patient asking about their records over REST, turns in
order, waiting for each answer. Counted per level: empty replies (silence: issue 17's target is
0 at 200), apologies ("can't do that right now", "can't reach the clinic's records": a failure
the patient was told about), HTTP errors, p50 and p95 latency, messages per second; and each
level's p95 as a ratio to the 50-conversation level of the same run.

    .venv/bin/python bench/concurrency.py [--levels 50 100 200] [--turns 4]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TURNS = ["hi", "what meds am i on", "are my results back", "when is my next appointment",
         "what are my next steps", "who is on my care team"]
APOLOGIES = ("can't do that right now", "can't reach the clinic's records", "went wrong")


@dataclass
class Level:
    conversations: int
    latencies: List[float] = field(default_factory=list)
    empty: int = 0
    apologies: int = 0
    errors: int = 0
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        from bench.seeded import percentile_ms

        return percentile_ms(self.latencies, p, empty=0.0)


async def conversation(session, url, sender, token, turns, level: Level) -> None:
    for text in turns:
        started = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text, "metadata": {"token": token}},
                                    timeout=aiohttp.ClientTimeout(total=120)) as resp:
                replies = await resp.json(content_type=None)
        except Exception:  # counted, never hidden
            level.errors += 1
            continue
        level.latencies.append(time.perf_counter() - started)
        if resp.status != 200:
            level.errors += 1
        elif not replies or not any((r.get("text") or "").strip() for r in replies):
            level.empty += 1
        elif any(a in (r.get("text") or "") for r in replies for a in APOLOGIES):
            level.apologies += 1


async def drive(base: str, n: int, turns: int, tokens) -> Level:
    level = Level(n)
    url = f"{base}/webhooks/rest/webhook"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*[
            conversation(session, url, f"conc-{n}-{i}-{time.time_ns()}", tokens[i % len(tokens)],
                         [TURNS[(i + t) % len(TURNS)] for t in range(turns)], level)
            for i in range(n)])
        level.seconds = time.perf_counter() - started
    return level


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--port", type=int, default=5305)
    args = parser.parse_args(argv)

    from bench.seeded import seeded_carenav

    seeded = seeded_carenav(args.port, "carenav-conc-", ttl_seconds=7200)
    if seeded is None:
        return 2
    ours, tokens, work = seeded
    levels = []
    try:
        print("starting CareNav (Rasa + action server)...", flush=True)
        ours.start(timeout=300)
        base = f"http://localhost:{args.port}"
        asyncio.run(drive(base, 3, 3, tokens))  # warm-up
        for n in args.levels:
            levels.append(asyncio.run(drive(base, n, args.turns, tokens)))
            print(f"  {n} conversations done", flush=True)
    finally:
        ours.stop()
    first = levels[0]
    print()
    print(f"{'conversations':>13} {'messages':>8} {'empty':>5} {'apology':>7} {'errors':>6} {'p50 ms':>8} "
          f"{'p95 ms':>8} {'msg/s':>6} {'p95 ratio':>9}")
    for lv in levels:
        total = len(lv.latencies) + lv.errors
        print(f"{lv.conversations:>13} {total:>8} {lv.empty:>5} {lv.apologies:>7} {lv.errors:>6} {lv.pct(50):>8.0f} "
              f"{lv.pct(95):>8.0f} {len(lv.latencies) / lv.seconds:>6.1f} {lv.pct(95) / first.pct(95):>8.2f}x")
    print(f"(p95 ratio: against the {first.conversations}-conversation level of this run; logs in {work})")
    return 0 if all(lv.empty == 0 and lv.errors == 0 for lv in levels) else 1


if __name__ == "__main__":
    raise SystemExit(main())
