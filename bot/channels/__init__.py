"""Custom Rasa input channels: the clinic web page's socket.io channel, and SMS."""

from typing import Any


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
