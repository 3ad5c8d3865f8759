"""How DomainGate's domain-score settings (`lm_weight`, `lm_threshold` in config.yml) were chosen.

5-fold cross-validation on the training data only (data/nlu; never the held-out set or the
CLINC150 evaluation queries): the domain model is learned on four fifths and scores the fifth.
For each weight it prints, per threshold, the share of held-back care examples and help /
bot_challenge examples that pass, and the share of held-back out_of_scope examples that are
stopped. The rule: the strictest threshold that still passes >= 95% of the care examples and
>= 85% of the help examples, then the weight that stops the most out-of-scope examples.

    .venv/bin/python bench/gate_cv.py
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.nlp.components import DomainGate  # noqa: E402

WEIGHTS = (0.8, 0.9, 0.95, 0.98)
THRESHOLDS = (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0)
CARE_PASS = 0.95
HELP_PASS = 0.85
FOLDS = 5


def folds(examples: list, k: int = FOLDS):
    shuffled = examples[:]
    random.Random(0).shuffle(shuffled)
    for i in range(k):
        yield ([e for j, e in enumerate(shuffled) if j % k != i], [e for j, e in enumerate(shuffled) if j % k == i])


def scores(examples: list, weight: float) -> dict:
    """Held-back domain scores, grouped: care, help (help and bot_challenge), out_of_scope."""
    out: dict = {"care": [], "help": [], "out_of_scope": []}
    for train, test in folds(examples):
        gate = DomainGate({"lm_weight": weight}, None, None,
                          word_scores=DomainGate.learn_word_scores(
                              [t for t, i in train if i != "out_of_scope"], weight))
        for text, intent in test:
            group = ("out_of_scope" if intent == "out_of_scope" else "help" if intent in ("help", "bot_challenge")
                     else None if intent in DomainGate.UNGATED or intent == "report_emergency" else "care")
            if group:
                out[group].append(gate.domain_score(text))
    return out


def main() -> int:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(Path(__file__).resolve().parents[1] / "data" / "nlu"))
    examples = [(m.get("text"), m.get("intent")) for m in data.intent_examples]
    best = None
    print(f"{'weight':>6} {'threshold':>9} {'care pass':>9} {'help pass':>9} {'oos stopped':>11}")
    for weight in WEIGHTS:
        s = scores(examples, weight)
        chosen = None
        for threshold in THRESHOLDS:
            care = sum(x >= threshold for x in s["care"]) / len(s["care"])
            helps = sum(x >= threshold for x in s["help"]) / len(s["help"])
            stopped = sum(x < threshold for x in s["out_of_scope"]) / len(s["out_of_scope"])
            print(f"{weight:>6} {threshold:>9} {care:>9.3f} {helps:>9.3f} {stopped:>11.3f}")
            if care >= CARE_PASS and helps >= HELP_PASS:
                chosen = (stopped, weight, threshold)
        if chosen and (best is None or chosen[0] > best[0]):
            best = chosen
    if best:
        print(f"chosen: lm_weight {best[1]}, lm_threshold {best[2]} "
              f"(stops {best[0]:.3f} of held-back out-of-scope examples, passes >= {CARE_PASS} of care, "
              f">= {HELP_PASS} of help)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
