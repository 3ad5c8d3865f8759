"""Is a red-flag sign happening now? medspaCy's ConText over CareNav's own rules.

ConText (Harkema et al., 2009; medspaCy's implementation) looks for modifiers (negation, past,
hypothetical, information request) around each target and decides which targets they reach,
within the sentence and up to a rule's scope, stopped early by terminating words ("but", "now",
"pero", "ahora"). medspaCy ships English rules only (its Spanish file is empty) and its English
FAMILY and POSSIBLE rules would hide a caregiver's or an unsure person's emergency, so the rules
are CareNav's own, in both languages: bot/knowledge/safety/context.yml.
"""
from __future__ import annotations

import threading
import warnings
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Set, Tuple

import yaml

from bot.safety.taxonomy import SAFETY_DIR

CONTEXT_FILE = SAFETY_DIR / "context.yml"
MODIFIERS = ("NEGATED", "HISTORICAL", "HYPOTHETICAL", "INFORMATION", "HABITUAL", "RESOLVED", "FIGURATIVE")
_lock = threading.Lock()


def _rules():
    from medspacy.context import ConTextRule

    raw = yaml.safe_load(CONTEXT_FILE.read_text(encoding="utf-8")) or {}
    rules = []
    for category, by_language in (raw.get("categories") or {}).items():
        for language, items in (by_language or {}).items():
            for i, item in enumerate(items or []):
                where = f"{CONTEXT_FILE}: {category}.{language}[{i}]"
                direction = item.get("direction", "BIDIRECTIONAL")
                literal = item.get("literal")
                pattern = item.get("pattern")
                if not literal and not pattern:
                    raise ValueError(f"{where}: a rule needs a literal or a pattern")
                # each rule its own category ("HISTORICAL#3"): medspaCy lets two modifiers of one
                # category cut each other's scope, and "desde la embolia" must not stop "hace 2
                # anos" from reaching back to the sign
                name = str(category) if direction == "TERMINATE" else f"{category}#{language}{i}"
                try:
                    excluded = {str(t).upper() for t in item.get("excluded_types") or []} or None
                    rules.append(ConTextRule(
                        literal=str(literal or pattern), category=name, pattern=pattern,
                        direction=direction, max_scope=item.get("max_scope"), excluded_types=excluded))
                except Exception as exc:
                    raise ValueError(f"{where}: {exc}") from exc
    return rules


@lru_cache(maxsize=1)
def _pipeline():
    """A blank spaCy pipeline (sentence splitter) and a ConText component with our rules."""
    import spacy
    from medspacy.context import ConText

    with _lock:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        # Modifiers inside a sign ("no" in "no puede respirar", "not" in "not breathing") are
        # ignored per sign below, not pruned: medspaCy's pruning drops a modifier that overlaps
        # any sign, which would lose "no" in "no trouble breathing" to a second, wider sign.
        context = ConText(nlp, rules=None, span_attrs=None, prune_on_modifier_overlap=True,
                          prune_on_target_overlap=False)
        context.add(_rules())
        return nlp, context


def modifiers(text: str, spans: Sequence[Tuple[int, int]],
              labels: Optional[Sequence[str]] = None) -> List[Set[str]]:
    """For each (start, end) character span of `text`, the context categories that reach it
    (a modifier inside the span does not count: "no" in "no puede respirar").

    Each distinct span is judged on its own: a short sign ("ahogando") inside a longer one
    ("albuterol ... ahorita me estoy ahogando") keeps its own context."""
    from spacy.tokens import Span

    if not spans:
        return []
    nlp, context = _pipeline()
    judged: Dict[Tuple[int, int, str], Set[str]] = {}
    labelled = [(start, end, (labels[i] if labels else "SIGN").upper()) for i, (start, end) in enumerate(spans)]
    for start, end, label in dict.fromkeys(labelled):
        doc = nlp(text)
        span = doc.char_span(start, end, label=label, alignment_mode="expand")
        if span is None or len(span) == 0:
            judged[(start, end, label)] = set()
            continue
        doc.ents = [Span(doc, span.start, span.end, label=label)]
        with warnings.catch_warnings():  # W036: medspaCy's unused token matcher has no patterns
            warnings.simplefilter("ignore", UserWarning)
            context(doc)
        ent = doc.ents[0]
        judged[(start, end, label)] = {
            m.category.split("#")[0] for m in ent._.modifiers
            if m.category.split("#")[0] in MODIFIERS
            and not (ent.start <= m.modifier_span[0] and m.modifier_span[1] <= ent.end)}
    return [set(judged[key]) for key in labelled]

