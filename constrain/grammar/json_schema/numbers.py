"""JSON number spellings: integer ranges, comparisons with a decimal bound, literals and
multiples (exact on plain decimals; see the package docstring for the exponent forms)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Dict, Iterable, Literal, Optional, Tuple, Union

from ...cache import memoize
from ..ir import EMPTY, NOTHING, And, Chars, Not, Regex, Repeat, alt, chars, literal, normalize_ranges, repeat, seq
from .digits import fixed_range
from .measures import regex_size

_DIGIT = chars("09")
_DIGITS = Repeat(_DIGIT, 0, None)
_DIGITS1 = Repeat(_DIGIT, 1, None)
_NZ = chars("19")
_INT_MAG = alt(literal("0"), seq(_NZ, _DIGITS))
_FRAC = repeat(seq(literal("."), _DIGITS1), 0, 1)
_EXP = seq(chars("e", "E"), repeat(chars("+", "-"), 0, 1), _DIGITS1)
MAG_PLAIN = seq(_INT_MAG, _FRAC)
MAG = seq(_INT_MAG, _FRAC, repeat(_EXP, 0, 1))
ZERO_MAG = seq(literal("0"), repeat(seq(literal("."), Repeat(literal("0"), 1, None)), 0, 1), repeat(_EXP, 0, 1))
NONZERO_MAG = And((MAG, Not(ZERO_MAG)))
_MINUS = literal("-")
NUMBER = seq(repeat(_MINUS, 0, 1), MAG)
PLAIN_NUMBER = seq(repeat(_MINUS, 0, 1), MAG_PLAIN)
INTEGER = seq(repeat(_MINUS, 0, 1), _INT_MAG)
#: Plain decimals with a non-zero fraction digit: the numbers that are not integers.
FRACTIONAL = seq(repeat(_MINUS, 0, 1), _INT_MAG, literal("."), _DIGITS, _NZ, _DIGITS)


def dec_class(lo: int, hi: int) -> Chars:
    return Chars(((48 + lo, 48 + hi),)) if lo <= hi else Chars(())


def nonneg_int_range(lo: int, hi: Optional[int]) -> Regex:
    """Canonical decimal spellings (no leading zeros) of the integers in [lo, hi] (lo >= 0)."""
    if hi is not None and hi < lo:
        return NOTHING
    parts = []
    width = len(str(lo))
    while True:
        first = 0 if width == 1 else 10 ** (width - 1)
        last = 10**width - 1
        a = max(lo, first)
        if hi is not None and a > hi:
            break
        b = last if hi is None else min(hi, last)
        if hi is None and a == first and width > 1:
            parts.append(seq(_NZ, Repeat(_DIGIT, width - 1, None)))
            break
        parts.append(fixed_range(a, b, width, 10, dec_class))
        if hi is not None and b >= hi:
            break
        width += 1
    return alt(*parts) if parts else NOTHING


def int_range(lo: Optional[int], hi: Optional[int]) -> Regex:
    """JSON spellings of the integers in [lo, hi] (``None``: unbounded), ``-0`` included."""
    if lo is not None and hi is not None and lo > hi:
        return NOTHING
    parts = []
    if hi is None or hi >= 0:
        parts.append(nonneg_int_range(max(lo or 0, 0) if lo is not None else 0, hi))
    if lo is None or lo < 0:
        top = None if lo is None else -lo
        bottom = 1 if hi is None or hi >= 0 else -hi
        parts.append(seq(_MINUS, nonneg_int_range(bottom, top)))
    if (lo is None or lo <= 0) and (hi is None or hi >= 0):
        parts.append(literal("-0"))
    return alt(*parts)


def _split(d: Decimal) -> Tuple[int, str]:
    """A non-negative decimal as (integer part, fraction digits without trailing zeros)."""
    sign, digits, exp = d.as_tuple()
    assert sign == 0 and isinstance(exp, int)
    s = "".join(map(str, digits))
    if exp >= 0:
        return int(s + "0" * exp), ""
    exp = -exp
    s = s.rjust(exp + 1, "0")
    return int(s[:-exp]), s[-exp:].rstrip("0")


def _ge_frac(f: str, strict: bool) -> Regex:
    parts = [seq(literal(f[:i]), dec_class(int(f[i]) + 1, 9), _DIGITS) for i in range(len(f)) if f[i] != "9"]
    if strict:
        parts.append(seq(literal(f), _DIGITS, _NZ, _DIGITS))
    else:
        parts.append(seq(literal(f), _DIGITS))
    return And((alt(*parts), _DIGITS1))


def _le_frac(f: str, strict: bool) -> Regex:
    parts = [seq(literal(f[:i]), dec_class(0, int(f[i]) - 1), _DIGITS) for i in range(len(f)) if f[i] != "0"]
    for j in range(1, len(f)):
        parts.append(seq(literal(f[:j]), Repeat(literal("0"), 0, None)))
    if not strict:
        parts.append(seq(literal(f), Repeat(literal("0"), 0, None)))
    return And((alt(*parts), _DIGITS1)) if parts else NOTHING


def _mag_ge(bound: Decimal, strict: bool) -> Regex:
    """Plain magnitudes m (no sign, no exponent) with m >= bound (m > bound if strict), bound >= 0."""
    i, f = _split(bound)
    above = seq(nonneg_int_range(i + 1, None), _FRAC)
    if f == "" and not strict:
        same = seq(literal(str(i)), _FRAC)
    elif f == "":
        same = seq(literal(str(i)), literal("."), _ge_frac("", True))
    else:
        same = seq(literal(str(i)), literal("."), _ge_frac(f, strict))
    return alt(above, same)


def _mag_le(bound: Decimal, strict: bool) -> Regex:
    """Plain magnitudes m with m <= bound (m < bound if strict), bound >= 0."""
    i, f = _split(bound)
    below = seq(nonneg_int_range(0, i - 1), _FRAC) if i > 0 else NOTHING
    if f == "":
        same = (
            NOTHING if strict else seq(literal(str(i)), repeat(seq(literal("."), Repeat(literal("0"), 1, None)), 0, 1))
        )
    else:
        same = seq(literal(str(i)), repeat(seq(literal("."), _le_frac(f, strict)), 0, 1))
    return alt(below, same)


def number_bound(op: str, bound: Decimal) -> Regex:
    """JSON numbers x with ``x op bound`` (op in >=, >, <=, <): exact on plain decimals; forms
    with an exponent only where the sign or zero decides."""
    neg = seq(_MINUS, MAG)
    if op in (">=", ">"):
        strict = op == ">"
        if bound > 0:
            return _mag_ge(bound, strict)
        if bound == 0:
            return NONZERO_MAG if strict else alt(MAG, seq(_MINUS, ZERO_MAG))
        return alt(MAG, seq(_MINUS, alt(_mag_le(-bound, strict), ZERO_MAG)))
    strict = op == "<"
    if bound < 0:
        return seq(_MINUS, _mag_ge(-bound, strict))
    if bound == 0:
        return seq(_MINUS, NONZERO_MAG) if strict else alt(neg, ZERO_MAG)
    return alt(neg, _mag_le(bound, strict), ZERO_MAG)


def number_literal(value: Decimal) -> Regex:
    """JSON spellings of numbers equal to ``value``: plain decimals (``1``, ``1.0``, ``-0``); for
    zero also exponent forms."""
    if value == 0:
        return seq(repeat(_MINUS, 0, 1), ZERO_MAG)
    mag = abs(value)
    i, f = _split(mag)
    zeros = Repeat(literal("0"), 0, None)
    frac = repeat(seq(literal("."), Repeat(literal("0"), 1, None)), 0, 1) if f == "" else seq(literal("." + f), zeros)
    body = seq(literal(str(i)), frac)
    return seq(_MINUS, body) if value < 0 else body


# --- multipleOf ----------------------------------------------------------------------------

#: Largest multipleOf divisor (not of the form 2^a 5^b) turned into a regex by state elimination.
MAX_MODULUS = 16
_MAX_MODULUS_NODES = 5000


def _split_twos_fives(n: int) -> Tuple[int, int, int]:
    """``(rest, a, b)`` with ``n == rest * 2**a * 5**b`` and ``rest`` prime to 10: a multiple of
    ``2**a * 5**b`` is decided by its last ``max(a, b)`` decimal digits."""
    twos = fives = 0
    while n % 2 == 0:
        n //= 2
        twos += 1
    while n % 5 == 0:
        n //= 5
        fives += 1
    return n, twos, fives


@memoize("grammar.json_multiples_regexes", maxsize=64)
def multiples_regex(k: int) -> Optional[Regex]:
    """Canonical positive decimals divisible by ``k``: the residue DFA, by state elimination."""
    # edges[(a, b)] = regex; states: "i" (start), residues 0..k-1, "f" (final)
    edges: Dict[Tuple[object, object], Regex] = {}

    def add(a: object, b: object, r: Regex) -> None:
        edges[(a, b)] = alt(edges[(a, b)], r) if (a, b) in edges else r

    def digits(ds: Iterable[int]) -> Chars:
        return Chars(normalize_ranges((48 + d, 48 + d) for d in ds))

    for r0 in range(k):
        first = [d for d in range(1, 10) if d % k == r0]
        if first:
            add("i", r0, digits(first))
        for r1 in range(k):
            ds = [d for d in range(10) if (10 * r0 + d) % k == r1]
            if ds:
                add(r0, r1, digits(ds))
    add(0, "f", EMPTY)
    for q in range(k):
        loop = edges.pop((q, q), None)
        ins = [(a, r) for (a, b), r in edges.items() if b == q]
        outs = [(b, r) for (a, b), r in edges.items() if a == q]
        for a, _ in ins:
            del edges[(a, q)]
        for b, _ in outs:
            del edges[(q, b)]
        middle = [Repeat(loop, 0, None)] if loop is not None else []
        for a, ra in ins:
            for b, rb in outs:
                add(a, b, seq(ra, *middle, rb))
        if sum(regex_size(r) for r in edges.values()) > _MAX_MODULUS_NODES:
            return None
    return edges.get(("i", "f"))


def int_multiple(p: int, lo: Optional[int], hi: Optional[int]) -> Union[Literal[True], Regex, None]:
    """Integers that are multiples of p: True (all), a regex, or None (not expressible)."""
    if p <= 1:
        return True
    q, twos, fives = _split_twos_fives(p)
    if q == 1:
        m = max(twos, fives)
        if 10**m // p <= 2000:
            residues = alt(*(literal(f"{r:0{m}d}") for r in range(0, 10**m, p)))
            small = [literal(str(v)) for v in range(0, 10 ** (m - 1), p)]
            mag = alt(And((_INT_MAG, seq(_DIGITS, residues))), *small)
            return seq(repeat(_MINUS, 0, 1), mag)
    if p <= MAX_MODULUS:
        mag_or_none = multiples_regex(p)
        if mag_or_none is not None:
            return seq(repeat(_MINUS, 0, 1), alt(literal("0"), mag_or_none))
    if lo is not None and hi is not None:
        first = -(-lo // p) * p
        if first > hi or (hi - first) // p < 2000:
            values = range(first, hi + 1, p)
            return (
                alt(*(literal(str(v)) for v in values), *([literal("-0")] if 0 in values else []))
                if values
                else NOTHING
            )
    return None


def number_multiple(k: Decimal) -> Optional[Regex]:
    """Numbers that are multiples of ``k``, or None (not expressible)."""
    if k <= 0:
        return None
    frac = Fraction(k)
    p, q = frac.numerator, frac.denominator
    if q == 1:
        r = int_multiple(p, None, None)
        if r is None:
            return None
        whole = INTEGER if r is True else r
        return seq(whole, repeat(seq(literal("."), Repeat(literal("0"), 1, None)), 0, 1))
    if p != 1:
        return None
    qq, twos, fives = _split_twos_fives(q)
    if qq != 1:
        return None
    m = max(twos, fives)
    step = 10**m // q
    if 10**m // step > 2000:
        return None
    zeros = Repeat(literal("0"), 0, None)
    fracs = alt(*(seq(literal(f"{r:0{m}d}".rstrip("0")), zeros) for r in range(0, 10**m, step)))
    return seq(INTEGER, repeat(seq(literal("."), And((fracs, _DIGITS1))), 0, 1))
