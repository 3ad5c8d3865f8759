"""The store id a FHIR resource becomes."""
from __future__ import annotations

import hashlib
import logging

log = logging.getLogger(__name__)

_ID_LENGTH = 64


def row_id(resource_type: str, fhir_id: str) -> str:
    """The store id of the row a FHIR resource becomes: ``fhir-<resourcetype>-<id>``.

    Prefixed with the type because FHIR ids are only unique per type, and several types share a
    table (Organization and Location are clinics). Ids too long for the column are hashed.
    """
    prefix = f"fhir-{resource_type.lower()}-"
    candidate = prefix + fhir_id
    if len(candidate) <= _ID_LENGTH:
        return candidate
    return prefix + hashlib.sha1(fhir_id.encode("utf-8")).hexdigest()[: _ID_LENGTH - len(prefix)]




Key = tuple  # (resourceType, id)
