"""Spanish understanding: the Spanish training data (data/nlu/es/), the Spanish words of the
vocabularies (bot/knowledge/vocab/) and DomainGate's Spanish model, without a trained model."""
from __future__ import annotations

import contextlib
import pathlib
import tempfile
import unicodedata
from functools import lru_cache

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.components import CareEntityRuler, DomainGate, spanish_stem
from bot.nlp.vocab import ENTITY_VOCABULARIES, entity_vocabularies

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPANISH = ROOT / "data" / "nlu" / "es"
CARE_INTENTS = ("ask_questions_to_ask", "ask_referral_reason", "ask_referral_status", "ask_next_steps",
                "ask_test_results", "ask_appointments", "ask_care_team", "ask_medications",
                "ask_clinic_ratings", "ask_community_resources", "report_task_done", "save_question",
                "ask_saved_questions", "request_human")


def _blocks(folder: pathlib.Path):
    for path in sorted(folder.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            yield path, block


def _examples(block) -> list:
    return [line.strip()[2:] for line in (block.get("examples") or "").splitlines() if line.strip().startswith("- ")]


@lru_cache(maxsize=1)
def _domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _spanish_data():
    from rasa.shared.nlu.training_data.loading import load_data

    return load_data(str(SPANISH))


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def test_every_intent_with_english_examples_has_spanish_ones():
    english = {block["intent"] for _, block in _blocks(ROOT / "data" / "nlu") if "intent" in block}
    counts = {}
    for example in _spanish_data().intent_examples:
        counts[example.get("intent")] = counts.get(example.get("intent"), 0) + 1
    missing = sorted(i for i in _domain()["intents"] if i in english and not counts.get(i))
    assert not missing, f"intents without Spanish examples: {missing}"
    assert set(counts) <= set(_domain()["intents"]), set(counts) - set(_domain()["intents"])
    few = {i: counts.get(i, 0) for i in CARE_INTENTS if counts.get(i, 0) < 40}
    assert not few, f"care intents with fewer than 40 Spanish examples: {few}"


def test_every_spanish_block_is_marked_spanish_for_the_domain_gate():
    unmarked = [(path.name, block.get("intent")) for path, block in _blocks(SPANISH)
                if (block.get("metadata") or {}).get("language") != "es"]
    assert not unmarked, f"blocks without `metadata: language: es`: {unmarked}"
    assert all(DomainGate.example_language(m) == "es" for m in _spanish_data().intent_examples)


def test_no_spanish_example_is_repeated_or_given_two_intents():
    seen: dict = {}
    clashes = []
    for _, block in _blocks(SPANISH):
        for text in _examples(block):
            key = _plain(text.lower()).strip(" ?!.,")
            if key in seen:
                clashes.append((text, seen[key], block["intent"]))
            seen[key] = block["intent"]
    assert not clashes, clashes


def test_annotations_use_domain_entities_and_canonical_values():
    vocabularies = entity_vocabularies()
    entities = set(_domain()["entities"])
    wrong = []
    for example in _spanish_data().training_examples:
        for entity in example.get("entities") or []:
            name, value = entity["entity"], str(entity["value"]).lower()
            if name not in entities:
                wrong.append((example.get("text"), name, "not a domain entity"))
            elif name in vocabularies and value not in vocabularies[name]:
                wrong.append((example.get("text"), name, f"{value!r} is not a canonical value"))
    assert not wrong, wrong


def test_the_vocabularies_give_every_accented_spanish_phrase_without_accents_too():
    missing = [(entity, canonical, phrase)
               for entity, vocabulary in entity_vocabularies().items()
               for canonical, phrases in vocabulary.items()
               for phrase in phrases if _plain(phrase) != phrase and _plain(phrase) not in phrases]
    assert not missing, f"people type these without accents: {missing}"


def test_no_phrase_means_two_things_in_one_vocabulary():
    for entity, vocabulary in entity_vocabularies().items():
        owner: dict = {}
        for canonical, phrases in vocabulary.items():
            for phrase in phrases:
                assert owner.setdefault(phrase, canonical) == canonical, (entity, phrase, owner[phrase], canonical)
    assert set(entity_vocabularies()) == set(ENTITY_VOCABULARIES.values())


def _entities(text: str) -> set:
    message = Message(data={"text": text})
    CareEntityRuler().process([message])
    return {(e["entity"], e["value"]) for e in message.get("entities") or []}


@pytest.mark.parametrize("text, entity, value", [
    ("por que me mandaron con el cardiologo", "specialty", "cardiology"),
    ("quiero ver a la cardióloga", "specialty", "cardiology"),
    ("el doctor del corazon de mi papa", "specialty", "cardiology"),
    ("me refirieron con el doctor de los riñones", "specialty", "nephrology"),
    ("me refirieron con el doctor de los rinones", "specialty", "nephrology"),
    ("cuando es mi cita con el doctor del azucar", "specialty", "endocrinology"),
    ("quien es mi medico de cabecera", "specialty", "primary care"),
    ("ya salieron mis examenes de sangre", "test_name", "blood test"),
    ("ya estan mis laboratorios", "test_name", "blood test"),
    ("la mamografía de mi esposa", "test_name", "mammogram"),
    ("los resultados de la resonancia", "test_name", "mri"),
    ("cuanta metformina tomo", "medication", "metformin"),
    ("la pastilla del agua es en la mañana", "medication", "hydrochlorothiazide"),
    ("me dieron de alta ayer, que pregunto", "care_situation", "hospital discharge"),
    ("que le pregunto al cirujano antes de la cirugia", "care_situation", "surgery"),
    ("necesito raite para mi cita", "resource_category", "transportation"),
    ("no tengo ride pa la clinica", "resource_category", "transportation"),
    ("no me alcanza para la guagua", "resource_category", "transportation"),
    ("donde dan despensa", "resource_category", "food"),
    ("ayuda con la comida este mes", "resource_category", "food"),
    ("no puedo pagar mis medicinas", "resource_category", "cost of care"),
    ("hay un grupo de apoyo en español", "resource_category", "support group"),
    ("la clinica del lado norte", "area", "northside"),
])
def test_the_entity_ruler_maps_spanish_words_to_the_canonical_values(text, entity, value):
    assert (entity, value) in _entities(text)


def test_an_english_word_that_is_also_a_spanish_verb_is_not_taken_for_the_english_one():
    assert ("resource_category", "transportation") not in _entities("cuando me van a llamar de la clinica")
    assert ("resource_category", "transportation") in _entities("necesito la van para ir a mi cita")
    assert ("resource_category", "transportation") in _entities("is there a van to the clinic")


def test_spanish_stems_bring_the_forms_people_type_together():
    assert spanish_stem("citas") == spanish_stem("cita")
    assert spanish_stem("examenes") == spanish_stem("examen")
    assert spanish_stem("llamenme") == spanish_stem("llamen") == spanish_stem("llamar")


class _Storage:  # train() persists; a real folder is not needed here
    def write_to(self, resource):
        return contextlib.nullcontext(pathlib.Path(tempfile.mkdtemp()))


ENGLISH = [("why was i referred to the specialist", "ask_referral_reason"),
           ("what is the referral about", "ask_referral_reason"),
           ("when is my next appointment", "ask_appointments"),
           ("i need to reschedule my appointment", "ask_appointments"),
           ("i have chest pain", "report_emergency"), ("i want to talk to a person", "request_human"),
           ("hello there", "greet"), ("who is the best singer", "out_of_scope")]
SPANISH_EXAMPLES = [("por que me refirieron al especialista", "ask_referral_reason"),
                    ("para que es mi referido", "ask_referral_reason"),
                    ("que dice mi referido", "ask_referral_reason"),
                    ("cuando es mi proxima cita", "ask_appointments"),
                    ("a que hora es mi cita", "ask_appointments"),
                    ("tengo dolor de pecho", "report_emergency"),
                    ("quiero hablar con una persona", "request_human"),
                    ("hola buenas", "greet"), ("que tiempo va a hacer mañana", "out_of_scope"),
                    ("quien gano el partido de futbol", "out_of_scope")]


@lru_cache(maxsize=2)
def _gate(spanish: bool = True) -> DomainGate:
    gate = DomainGate({"lm_threshold": 0.5}, _Storage(), None)
    examples = [Message(data={"text": t, "intent": i}) for t, i in ENGLISH]
    if spanish:
        examples += [Message(data={"text": t, "intent": i, "metadata": {"intent": {"language": "es"}}})
                     for t, i in SPANISH_EXAMPLES]
    gate.train(TrainingData(examples))
    return gate


def test_spanish_examples_leave_the_english_gate_as_it_was():
    english_only, both = _gate(spanish=False), _gate()
    assert both.care_words == english_only.care_words
    assert both.emergency_words == english_only.emergency_words
    assert both.word_scores == english_only.word_scores
    assert not english_only.es_word_scores and both.es_word_scores


def test_the_spanish_gate_learns_care_words_not_function_words():
    gate = _gate()
    assert {spanish_stem("referido"), spanish_stem("cita")} <= gate.es_care_words
    assert not {"que", "mi", "de", "es", "el"} & gate.es_care_words
    assert gate.domain_score("mi referido", "es") > 0 > gate.domain_score("mi cortadora de pasto", "es")


def _message(text: str, intent: str) -> Message:
    ranking = [{"name": intent, "confidence": 0.7}, {"name": "ask_care_team", "confidence": 0.2}]
    return Message(data={"text": text, "intent": {"name": intent, "confidence": 0.7}, "intent_ranking": ranking})


@pytest.mark.parametrize("text, intent, expected", [
    ("por que me mandaron con un especialista, que dice el referido", "ask_referral_reason", "ask_referral_reason"),
    ("cuando es la cita de mi mama", "ask_appointments", "ask_appointments"),
    ("cual es la receta de las enchiladas verdes", "ask_referral_reason", "nlu_fallback"),
    ("quien gano el partido de beisbol anoche en la television", "ask_appointments", "nlu_fallback"),
])
def test_the_gate_judges_spanish_by_the_spanish_model(text, intent, expected):
    message = _message(text, intent)
    _gate().process([message])
    assert message.get("intent")["name"] == expected


@pytest.mark.parametrize("text, intent", [
    ("what was my referral for", "ask_referral_reason"), ("who wrote this opera", "ask_referral_reason"),
    ("when is my appointment", "ask_appointments"), ("can you teach me to multiply fractions", "help"),
    ("move my appointments please", "ask_appointments"), ("the pain is bad", "report_emergency"),
])
def test_the_gate_judges_english_as_it_did_without_spanish_data(text, intent):
    decisions = []
    for gate in (_gate(spanish=False), _gate()):
        message = _message(text, intent)
        gate.process([message])
        decisions.append(message.get("intent")["name"])
    assert decisions[0] == decisions[1]
