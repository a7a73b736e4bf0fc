"""Lowering number shapes: bounds, ``multipleOf``, excluded values and non-integers."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import List, Optional

from ..ir import And, Not, Regex, Repeat, literal, repeat, seq
from .numbers import (
    FRACTIONAL,
    INTEGER,
    NUMBER,
    PLAIN_NUMBER,
    int_multiple,
    int_range,
    number_bound,
    number_literal,
    number_multiple,
)
from .shapes import Shape
from .state import CompilerState
from .values import to_decimal


class NumberLowering(CompilerState):
    """Number and integer shapes to one terminal."""

    def _number(self, shape: Shape, integer_only: bool) -> Optional[Regex]:
        lo, hi = shape.lower, shape.upper
        if (
            lo is not None
            and hi is not None
            and (lo.value > hi.value or (lo.value == hi.value and (lo.exclusive or hi.exclusive)))
        ):
            return None
        parts: List[Regex] = []
        if integer_only:
            ilo = None if lo is None else (math.floor(lo.value) + 1 if lo.exclusive else math.ceil(lo.value))
            ihi = None if hi is None else (math.ceil(hi.value) - 1 if hi.exclusive else math.floor(hi.value))
            if ilo is not None and ihi is not None and ilo > ihi:
                return None
            parts.append(int_range(ilo, ihi))
            for k, where in shape.multiples:
                p = Fraction(k).numerator
                r = int_multiple(p, ilo, ihi)
                if r is None:
                    self.feature(f"multipleOf {k}", where)
                elif r is not True:
                    parts.append(r)
            for v, _ in shape.excluded:
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    parts.append(Not(number_literal(to_decimal(v))))
        else:
            if lo is not None:
                parts.append(number_bound(">" if lo.exclusive else ">=", lo.value))
            if hi is not None:
                parts.append(number_bound("<" if hi.exclusive else "<=", hi.value))
            for k, where in shape.multiples:
                r = number_multiple(k)
                if r is None:
                    self.feature(f"multipleOf {k}", where)
                else:
                    parts.append(r)
            if shape.fraction:  # plain decimals with a non-zero fraction digit
                parts.append(FRACTIONAL)
            excluded = [v for v, _ in shape.excluded if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if excluded:
                parts.append(PLAIN_NUMBER)
                parts.extend(Not(number_literal(to_decimal(v))) for v in excluded)
            if not parts:
                return NUMBER
        if len(parts) == 1 and not isinstance(parts[0], Not):
            regex = parts[0]
        else:
            regex = And((NUMBER if not integer_only else INTEGER, *parts))
        if integer_only and self.draft >= 6:
            # From draft 6 on, 1.0 is an integer.
            regex = seq(regex, repeat(seq(literal("."), Repeat(literal("0"), 1, None)), 0, 1))
        return regex
