"""Custom Rasa graph components over the blank English spaCy pipeline.

- CareTokenizer     spaCy's English tokenizer with lookup lemmas (for lemma n-gram features)
- CareEntityRuler   vocabulary entities with canonical values (specialty, test_name, ...)
- CrisisDetector    deterministic emergency check; overrides the classifier when it fires
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.spacy_pipeline import analyse, crisis_kinds, entity_matcher
from bot.nlp.vocab import care_words

EMERGENCY_INTENT = "report_emergency"
EMERGENCY_ENTITY = "emergency_type"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class CareTokenizer(Tokenizer):
    """Tokens from spaCy's English tokenizer, each with its lookup lemma."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"intent_tokenization_flag": False, "intent_split_symbol": "_",
                "token_pattern": None, "prefix_separator_symbol": None}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CareTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute)
        doc = analyse(text)
        tokens = [
            Token(t.text, t.idx, lemma=(t.lemma_ or t.text).lower())
            for t in doc
            if not t.is_space and not (t.is_punct and len(doc) > 1)
        ]
        if not tokens:
            tokens = [Token(text, 0, lemma=text.lower())]
        return self._apply_token_pattern(tokens)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class CareEntityRuler(GraphComponent, EntityExtractorMixin):
    """Finds curated vocabulary phrases and gives their canonical value."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CareEntityRuler":
        return cls()

    def __init__(self) -> None:
        self._matcher = entity_matcher()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = [
                {
                    ENTITY_ATTRIBUTE_TYPE: m.label,
                    ENTITY_ATTRIBUTE_START: m.start,
                    ENTITY_ATTRIBUTE_END: m.end,
                    ENTITY_ATTRIBUTE_VALUE: m.value,
                    ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
                    EXTRACTOR: self.__class__.__name__,
                }
                for m in self._matcher.matches(analyse(text))
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data):  # entities come from annotations in training
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisDetector(GraphComponent):
    """Runs beside the classifier: any message with emergency signs becomes report_emergency.

    Placed after the classifier and the FallbackClassifier, so neither a low confidence nor a
    wrong guess can hide an emergency. Adds an `emergency_type` entity (call_911, call_988 or
    poison_control, most urgent first when several are named; `general` when only the
    classifier saw an emergency).
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CrisisDetector":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            kinds = crisis_kinds(text)
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if not kinds and predicted == EMERGENCY_INTENT:
                kinds = ["general"]  # the classifier saw an emergency the phrase list does not name
            if not kinds:
                continue
            intent = {INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [r for r in (message.get("intent_ranking") or [])
                       if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT]
            message.set(INTENT, intent, add_to_output=True)
            message.set("intent_ranking", [intent] + ranking, add_to_output=True)
            entities = [e for e in message.get(ENTITIES, []) if e.get(ENTITY_ATTRIBUTE_TYPE) != EMERGENCY_ENTITY]
            entities.append({
                ENTITY_ATTRIBUTE_TYPE: EMERGENCY_ENTITY,
                ENTITY_ATTRIBUTE_VALUE: kinds[0],
                ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(text),
                ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
                EXTRACTOR: self.__class__.__name__,
            })
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data):
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class DomainGate(GraphComponent):
    """Sends a care intent that shares no word with the care domain to the fallback.

    DIET spreads its confidence over the intents it knows, so "who wrote this opera" can come out
    as ask_care_team. At training time this component learns two vocabularies (lemmas) from the
    training data only: words of the care intents and words of the emergency examples that are
    rare in small talk and out-of-scope examples; the care words also include the curated list
    bot/knowledge/vocab/care_words.yml. At run time a care intent (or a classifier-only
    emergency) whose message has none of those words and no vocabulary entity (specialty, test,
    medicine, ...) becomes nlu_fallback, so the patient is offered the likely meanings as buttons
    instead of a wrong answer. Crisis phrases are checked after this, by CrisisDetector.
    """

    UNGATED = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help", "out_of_scope",
               "nlu_fallback")
    STOPWORDS = frozenset(
        "i me my a an the is are was be to of and or for in on at it this that what when where who how "
        "do does did can could should would will you your we our us they them he she his her with from "
        "about any some have has had get got so just please not no yes ok if but up out all there here "
        "now then than as by 's n't 'm 're 've 'll 'd".split())

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # a word belongs to a vocabulary when seen at least `min_count` times in its intents and
        # `ratio` times more often there than in small talk and out-of-scope examples
        return {"min_count": 2, "ratio": 3.0}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 care_words: Optional[List[str]] = None, emergency_words: Optional[List[str]] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.care_words = frozenset(care_words or ())
        self.emergency_words = frozenset(emergency_words or ())

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DomainGate":
        return cls(config, model_storage, resource)

    @classmethod
    def _lemmas(cls, text: str) -> set:
        return {(t.lemma_ or t.text).lower() for t in analyse(text)
                if not (t.is_punct or t.is_space)} - cls.STOPWORDS

    def train(self, training_data: TrainingData) -> Resource:
        from collections import Counter

        care, emergency, other = Counter(), Counter(), Counter()
        for example in training_data.intent_examples:
            intent, text = example.get(INTENT), example.get(TEXT) or ""
            bucket = emergency if intent == EMERGENCY_INTENT else other if intent in self.UNGATED else care
            bucket.update(self._lemmas(text))

        def vocabulary(counts) -> List[str]:
            return sorted(w for w, n in counts.items()
                          if n >= self._config["min_count"] and n >= self._config["ratio"] * other.get(w, 0))

        self.care_words = frozenset(vocabulary(care)) | frozenset(care_words())
        self.emergency_words = frozenset(vocabulary(emergency))
        self.persist()
        return self._resource

    def persist(self) -> None:
        import json

        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / "domain_gate.json").write_text(json.dumps(
                {"care_words": sorted(self.care_words), "emergency_words": sorted(self.emergency_words)}))

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "DomainGate":
        import json

        with model_storage.read_from(resource) as model_dir:
            words = json.loads((model_dir / "domain_gate.json").read_text())
        return cls(config, model_storage, resource, words["care_words"], words["emergency_words"])

    def in_domain(self, text: str, intent: str) -> bool:
        words = self.emergency_words if intent == EMERGENCY_INTENT else self.care_words
        return bool(self._lemmas(text) & words) or bool(entity_matcher().matches(analyse(text)))

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            if not text or not name or name in self.UNGATED or self.in_domain(text, name):
                continue
            fallback = {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY)}
            ranking = [r for r in (message.get("intent_ranking") or []) if r.get(INTENT_NAME_KEY) != "nlu_fallback"]
            message.set(INTENT, fallback, add_to_output=True)
            message.set("intent_ranking", [fallback] + ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data):
        return training_data
