"""Splitting a reply into SMS segments.

A single SMS holds 160 GSM-7 characters, or 70 when any character is outside GSM-7 (accents
beyond GSM-7's few, emoji: UCS-2). A reply split into several is sent as a concatenated SMS whose
header takes room in each segment: 153 GSM-7 or 67 UCS-2 characters per segment. Segments are cut
on word boundaries and numbered "(1/3)".
"""
from __future__ import annotations

import re
from typing import List

GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")
GSM7_EXTENDED = set("^{}\\[~]|€")  # each takes two of the 160 (an escape, then the character)
SINGLE = {True: 160, False: 70}
PER_SEGMENT = {True: 153, False: 67}


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7 for ch in text)


def sms_length(text: str, gsm: bool) -> int:
    """How much of a segment's room `text` takes: GSM-7 septets, or UCS-2 code units."""
    if gsm:
        return len(text) + sum(ch in GSM7_EXTENDED for ch in text)
    return len(text.encode("utf-16-le")) // 2


def split_sms(text: str) -> List[str]:
    """Segments that each fit one SMS, split on word boundaries, numbered '(1/3)' when several."""
    text = text.strip()
    gsm = is_gsm7(text)
    if sms_length(text, gsm) <= SINGLE[gsm]:
        return [text] if text else []
    limit = PER_SEGMENT[gsm]
    for digits in (1, 2, 3):
        suffix_len = len(f" ({'9' * digits}/{'9' * digits})")
        room = limit - suffix_len
        parts: List[str] = []
        current = ""
        for word in re.split(r"(\s+)", text):
            if not word:
                continue
            while sms_length(word, gsm) > room:  # a single very long "word" (a URL, say) is cut
                if current.strip():
                    parts.append(current.strip())
                    current = ""
                cut = room
                while sms_length(word[:cut], gsm) > room:
                    cut -= 1
                parts.append(word[:cut])
                word = word[cut:]
            if sms_length(current + word, gsm) > room:
                if current.strip():
                    parts.append(current.strip())
                current = word.lstrip()
            else:
                current += word
        if current.strip():
            parts.append(current.strip())
        if len(parts) < 10 ** digits:
            n = len(parts)
            return [f"{p} ({i}/{n})" for i, p in enumerate(parts, 1)]
    raise ValueError("reply too long to send by SMS")
