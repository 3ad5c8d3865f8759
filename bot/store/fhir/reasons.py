"""Plain-language explanations of why a referral was made, from bot/knowledge/referral_reasons.yml."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import yaml

log = logging.getLogger(__name__)

REFERRAL_REASONS_PATH = Path(__file__).resolve().parent.parent.parent / "knowledge" / "referral_reasons.yml"


@lru_cache(maxsize=4)
def referral_reasons(path: Union[str, Path] = REFERRAL_REASONS_PATH) -> "ReferralReasons":
    """The curated referral-reason map (bot/knowledge/referral_reasons.yml), loaded once."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return ReferralReasons(data.get("reasons") or [])


# --------------------------------------------------------------------------------------------
# Referral reasons

SNOMED = "http://snomed.info/sct"
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")


@dataclass(frozen=True)
class ReasonEntry:
    id: str
    plain: str
    specialty: Optional[str]
    snomed: frozenset
    icd10: tuple
    keywords: tuple


class ReferralReasons:
    """Looks up a plain-language explanation for a referral by code, then by keyword."""

    def __init__(self, entries: list[dict]) -> None:
        self.entries: list[ReasonEntry] = []
        for raw in entries:
            self.entries.append(ReasonEntry(
                id=str(raw["id"]),
                plain=" ".join(str(raw["plain"]).split()),
                specialty=raw.get("specialty"),
                snomed=frozenset(str(c) for c in raw.get("snomed") or ()),
                icd10=tuple(str(c).upper() for c in raw.get("icd10") or ()),
                keywords=tuple(str(k).lower() for k in raw.get("keywords") or ()),
            ))
        self._patterns = {
            e.id: [re.compile(r"\b" + re.escape(k) + r"\b") for k in e.keywords] for e in self.entries
        }

    def by_codes(self, codings: Iterable[tuple[Optional[str], Optional[str]]]) -> Optional[ReasonEntry]:
        """The entry for the first coding that any entry knows (SNOMED exact, ICD-10 longest prefix)."""
        for system, code in codings:
            if not code:
                continue
            code_up = code.upper()
            if system in (None, SNOMED) or not system:
                for entry in self.entries:
                    if code in entry.snomed:
                        return entry
            if system in ICD10_SYSTEMS or (system is None and re.match(r"^[A-Z]\d", code_up)):
                best, best_len = None, 0
                for entry in self.entries:
                    for prefix in entry.icd10:
                        if code_up.startswith(prefix) and len(prefix) > best_len:
                            best, best_len = entry, len(prefix)
                if best is not None:
                    return best
        return None

    def by_keywords(self, text: Optional[str]) -> Optional[ReasonEntry]:
        if not text:
            return None
        lowered = text.lower()
        best, best_score = None, (0, 0)
        for entry in self.entries:
            hits = [k for k, pattern in zip(entry.keywords, self._patterns[entry.id]) if pattern.search(lowered)]
            if hits:
                score = (len(hits), max(len(k) for k in hits))
                if score > best_score:
                    best, best_score = entry, score
        return best

    def find(self, reason_codings, service_codings, texts: Sequence[Optional[str]]) -> Optional[ReasonEntry]:
        return (self.by_codes(reason_codings) or self.by_codes(service_codings)
                or next((e for e in (self.by_keywords(t) for t in texts) if e), None))
