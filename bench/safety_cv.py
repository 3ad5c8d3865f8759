"""Leave-one-writer-out cross-validation of the safety screen (how thresholds were chosen).

For each writer's set, the learned model is fitted on the other sets and data/nlu, and the
held-out writer's messages are screened: emergency recall, false alarms (calm messages given the
emergency answer) and `possible` on calm messages, per language, for several thresholds.
Nothing here is a first score: every set was read while the taxonomy was written.

    .venv/bin/python bench/safety_cv.py [--grid]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.safety import model as safety_model  # noqa: E402
from bot.safety.screen import EMERGENCY, POSSIBLE, Thresholds, analyse  # noqa: E402
from bot.safety.sets import CALM, kept_sets  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", action="store_true", help="try several thresholds")
    parser.add_argument("--errors", action="store_true", help="print the misses and false alarms")
    parser.add_argument("--c", type=float, default=16.0, help="the learned model's C")
    parser.add_argument("--signs-only", action="store_true", help="the taxonomy alone (no learned model)")
    args = parser.parse_args()
    sets = kept_sets()
    started = time.monotonic()
    scored = safety_model.leave_one_writer_out(sets, c=args.c)  # (case, probability, category)
    print(f"{len(scored)} messages from {len(sets)} writers, fitted {len(sets)} times in "
          f"{time.monotonic() - started:.0f} s")
    grid = [Thresholds()]
    if args.grid:
        grid = [Thresholds(veto=v, alone=a, override=o) for v in (0.1, 0.15, 0.2) for a in (0.5, 0.6, 0.7)
                for o in (0.6, 0.8, 0.9, 1.01)]
    if args.signs_only:
        grid = [Thresholds(0.0, 1.01, 1.01)]
    for th in grid:
        stats = defaultdict(lambda: [0, 0, 0])  # caught/alarm, possible, n
        errors = []
        for case, p, cat in scored:
            s = analyse(case.text, p, cat, th)
            key = (case.language, case.label)
            stats[key][2] += 1
            stats[key][0] += s.outcome == EMERGENCY
            stats[key][1] += s.outcome == POSSIBLE
            stats[(case.language, case.label, case.category)][2] += 1
            stats[(case.language, case.label, case.category)][0] += s.outcome == EMERGENCY
            if (case.label == CALM) == (s.outcome == EMERGENCY):
                errors.append((case, s))
        line = [f"veto {th.veto:.2f} alone {th.alone:.2f} override {th.override:.2f}:"]
        for lang in ("en", "es"):
            e, c = stats[(lang, "emergency")], stats[(lang, "calm")]
            if e[2]:
                line.append(f"{lang} recall {e[0] / e[2]:.3f} false alarms {c[0] / c[2]:.3f} "
                            f"(calm possible {c[1] / c[2]:.2f})")
        print("  ".join(line))
        if not args.grid:
            for lang in ("en", "es"):
                cats = sorted({k[2] for k in stats if len(k) == 3 and k[0] == lang})
                print(f"  {lang} recall by category: " + ", ".join(
                    f"{c} {stats[(lang, 'emergency', c)][0] / max(1, stats[(lang, 'emergency', c)][2]):.2f}"
                    for c in cats))
                print(f"  {lang} false alarms by category: " + ", ".join(
                    f"{c} {stats[(lang, 'calm', c)][0]}" for c in cats))
        if args.errors:
            for case, s in errors:
                kind = "MISS " if case.label != CALM else "ALARM"
                print(f"  {kind} {case.language} {case.category:12} p={s.probability:.2f} "
                      f"signs={','.join(s.signs) or '-'} {case.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
