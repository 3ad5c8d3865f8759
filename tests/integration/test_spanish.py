"""A Spanish-speaking patient over REST with the real Rasa and action servers: a greeting, why they
were referred, their next visit (a Spanish date), their medicines, a person to call back, and an
emergency are all answered in Spanish, and the hand-off carries the language for the care team."""
from __future__ import annotations

import re

from sqlalchemy import select

from bot.store import models as m

ENGLISH_DAYS = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|"
                          r"April|June|July|August|September|October|November|December)\b")


def test_a_spanish_conversation_is_answered_in_spanish(chat_as, sender, demo_db_url):
    james = chat_as("demo-james")

    assert "Hola, soy CareNav" in james.text("hola buenas tardes")

    referral = james.text("por que me mandaron con el especialista del corazon?")
    assert "Por qué:" in referral and "Eastgate Heart and Vascular" in referral

    visit = james.text("cuando es mi proxima cita?")
    assert not ENGLISH_DAYS.search(visit), visit
    assert re.search(r"\b(lunes|martes|miércoles|jueves|viernes|sábado|domingo|hoy|mañana)\b", visit), visit

    medicines = james.text("que medicinas estoy tomando")
    assert "Sus medicinas" in medicines or "medicina" in medicines.lower(), medicines

    callback = james.text("quiero hablar con una persona por favor")
    assert "Le pedí al equipo de la clínica" in callback

    emergency = james.text("mi esposa no puede respirar y tiene los labios morados")
    assert "Llame al 911 ahora" in emergency

    from bot.store.db import Database

    db = Database(demo_db_url)
    try:
        with db.session() as s:
            handoff = s.execute(select(m.CallbackRequest).where(m.CallbackRequest.conversation_id == sender)
                                ).scalars().one()
            assert handoff.language == "es"
    finally:
        db.dispose()
