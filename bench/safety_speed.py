"""How much the safety screen costs a message, against the whole NLU parse in the same run.

Screens the kept sets' messages (each new to the screen's caches) and parses the same messages
with CareNav's trained model (which runs the screen as its last component), then prints
milliseconds per message and the screen's share of the parse. Start-up (warm_up) is timed too.

    .venv/bin/python bench/safety_speed.py [N]
"""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    from bot.safety.screen import analyse, warm_up
    from bot.safety.sets import kept_sets, load_sets

    texts = [c.text for c in load_sets(kept_sets())]
    screen_texts, parse_texts = texts[:n], texts[n:2 * n]
    started = time.perf_counter()
    warm_up()
    print(f"screen start-up (model, word tables, rules, language models): {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for text in screen_texts:
        analyse(text)
    screen_ms = (time.perf_counter() - started) / len(screen_texts) * 1000

    from rasa.core.agent import Agent

    from bot.modeling import model_path

    agent = Agent.load(str(model_path()))

    async def parse_all():
        for text in parse_texts:
            await agent.parse_message(text)

    started = time.perf_counter()
    asyncio.run(parse_all())
    parse_ms = (time.perf_counter() - started) / len(parse_texts) * 1000
    print(f"{len(screen_texts)} messages: safety screen {screen_ms:.1f} ms a message; whole NLU parse "
          f"(screen included) {parse_ms:.1f} ms a message; the screen is {screen_ms / parse_ms:.2f}x of it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
