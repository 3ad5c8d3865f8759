"""Custom Rasa input channels: REST, the clinic web page's socket.io channel, and SMS.

Importing a channel (the Rasa server does, from credentials.yml) also makes a failed action get
the Rasa server's own answer instead of silence (bot.faults)."""

from typing import Any

from bot import faults
from bot.tracker_store import TrackerStoreUnavailable

faults.install()

# What a channel catches around one message: any error, and a conversation the tracker store could
# not read or save (a BaseException, so that Rasa's fail-safe store cannot swallow it).
TURN_FAILURES = (Exception, TrackerStoreUnavailable)


def clean_unicode(value: Any) -> bool:
    """True when every string in `value` (a string, or lists and mappings of them, keys included)
    is valid Unicode that UTF-8 can encode. A lone UTF-16 surrogate ("\\ud800") cannot be stored:
    Rasa's SQL tracker store fails on it and takes the server down, so the channels refuse it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(clean_unicode(k) and clean_unicode(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(clean_unicode(v) for v in value)
    return True
