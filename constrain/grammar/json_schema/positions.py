"""Glushkov positions of a string pattern, for strings whose length the rules count
(:meth:`~.lower_strings.StringLowering._counted_pattern_string`), and the check that greedy
lexing splits such a string exactly where the positions say."""

from __future__ import annotations

from functools import partial
from typing import Callable, FrozenSet, Iterable, List, Set, Tuple

from ..ir import MAX_CODE_POINT, Alt, And, Chars, Not, Regex, Repeat, Seq, normalize_ranges, nullable, subtract_ranges
from .measures import min_len
from .strings import ANY


#: Most sets of positions explored when checking that a counted string lexes exactly.
_MAX_POSITION_SETS = 5000


#: (nullable, first positions, last positions) of a regex.
Positions = Tuple[bool, Set[int], Set[int]]


class TooBig(Exception):
    pass


class Glushkov:
    """Glushkov positions of a regex over characters: ``pieces[p]`` is a ``Chars`` (one
    character) or an ``And``/``Not`` taken whole (a piece of several characters);
    ``follow[p]`` the positions that may come next. Bounded repeats are unrolled, so
    ``x{2,4}`` has four copies of the positions of ``x``."""

    def __init__(self, max_positions: int, max_length: int) -> None:
        self.pieces: List[Regex] = []
        self.follow: List[Set[int]] = []
        self.max_positions = max_positions
        self.max_length = max_length  # of the whole string: a bound on every part of it

    def _new(self, piece: Regex) -> int:
        if len(self.pieces) >= self.max_positions:
            raise TooBig()
        self.pieces.append(piece)
        self.follow.append(set())
        return len(self.pieces) - 1

    def build(self, r: Regex) -> Positions:
        """(nullable, first positions, last positions) of ``r``, adding its positions."""
        if isinstance(r, Chars):
            if not r.ranges:
                return False, set(), set()
            p = self._new(r)
            return False, {p}, {p}
        if isinstance(r, And):
            # A length bound no tighter than the whole string's (an e-mail local part of at
            # most 64 characters, in a string of at most 40) holds anyway: drop it, and the
            # rest need not be one piece.
            rest = tuple(x for x in r.items if not _implied_length(x, r.items, self.max_length))
            if len(rest) == 1:
                return self.build(rest[0])
            if len(rest) < len(r.items):
                r = And(rest)
        if isinstance(r, (And, Not)):
            if nullable(r):
                raise TooBig()  # an empty piece would be an empty lexeme
            p = self._new(r)
            return False, {p}, {p}
        if isinstance(r, Seq):
            return self._seq([partial(self.build, x) for x in r.items])
        if isinstance(r, Alt):
            n = False
            f: Set[int] = set()
            l: Set[int] = set()
            for x in r.items:
                xn, xf, xl = self.build(x)
                n, f, l = n or xn, f | xf, l | xl
            return n, f, l
        if isinstance(r, Repeat):
            builders = [lambda: self.build(r.item)] * r.min
            if r.max is None:
                builders.append(lambda: self._star(r.item))
            else:
                builders.extend([lambda: self._optional(r.item)] * (r.max - r.min))
            return self._seq(builders)
        raise TypeError(f"not a regex: {r!r}")

    def _star(self, item: Regex) -> Positions:
        _, f, l = self.build(item)
        for p in l:
            self.follow[p] |= f
        return True, f, l

    def _optional(self, item: Regex) -> Positions:
        _, f, l = self.build(item)
        return True, f, l

    def _seq(self, builders: List[Callable[[], Positions]]) -> Positions:
        n = True
        f: Set[int] = set()
        l: Set[int] = set()
        for make in builders:
            xn, xf, xl = make()
            for p in l:
                self.follow[p] |= xf
            f = f | xf if n else f
            l = xl | l if xn else xl
            n = n and xn
        return n, f, l


def _implied_length(x: Regex, items: Tuple[Regex, ...], max_length: int) -> bool:
    """Whether ``x``, an item of the And ``items``, is a length bound ``.{a,b}`` that a part of
    a string of at most ``max_length`` characters meets whenever the other items hold."""
    if not (isinstance(x, Repeat) and x.item == ANY):
        return False
    if x.max is not None and x.max < max_length:
        return False
    return x.min <= max((min_len(y) for y in items if y is not x), default=0)


def _chars_of(r: Regex) -> List[Tuple[int, int]]:
    """Code points that may occur in a string of ``r`` (a superset)."""
    if isinstance(r, Chars):
        return list(r.ranges)
    if isinstance(r, Not):
        return [(0, MAX_CODE_POINT)]
    if isinstance(r, And):
        sets = [normalize_ranges(_chars_of(x)) for x in r.items]
        out: List[Tuple[int, int]] = list(sets[0])
        for other in sets[1:]:
            out = subtract_ranges(out, subtract_ranges([(0, MAX_CODE_POINT)], other))
        return out
    if isinstance(r, Repeat):
        return _chars_of(r.item)
    assert isinstance(r, (Seq, Alt)), r
    return [rng for x in r.items for rng in _chars_of(x)]


def _first_bytes(ranges: Iterable[Tuple[int, int]], escapes: str) -> Set[int]:
    """The bytes a JSON spelling of a character of ``ranges`` may start with."""
    out: Set[int] = set()
    for lo, hi in normalize_ranges(ranges):
        for a, b in (
            (lo, min(hi, 0x7F)),
            (max(lo, 0x80), min(hi, 0x7FF)),
            (max(lo, 0x800), min(hi, 0xFFFF)),
            (max(lo, 0x10000), hi),
        ):
            if a <= b:
                first, last = chr(a).encode("utf-8", "surrogatepass")[0], chr(b).encode("utf-8", "surrogatepass")[0]
                out.update(range(first, last + 1))
        if escapes == "any" or lo <= 0x1F or lo <= 0x22 <= hi or lo <= 0x5C <= hi:
            out.add(0x5C)  # an escape
    return out


def pieces_split_exactly(positions: Glushkov, first: Set[int], escapes: str) -> bool:
    """Whether greedy lexing ends every piece's lexeme exactly where the positions say.

    A lexeme grows while the next byte keeps a live terminal alive. The live terminals are
    those of every position that may come next from any position the text so far may have
    reached (the pattern may be ambiguous), so the sets of positions reachable together are
    explored (a subset construction over character classes, over-approximated where a piece
    of several characters ends). Wherever a piece of several characters is live, no byte
    that may start a position following a live one may continue that piece. The closing
    quote never continues a string's body: it is always escaped there. False also when the
    exploration passes ``_MAX_POSITION_SETS`` sets.
    """
    pieces, follow = positions.pieces, positions.follow
    chars = [normalize_ranges(_chars_of(x)) for x in pieces]
    lead = [_first_bytes(c, escapes) for c in chars]
    start: FrozenSet[int] = frozenset({-1})
    seen = {start}
    todo = [start]
    while todo:
        here = todo.pop()
        live: Set[int] = set()
        for p in here:
            live |= first if p < 0 else follow[p]
        multi = [p for p in live if not isinstance(pieces[p], Chars)]
        if multi:
            continuing: Set[int] = set()
            for p in multi:
                continuing |= lead[p]
            if any(lead[nxt] & continuing for p in live for nxt in follow[p]):
                return False
        # Next sets: one per class of characters the single-character positions tell apart,
        # and one for a lexeme of a longer piece (every piece, and every character that
        # could be a one-character string of one, counted in: a superset is safe).
        singles = [p for p in live if isinstance(pieces[p], Chars)]
        multi_chars = normalize_ranges([r for p in multi for r in chars[p]])
        cuts = sorted({lo for p in singles for lo, _ in chars[p]} | {hi + 1 for p in singles for _, hi in chars[p]})
        successors = []
        for lo, end in zip(cuts, [c - 1 for c in cuts[1:]] + [MAX_CODE_POINT]):
            # [lo, end] is one class for the single characters; a longer piece with a
            # character in it may have matched a one-character lexeme there too.
            after = frozenset(
                [p for p in singles if any(a <= lo <= b for a, b in chars[p])]
                + [p for p in multi if any(a <= end and lo <= b for a, b in chars[p])]
            )
            if after:
                successors.append(after)
        if multi:
            successors.append(
                frozenset(
                    multi
                    + [
                        p
                        for p in singles
                        if subtract_ranges(chars[p], subtract_ranges([(0, MAX_CODE_POINT)], multi_chars))
                    ]
                )
            )
        for nxt_set in successors:
            if nxt_set not in seen:
                if len(seen) >= _MAX_POSITION_SETS:
                    return False
                seen.add(nxt_set)
                todo.append(nxt_set)
    return True


def character_states(positions: Glushkov, first: Set[int], bound: int) -> int:
    """The states of the character-level DFA of positions that are all single characters
    (the subset construction over them: the sets of positions reachable together), or
    ``bound + 1`` as soon as there are more than ``bound``."""
    ranges = [x.ranges for x in positions.pieces if isinstance(x, Chars)]
    if len(ranges) != len(positions.pieces):
        raise ValueError("character_states: a piece of several characters")
    follow = positions.follow
    start: FrozenSet[int] = frozenset({-1})
    seen = {start}
    todo = [start]
    while todo:
        live: Set[int] = set()
        for p in todo.pop():
            live |= first if p < 0 else follow[p]
        cuts = sorted({lo for p in live for lo, _ in ranges[p]} | {hi + 1 for p in live for _, hi in ranges[p]})
        for lo in cuts:
            after = frozenset(p for p in live if any(a <= lo <= b for a, b in ranges[p]))
            if after and after not in seen:
                if len(seen) >= bound:
                    return bound + 1
                seen.add(after)
                todo.append(after)
    return len(seen)
