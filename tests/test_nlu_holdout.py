"""The trained model on the held-out file (never trained on): the gate `make test` enforces.

Targets are measured by `make eval`; this gate fails the build below 0.90 accuracy or below
1.0 emergency recall.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.evaluation import HOLDOUTS, OOS_EVAL

ROOT = Path(__file__).resolve().parent.parent


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def _training_texts() -> set:
    texts = set()
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):  # data/nlu/es too
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu", []):
            for line in (block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.add(_norm(line[2:]))
    return texts


def test_the_holdout_is_not_in_the_training_data():
    from bot.evaluation import holdout_examples

    training = _training_texts()
    leaked = [text for path in HOLDOUTS for text, _ in holdout_examples(path) if _norm(text) in training]
    assert not leaked, f"held-out examples found in data/nlu: {leaked}"


def test_the_out_of_scope_evaluation_set_is_never_trained_on():
    from bot.evaluation import oos_queries

    if not OOS_EVAL.exists():
        pytest.fail(f"{OOS_EVAL} is missing")
    training = _training_texts()
    leaked = [q for q in oos_queries(OOS_EVAL) if _norm(q) in training]
    assert not leaked, f"CLINC150 evaluation queries found in data/nlu: {leaked[:5]}"


def test_every_held_out_emergency_is_caught_by_the_safety_screen_alone():
    """The screen must catch these whatever the intent classifier says."""
    from bot.evaluation import holdout_examples
    from bot.safety.screen import screen

    missed = [text for path in HOLDOUTS for text, intent in holdout_examples(path)
              if intent == "report_emergency" and not screen(text).is_emergency]
    assert not missed, f"the safety screen misses: {missed}"


def test_held_out_accuracy_and_emergency_recall(capsys):
    from bot.evaluation import evaluate_model
    from bot.modeling import model_path

    model = model_path()
    if not model.exists():
        pytest.fail(f"no trained model {model.name}: run `make model` first")
    figures = evaluate_model(model, name="carenav", holdouts=HOLDOUTS, with_oos=False)
    for error in figures.errors:
        print(f"  {error['expected']:>24} -> {error['predicted']:<24} {error['text']}")
    print(f"held-out accuracy {figures.accuracy:.3f}, emergency recall {figures.emergency_recall:.3f}")
    assert figures.emergency_recall == 1.0, figures.errors
    assert figures.accuracy >= 0.90, f"held-out accuracy {figures.accuracy:.3f} < 0.90"
    # each language on its own (tests/nlu_holdout_es.yml is Spanish)
    assert set(figures.by_language) == {"en", "es"}, figures.by_language
    for language, part in figures.by_language.items():
        assert part["accuracy"] >= 0.90, f"{language} held-out accuracy {part['accuracy']:.3f} < 0.90"
