"""Lowering string shapes: one terminal per string (quotes included) in general; long strings
bounded by length alone as counted chunks; a pattern or format with a length bound it does not
imply as Glushkov positions counted by the rules."""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Optional, Tuple

from ...errors import InvalidGrammarError, UnsupportedFeatureError
from ..ecma_regex import ecma_search_regex
from ..formats import format_regex
from ..ir import And, Chars, Not, Regex, Repeat, literal, seq
from .measures import max_len, min_len, regex_size
from .positions import Glushkov, TooBig, character_states, pieces_split_exactly
from .shapes import Shape
from .state import CompilerState
from .strings import ANY, encode, encode_chars, string_terminal_regex


#: Strings whose only bounds are lengths above this are built from chunks (see _chunked_string).
_LONG_STRING = 128
_CHUNK = 32
#: With a pattern or format, a maxLength above this is lowered to it (a narrower language)
#: unless the pattern bounds the length itself; the DFA would need a state per position.
_MAX_BOUNDED_LENGTH = 256

#: Strings with one pattern or format whose size (regex nodes) times (maxLength + 1) is at
#: most this keep one terminal (the product DFA is small); above it, the length is counted by
#: rules over the pattern's positions (_counted_pattern_string).
_SMALL_PRODUCT = 1000
#: Most Glushkov positions, and rules, of a string counted that way (more rules compile slower
#: than the product DFA they replace: a URI of at most 100 characters needs 49,000 rules,
#: 8 s, and its product DFA 0.5 s).
_MAX_POSITIONS = 4000
#: Patterns of single characters whose product with the length bound has at most this many
#: states (the pattern's character DFA states times maxLength + 1, times the byte states a
#: character's JSON spelling may take) keep one terminal: its DFA builds in milliseconds,
#: where counting the length takes a rule per (position set, length), hundreds of them for
#: a simple pattern, and the front end and parser tables pay far more for those (a name
#: pattern with maxLength 1000: 105 ms counted, 2 ms as one terminal).
_ONE_TERMINAL_STATES = 10_000
_MAX_COUNTED_RULES = 20_000


class StringLowering(CompilerState):
    """String shapes to terminals and rules."""

    def _string(self, shape: Shape) -> List[Tuple[str, ...]]:
        lo, hi = shape.min_length, shape.max_length
        if hi is not None and lo > hi:
            return []
        plain = not (
            shape.patterns or shape.not_patterns or shape.formats or any(isinstance(v, str) for v, _ in shape.excluded)
        )
        if plain and (lo > _LONG_STRING or (hi is not None and hi > _LONG_STRING)):
            return [self._chunked_string(lo, hi)]
        counted = self._counted_pattern_string(shape)
        if counted is not None:
            return [counted]
        one = self._one_terminal(shape, _MAX_BOUNDED_LENGTH)
        return [] if one is None else [one]

    def _one_terminal(self, shape: Shape, max_bounded: int) -> Optional[Tuple[str]]:
        """The string as one terminal (None when its language is empty), with a maxLength
        above ``max_bounded`` beside a pattern or format enforced as ``max_bounded``."""
        regex = self._string_decoded(shape, max_bounded)
        if regex is None:
            return None
        return (self.b.terminal(string_terminal_regex(regex, self.escapes), "STR", _string_origin(shape)),)

    def _chunked_string(self, lo: int, hi: Optional[int]) -> Tuple[str, ...]:
        """A long string with only length bounds, as chunks of _CHUNK characters.

        Greedy lexing splits the body into a first chunk (with the opening quote), full
        chunks, and a last, shorter one that ends with the closing quote; one terminal per
        string would need a DFA state per character position. With ``J`` full chunks after
        the first, the last has ``e`` characters where ``lo <= c(1 + J) + e <= hi`` and
        ``e < c``: every ``J`` in a range takes any ``e`` (the generic tail), and at most the
        one below and the one above the range take a narrower tail. Counts of chunks are
        rules in binary (``2**k`` chunks is two ``2**(k-1)`` rules; "at most D" follows D's
        bits), so a maxLength of 65,535 takes about 30 rules rather than one per chunk
        (2,048), and every count has one parse.
        """
        b, c = self.b, _CHUNK
        enc = encode_chars(ANY, self.escapes)
        q = literal('"')
        alts: List[Tuple[str, ...]] = []
        if lo < c:
            alts.append((b.terminal(seq(q, Repeat(enc, lo, min(c - 1, hi if hi is not None else c - 1)), q), "STR"),))
        if hi is not None and hi < c:
            return (b.rule(alts, "s"),)
        start = b.terminal(seq(q, Repeat(enc, c, c)), "STR")
        full = b.terminal(Repeat(enc, c, c), "STR")

        def tail(j: int) -> Optional[str]:
            """The last chunk after ``j`` full chunks (None if no length fits)."""
            used = c * (1 + j)
            e_lo, e_hi = max(0, lo - used), c - 1 if hi is None else min(c - 1, hi - used)
            return b.terminal(seq(Repeat(enc, e_lo, e_hi), q), "STR") if e_lo <= e_hi else None

        generic_lo = max(0, -(-lo // c) - 1)  # the least J with c(1 + J) >= lo
        generic_hi = None if hi is None else (hi - (c - 1)) // c - 1  # the most J with c(2 + J) - 1 <= hi
        for j in sorted({generic_lo - 1, generic_hi + 1 if generic_hi is not None else -1}):
            if j >= 0 and (generic_hi is None or not generic_lo <= j <= generic_hi):
                last = tail(j)
                if last is not None:
                    alts.append((start, *self._chunks_exactly(full, j), last))
        if generic_hi is None:
            loop = self.chunk_rules.get(("loop", full, 0))
            if loop is None:
                loop = self.chunk_rules[("loop", full, 0)] = b.new_rule("s")
                generic = tail(generic_lo)  # without a maximum, every J from here takes any tail
                assert generic is not None
                b.set_rule(loop, [(generic,), (full, loop)])
            alts.append((start, *self._chunks_exactly(full, generic_lo), loop))
        elif generic_lo <= generic_hi:
            generic = tail(generic_lo)
            assert generic is not None  # J in the range takes every length of tail
            alts.append(
                (
                    start,
                    *self._chunks_exactly(full, generic_lo),
                    self._chunks_at_most(full, generic_hi - generic_lo),
                    generic,
                )
            )
        return (b.rule(alts, "s"),)

    def _chunks_power(self, full: str, k: int) -> str:
        """The symbol of exactly ``2**k`` chunks: ``full`` itself, or a rule of two halves."""
        if k == 0:
            return full
        name = self.chunk_rules.get(("power", full, k))
        if name is None:
            half = self._chunks_power(full, k - 1)
            name = self.chunk_rules[("power", full, k)] = self.b.rule([(half, half)], "s")
        return name

    def _chunks_exactly(self, full: str, count: int) -> Tuple[str, ...]:
        """Symbols for exactly ``count`` chunks: one power of two per bit, largest first."""
        return tuple(self._chunks_power(full, k) for k in reversed(range(count.bit_length())) if count >> k & 1)

    def _chunks_below_power(self, full: str, k: int) -> str:
        """A rule for 0 to ``2**k - 1`` chunks: an optional ``2**(k-1)``, then fewer than
        ``2**(k-1)`` (one parse per count: its binary digits)."""
        name = self.chunk_rules.get(("below", full, k))
        if name is None:
            if k == 0:
                name = self.b.rule([()], "s")
            else:
                rest = self._chunks_below_power(full, k - 1)
                name = self.b.rule([(self._chunks_power(full, k - 1), rest), (rest,)], "s")
            self.chunk_rules[("below", full, k)] = name
        return name

    def _chunks_at_most(self, full: str, most: int) -> str:
        """A rule for 0 to ``most`` chunks: fewer than the top power of two of ``most``, or
        that power then at most the rest."""
        if most == 0:
            return self._chunks_below_power(full, 0)
        key = ("most", full, most)
        name = self.chunk_rules.get(key)
        if name is None:
            k = most.bit_length() - 1
            name = self.b.rule(
                [
                    (self._chunks_below_power(full, k),),
                    (self._chunks_power(full, k), self._chunks_at_most(full, most - (1 << k))),
                ],
                "s",
            )
            self.chunk_rules[key] = name
        return name

    def _counted_pattern_string(self, shape: Shape) -> Optional[Tuple[str, ...]]:
        """A string with one pattern or format and length bounds it does not imply, with the
        length counted by the rules rather than in the pattern's DFA; None where that
        construction does not apply (the caller then builds one terminal), and the exact
        one terminal where the product is small (see ``_ONE_TERMINAL_STATES``).

        One terminal for ``pattern AND length <= n`` is the product of the pattern's DFA with
        a counter: about ``n`` times the pattern's states (an e-mail address of at most 254
        characters: 25,000 byte states). Here the pattern is taken apart into its Glushkov
        positions: a single character each, or a whole ``And`` (a piece such as a host-name
        label, with a terminal per length). Each position becomes its own lexeme, and a rule
        per (position, characters so far) counts the decoded length exactly, so the sizes
        add instead of multiplying. Lexemes are split exactly where the grammar says only if
        no byte that may start the next position can continue a piece of several characters
        (``pieces_split_exactly``); otherwise, or when the positions or rules would be too
        many, None.
        """
        if shape.not_patterns or any(isinstance(v, str) for v, _ in shape.excluded):
            return None
        parts: List[Tuple[Regex, str]] = []
        for pattern, where in shape.patterns:
            r = self._pattern(pattern, where)
            if r is not None:
                parts.append((r, where))
        for fmt, where in shape.formats:
            r = format_regex(fmt)
            if r is not None:
                parts.append((r, where))
        if len(parts) != 1:
            return None
        ((regex, where),) = parts
        lo, hi = shape.min_length, shape.max_length
        own_hi = max_len(regex)
        if hi is None or (own_hi is not None and own_hi <= hi):
            return None  # no upper bound to count (a lower bound alone keeps one terminal)
        if min_len(regex) >= lo:
            lo = 0
        if regex_size(regex) * (hi + 1) <= _SMALL_PRODUCT:
            return self._one_terminal(shape, hi)  # the product is small: simpler, lexes faster
        positions = Glushkov(_MAX_POSITIONS, hi)
        try:
            nullable_all, first, last = positions.build(regex)
        except TooBig:
            return None
        if all(isinstance(piece, Chars) for piece in positions.pieces):
            per_length = (hi + 1) * _spelling_states(positions.pieces, self.escapes)
            bound = _ONE_TERMINAL_STATES // per_length
            if bound and character_states(positions, first, bound) <= bound:
                return self._one_terminal(shape, hi)  # the product is small: one terminal
        b, esc = self.b, self.escapes
        q = literal('"')
        close = b.terminal(q, "STR")
        lengths = []
        for piece in positions.pieces:
            if isinstance(piece, Chars):
                lengths.append((1, 1))
            else:
                top = max_len(piece)
                lengths.append((max(1, min_len(piece)), hi if top is None else min(top, hi)))

        terms: Dict[Tuple[int, int, bool], str] = {}

        def term(p: int, k: int, opening: bool) -> str:
            name = terms.get((p, k, opening))
            if name is None:
                piece = positions.pieces[p]
                body = encode(piece if isinstance(piece, Chars) else And((piece, Repeat(ANY, k, k))), esc)
                name = terms[(p, k, opening)] = b.terminal(seq(q, body) if opening else body, "STR")
            return name

        # What may come after a position is all a rule needs to know of it: positions with the
        # same follow set and the same "may end here" share their rules.
        state_of: Dict[Tuple[FrozenSet[int], bool], int] = {}
        follows: List[FrozenSet[int]] = [frozenset(first)]
        ends: List[bool] = [False]
        state = [0] * len(positions.pieces)
        for p, after in enumerate(positions.follow):
            key = (frozenset(after), p in last)
            if key not in state_of:
                state_of[key] = len(follows)
                follows.append(key[0])
                ends.append(key[1])
            state[p] = state_of[key]
        if len(follows) * (hi + 1) > _MAX_COUNTED_RULES:
            return None  # e.g. a URI (hundreds of states, from IPv6 literals): one terminal
        if not pieces_split_exactly(positions, first, self.escapes):
            return None
        rules: Dict[Tuple[int, int], str] = {}
        todo: List[Tuple[int, int]] = []

        def rule(st: int, used: int) -> str:  # state 0: before the first character
            name = rules.get((st, used))
            if name is None:
                name = rules[(st, used)] = b.new_rule("s")
                todo.append((st, used))
            return name

        top_rule = rule(0, 0)
        while todo:
            st, used = todo.pop()
            self._tick()
            alts: List[Tuple[str, ...]] = []
            for nxt in sorted(follows[st]):
                k_lo, k_hi = lengths[nxt]
                for k in range(k_lo, min(k_hi, hi - used) + 1):
                    alts.append((term(nxt, k, st == 0), rule(state[nxt], used + k)))
            if ends[st] and used >= lo:
                alts.append((close,))
            if st == 0 and nullable_all and lo == 0:
                alts.append((b.terminal(literal('""'), "STR"),))
            b.set_rule(rules[(st, used)], alts)
        return (top_rule,)

    def _string_decoded(self, shape: Shape, max_bounded: int = _MAX_BOUNDED_LENGTH) -> Optional[Regex]:
        if shape.max_length is not None and shape.min_length > shape.max_length:
            return None
        parts: List[Regex] = []
        lo, hi = shape.min_length, shape.max_length
        for pattern, where in shape.patterns:
            r = self._pattern(pattern, where)
            if r is not None:
                parts.append(r)
        for fmt, where in shape.formats:
            r = format_regex(fmt)
            if r is not None:
                parts.append(r)
        if parts:
            # Length bounds implied by the pattern/format need no counting states.
            own_lo = max(min_len(p) for p in parts)
            own_hi = min((m for m in (max_len(p) for p in parts) if m is not None), default=None)
            if own_lo >= lo:
                lo = 0
            if hi is not None and own_hi is not None and own_hi <= hi:
                hi = None
            if hi is not None and hi > max_bounded:
                hi = max_bounded
                msg = f"maxLength above {max_bounded} with a pattern or format is enforced as {max_bounded}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
            if lo > max_bounded:
                self.feature(
                    f"minLength {lo} with a pattern or format",
                    shape.patterns[0][1] if shape.patterns else shape.formats[0][1],
                )
                lo = 0
        if lo or hi is not None:
            parts.insert(0, Repeat(ANY, lo, hi))
        for pattern, where in shape.not_patterns:
            r = self._pattern(pattern, where)
            if r is not None:
                parts.append(Not(r))
        for v, _ in shape.excluded:
            if isinstance(v, str):
                parts.append(Not(literal(v)))
        if not parts:
            return Repeat(ANY, 0, None)
        if len(parts) == 1 and not isinstance(parts[0], Not):
            return parts[0]
        return And((Repeat(ANY, 0, None), *parts))

    def _pattern(self, pattern: str, where: str) -> Optional[Regex]:
        try:
            return ecma_search_regex(pattern)
        except UnsupportedFeatureError as e:
            self.feature(f"pattern ({', '.join(f.name for f in e.features)})", where)
            return None
        except InvalidGrammarError as e:
            raise InvalidGrammarError(f"{e} (at {where})") from None


def _string_origin(shape: Shape) -> str:
    """Where a patterned string's terminal comes from, for errors about its size."""
    located = shape.patterns or shape.formats
    if not located:
        return ""
    what = [f"pattern {p!r}" for p, _ in shape.patterns] + [f"format {f!r}" for f, _ in shape.formats]
    if shape.min_length:
        what.append(f"minLength {shape.min_length}")
    if shape.max_length is not None:
        what.append(f"maxLength {shape.max_length}")
    where = located[0][1].rsplit("/", 1)[0] or "#"
    return f"the string at {where} ({', '.join(what)})"


def _spelling_states(pieces: List[Regex], escapes: str) -> int:
    """A bound on the byte states one character of ``pieces`` takes in a string's DFA: 1 for
    printable ASCII that needs no escape; escapes (``\\u00xx``) and UTF-8 sequences add the
    states inside them."""
    plain = all(
        0x20 <= lo and hi <= 0x7E and not (lo <= 0x22 <= hi) and not (lo <= 0x5C <= hi)
        for piece in pieces
        if isinstance(piece, Chars)
        for lo, hi in piece.ranges
    )
    if plain and escapes == "minimal":
        return 1
    return 16 if escapes == "minimal" else 32
