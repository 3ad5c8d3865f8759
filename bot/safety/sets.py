"""The emergency sets: messages written by independent writers, each labelled emergency or calm.

A set is a YAML file (bot/knowledge/safety/examples/*.yml) in the writers' format:

    writer: en1
    language: en
    items:
      - {text: "...", category: stroke, label: emergency}
      - {text: "...", category: stroke, label: calm, intent: ask_questions_to_ask}

`calm` messages share an emergency's words but are not an emergency now; `intent` is the answer
they should get. Which files were scored once, and what they scored, is in the README.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import yaml

SETS_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "safety" / "examples"
EMERGENCY, CALM = "emergency", "calm"


@dataclass(frozen=True)
class Case:
    text: str
    category: str
    label: str  # emergency | calm
    language: str  # en | es
    source: str  # the file's stem (the writer)
    intent: Optional[str] = None


def load_set(path: Path) -> List[Case]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    language = str(raw.get("language") or "en")
    cases = []
    for item in raw.get("items") or []:
        label = str(item.get("label"))
        if label not in (EMERGENCY, CALM):
            raise ValueError(f"{path}: label must be emergency or calm, not {label!r}")
        cases.append(Case(text=str(item["text"]), category=str(item.get("category") or "general"),
                          label=label, language=str(item.get("language") or language),
                          source=Path(path).stem, intent=item.get("intent")))
    return cases


def kept_sets(directory: Path = SETS_DIR) -> List[Path]:
    """The sets the project keeps as regression cases (every file in bot/knowledge/safety/examples/)."""
    return sorted(directory.glob("*.yml"))


def load_sets(paths: Sequence[Path]) -> List[Case]:
    return [case for path in paths for case in load_set(path)]
