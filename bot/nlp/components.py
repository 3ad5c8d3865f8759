"""Custom Rasa graph components over the blank English spaCy pipeline.

- CareTokenizer     spaCy's English tokenizer with lookup lemmas (for lemma n-gram features)
- CareEntityRuler   vocabulary entities with canonical values (specialty, test_name, ...)
- BlendedIntentClassifier  a logistic regression averaged with DIET's ranking
- DomainGate        sends messages that do not read like the care domain to the fallback
- CrisisDetector    the safety screen (bot/safety): emergencies override the classifier

Spanish goes through the same pipeline to the same intents (training data in data/nlu/es/). The
tokenizer's English lookup lemmas leave Spanish words as they are, and drop accents so "médico"
and "medico" are one feature (English words have none: English features are unchanged); the
entity ruler's vocabularies hold the Spanish phrases too, and it skips English words that are
Spanish verbs ("me van a llamar"); DomainGate keeps a second model for Spanish (see there).
"""
from __future__ import annotations

import math
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any, Dict, FrozenSet, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
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
from rasa.utils.tensorflow.constants import RANKING_LENGTH

from bot.nlp.spacy_pipeline import Match, analyse, entity_matcher
from bot.nlp.vocab import care_words, english_logprob

EMERGENCY_INTENT = "report_emergency"
EMERGENCY_ENTITY = "emergency_type"
# the screen's answer (a domain response) -> the emergency_type slot value the rules read
EMERGENCY_TYPES = {"utter_emergency_911": "call_911", "utter_emergency_988": "call_988",
                   "utter_emergency_poison": "poison_control"}

# English vocabulary words that are common Spanish words: in a Spanish message they count only
# after an article ("necesito la van", "una van"), not as the verb ("me van a llamar").
SPANISH_FALSE_FRIENDS = {"van": frozenset({"la", "una", "un", "el", "esa", "esta", "the", "a"})}


def message_language(text: str) -> Optional[str]:
    """'en', 'es' or None (too short or mixed to tell): the safety screen's detector (cached)."""
    from bot.safety.language import detect

    return detect(text)


def vocabulary_matches(text: str) -> List[Match]:
    """The vocabulary entities in a message, without the Spanish false friends of English words."""
    doc = analyse(text)
    found = entity_matcher().matches(doc)
    if not any(m.text.lower() in SPANISH_FALSE_FRIENDS for m in found) or message_language(text) != "es":
        return found
    kept = []
    for m in found:
        articles = SPANISH_FALSE_FRIENDS.get(m.text.lower())
        if articles is not None:
            before = [t.lower_ for t in doc if t.idx + len(t.text) <= m.start and not t.is_space]
            if not before or before[-1] not in articles:
                continue
        kept.append(m)
    return kept


def _plain(word: str) -> str:
    """Lowercase without accents: people type "medico", "cita" and "examenes" as often as not."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class CareTokenizer(Tokenizer):
    """Tokens from spaCy's English tokenizer, each with its lookup lemma, lowercase and without
    accents: Spanish is typed with and without them ("médico", "medico"), English has none."""

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
            Token(t.text, t.idx, lemma=_plain(t.lemma_ or t.text))
            for t in doc
            if not t.is_space and not (t.is_punct and len(doc) > 1)
        ]
        if not tokens:
            tokens = [Token(text, 0, lemma=_plain(text))]
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
        entity_matcher()  # built at start-up, not on the first message

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
                for m in vocabulary_matches(text)
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data):  # entities come from annotations in training
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisDetector(GraphComponent):
    """The safety screen (bot/safety/screen.py) in the NLU pipeline, last, on every message.

    The screen alone decides what is an emergency, whatever the intent classifier, the fallback
    or the gate said before it:
    - emergency: the intent becomes report_emergency with `emergency_type` (call_911, call_988,
      poison_control) and `emergency_category` (the taxonomy's category); `likely_intent` keeps
      the classifier's best other guess, so "No, I have a question" can answer it;
    - possible or none: a report_emergency from the classifier is replaced by its next guess
      (the channel adds "If this is happening now, call 911" to a `possible` answer).
    The message's language, when the screen can tell, is a `language` entity (slot `language`).
    """

    ADDED = (EMERGENCY_ENTITY, "emergency_category", "likely_intent", "language")
    NOT_LIKELY = (EMERGENCY_INTENT, "nlu_fallback", "out_of_scope", "greet", "goodbye", "thank",
                  "affirm", "deny", "bot_challenge")

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CrisisDetector":
        from bot.safety.screen import warm_up

        warm_up()  # fit or load the learned model, the word tables and the rules at start-up
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        from bot.safety.screen import screen

        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/"):
                continue
            result = screen(text)
            entities = [e for e in message.get(ENTITIES, []) if e.get(ENTITY_ATTRIBUTE_TYPE) not in self.ADDED]
            # the language the screen read from the message; when it cannot tell ("ok", "1"), the
            # one the patient chose on the web page (metadata "language"), else the slot stays
            chosen = (message.get("metadata") or {}).get("language") if isinstance(
                message.get("metadata"), dict) else None
            language = result.language or (chosen if chosen in ("en", "es") else None)
            if language:
                entities.append(self._entity("language", language, text))
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if result.is_emergency and result.answer:
                ranking = [r for r in (message.get("intent_ranking") or [])
                           if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT]
                likely = next((r[INTENT_NAME_KEY] for r in ranking
                               if r.get(INTENT_NAME_KEY) not in self.NOT_LIKELY), "help")
                intent = {INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, intent, add_to_output=True)
                message.set("intent_ranking", [intent] + ranking, add_to_output=True)
                entities.append(self._entity(EMERGENCY_ENTITY, EMERGENCY_TYPES[result.answer], text))
                entities.append(self._entity("emergency_category", result.category or "general", text))
                entities.append(self._entity("likely_intent", likely, text))
            elif predicted == EMERGENCY_INTENT:
                self._next_best(message)
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def _entity(self, kind: str, value: str, text: str) -> Dict[str, Any]:
        return {ENTITY_ATTRIBUTE_TYPE: kind, ENTITY_ATTRIBUTE_VALUE: value, ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(text), ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
                EXTRACTOR: self.__class__.__name__}

    @staticmethod
    def _next_best(message: Message) -> None:
        ranking = [r for r in (message.get("intent_ranking") or [])
                   if r.get(INTENT_NAME_KEY) not in (EMERGENCY_INTENT, "nlu_fallback")]
        if ranking:
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        else:
            message.set(INTENT, {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 0.0},
                        add_to_output=True)

    def process_training_data(self, training_data):
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BlendedIntentClassifier(LogisticRegressionClassifier):
    """A logistic regression on the same sparse features, averaged with DIET's intent ranking.

    Placed right after DIETClassifier (which must rank every intent: `ranking_length: 0`). DIET
    alone moved by up to 0.03 held-out accuracy from one random seed to the next and was
    confident on sentences far from its data; the logistic regression is deterministic and
    spreads its probability more honestly. The blend, `weight` * regression + (1 - weight) * DIET,
    scored better than either on the held-out set and on out-of-scope rejection (README, "NLU:
    measured"), and the FallbackClassifier's threshold applies to the blended confidence.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "max_iter": 1000, "weight": 0.5}

    def process(self, messages: List[Message]) -> List[Message]:
        if not messages:
            return messages
        probabilities = self.clf.predict_proba(self._create_X(messages))
        weight = self.config["weight"]
        for message, row in zip(messages, probabilities):
            diet = {r[INTENT_NAME_KEY]: r[PREDICTED_CONFIDENCE_KEY] for r in message.get("intent_ranking") or []}
            weight_here = weight if diet else 1.0  # no DIET ranking to blend with: the regression alone
            ranking = sorted(({INTENT_NAME_KEY: name,
                               PREDICTED_CONFIDENCE_KEY: float(weight_here * p
                                                               + (1 - weight_here) * diet.get(name, 0.0))}
                              for name, p in zip(self.clf.classes_, row)),
                             key=lambda r: -r[PREDICTED_CONFIDENCE_KEY])
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages


SPANISH_STOPWORDS = frozenset(
    "a al algo alguien alguna algun alguno ante aqui asi aun como con cual cuando de del desde donde e "
    "el ella ello en entonces entre era es esa ese eso esta estaba estan estar este esto estoy fue fui "
    "ha hace hacer hago han has hay he la las le les lo los me mi mis mas muy nada ni no nos nosotros o "
    "otra otro para pero por porque pues puede pueden puedo podria que quien se sea ser si sin sobre "
    "solo son soy su sus te tengo tiene tienen tener ti tu tus u un una uno usted ustedes va vamos voy y "
    "ya yo favor porfa porfavor ok".split())


CLITICS = ("nos", "les", "los", "las", "me", "te", "le", "lo", "la", "se")
ENDINGS = tuple(sorted(
    "amiento imiento aciones acion ando iendo ado ido ada ida aron ieron amos emos imos aba ian ia an en "
    "ar er ir as es os a e o".split(), key=len, reverse=True))
MIN_STEM = 4


def _fold(word: str) -> str:
    """A Spanish plural's singular, roughly ("citas" -> "cita", "doctores" -> "doctor")."""
    if len(word) > 4 and word.endswith("es") and word[-3] in "rlndzj":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def spanish_stem(word: str) -> str:
    """A light Spanish stem of an accent-free word, so the forms people type meet: plural, then an
    attached pronoun ("llamenme", "guardalo"), then one inflection ending, keeping 4 letters
    ("llamen", "llaman", "llamar" -> "llam"; "examenes" -> "exam"; "cita", "citas" -> "cita")."""
    word = _fold(word)
    for clitic in CLITICS:
        rest = word[: -len(clitic)]
        if word.endswith(clitic) and len(rest) >= MIN_STEM and rest.endswith(("ar", "er", "ir", "ndo", "a", "e", "n")):
            word = rest
            break
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def _accented(word: str) -> List[str]:
    """The ways `word` (accent-free) may be written with its accents: one acute accent, any ñ."""
    forms = {word}
    for i, c in enumerate(word):  # at most one acute accent in a Spanish word
        if c in "aeiou":
            forms.add(word[:i] + "áéíóú"["aeiou".index(c)] + word[i + 1:])
        if c == "u":
            forms.add(word[:i] + "ü" + word[i + 1:])
    positions = [i for i, c in enumerate(word) if c == "n"][:3]
    for form in list(forms):
        for mask in range(1, 2 ** len(positions)):
            chars = list(form)
            for bit, i in enumerate(positions):
                if mask >> bit & 1:
                    chars[i] = "ñ"
            forms.add("".join(chars))
    return sorted(forms)


@lru_cache(maxsize=1)
def _spanish_table():
    from spacy.lookups import load_lookups

    return load_lookups("es", ["lexeme_prob"]).get_table("lexeme_prob")


def spanish_probability(word: str) -> float:
    """P(word | Spanish) for an accent-free word, summed over its accented spellings (spaCy's
    Spanish `lexeme_prob` table from spacy-lookups-data); 0 for a word the table lacks."""
    table = _spanish_table()
    return sum(math.exp(p) for p in (table.get(form) for form in _accented(word)) if p is not None)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class DomainGate(GraphComponent):
    """Sends a message that does not read like the care domain to the fallback.

    DIET spreads its confidence over the intents it knows, so "who wrote this opera" can come out
    as ask_care_team, and "how do i multiply two fractions" as help. Two checks, both learned at
    training time from the training data only (never from an evaluation set):

    1. Care words. The lemmas of the care intents (and of the emergency examples) that are rare in
       small talk and out-of-scope examples, plus the curated bot/knowledge/vocab/care_words.yml.
       A care intent (or a classifier-only emergency) needs one of them.
    2. Domain score. A unigram language model of every in-scope training example, mixed with
       general English word frequencies (spaCy's `lexeme_prob` table from spacy-lookups-data):
       score = sum over the message's content lemmas of log(w * P(lemma | care data) /
       P(lemma | English) + (1 - w)). A word the care data uses more than English does adds to
       the score; a word the care data never uses costs log(1 - w). A care intent, help,
       bot_challenge or request_human whose score is below `lm_threshold` goes to the fallback.
       request_human needs no care word ("can i talk to a real person" has none). `lm_weight`
       was chosen by 5-fold cross-validation on the training data (bench/gate_cv.py, which
       picked -0.5 for the threshold); config.yml's 0.5 was then chosen on the development
       held-out sets together with the FallbackClassifier's threshold (README, "NLU: measured").

    Spanish. Both checks were English only: Spanish function words ("que", "mi", "de") are rare in
    English, so with Spanish training data they would count as care words and score high, and an
    English-only model sends every Spanish question to the fallback. So the gate keeps a second,
    Spanish model learned the same way from the Spanish examples only (those marked `metadata:
    language: es`, data/nlu/es/), over light stems of accent-free words ("exámenes", "examenes" ->
    "exam"; `spanish_stem`), Spanish and English stop words removed, against Spanish word
    frequencies (the same spacy-lookups-data table for Spanish). The English model is learned from the other examples
    exactly as before, so English is judged as before. A message the language detector (the safety
    screen's, bot/safety/language.py) calls Spanish is judged by the Spanish model, one it calls
    English by the English model, and one too short to tell ("mis citas") passes if either passes.
    `es_lm_threshold` (default: `lm_threshold`) is the Spanish threshold.

    A message naming a vocabulary entity (specialty, test, medicine, ...) always passes. The
    fallback offers the likely meanings as buttons instead of a wrong answer. Crisis phrases are
    checked after this, by CrisisDetector, so no gate can hide an emergency.
    """

    UNGATED = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help", "request_human",
               "out_of_scope", "nlu_fallback")
    STOPWORDS = frozenset(
        "i me my a an the is are was be to of and or for in on at it this that what when where who how "
        "do does did can could should would will you your we our us they them he she his her with from "
        "about any some have has had get got so just please not no yes ok if but up out all there here "
        "now then than as by 's n't 'm 're 've 'll 'd".split())
    UNKNOWN_LOGPROB = -20.0  # words missing from the English table (typos, shorthand) count as rare

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # a word belongs to a vocabulary when seen at least `min_count` times in its intents and
        # `ratio` times more often there than in small talk and out-of-scope examples
        return {"min_count": 2, "ratio": 3.0, "lm_weight": 0.95, "lm_threshold": -0.5,
                "es_lm_threshold": None, "lm_intents": ["help", "bot_challenge", "request_human"]}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 care_words: Optional[List[str]] = None, emergency_words: Optional[List[str]] = None,
                 word_scores: Optional[Dict[str, float]] = None,
                 spanish: Optional[Dict[str, Any]] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.care_words = frozenset(care_words or ())
        self.emergency_words = frozenset(emergency_words or ())
        self.word_scores = dict(word_scores or {})
        spanish = spanish or {}
        self.es_care_words = frozenset(spanish.get("care_words") or ())
        self.es_emergency_words = frozenset(spanish.get("emergency_words") or ())
        self.es_word_scores = dict(spanish.get("word_scores") or {})
        self.unknown_score = math.log(1.0 - self._config["lm_weight"])

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DomainGate":
        return cls(config, model_storage, resource)

    @classmethod
    def _lemmas(cls, text: str) -> set:
        return {(t.lemma_ or t.text).lower() for t in analyse(text)
                if not (t.is_punct or t.is_space)} - cls.STOPWORDS

    @classmethod
    def _spanish_forms(cls, text: str) -> Dict[str, str]:
        """stem -> the accent-free word it came from, without Spanish or English stop words."""
        forms = {}
        for token in analyse(text):
            if token.is_punct or token.is_space:
                continue
            word = _plain(token.text)
            if word in SPANISH_STOPWORDS or word in cls.STOPWORDS or _fold(word) in SPANISH_STOPWORDS:
                continue
            forms[spanish_stem(word)] = word
        return forms

    @classmethod
    def _spanish_words(cls, text: str) -> set:
        return set(cls._spanish_forms(text))

    @staticmethod
    def example_language(example: Message) -> str:
        """'es' for an example marked `language: es` (on the example or its intent), else 'en'."""
        metadata = example.get("metadata") or {}
        for part in (metadata.get("example"), metadata.get("intent"), metadata):
            if isinstance(part, dict) and part.get("language") in ("en", "es"):
                return part["language"]
        return "en"

    @classmethod
    def learn_word_scores(cls, texts: List[str], weight: float) -> Dict[str, float]:
        """log(weight * P(lemma | texts) / P(lemma | English) + 1 - weight) for every lemma seen."""
        counts: Counter = Counter()
        for text in texts:
            counts.update(cls._lemmas(text))
        total = sum(counts.values()) or 1
        english = english_logprob()
        return {w: math.log(weight * (n / total) / math.exp(english.get(w, cls.UNKNOWN_LOGPROB)) + 1 - weight)
                for w, n in counts.items()}

    @classmethod
    def learn_spanish_word_scores(cls, texts: List[str], weight: float) -> Dict[str, float]:
        """The same scores for Spanish stems, against Spanish word frequencies: P(stem | Spanish)
        is the sum of the probabilities of the words seen with that stem."""
        counts: Counter = Counter()
        seen: Dict[str, set] = {}
        for text in texts:
            forms = cls._spanish_forms(text)
            counts.update(forms.keys())
            for stem, word in forms.items():
                seen.setdefault(stem, set()).add(word)
        total = sum(counts.values()) or 1
        scores = {}
        for stem, n in counts.items():
            background = sum(spanish_probability(word) for word in seen[stem]) or math.exp(cls.UNKNOWN_LOGPROB)
            scores[stem] = math.log(weight * (n / total) / background + 1 - weight)
        return scores

    def _vocabulary(self, counts: Counter, other: Counter) -> List[str]:
        return sorted(w for w, n in counts.items()
                      if n >= self._config["min_count"] and n >= self._config["ratio"] * other.get(w, 0))

    def train(self, training_data: TrainingData) -> Resource:
        buckets: Dict[str, Tuple[Counter, Counter, Counter]] = {
            "en": (Counter(), Counter(), Counter()), "es": (Counter(), Counter(), Counter())}
        in_scope: Dict[str, List[str]] = {"en": [], "es": []}
        for example in training_data.intent_examples:
            intent, text = example.get(INTENT), example.get(TEXT) or ""
            language = self.example_language(example)
            care, emergency, other = buckets[language]
            bucket = emergency if intent == EMERGENCY_INTENT else other if intent in self.UNGATED else care
            bucket.update(self._spanish_words(text) if language == "es" else self._lemmas(text))
            if intent != "out_of_scope":
                in_scope[language].append(text)

        care, emergency, other = buckets["en"]
        self.care_words = frozenset(self._vocabulary(care, other)) | frozenset(care_words())
        self.emergency_words = frozenset(self._vocabulary(emergency, other))
        self.word_scores = self.learn_word_scores(in_scope["en"], self._config["lm_weight"])
        care, emergency, other = buckets["es"]
        if in_scope["es"]:
            self.es_care_words = (frozenset(self._vocabulary(care, other))
                                  | frozenset(spanish_stem(_plain(w)) for w in care_words()))
            self.es_emergency_words = frozenset(self._vocabulary(emergency, other))
            self.es_word_scores = self.learn_spanish_word_scores(in_scope["es"], self._config["lm_weight"])
        else:
            self.es_care_words, self.es_emergency_words, self.es_word_scores = frozenset(), frozenset(), {}
        self.persist()
        return self._resource

    def persist(self) -> None:
        import json

        def rounded(scores: Dict[str, float]) -> Dict[str, float]:
            return {w: round(v, 4) for w, v in sorted(scores.items())}

        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / "domain_gate.json").write_text(json.dumps(
                {"care_words": sorted(self.care_words), "emergency_words": sorted(self.emergency_words),
                 "word_scores": rounded(self.word_scores),
                 "spanish": {"care_words": sorted(self.es_care_words),
                             "emergency_words": sorted(self.es_emergency_words),
                             "word_scores": rounded(self.es_word_scores)}}))

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "DomainGate":
        import json

        with model_storage.read_from(resource) as model_dir:
            saved = json.loads((model_dir / "domain_gate.json").read_text())
        return cls(config, model_storage, resource, saved["care_words"], saved["emergency_words"],
                   saved.get("word_scores"), saved.get("spanish"))

    def domain_score(self, text: str, language: str = "en") -> float:
        if language == "es":
            return self._score(self._spanish_words(text), self.es_word_scores)
        return self._score(self._lemmas(text))

    def _score(self, lemmas: set, scores: Optional[Dict[str, float]] = None) -> float:
        scores = self.word_scores if scores is None else scores
        return sum(scores.get(w, self.unknown_score) for w in lemmas)

    def _passes(self, words: set, intent: str, care: FrozenSet[str], emergency: FrozenSet[str],
                scores: Dict[str, float], threshold: float) -> bool:
        if intent == EMERGENCY_INTENT:  # only the vocabulary: an emergency is never gated harder
            return bool(words & emergency)
        if intent not in self.UNGATED and not words & care:
            return False
        if not words:  # only stop words ("what can you do"): the score has nothing to judge
            return True
        return self._score(words, scores) >= threshold

    def _passes_english(self, text: str, intent: str) -> bool:
        return self._passes(self._lemmas(text), intent, self.care_words, self.emergency_words,
                            self.word_scores, self._config["lm_threshold"])

    def _passes_spanish(self, text: str, intent: str) -> bool:
        threshold = self._config["es_lm_threshold"]
        return self._passes(self._spanish_words(text), intent, self.es_care_words, self.es_emergency_words,
                            self.es_word_scores, self._config["lm_threshold"] if threshold is None else threshold)

    def in_domain(self, text: str, intent: str) -> bool:
        if vocabulary_matches(text):
            return True
        if not self.es_word_scores:  # no Spanish training data: the English model alone
            return self._passes_english(text, intent)
        language = message_language(text)
        if language == "es":
            return self._passes_spanish(text, intent)
        english = self._passes_english(text, intent)
        if english or language == "en":
            return english
        return self._passes_spanish(text, intent)  # too short to tell: either language may pass it

    def gated(self, intent: str) -> bool:
        return intent not in self.UNGATED or intent in self._config["lm_intents"]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            if not text or not name or not self.gated(name) or self.in_domain(text, name):
                continue
            fallback = {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY)}
            ranking = [r for r in (message.get("intent_ranking") or []) if r.get(INTENT_NAME_KEY) != "nlu_fallback"]
            message.set(INTENT, fallback, add_to_output=True)
            message.set("intent_ranking", [fallback] + ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data):
        return training_data
