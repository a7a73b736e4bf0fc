"""Fixed-width digit strings whose value lies in a range, in any base (decimal numbers and the
hex digits of ``\\uXXXX`` escapes)."""

from __future__ import annotations

from typing import Callable, List

from ..ir import EMPTY, And, Chars, Regex, Repeat, alt, seq

#: ``digit_class(lo, hi)``: the characters of the digits lo..hi of a base.
DigitClass = Callable[[int, int], Chars]


def fixed_range(lo: int, hi: int, width: int, base: int, digit_class: DigitClass) -> Regex:
    """Digit strings of exactly ``width`` digits whose value lies in [lo, hi]."""
    # A shared leading digit, and a full range (any ``width`` digits), need no recursion: the
    # recursion's depth, and the regex's, is then the number of significant digits of the
    # bounds (callers cap it), not their width.
    prefix: List[Regex] = []
    while True:
        if width == 0:
            return seq(*prefix) if prefix else EMPTY
        if lo == 0 and hi == base**width - 1:
            return seq(*prefix, Repeat(digit_class(0, base - 1), width, width))
        unit = base ** (width - 1)
        (a0, ar), (b0, br) = divmod(lo, unit), divmod(hi, unit)
        if a0 != b0:
            break
        prefix.append(digit_class(a0, a0))
        lo, hi, width = ar, br, width - 1
    if prefix:
        return seq(*prefix, fixed_range(lo, hi, width, base, digit_class))
    if ar == 0 and br == unit - 1:
        return seq(digit_class(a0, b0), fixed_range(0, unit - 1, width - 1, base, digit_class))
    parts = [seq(digit_class(a0, a0), at_least(ar, width - 1, base, digit_class))]
    if b0 - a0 > 1:
        parts.append(seq(digit_class(a0 + 1, b0 - 1), fixed_range(0, unit - 1, width - 1, base, digit_class)))
    parts.append(seq(digit_class(b0, b0), at_most(br, width - 1, base, digit_class)))
    return alt(*parts)


def _one_sided(bound: int, width: int, base: int, digit_class: DigitClass, run_digit: int) -> Regex:
    """``width``-digit strings >= ``bound`` (``run_digit`` 0) or <= ``bound`` (``run_digit``
    base - 1). A run of k >= 2 leading ``run_digit`` digits in the bound is one flat piece
    (some digit among the first k is past the run's digit: an intersection with a fixed
    width), not k nested ones: ``10**300 + 1`` is two pieces deep, not 300."""
    k = 0
    while k < width and (bound // base ** (width - 1 - k)) % base == run_digit:
        k += 1
    if k < 2 or k == width:
        lo, hi = (bound, base**width - 1) if run_digit == 0 else (0, bound)
        return fixed_range(lo, hi, width, base, digit_class)
    run = digit_class(run_digit, run_digit)
    past = digit_class(1, base - 1) if run_digit == 0 else digit_class(0, base - 2)
    any_digit = digit_class(0, base - 1)
    early = And((seq(Repeat(run, 0, k - 1), past, Repeat(any_digit, 0, None)), Repeat(any_digit, width, width)))
    rest = bound % base ** (width - k)
    lo, hi = (rest, base ** (width - k) - 1) if run_digit == 0 else (0, rest)
    return alt(early, seq(Repeat(run, k, k), fixed_range(lo, hi, width - k, base, digit_class)))


def at_least(lo: int, width: int, base: int, digit_class: DigitClass) -> Regex:
    return _one_sided(lo, width, base, digit_class, 0)


def at_most(hi: int, width: int, base: int, digit_class: DigitClass) -> Regex:
    return _one_sided(hi, width, base, digit_class, base - 1)
