"""Which language a message is in: English or Spanish, or None when it cannot tell.

Lingua (lingua-language-detector) restricted to the languages the clinic serves: accurate on
short texts (three-word messages, missing accents, Spanglish) where n-gram detectors such as
langdetect guess. A message too short or too mixed to call ("ok", "1", a name, "si") gives None,
and the conversation keeps the language it had (or the patient's preferred one).
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Optional

SUPPORTED = ("en", "es")
MIN_CONFIDENCE = 0.80
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    with _lock:
        return (LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH)
                .with_preloaded_language_models().build())


_CODES = {"ENGLISH": "en", "SPANISH": "es"}


@lru_cache(maxsize=4096)
def detect(text: str) -> Optional[str]:
    """'en' or 'es' when the detector is at least 80% sure and the message has a word of 3+ letters."""
    if not text or not any(len(w) >= 3 for w in text.split() if w.isalpha()):
        return None
    values = _detector().compute_language_confidence_values(text)
    if not values:
        return None
    best = values[0]
    if best.value < MIN_CONFIDENCE:
        return None
    return _CODES.get(best.language.name)
