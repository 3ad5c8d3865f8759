"""`make eval-safety`: emergency recall per category and language, and false alarms.

Scores, on the same messages:
- the safety screen alone (bot/safety/screen.py), as deployed;
- CareNav's whole NLU model (the trained model's intent is report_emergency);
- Rasa's default pipeline (bench/config_rasa_default.yml, what `rasa init` writes) trained on
  the same data/nlu (report_emergency predicted).
A false alarm is a calm message (red-flag words, nothing happening now) given the emergency
answer. For CareNav the table also counts calm messages that keep their answer (the intent the
writer gave them, or a `possible` line added to it).

The kept sets (bot/knowledge/safety/examples) are the screen's training data: the screen's
figures on them are regression figures, so they are also given leave-one-writer-out (each
writer's set screened by a model fitted without it). A set passed with --sets that the project
has never trained on gives first-score figures.

    python -m bot.safety.evaluate [--sets FILE ...] [--no-rasa]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from bot.modeling import PROJECT_ROOT, rasa_executable, training_fingerprint
from bot.safety.sets import CALM, EMERGENCY, Case, kept_sets, load_set, load_sets

DEFAULT_CONFIG = "bench/config_rasa_default.yml"
# sets written after the screen's last change, first-scored once (README), then kept untouched
HELDOUT_DIR = PROJECT_ROOT / "tests" / "safety_heldout"


def _rasa_intents(model: Path, texts: Sequence[str]) -> List[str]:
    from bot.evaluation import _predict

    return asyncio.run(_predict(model, texts))


def default_model() -> Path:
    """Rasa's default pipeline trained (NLU only) on data/nlu; cached in models/ by content."""
    out = PROJECT_ROOT / "models"
    name = f"eval-default-{training_fingerprint(PROJECT_ROOT, DEFAULT_CONFIG)}"
    path = out / f"{name}.tar.gz"
    if not path.exists():
        print(f"training Rasa's default pipeline on data/nlu (once; cached as {path.name}) ...", flush=True)
        started = time.monotonic()
        subprocess.run([rasa_executable(), "train", "nlu", "--config", DEFAULT_CONFIG, "--nlu", "data/nlu",
                        "--out", str(out), "--fixed-model-name", name], cwd=PROJECT_ROOT, check=True,
                       env=dict(os.environ, RASA_TELEMETRY_ENABLED="false"))
        print(f"trained in {time.monotonic() - started:.0f} s", flush=True)
    return path


def carenav_model() -> Optional[Path]:
    from bot.modeling import model_path

    path = model_path()
    return path if path.exists() else None


def _screen_outcomes(cases: Sequence[Case], leave_one_writer_out: bool) -> List[str]:
    from bot.safety import model as safety_model
    from bot.safety.screen import analyse, screen

    if not leave_one_writer_out:
        return [screen(c.text).outcome for c in cases]
    scored = safety_model.leave_one_writer_out(kept_sets())  # the kept sets' cases, in their order
    assert [case.text for case, _, _ in scored] == [c.text for c in cases]
    return [analyse(case.text, p, cat).outcome for case, p, cat in scored]


def table(cases: Sequence[Case], columns: Dict[str, List[bool]], answered: Optional[List[bool]] = None) -> str:
    """Rows: each category's recall per language, then false alarms; columns: the scorers."""
    names = list(columns)
    rows = []
    for language in sorted({c.language for c in cases}):
        cats = sorted({c.category for c in cases if c.language == language})
        for category in cats:
            idx = [i for i, c in enumerate(cases) if c.language == language and c.category == category
                   and c.label == EMERGENCY]
            if idx:
                rows.append([f"{language} recall {category} ({len(idx)})",
                             *[f"{sum(columns[n][i] for i in idx) / len(idx):.3f}" for n in names]])
        idx = [i for i, c in enumerate(cases) if c.language == language and c.label == EMERGENCY]
        if idx:
            rows.append([f"{language} RECALL, all ({len(idx)})",
                         *[f"{sum(columns[n][i] for i in idx) / len(idx):.3f}" for n in names]])
        calm = [i for i, c in enumerate(cases) if c.language == language and c.label == CALM]
        if calm:
            rows.append([f"{language} FALSE ALARMS, calm ({len(calm)})",
                         *[f"{sum(columns[n][i] for i in calm) / len(calm):.3f}" for n in names]])
            if answered is not None:
                rows.append([f"{language} calm that keep their answer",
                             *[(f"{sum(answered[i] for i in calm) / len(calm):.3f}" if n.startswith("CareNav NLU")
                                else "-") for n in names]])
    head = ["", *names]
    widths = [max(len(str(r[k])) for r in [head, *rows]) for k in range(len(head))]
    def fmt(r):
        return "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows)])


def evaluate(label: str, cases: List[Case], kept: bool, with_rasa: bool) -> None:
    from bot.safety.screen import EMERGENCY as OUT_EMERGENCY
    from bot.safety.screen import POSSIBLE

    print(f"\n## {label}: {len(cases)} messages "
          f"({sum(c.label == EMERGENCY for c in cases)} emergencies, {sum(c.label == CALM for c in cases)} calm)")
    columns: Dict[str, List[bool]] = {}
    screened = _screen_outcomes(cases, leave_one_writer_out=False)
    if kept:
        loo = _screen_outcomes(cases, leave_one_writer_out=True)
        columns["screen, leave-one-writer-out"] = [o == OUT_EMERGENCY for o in loo]
        columns["screen (trained on these)"] = [o == OUT_EMERGENCY for o in screened]
    else:
        columns["screen"] = [o == OUT_EMERGENCY for o in screened]
    answered = None
    if with_rasa:
        model = carenav_model()
        if model is None:
            print("(no trained CareNav model: run `make model` for its column)")
        else:
            intents = _rasa_intents(model, [c.text for c in cases])
            columns["CareNav NLU (whole model)"] = [i == "report_emergency" for i in intents]
            answered = [i == c.intent or (o == POSSIBLE and i not in ("report_emergency",))
                        for c, i, o in zip(cases, intents, screened)]
        intents = _rasa_intents(default_model(), [c.text for c in cases])
        columns["Rasa default"] = [i == "report_emergency" for i in intents]
    print(table(cases, columns, answered))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=[], help="sets never trained on (first scores)")
    parser.add_argument("--no-rasa", action="store_true", help="the screen only (no Rasa models)")
    parser.add_argument("--no-kept", action="store_true", help="skip the kept sets")
    args = parser.parse_args(argv)
    with_rasa = not args.no_rasa
    for path in args.sets:
        evaluate(f"{path} (never trained on)", load_set(Path(path)), kept=False, with_rasa=with_rasa)
    for path in sorted(HELDOUT_DIR.glob("*.yml")) if not args.no_kept else []:
        evaluate(f"{path.relative_to(PROJECT_ROOT)} (held out, never trained on; first scored in the README)",
                 load_set(path), kept=False, with_rasa=with_rasa)
    if not args.no_kept:
        evaluate("kept sets (bot/knowledge/safety/examples, the screen's training data)",
                 load_sets(kept_sets()), kept=True, with_rasa=with_rasa)
        from bot.evaluation import holdout_examples

        earlier = [Case(t, "all", EMERGENCY if i == "report_emergency" else CALM, "en", "crisis_cases")
                   for t, i in holdout_examples(PROJECT_ROOT / "tests" / "crisis_cases.yml")]
        evaluate("tests/crisis_cases.yml (two earlier writers, English)", earlier, kept=False, with_rasa=with_rasa)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
