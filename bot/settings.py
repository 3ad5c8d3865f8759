"""Clinic-level settings, from the environment with demo defaults."""
from __future__ import annotations

import os

CLINIC_NAME = os.environ.get("CARENAV_CLINIC_NAME", "Riverside Community Health")
CLINIC_MAIN_PHONE = os.environ.get("CARENAV_CLINIC_PHONE", "(555) 010-0100")
CLINIC_HOURS = os.environ.get("CARENAV_CLINIC_HOURS", "Monday to Friday, 8 am to 5 pm")
# How soon staff call back after a hand-off request, in plain words.
CALLBACK_PROMISE = os.environ.get("CARENAV_CALLBACK_PROMISE", "within one business day")
# Over SMS, say results/medicines are ready instead of sending them, unless the clinic allows it.
SMS_SHARES_DETAILS = os.environ.get("CARENAV_SMS_SHARES_DETAILS", "0") == "1"


def home():
    """Where var/ (the SQLite store, caches, logs) lives: CARENAV_HOME, else the project root."""
    from pathlib import Path

    return Path(os.environ.get("CARENAV_HOME") or Path(__file__).resolve().parent.parent)
