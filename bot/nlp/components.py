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

from bot.nlp.spacy_pipeline import analyse, crisis_kinds, entity_matcher

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
