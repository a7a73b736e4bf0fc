"""Sizes and length bounds of regexes over characters."""

from __future__ import annotations

from typing import Optional

from ..ir import Alt, And, Chars, Not, Regex, Repeat, Seq


def regex_size(r: Regex) -> int:
    """The number of nodes of ``r``."""
    if isinstance(r, Chars):
        return 1
    if isinstance(r, Repeat):
        return 1 + regex_size(r.item)
    if isinstance(r, Not):
        return 1 + regex_size(r.item)
    assert isinstance(r, (Seq, Alt, And)), r
    return 1 + sum(regex_size(x) for x in r.items)


def min_len(r: Regex) -> int:
    """Fewest characters a string of ``r`` has (a lower bound for And/Not)."""
    if isinstance(r, Chars):
        return 1
    if isinstance(r, Seq):
        return sum(min_len(x) for x in r.items)
    if isinstance(r, Alt):
        return min((min_len(x) for x in r.items), default=0)
    if isinstance(r, Repeat):
        return r.min * min_len(r.item)
    if isinstance(r, And):
        return max((min_len(x) for x in r.items), default=0)
    return 0


def max_len(r: Regex) -> Optional[int]:
    """Most characters a string of ``r`` has, None if unbounded (an upper bound for And/Not)."""
    if isinstance(r, Chars):
        return 1
    if isinstance(r, Seq):
        total = 0
        for x in r.items:
            m = max_len(x)
            if m is None:
                return None
            total += m
        return total
    if isinstance(r, Alt):
        ms = [max_len(x) for x in r.items]
        bounded = [m for m in ms if m is not None]
        return None if len(bounded) < len(ms) else max(bounded, default=0)
    if isinstance(r, Repeat):
        m = max_len(r.item)
        if m == 0:
            return 0
        return None if r.max is None or m is None else r.max * m
    if isinstance(r, And):
        tops = [m for m in (max_len(x) for x in r.items) if m is not None]
        return min(tops) if tops else None
    return None
