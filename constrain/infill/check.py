"""Can a canvas of fixed text and gaps still be completed to a string of the grammar?

A *canvas* is a sequence of parts: known bytes, and :class:`Gap` objects that stand for any
byte string whose length lies in ``[min_bytes, max_bytes]`` (``max_bytes=None``: any length).
It describes the regular language ``R = s0 . X1 . s1 . X2 ... `` of its completions, and a
canvas is *admissible* when ``L(G) ∩ R`` is not empty, where ``L(G)`` is exactly the byte
language a :class:`~constrain.automata.matcher.Matcher` accepts (greedy lexing included).
The whole canvas is a whole output: after its last part the text must be complete.

The search runs the matcher itself over the canvas, so it decides the matcher's language and
nothing wider or narrower:

* Known bytes are fed to the matcher (segments may cut lexemes at either end).
* A gap is explored breadth first, one byte at a time, over *configurations* of the matcher.
  A configuration is the current lexer state plus the Earley sets reachable from the last
  set through origin pointers, with set indices replaced by their rank: the future of a
  matcher (every scan, every completion) reads nothing else, so two matchers with equal
  configurations accept the same continuations. Bytes are tried one per class: bytes that
  lead the current lexeme to the same lexer state give the same configuration.
* Within a gap, a configuration at depth ``d`` dominates the same configuration at a greater
  depth once both are past ``min_bytes`` (it has at least as much room left), so each is
  expanded once per depth below ``min_bytes`` and once after. A bounded gap therefore has a
  finite search; an unbounded one is finite whenever the grammar's configurations reachable
  in the gap are (a flat JSON object, an array of numbers), and otherwise runs until a
  completion is found or a limit is hit.
* After each gap configuration the rest of the canvas is tried depth first, so a canvas that
  can be completed is usually confirmed after a few configurations; a configuration from which
  the rest failed is remembered per part and never tried again.

Limits: ``Limits.max_infill_states`` configurations and ``Limits.max_infill_seconds`` per check;
past either, :class:`~constrain.errors.ResourceLimitError`. A positive answer always comes with
a witness (one filling per gap) that the matcher accepts; a negative one means every
configuration was exhausted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from ..automata.compiled import CompiledGrammar, compile
from ..automata.matcher import Matcher
from ..config import Limits
from ..errors import ConfigurationError, ResourceLimitError
from ..grammar.ir import Grammar
from ..vocab import Vocabulary


@dataclass(frozen=True)
class Gap:
    """A hole in a canvas: any byte string of ``min_bytes`` to ``max_bytes`` bytes
    (``max_bytes=None``: unbounded, the gap of the paper)."""

    min_bytes: int = 0
    max_bytes: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.min_bytes, bool) or not isinstance(self.min_bytes, int) or self.min_bytes < 0:
            raise ConfigurationError(f"Gap.min_bytes must be an int >= 0, got {self.min_bytes!r}")
        if self.max_bytes is not None and (
            isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int) or self.max_bytes < self.min_bytes
        ):
            raise ConfigurationError(
                f"Gap.max_bytes must be None or an int >= min_bytes ({self.min_bytes}), got {self.max_bytes!r}"
            )

    @classmethod
    def slots(cls, count: int, max_token_bytes: int, *, may_be_short: bool = False) -> "Gap":
        """The gap of ``count`` token slots: each slot holds one token of 1 to
        ``max_token_bytes`` bytes, so the gap holds ``count`` to ``count * max_token_bytes``
        bytes; ``may_be_short`` (the slots run up to an end-of-sequence, which may pad them)
        lowers the minimum to 0."""
        if count < 0 or max_token_bytes < 1:
            raise ConfigurationError(f"Gap.slots needs count >= 0 and max_token_bytes >= 1, got {count}, {max_token_bytes}")
        return cls(0 if may_be_short else count, count * max_token_bytes)


Part = Union[bytes, Gap]


def state_key(matcher: Matcher) -> tuple:
    """The configuration of ``matcher``: its lexer state and the Earley sets its future can
    read (the last set and, transitively, the origin sets of their items), each as its sorted
    items with origins replaced by the rank of the origin set among those sets (0 = last)."""
    n = matcher._n_sets
    items = matcher._items
    starts = matcher._set_starts
    reach = {n - 1}
    stack = [n - 1]
    while stack:
        k = stack.pop()
        for o in np.unique(items[starts[k]:starts[k + 1], 1]).tolist():
            if o not in reach:
                reach.add(o)
                stack.append(o)
    order = sorted(reach, reverse=True)
    rank = np.full(n, -1, dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    sets = []
    for k in order:
        its = items[starts[k]:starts[k + 1]]
        mapped = np.stack([its[:, 0], rank[its[:, 1]]], axis=1)
        mapped = mapped[np.lexsort((mapped[:, 1], mapped[:, 0]))]
        sets.append(mapped.tobytes())
    return (int(matcher._lex_state), tuple(sets))


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.max_states = limits.max_infill_states
        self.max_seconds = limits.max_infill_seconds
        self.deadline = time.monotonic() + self.max_seconds
        self.states = 0

    def charge(self) -> None:
        self.states += 1
        if self.states > self.max_states:
            raise ResourceLimitError(
                f"the infill check visited more than {self.max_states} parser configurations "
                "(Limits.max_infill_states); bound the gaps or raise the limit"
            )
        if (self.states & 63) == 0 and time.monotonic() > self.deadline:
            raise ResourceLimitError(
                f"the infill check ran past {self.max_seconds} s (Limits.max_infill_seconds) after "
                f"{self.states} parser configurations; bound the gaps or raise the limit"
            )


class InfillChecker:
    """Decides whether canvases can be completed under one grammar.

    Args:
        grammar: a :class:`~constrain.automata.compiled.CompiledGrammar` (its grammar and
            limits are used, and its vocabulary's longest token for :meth:`slot_gap`) or a
            :class:`~constrain.grammar.ir.Grammar`.
        limits: overrides the compiled grammar's limits.

    The checker compiles the grammar once more against the 256 single bytes (the language
    does not depend on the vocabulary) to enumerate the bytes allowed after a configuration.
    It holds no state between checks; one checker may serve any number of canvases, one
    thread at a time.
    """

    def __init__(self, grammar: Union[CompiledGrammar, Grammar], *, limits: Optional[Limits] = None) -> None:
        if isinstance(grammar, CompiledGrammar):
            self.max_token_bytes = grammar.max_token_length
            limits = limits or grammar.limits
            grammar = grammar.grammar
        elif isinstance(grammar, Grammar):
            self.max_token_bytes = 1
        else:
            raise ConfigurationError(
                f"InfillChecker needs a CompiledGrammar or a Grammar, got {type(grammar).__name__}"
            )
        self.compiled = compile(grammar, Vocabulary.byte_level(), limits=limits)
        self.limits = self.compiled.limits
        self._row = np.zeros(9, dtype=np.int32)

    # -- matchers over the byte-level compile ------------------------------------------------

    def start(self) -> Matcher:
        """A matcher at the start of the grammar (to advance over a known prefix and pass as
        ``start``)."""
        return Matcher(self.compiled, max_rollback_tokens=0)

    def slot_gap(self, count: int, *, may_be_short: bool = False) -> Gap:
        """:meth:`Gap.slots` with this vocabulary's longest token."""
        return Gap.slots(count, self.max_token_bytes, may_be_short=may_be_short)

    def slot_canvas(self, slots: Sequence[Optional[int]], vocab: Vocabulary, *,
                    bytes_per_slot: Optional[int] = None) -> Optional[list]:
        """The canvas of a row of token slots (``None``: masked), or ``None`` when no filling
        can be valid whatever the grammar: a special token, or text after an end-of-sequence.

        The first EOS ends the text: every slot after it must be EOS or masked (a masked one
        will be EOS). A run of ``k`` masked slots followed by a text token holds exactly ``k``
        tokens, ``Gap.slots(k)``; a run that reaches the first EOS or the end of the row may
        be padded by EOS, ``Gap.slots(k, may_be_short=True)``.

        ``bytes_per_slot`` is what one slot may hold at most: by default the vocabulary's
        longest token, which over-approximates (a slot of a byte string no single token
        spells is counted as fillable); ``1`` under-approximates instead when every single
        byte is a token (:func:`spells_every_byte`): a canvas admitted then can always be
        finished with single-byte tokens, so a decoder that keeps it admissible never gets
        stuck, at the price of rejecting canvases only longer tokens could finish.
        """
        if bytes_per_slot is None:
            longest = int(vocab.trie.depth.max()) if vocab.trie.depth.size else 1
        else:
            longest = int(bytes_per_slot)
        parts: list = []
        run = 0
        for index, token in enumerate(slots):
            if token is None:
                run += 1
                continue
            token = int(token)
            if not 0 <= token < vocab.size:
                raise ConfigurationError(f"slot {index} holds token id {token}, outside the vocabulary")
            if token in vocab.eos_token_ids:
                if run:
                    parts.append(Gap.slots(run, longest, may_be_short=True))
                rest = slots[index + 1:]
                if any(t is not None and int(t) not in vocab.eos_token_ids for t in rest):
                    return None
                return _normalize(parts)
            if token in vocab.special_token_ids:
                return None
            if run:
                parts.append(Gap.slots(run, longest))
                run = 0
            parts.append(vocab.token_bytes[token])
        if run:
            parts.append(Gap.slots(run, longest, may_be_short=True))
        return _normalize(parts)

    # -- the check -----------------------------------------------------------------------------

    def is_admissible(self, parts: Sequence[Part], *, start: Optional[Matcher] = None) -> bool:
        """Whether some filling of the gaps makes the canvas a complete string of the grammar."""
        return self.complete(parts, start=start) is not None

    def complete(self, parts: Sequence[Part], *, start: Optional[Matcher] = None) -> Optional[list]:
        """One filling per gap (a list of bytes, in order) that completes the canvas, or
        ``None`` when there is none. ``start`` (from :meth:`start`, left unchanged) is where
        the canvas begins; by default, the start of the grammar.

        Raises:
            ResourceLimitError: past ``Limits.max_infill_states`` or ``max_infill_seconds``.
        """
        parts = _normalize(parts)
        if start is None:
            start = self.start()
        elif not isinstance(start, Matcher) or start.compiled is not self.compiled:
            raise ConfigurationError("`start` must be a matcher from this checker's start()")
        budget = _Budget(self.limits)
        dead: set = set()
        return self._run(parts, 0, start.fork(), [], budget, dead)

    def _run(self, parts, i, m, fills, budget, dead):
        # Known bytes: fed as they are.
        while i < len(parts) and not isinstance(parts[i], Gap):
            if not m.accept_bytes(parts[i]):
                return None
            i += 1
        if i == len(parts):
            return fills if m.is_accepting() else None
        memo = (i, state_key(m))
        if memo in dead:
            return None
        gap = parts[i]
        lo, hi = gap.min_bytes, gap.max_bytes
        seen = {(0, memo[1])}
        frontier = [(m, b"")]
        depth = 0
        while frontier:
            following = []
            for config, text in frontier:
                if depth >= lo:
                    found = self._run(parts, i + 1, config.fork(), fills + [text], budget, dead)
                    if found is not None:
                        return found
                if hi is not None and depth >= hi:
                    continue
                for byte, successor in self._successors(config):
                    key = (min(depth + 1, lo), state_key(successor))
                    if key in seen:
                        continue
                    seen.add(key)
                    budget.charge()
                    following.append((successor, text + byte))
            frontier = following
            depth += 1
        dead.add(memo)
        return None

    def _successors(self, config: Matcher):
        """(byte, matcher after it) for one byte of each class of the allowed bytes: bytes
        that continue the current lexeme into the same lexer state lead to the same
        configuration; each byte that ends the lexeme is tried on its own."""
        row = self._row
        config.fill_next_token_bitmask(row)
        allowed = np.flatnonzero(np.unpackbits(row.view(np.uint8), bitorder="little")[:256])
        if allowed.size == 0:
            return
        trans = self.compiled.lexers.tables[0][config._lex_state]
        classes = {}
        for b in allowed.tolist():
            target = int(trans[b])
            classes.setdefault(target if target >= 0 else -1 - b, b)
        for b in classes.values():
            successor = config.fork()
            if successor.accept_bytes(bytes((b,))):
                yield bytes((b,)), successor


def spells_every_byte(vocab: Vocabulary) -> bool:
    """Whether each of the 256 bytes is a token of ``vocab`` (byte-level BPE vocabularies)."""
    return len({tb for tb in vocab.token_bytes if len(tb) == 1}) == 256


def _normalize(parts: Sequence[Part]) -> list:
    """Adjacent known bytes joined, empty ones dropped; bad parts rejected."""
    out: list = []
    for index, part in enumerate(parts):
        if isinstance(part, Gap):
            out.append(part)
        elif isinstance(part, (bytes, bytearray, memoryview)):
            part = bytes(part)
            if not part:
                continue
            if out and not isinstance(out[-1], Gap):
                out[-1] = out[-1] + part
            else:
                out.append(part)
        elif isinstance(part, str):
            raise ConfigurationError(f"canvas part {index} is a str; pass text as UTF-8 bytes")
        else:
            raise ConfigurationError(f"canvas part {index} must be bytes or a Gap, got {type(part).__name__}")
    return out
