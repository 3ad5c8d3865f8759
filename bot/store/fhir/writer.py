"""Writing mapped rows: fitting values to columns, existing ids, inserts that keep what the store owns."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from sqlalchemy import String, bindparam, select

from bot.store import models as m
from bot.store.fhir.mapper_rows import _WRITE_ORDER

log = logging.getLogger(__name__)

@lru_cache(maxsize=None)
def _foreign_keys(model: Any) -> dict[str, str]:
    return {column.name: next(iter(column.foreign_keys)).column.table.name
            for column in model.__table__.columns if column.foreign_keys}


@lru_cache(maxsize=None)
def _string_lengths(model: Any) -> dict[str, int]:
    return {column.name: column.type.length for column in model.__table__.columns
            if isinstance(column.type, String) and column.type.length}


def _fit(model: Any, values: dict) -> dict:
    """Cut strings to their column's length (PostgreSQL refuses longer ones)."""
    lengths = _string_lengths(model)
    fitted = {}
    for column, value in values.items():
        limit = lengths.get(column)
        if limit and isinstance(value, str) and len(value) > limit:
            value = value[: limit - 1].rstrip() + "\u2026"
        fitted[column] = value
    return fitted


# An expanding IN parameter keeps the statements cacheable (a literal IN list is compiled each time).
_IDS = bindparam("ids", expanding=True)

_TABLES = {model.__tablename__: model for model in (*_WRITE_ORDER, m.CareTeamMember)}


def _existing_ids(session, table: str, ids: set) -> set:
    model = _TABLES[table]
    found: set = set()
    for chunk in _chunks(sorted(ids)):
        found.update(session.execute(select(model.id).where(model.id.in_(_IDS)), {"ids": chunk}).scalars())
    return found


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert_values(model: Any, rid: str, values: dict) -> dict:
    """Every column of a new row (the same keys for each row, for one executemany INSERT)."""
    fitted = _fit(model, values)
    row: dict[str, Any] = {}
    for column in model.__table__.columns:
        if column.name == "id":
            row["id"] = rid
            continue
        value = fitted.get(column.name)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        row[column.name] = value
    return row


def _keep_store_state(model: type, current: dict, values: dict) -> None:
    """Do not let a re-import undo what patients or the clinic did in the store."""
    if model is m.Patient:
        for column in ("mobile_phone", "preferred_language"):
            if values.get(column) is None:
                values.pop(column, None)
    elif model is m.CareActivity:
        if current["status"] == "completed" and values.get("status") in m.OPEN_ACTIVITY_STATUSES:
            for column in ("status", "completion_source"):
                values.pop(column, None)
    elif model is m.TestResult:
        if current["status"] == "reviewed":
            values.pop("status", None)
        if current["released_to_patient"]:
            values.pop("released_to_patient", None)
    elif model is m.Clinic and values.get("specialties"):
        merged = {s.strip() for s in (current["specialties"] or "").split(",") if s.strip()}
        merged |= {s for s in values["specialties"].split(",") if s}
        values["specialties"] = ",".join(sorted(merged))
