"""Numbers in generations: finding them, normalising them, and knowing when one is finished.

Shared by the numeric-answer tasks (GSM8K, arithmetic). The regex accepts ``-12``,
``1,234`` and ``3.5``; :func:`number_closed` is the early-stop rule: a number is final
once the character after it cannot extend it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Not preceded by a digit or '.', so a match never starts inside another number.
NUMBER = r"(?<![\d.])-?\d+(?:,\d{3})*(?:\.\d+)?"
NUMBER_RE = re.compile(NUMBER)


def canonical_number(text: str) -> str | None:
    """``"1,000.50"`` -> ``"1000.5"``, ``"-3"`` -> ``"-3"``; None if ``text`` is not a number."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def numbers_equal(a: str | None, b: str | None) -> bool:
    """Numeric equality of two number strings (``"18"`` == ``"18.00"``)."""
    if a is None or b is None:
        return False
    ca, cb = canonical_number(a), canonical_number(b)
    return ca is not None and cb is not None and Decimal(ca) == Decimal(cb)


def number_closed(text: str, end: int) -> bool:
    """True if a number match ending at ``end`` cannot grow whatever text is appended.

    It could grow through more digits, ``,ddd`` or ``.d``; so the number is final only when
    the next character exists and is none of those starts (or is ``,``/``.`` followed by a
    non-digit). Being conservative here only costs a decoding step, never exactness.
    """
    rest = text[end:]
    if not rest or rest[0].isdigit():
        return False
    if rest[0] in ",.":
        return len(rest) > 1 and not rest[1].isdigit()
    return True
