"""BlendedIntentClassifier: a logistic regression averaged with DIET's ranking, so one
over-confident DIET guess is tempered by a second, deterministic model."""
from __future__ import annotations

import contextlib
import pathlib
import tempfile

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.components import BlendedIntentClassifier, CareTokenizer

EXAMPLES = [("why was i referred", "ask_referral_reason"), ("what is the referral for", "ask_referral_reason"),
            ("why did the doctor refer me", "ask_referral_reason"), ("when is my appointment", "ask_appointments"),
            ("what time is my next visit", "ask_appointments"), ("where is my appointment", "ask_appointments")]


class Storage:
    def write_to(self, resource):
        return contextlib.nullcontext(pathlib.Path(tempfile.mkdtemp()))


@pytest.fixture(scope="module")
def pipeline():
    context = ExecutionContext(graph_schema=None, node_name="test")
    tokenizer = CareTokenizer.create(CareTokenizer.get_default_config(), Storage(), Resource("t"), context)
    featurizer = CountVectorsFeaturizer.create(CountVectorsFeaturizer.get_default_config(), Storage(),
                                               Resource("f"), context)
    data = TrainingData([Message(data={"text": t, "intent": i}) for t, i in EXAMPLES])
    tokenizer.process_training_data(data)
    featurizer.train(data)
    featurizer.process_training_data(data)
    blend = BlendedIntentClassifier.create({"weight": 0.5}, Storage(), Resource("b"), context)
    blend.train(data)

    def classify(text: str, diet_ranking=None) -> Message:
        message = Message(data={"text": text})
        if diet_ranking:
            message.set("intent_ranking", [{"name": n, "confidence": c} for n, c in diet_ranking])
        tokenizer.process([message])
        featurizer.process([message])
        blend.process([message])
        return message

    return classify


def test_the_regression_alone_when_there_is_no_diet_ranking(pipeline):
    assert pipeline("why was i sent to the referral").get("intent")["name"] == "ask_referral_reason"


def test_a_confident_wrong_diet_guess_is_averaged_down(pipeline):
    alone = pipeline("when is my next appointment").get("intent")
    blended = pipeline("when is my next appointment",
                       [("ask_referral_reason", 0.9), ("ask_appointments", 0.1)]).get("intent")
    assert alone["name"] == "ask_appointments"
    # halfway between the regression's and DIET's confidence, for each intent
    assert blended["confidence"] == pytest.approx(max(0.5 * alone["confidence"] + 0.05,
                                                      0.5 * (1 - alone["confidence"]) + 0.45))
    assert blended["confidence"] < 0.9


def test_the_ranking_is_sorted_and_sums_to_one(pipeline):
    ranking = pipeline("why referral", [("ask_referral_reason", 0.6), ("ask_appointments", 0.4)]).get("intent_ranking")
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0)
