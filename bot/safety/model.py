"""The screen's learned half: a logistic regression over character and word n-grams.

Trained on the emergency sets (bot/knowledge/safety/examples: emergencies and the calm messages
that share their words, in English and Spanish, from independent writers) and on the NLU
training data (data/nlu: report_emergency examples against every other intent). It is separate
from the intent classifier: it answers only "is this an emergency now?" and "which kind?".
Training takes a few seconds; the fitted model is cached under var/cache by a hash of its data.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from bot.modeling import PROJECT_ROOT
from bot.safety.sets import EMERGENCY, SETS_DIR, Case, load_set, load_sets
from bot.safety.text import normalise

log = logging.getLogger(__name__)
NLU_DIR = PROJECT_ROOT / "data" / "nlu"
VERSION = "2"
_lock = threading.Lock()


@dataclass
class SafetyModel:
    features: Any  # sklearn FeatureUnion
    emergency: Any  # LogisticRegression: calm (0) / emergency (1)
    category: Any  # LogisticRegression over categories, trained on emergencies

    def score(self, texts: Sequence[str]) -> List[Tuple[float, str]]:
        """(probability of an emergency, most likely category) for each text."""
        x = self.features.transform([normalise(t) for t in texts])
        p = self.emergency.predict_proba(x)[:, 1]
        cats = self.category.predict(x)
        return [(float(pi), str(c)) for pi, c in zip(p, cats)]


def _nlu_examples(nlu_dir: Path) -> List[Tuple[str, bool]]:
    if not nlu_dir.exists():
        return []
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(nlu_dir))
    return [(m.get("text"), m.get("intent") == "report_emergency") for m in data.intent_examples if m.get("text")]


def training_examples(set_paths: Sequence[Path], nlu_dir: Optional[Path] = NLU_DIR
                      ) -> Tuple[List[str], List[bool], List[str]]:
    """(texts, is_emergency, categories): the sets' cases and the NLU examples."""
    texts, labels, cats = [], [], []
    for case in load_sets(set_paths):
        texts.append(case.text)
        labels.append(case.label == EMERGENCY)
        cats.append(case.category)
    for text, is_emergency in (_nlu_examples(nlu_dir) if nlu_dir else []):
        texts.append(text)
        labels.append(is_emergency)
        cats.append("general")
    return texts, labels, cats


def fit(texts: Sequence[str], labels: Sequence[bool], cats: Sequence[str], c: float = 16.0) -> SafetyModel:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b")),
    ])
    x = features.fit_transform([normalise(t) for t in texts])
    emergency = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    emergency.fit(x, [int(bool(v)) for v in labels])
    rows = [i for i, v in enumerate(labels) if v]
    category = LogisticRegression(C=c, max_iter=2000)
    category.fit(x[rows], [cats[i] for i in rows])
    return SafetyModel(features, emergency, category)


def leave_one_writer_out(set_paths: Sequence[Path], c: float = 16.0) -> List[Tuple[Case, float, str]]:
    """Each set's cases scored by a model fitted without that set (and with data/nlu): the
    learned model's view of a writer it has not read. (case, probability, category), in order."""
    scored: List[Tuple[Case, float, str]] = []
    for held in set_paths:
        fitted = fit(*training_examples([p for p in set_paths if p != held]), c=c)
        cases = load_set(held)
        scored.extend((case, p, cat) for case, (p, cat) in zip(cases, fitted.score([x.text for x in cases])))
    return scored


def _fingerprint(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256(VERSION.encode())
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def trained() -> SafetyModel:
    """The model for the current data, from var/cache if it was fitted before."""
    sets = sorted(SETS_DIR.glob("*.yml"))
    nlu = sorted(NLU_DIR.rglob("*.yml")) if NLU_DIR.exists() else []
    from bot.settings import home

    cache = home() / "var" / "cache" / f"safety-{_fingerprint(sets + nlu)}.pickle"
    with _lock:
        if cache.exists():
            try:
                return pickle.loads(cache.read_bytes())
            except Exception:  # a stale or partial file: fit again
                log.warning("safety model cache unreadable; fitting again")
        model = fit(*training_examples(sets, NLU_DIR if nlu else None))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(model))
            tmp.replace(cache)
        except OSError:
            log.warning("safety model not cached (var/cache not writable)")
        return model
