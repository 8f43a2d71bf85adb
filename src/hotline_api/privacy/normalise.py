"""Normal forms of personal values before they are hashed for matching."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

_TOKEN_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def unaccent(text: str) -> str:
    """Vietnamese text without diacritics: ``Nguyễn Đức`` → ``Nguyen Duc``."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_tokens(name: str) -> list[str]:
    """Lower-case unaccented tokens of a name, each once, in order."""
    seen: list[str] = []
    for token in _TOKEN_SPLIT.split(unaccent(name).casefold()):
        if token and token not in seen:
            seen.append(token)
    return seen


@lru_cache(maxsize=8192)
def normalise_phone(raw: str, default_region: str = "VN") -> str | None:
    """E.164 form of a phone number as a switchboard presents it, or None when it is not one.

    Short numbers (111, internal extensions) are returned as their digits: libphonenumber does not
    know them as subscriber numbers, but they still identify a caller within the switchboard.
    """
    text = raw.strip()
    digits = re.sub(r"[^\d+]", "", text)
    if not digits or digits in {"+"}:
        return None
    try:
        parsed = phonenumbers.parse(digits, default_region)
    except phonenumbers.NumberParseException:
        return digits.lstrip("+") if digits.lstrip("+").isdigit() else None
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return digits.lstrip("+")
