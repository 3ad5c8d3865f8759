"""Spanish end to end, the answers: inside `use_language("es")` the services build their sentences
from Spanish phrases (dates "jueves 19 de marzo a las 10:30 a. m."), every domain response has a
Spanish variation (and every SMS variant a Spanish SMS one) with the same placeholders and button
payloads, Rasa picks the right one by language and channel, and an action speaks the conversation's
`language` slot. Against a freshly seeded SQLite store on a fixed day (no Rasa server)."""
from __future__ import annotations

import asyncio
import re
import string
from pathlib import Path

import pytest
import yaml

from bot.services import care_plan, day, records, referrals, when
from bot.texts import current_language, phrase, use_language
from tests.services.conftest import NOW, TODAY, said

ROOT = Path(__file__).resolve().parents[2]
ENGLISH_DATES = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|"
                           r"April|May|June|July|August|September|October|November|December)\b")
WEEKDAYS = "lunes|martes|miércoles|jueves|viernes|sábado|domingo"
MONTHS = "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
SPANISH_DATE = re.compile(rf"\b({WEEKDAYS}) \d{{1,2}} de ({MONTHS})\b")
SPANISH_TIME = re.compile(r"\b(a las|a la) \d{1,2}(:\d\d)? [ap]\. m\.")
ES = [{"type": "slot", "name": "language", "value": "es"}]


def _words(reply) -> str:
    return "\n".join(str(v) for s in reply.says for v in s.variables.values())


def _titles(reply):
    return [b["title"] for s in reply.says for b in (s.buttons or [])]


# ---------------------------------------------------------------- dates and the language context

def test_spanish_dates_have_spanish_weekdays_and_months_and_an_article_after_a_verb():
    with use_language("es"):
        assert current_language() == "es"
        assert day(TODAY, TODAY) == "hoy" and day(TODAY.replace(day=11), TODAY) == "mañana"
        assert day(TODAY.replace(day=19), TODAY) == "jueves 19 de marzo"
        assert day(TODAY.replace(year=2027), TODAY) == "miércoles 10 de marzo de 2027"
        assert day(TODAY.replace(day=19), TODAY).on == "el jueves 19 de marzo"
        assert day(TODAY.replace(day=11), TODAY).on == "mañana"
        assert when(NOW.replace(day=19, hour=10, minute=30), TODAY) == "jueves 19 de marzo a las 10:30 a. m."
        assert when(NOW.replace(hour=13, minute=0), TODAY) == "hoy a la 1 p. m."
        assert phrase("plan.due", day=day(TODAY.replace(day=30), TODAY)) == "vence el lunes 30 de marzo"
        assert phrase("plan.due", day="pronto") == "vence pronto"  # plain words where a Day is expected
        assert phrase("team.specialist", specialty="cardiology") == "especialista en cardiología"
    assert current_language() == "en"  # back to English outside the block
    assert day(TODAY.replace(day=19), TODAY) == "Thursday, March 19"
    assert phrase("team.specialist", specialty="cardiology") == "cardiology specialist"
    assert phrase("date.today", "es") == "hoy"  # an explicit language still wins


def test_the_language_is_per_task_so_concurrent_conversations_do_not_mix():
    async def speak(language: str, pause: float) -> str:
        with use_language(language):
            await asyncio.sleep(pause)
            return phrase("date.tomorrow")

    async def both():
        return await asyncio.gather(speak("es", 0.02), speak("en", 0.01))

    assert asyncio.run(both()) == ["mañana", "tomorrow"]


# ---------------------------------------------------------------- the services in Spanish

def test_a_referral_status_answer_in_spanish(store):
    with use_language("es"):
        reply = referrals.referral_status(store, "demo-maria", specialty="endocrinology", focus_referral_id=None,
                                          short=False, today=TODAY)
    status = said(reply, "utter_referral_status")
    assert status["specialty"] == "endocrinología" and status["status_word"] == "programado"
    steps = status["steps"]
    assert steps.startswith("• Enviado por Dr. Grace Okafor el sábado 28 de febrero.")
    assert "• Recibido por " in steps and "• Aprobado." in steps
    assert "• Cita programada para el jueves 19 de marzo a las 10:30 a. m., 45 Main Street, 3rd floor." in steps
    after = said(reply, "utter_referral_what_happens_after")["after"]
    assert after.startswith("Después de su cita, el especialista le envía un informe a Dr. Grace Okafor.")
    assert not ENGLISH_DATES.search(_words(reply))


def test_a_referral_reason_answer_has_spanish_pieces_and_buttons_with_the_same_payloads(store):
    with use_language("es"):
        reply = referrals.referral_reason(store, "demo-james", specialty=None, focus_referral_id=None, short=False,
                                          today=TODAY)
    reason = said(reply, "utter_referral_reason")
    assert reason["to"] == "Dr. Luis Mendez en Eastgate Heart and Vascular"
    assert reason["urgency"] == "urgente: deben atenderle pronto"
    assert reason["status"] == "aprobado; todavía no tiene cita"
    assert reason["specialty"] == "cardiología" and SPANISH_DATE.search(reason["sent"])
    assert _titles(reply) == ["¿Qué les pregunto?", "¿Qué pasa después?"]
    assert [b["payload"] for b in reply.says[-1].buttons] == ["/ask_questions_to_ask", "/ask_referral_status"]


def test_an_appointments_answer_has_spanish_dates_and_times(store):
    with use_language("es"):
        reply = records.appointments(store, "demo-linda", specialty=None, short=False, now=NOW)
    shown = said(reply, "utter_appointments")["appointments"]
    assert SPANISH_DATE.search(shown) or re.search(r"\b(hoy|mañana)\b", shown)
    assert SPANISH_TIME.search(shown)
    assert re.search(r"hospital follow-up visit con Dr\. Daniel Lee, Northside Family Clinic", shown)
    assert "Para prepararse: Bring your discharge papers" in shown  # the record's own words stay
    assert "Para cambiarla: (555)" in shown
    assert " with " not in shown and " at " not in shown and " am" not in shown and " pm" not in shown
    assert not ENGLISH_DATES.search(_words(reply))
    assert _titles(reply) == ["¿Qué debo preguntar?"]


def test_every_weekday_and_month_of_a_year_of_appointments_is_spanish():
    import datetime as dt

    with use_language("es"):
        for offset in range(2, 368, 3):
            words = day(TODAY + dt.timedelta(days=offset), TODAY)
            assert SPANISH_DATE.fullmatch(words.split(" de 20")[0]), words
            assert not ENGLISH_DATES.search(words)


def test_a_care_plan_answer_in_spanish(store):
    with use_language("es"):
        reply = care_plan.next_steps(store, "demo-robert", short=False, today=TODAY)
    steps = said(reply, "utter_next_steps")
    assert steps["summary"] == "2 están atrasados, por eso aparecen primero."
    lines = steps["steps"].split("\n")
    assert "ATRASADO: vencía el sábado 28 de febrero (hace 10 días); quién: usted" in lines[0]
    assert "(vence el lunes 30 de marzo; quién: usted)" in lines[2]
    goals = said(reply, "utter_goals")["goals"]
    assert "hasta ahora: averaging 142/88" in goals and re.search(rf"para el ({WEEKDAYS}) \d+ de ({MONTHS})", goals)
    assert not ENGLISH_DATES.search(_words(reply))
    with use_language("es"):
        empty = care_plan.next_steps(store, "demo-nobody", short=False, today=TODAY)
    assert _titles(empty) == ["Mi equipo de atención", "Mis citas"]


def test_english_stays_english_outside_spanish(store):
    reply = care_plan.next_steps(store, "demo-robert", short=False, today=TODAY)
    assert said(reply, "utter_next_steps")["summary"] == "2 of them are overdue, so those come first."


# ---------------------------------------------------------------- an action speaks the slot's language

def test_an_action_answers_in_the_language_slots_language(demo_db_url, monkeypatch):
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions import care
    from actions.base import care_store
    from bot.identity import issue_token

    monkeypatch.setenv("CARENAV_DB_URL", demo_db_url)
    monkeypatch.setenv("CARENAV_TOKEN_SECRET", "test-secret-for-spanish-0123456789abcdef0123456789abcdef0123")
    care_store.cache_clear()
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    nlg = TemplatedNaturalLanguageGenerator(domain["responses"])
    try:
        def run(slots):
            metadata = {"token": issue_token("demo-linda")}
            latest = {"text": "cuándo es mi cita", "intent": {"name": "ask_appointments", "confidence": 0.99},
                      "entities": [], "metadata": metadata, "intent_ranking": []}
            events = [{"event": "user", "text": latest["text"], "parse_data": latest, "input_channel": "rest",
                       "metadata": metadata}]
            tracker = Tracker("conv-es", dict(slots), latest, events, False, None, None, "action_listen")
            dispatcher = CollectingDispatcher()
            asyncio.run(care.ActionAppointments().run(dispatcher, tracker, domain))
            out = []
            for m in dispatcher.messages:
                values = {k: v for k, v in m.items() if k not in ("response", "template", "buttons", "text")}
                rendered = nlg.generate_from_slots(m["response"], dict(slots), "rest", **values)
                out.append(rendered["text"])
            return "\n".join(out), [b["title"] for m in dispatcher.messages for b in (m.get("buttons") or [])]

        spanish, buttons = run({"language": "es"})
        assert spanish.startswith("Sus próximas citas (")
        assert "¿Quiere ayuda con qué preguntar en su próxima cita?" in spanish
        assert SPANISH_TIME.search(spanish) and not ENGLISH_DATES.search(spanish)
        assert buttons == ["¿Qué debo preguntar?"]
        assert current_language() == "en"  # the action's language ended with its work
        english, buttons = run({"language": "en"})
        assert english.startswith("Your upcoming appointments (") and buttons == ["What should I ask?"]
        # no slot: the patient's preferred language (English for the demo patients)
        assert run({})[0].startswith("Your upcoming appointments (")
    finally:
        care_store.cache_clear()


# ---------------------------------------------------------------- the domain's Spanish variations

def _domain_responses():
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def _placeholders(text: str) -> set:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text or "") if name}


def _is_spanish(variant) -> bool:
    return variant.get("condition") == ES


def _english(variants, channel):
    return [v for v in variants if not v.get("condition") and v.get("channel") == channel]


def _spanish(variants, channel):
    return [v for v in variants if _is_spanish(v) and v.get("channel") == channel]


@pytest.mark.parametrize("name", sorted(_domain_responses()))
def test_every_response_has_a_spanish_variation_with_the_same_placeholders_and_buttons(name):
    variants = _domain_responses()[name]
    assert all(not v.get("condition") or _is_spanish(v) for v in variants), "only language conditions"
    for channel in {v.get("channel") for v in variants if not v.get("condition")}:
        english, spanish = _english(variants, channel), _spanish(variants, channel)
        assert len(english) == 1 and len(spanish) == 1, f"{name}: one Spanish variant for channel {channel}"
        en, es = english[0], spanish[0]
        assert _placeholders(es["text"]) == _placeholders(en["text"]), f"{name} ({channel})"
        words = re.sub(r"\{\w+\}", "", en["text"]).strip()
        assert es["text"] != en["text"] or not words, f"{name} ({channel}): not translated"
        en_buttons, es_buttons = en.get("buttons") or [], es.get("buttons") or []
        assert [b["payload"] for b in es_buttons] == [b["payload"] for b in en_buttons], f"{name} ({channel})"
        assert [_placeholders(b["title"]) for b in es_buttons] == [_placeholders(b["title"]) for b in en_buttons]
    assert not [v for v in variants if _is_spanish(v) and v.get("channel") not in
                {w.get("channel") for w in variants if not w.get("condition")}], f"{name}: a Spanish-only channel"


def test_rasa_picks_spanish_sms_for_spanish_on_sms_spanish_web_elsewhere_and_english_otherwise():
    from rasa.core.nlg.generator import ResponseVariationFilter

    responses = _domain_responses()
    pick = ResponseVariationFilter(responses).responses_for_utter_action
    for name, variants in responses.items():
        sms = "sms" if any(v.get("channel") == "sms" for v in variants) else None
        cases = [("es", "sms", _spanish(variants, sms)), ("es", "socketio", _spanish(variants, None)),
                 ("es", "rest", _spanish(variants, None)), ("en", "sms", _english(variants, sms)),
                 ("en", "socketio", _english(variants, None)), (None, "sms", _english(variants, sms)),
                 (None, "socketio", _english(variants, None))]
        for language, channel, expected in cases:
            assert pick(name, channel, {"language": language}) == expected, (name, language, channel)


def test_every_phrase_has_spanish_with_the_same_names():
    book = yaml.safe_load((ROOT / "bot" / "knowledge" / "phrases.yml").read_text(encoding="utf-8"))
    for key, entry in book.items():
        assert isinstance(entry, dict) and entry.get("es"), key
        assert _placeholders(entry["es"]) == _placeholders(entry["en"]), key
    for n in range(7):
        assert book[f"date.weekday.{n}"]["es"].islower()
    assert [book[f"date.month.{n}"]["es"] for n in range(1, 13)] == MONTHS.split("|")
