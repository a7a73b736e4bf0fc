"""JSON string spellings: the regex of the JSON texts of the strings a decoded regex matches,
under an escape policy (``"minimal"``: as ``json.dumps(v, ensure_ascii=False)`` writes them;
``"any"``: every spelling JSON allows)."""

from __future__ import annotations

import json
from typing import List, Tuple

from ...cache import memoize
from ..ir import (
    MAX_CODE_POINT,
    NOTHING,
    Alt,
    And,
    Chars,
    Not,
    Regex,
    Repeat,
    Seq,
    alt,
    literal,
    normalize_ranges,
    seq,
    subtract_ranges,
)
from .digits import fixed_range

#: Every character (a decoded string is any sequence of them).
ANY = Chars(((0, MAX_CODE_POINT),))

_SHORT = {0x22: '"', 0x5C: "\\", 0x2F: "/", 0x08: "b", 0x0C: "f", 0x0A: "n", 0x0D: "r", 0x09: "t"}


def _hex_digit_class(lo: int, hi: int) -> Chars:
    out = []
    for v in range(lo, hi + 1):
        if v < 10:
            out.append((48 + v, 48 + v))
        else:
            out.append((87 + v, 87 + v))  # a-f
            out.append((55 + v, 55 + v))  # A-F
    return Chars(normalize_ranges(out))


def _hex4(lo: int, hi: int) -> Regex:
    return fixed_range(lo, hi, 4, 16, _hex_digit_class)


#: The string escape policies: ``"minimal"`` spells every character as
#: ``json.dumps(..., ensure_ascii=False)`` does (one spelling per string), ``"any"`` takes every
#: spelling JSON allows.
STRING_ESCAPES = ("minimal", "any")
#: json.dumps's short escapes; ``/`` is legal as ``\/`` but json.dumps writes it raw.
_DUMPS_SHORT = {k: v for k, v in _SHORT.items() if k != 0x2F}
_CONTROLS = ((0x00, 0x1F),)


@memoize("grammar.json_string_spellings", maxsize=65536)
def encode_chars(c: Chars, escapes: str = "any") -> Regex:
    """The JSON spellings of one character of ``c`` under the escape policy ``escapes``.

    ``"any"``: raw (where JSON allows it), short escapes, ``\\uXXXX`` in either case and
    surrogate pairs. ``"minimal"``: the one spelling ``json.dumps(ch, ensure_ascii=False)``
    writes: ``\\"``, ``\\\\`` and the short escapes of ``\\b \\f \\n \\r \\t``, ``\\u00xx``
    (lowercase) for the other control characters, every other character raw (UTF-8).
    """
    if escapes == "minimal":
        return _encode_chars_minimal(c)
    raw = []
    for lo, hi in c.ranges:
        for a, b in ((lo, min(hi, 0x1F)), (max(lo, 0x20), hi)):
            if a > b or b <= 0x1F:
                continue
            raw.append((a, b))
    raw_set = Chars(normalize_ranges(raw))
    raw_set = Chars(normalize_ranges(subtract_ranges(raw_set.ranges, [(0x22, 0x22), (0x5C, 0x5C), (0xD800, 0xDFFF)])))
    escaped: List[Regex] = []
    short = [ord(v) for k, v in _SHORT.items() if _contains(c, k)]
    if short:
        escaped.append(Chars(normalize_ranges((s, s) for s in short)))
    u_forms: List[Regex] = []
    for lo, hi in c.ranges:
        for a, b in ((lo, min(hi, 0xD7FF)), (max(lo, 0xE000), min(hi, 0xFFFF))):
            if a <= b:
                u_forms.append(_hex4(a, b))
        a, b = max(lo, 0x10000), hi
        if a <= b:
            u_forms.append(_astral(a, b))
    if u_forms:
        escaped.append(seq(literal("u"), alt(*u_forms)))
    parts: List[Regex] = []
    if raw_set.ranges:
        parts.append(raw_set)
    if escaped:
        parts.append(seq(literal("\\"), alt(*escaped)))
    return alt(*parts) if parts else NOTHING


def _encode_chars_minimal(c: Chars) -> Regex:
    raw = subtract_ranges(c.ranges, [*_CONTROLS, (0x22, 0x22), (0x5C, 0x5C), (0xD800, 0xDFFF)])
    short = [ord(v) for k, v in _DUMPS_SHORT.items() if _contains(c, k)]
    controls = [cp for lo, hi in c.ranges for cp in range(lo, min(hi, 0x1F) + 1) if cp not in _DUMPS_SHORT]
    escapes: List[Regex] = []
    if short:
        escapes.append(Chars(normalize_ranges((s, s) for s in short)))
    escapes.extend(literal(f"u{cp:04x}") for cp in controls)
    parts: List[Regex] = []
    if raw:
        parts.append(Chars(normalize_ranges(raw)))
    if escapes:
        parts.append(seq(literal("\\"), alt(*escapes)))
    return alt(*parts) if parts else NOTHING


def _astral(lo: int, hi: int) -> Regex:
    """``XXXX\\uYYYY`` after the first ``\\u``: surrogate pairs for code points in [lo, hi]."""

    def split(cp: int) -> Tuple[int, int]:
        v = cp - 0x10000
        return 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)

    (h1, l1), (h2, l2) = split(lo), split(hi)
    u = literal("\\u")
    if h1 == h2:
        return seq(_hex4(h1, h1), u, _hex4(l1, l2))
    parts = [seq(_hex4(h1, h1), u, _hex4(l1, 0xDFFF))]
    if h2 - h1 > 1:
        parts.append(seq(_hex4(h1 + 1, h2 - 1), u, _hex4(0xDC00, 0xDFFF)))
    parts.append(seq(_hex4(h2, h2), u, _hex4(0xDC00, l2)))
    return alt(*parts)


def _contains(c: Chars, cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in c.ranges)


def encode(r: Regex, escapes: str = "any") -> Regex:
    """The regex of the JSON spellings (between the quotes) of the strings ``r`` matches,
    under the escape policy ``escapes`` (see :func:`encode_chars`)."""
    if isinstance(r, Chars):
        return encode_chars(r, escapes)
    if isinstance(r, Seq):
        return Seq(tuple(encode(x, escapes) for x in r.items))
    if isinstance(r, Alt):
        return Alt(tuple(encode(x, escapes) for x in r.items))
    if isinstance(r, Repeat):
        return Repeat(encode(r.item, escapes), r.min, r.max)
    if isinstance(r, And):
        return And(tuple(encode(x, escapes) for x in r.items))
    if isinstance(r, Not):
        # The spellings of a string are a prefix code, so complement within well-formed bodies.
        return And((_ENCODED_ANY[escapes], Not(encode(r.item, escapes))))
    raise TypeError(f"not a regex: {r!r}")


_ENCODED_ANY = {escapes: Repeat(encode_chars(ANY, escapes), 0, None) for escapes in STRING_ESCAPES}


def string_terminal_regex(decoded: Regex, escapes: str = "any") -> Regex:
    """A whole JSON string (with its quotes) whose decoded value ``decoded`` matches."""
    q = literal('"')
    return seq(q, encode(decoded, escapes), q)


def string_literal_regex(value: str, escapes: str = "any") -> Regex:
    """The spellings of the JSON string ``value`` under ``escapes``, quotes included
    (``"minimal"``: exactly ``json.dumps(value, ensure_ascii=False)``)."""
    if escapes == "minimal" and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        # The one spelling, as one literal: what encoding character by character gives
        # (a lone surrogate has no spelling there, so it takes that path).
        return literal(json.dumps(value, ensure_ascii=False))
    return string_terminal_regex(literal(value), escapes)
