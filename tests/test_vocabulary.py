"""One specialty vocabulary (bot/knowledge/vocab/specialties.yml) for the assistant and the FHIR
importer: what a record is filed under is what the patient's words find."""
from __future__ import annotations

import pytest

from bot.nlp.vocab import load_vocabulary
from bot.store.fhir.codes import _specialty


@pytest.mark.parametrize("record, patient_says", [
    ("Referral to psychiatry service (procedure)", "psychiatrist"),
    ("Psychiatric evaluation", "psychiatrist"),
    ("Rheumatology clinic", "rheumatologist"),
    ("Referral to ENT", "ear nose and throat"),
    ("Otolaryngology consult", "ent doctor"),
    ("Hematology clinic", "hematologist"),
    ("Sleep medicine consult", "sleep doctor"),
    ("Referral to cardiology service", "heart doctor"),
    ("Mental health counseling", "therapist"),
])
def test_what_a_record_is_filed_under_is_what_the_patients_words_find(record, patient_says):
    nlu = load_vocabulary("specialties.yml")
    asked = next(canonical for canonical, phrases in nlu.items() if patient_says in phrases)
    assert _specialty(record) == asked


def test_specialties_patients_do_not_ask_for_are_not_entities():
    nlu = load_vocabulary("specialties.yml")
    assert "surgery" not in nlu and "nursing" not in nlu  # "before my surgery" is a situation, not a specialty
    assert _specialty("General surgery") == "surgery"
