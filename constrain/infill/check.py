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
* A gap is explored one byte at a time over *configurations* of the matcher: the current
  lexer state and the canonical name of the last Earley set (:class:`_Canon`: a set's sorted
  items with each origin replaced by the origin set's name, hash-consed). The future of a
  matcher (every scan, every completion) reads only the sets so named, so two matchers with
  equal configurations accept the same continuations. Bytes are tried one per class: bytes
  that lead the current lexeme to the same lexer state give the same configuration.
* Within a gap, a configuration reached at depth ``d`` dominates the same configuration at a
  greater depth once both are past ``min_bytes`` (it has at least as much room left), so each
  is expanded once per depth below ``min_bytes`` and once (at its least depth) after. A
  bounded gap therefore has a finite search; an unbounded one is finite whenever the
  configurations reachable in the gap are (a flat JSON object, a list of numbers), and
  otherwise runs until a completion is found or a limit is hit.
* The order is best first (A*): depth plus a lower bound on the bytes any completion still
  needs (:class:`_LowerBound`), deepest first among equals. The same bound prunes
  configurations that cannot fit in the room the canvas has left.
* After each gap configuration the rest of the canvas is tried depth first, so a canvas that
  can be completed is usually confirmed after a few configurations; a configuration from which
  the rest failed is remembered per part and never tried again.

Limits: ``Limits.max_infill_states`` configurations and ``Limits.max_infill_seconds`` per check;
past either, :class:`~constrain.errors.ResourceLimitError`. A positive answer always comes with
a witness (one filling per gap) that the matcher accepts; a negative one means every
configuration was exhausted.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Container, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from ..automata.compiled import CompiledGrammar
from ..automata.compiler import compile
from ..automata.fsm import ByteDFA
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
            raise ConfigurationError(
                f"Gap.slots needs count >= 0 and max_token_bytes >= 1, got {count}, {max_token_bytes}"
            )
        return cls(0 if may_be_short else count, count * max_token_bytes)


Part = Union[bytes, Gap]


def _sets_to_visit(
    items: np.ndarray, starts: np.ndarray, builds: np.ndarray, k: int, known: Container[int]
) -> List[int]:
    """Set ``k`` and the sets its items reach through their origins, stopping at sets whose
    build number is in ``known``; lowest first (a set's origins come before it)."""
    todo, stack, queued = [], [k], {k}
    while stack:
        j = stack.pop()
        if int(builds[j, 0]) in known:
            continue
        todo.append(j)
        for o in set(items[starts[j] : starts[j + 1], 1].tolist()):
            if o != j and o not in queued:
                queued.add(o)
                stack.append(o)
    return sorted(todo)


class _Canon:
    """Canonical names of Earley sets, hash-consed: a set's name is an interned id of its
    sorted items with each origin replaced by the origin set's name (its own set: -1). Two
    matchers whose last sets have equal names read equal sets in every scan and completion
    to come, so (lexer state, name of the last set) is their configuration. Names are cached
    by build number (a set's build number fixes its items and every set below it); ids are
    never reused, so clearing a full cache only loses sharing."""

    MAX_ENTRIES = 1 << 16
    MAX_BYTES = 64 << 20

    def __init__(self) -> None:
        self.by_build: Dict[int, int] = {}  # build number -> name
        self.interned: Dict[bytes, int] = {}  # a set's canonical items -> name
        self.interned_bytes = 0
        self.next_id = 0

    def name(self, matcher: Matcher, k: int) -> int:
        items, starts, builds = matcher._items, matcher._set_starts, matcher._set_build
        by_build = self.by_build
        if (
            len(by_build) > self.MAX_ENTRIES
            or len(self.interned) > self.MAX_ENTRIES
            or self.interned_bytes > self.MAX_BYTES
        ):
            by_build.clear()
            self.interned.clear()
            self.interned_bytes = 0
        # the sets below k that are not named yet, named lowest first
        for j in _sets_to_visit(items, starts, builds, k, by_build):
            its = items[starts[j] : starts[j + 1]]
            origins = its[:, 1].tolist()
            names = {o: (-1 if o == j else by_build[int(builds[o, 0])]) for o in set(origins)}
            mapped = np.empty((len(origins), 2), dtype=np.int64)
            mapped[:, 0] = its[:, 0]
            mapped[:, 1] = [names[o] for o in origins]
            mapped = mapped[np.lexsort((mapped[:, 1], mapped[:, 0]))]
            data = mapped.tobytes()
            ident = self.interned.get(data)
            if ident is None:
                ident = self.interned[data] = self.next_id
                self.next_id += 1
                self.interned_bytes += len(data)
            by_build[int(builds[j, 0])] = ident
        return by_build[int(builds[k, 0])]


def state_key(matcher: Matcher, canon: Optional[_Canon] = None) -> Tuple[int, int]:
    """The configuration of ``matcher``: its lexer state and the canonical name of its last
    Earley set (see :class:`_Canon`); equal keys (from one ``canon``) accept equal futures."""
    if canon is None:
        canon = _Canon()
    return (int(matcher._lex_state), canon.name(matcher, matcher._n_sets - 1))


class _LowerBound:
    """A lower bound on the bytes any completion of a configuration still needs.

    ``sym_min[X]`` is the length of the shortest string of symbol ``X`` (a terminal's DFA,
    a nonterminal's rules, to a fixed point); ``rest[p]`` the shortest string of the symbols
    from dotted position ``p`` to the end of its rule. After the last set, an item ``(p, o)``
    needs ``rest[p] + W(o, lhs(p))`` bytes, where ``W(j, A)``, what remains once ``A`` is
    complete from set ``j``, is the least ``rest[q + 1] + W(o', lhs(q))`` over the items
    ``(q, o')`` of set ``j`` waiting for ``A`` (``W(., $start) = 0``); items of set ``j``
    with origin ``j`` make that a fixed point. Inside a lexeme, the next lexeme may end at
    once, so the items waiting for a terminal count from after it. Greedy lexing only
    removes strings, so the bound also holds for the matcher's language.
    """

    #: Memory for the cached ``W`` rows (one float per symbol per Earley set).
    MAX_CACHE_BYTES = 64 << 20

    def __init__(self, compiled: CompiledGrammar) -> None:
        t = compiled.tables
        T = t.num_terminals
        n_symbols = T + len(t.nonterminal_names)
        sym_min = np.full(n_symbols, np.inf)
        for k, dfa in enumerate(compiled.terminal_dfas):
            sym_min[k] = _shortest(dfa)
        dot = t.dot_symbol.astype(np.int64)
        ends = np.flatnonzero(dot < 0)
        end_of = np.repeat(ends, np.diff(np.concatenate([[-1], ends])))  # the end marker of each position
        lhs = t.rule_lhs.astype(np.int64)[t.dot_rule.astype(np.int64)]
        while True:
            value = np.where(dot >= 0, sym_min[np.maximum(dot, 0)], 0.0)
            # suffix sums from the back (total[p] = sum of value[p:]), infinities counted apart
            infinite = np.isinf(value)
            total = np.concatenate([np.cumsum(np.where(infinite, 0.0, value)[::-1])[::-1], [0.0]])
            count = np.concatenate([np.cumsum(infinite[::-1])[::-1], [0]])
            rest = np.where(count[: len(dot)] > count[end_of], np.inf, total[: len(dot)] - total[end_of])
            new = sym_min.copy()
            np.minimum.at(new, lhs[t.rule_first_dot.astype(np.int64)], rest[t.rule_first_dot.astype(np.int64)])
            if np.array_equal(new, sym_min):
                break
            sym_min = new
        self.T = T
        self.start = T  # $start
        self.n_symbols = n_symbols
        self.dot = dot
        self.lhs = lhs
        self.rest = np.concatenate([rest, [0.0]])
        #: W of each Earley set seen, by build number; cleared when full.
        self.cache: Dict[int, NDArray[np.float64]] = {}
        self.max_cached_sets = max(16, self.MAX_CACHE_BYTES // (8 * n_symbols))

    def _w(self, matcher: Matcher, k: int) -> NDArray[np.float64]:
        """``W(k, .)`` for set ``k`` of ``matcher`` (and the sets below it not cached yet)."""
        items, starts, builds = matcher._items, matcher._set_starts, matcher._set_build
        cache = self.cache
        if len(cache) >= self.max_cached_sets:
            cache.clear()
        for j in _sets_to_visit(items, starts, builds, k, cache):
            its = items[starts[j] : starts[j + 1]]
            pos = its[:, 0].astype(np.int64)
            org = its[:, 1].astype(np.int64)
            sym = self.dot[pos]
            wj = np.full(self.n_symbols, np.inf)
            wj[self.start] = 0.0
            waiting = sym >= self.T
            lhs = self.lhs[pos]
            after = self.rest[pos + 1]
            outer = waiting & (org != j)
            if outer.any():
                vals = after[outer] + np.array(
                    [cache[int(builds[o, 0])][a] for o, a in zip(org[outer].tolist(), lhs[outer].tolist())]
                )
                np.minimum.at(wj, sym[outer], vals)
            inner = waiting & (org == j)
            if inner.any():
                s_in, l_in, a_in = sym[inner], lhs[inner], after[inner]
                for _ in range(len(s_in) + 1):
                    new = wj.copy()
                    np.minimum.at(new, s_in, a_in + wj[l_in])
                    if np.array_equal(new, wj):
                        break
                    wj = new
            cache[int(builds[j, 0])] = wj
        return cache[int(builds[k, 0])]

    def __call__(self, matcher: Matcher) -> float:
        """The bound for ``matcher``."""
        last = matcher._n_sets - 1
        items, starts, builds = matcher._items, matcher._set_starts, matcher._set_build
        self._w(matcher, last)
        its = items[starts[last] : starts[last + 1]]
        pos = its[:, 0].astype(np.int64)
        org = its[:, 1].astype(np.int64)
        w = np.array([self.cache[int(builds[o, 0])][a] for o, a in zip(org.tolist(), self.lhs[pos].tolist())])
        whole = self.rest[pos] + w
        if not whole.size:
            return np.inf
        if matcher._lex_state == matcher._set_lexstart[last]:
            return float(whole.min())
        # inside a lexeme: the items waiting for a terminal may count from after it
        scanning = (self.dot[pos] >= 0) & (self.dot[pos] < self.T)
        past = self.rest[pos + 1][scanning] + w[scanning]
        return min(float(whole.min()), float(past.min()) if past.size else np.inf)


class _InfixLexer:
    """A necessary condition for known bytes after a gap: they must split into lexemes, the
    first possibly entered midway and the last (unless the canvas ends there) left midway.
    Every text the matcher accepts is a concatenation of strings of its terminals, so a
    segment that fails here cannot stand anywhere in one; the search then need not run.
    The terminal DFAs are laid side by side in one table (4 bytes per state and byte, the
    size of the terminal DFAs the grammar already holds); the set of live states after each
    byte is kept (all states at the start: any position inside any lexeme)."""

    MAX_CACHED = 4096

    def __init__(self, compiled: CompiledGrammar) -> None:
        dfas = [d for d in compiled.terminal_dfas if d.num_states]
        sizes = [d.num_states for d in dfas]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(offsets[-1])
        self.trans = np.full((n, 256), -1, dtype=np.int32)
        self.accepting = np.zeros(n, dtype=bool)
        for d, o in zip(dfas, offsets[:-1].tolist()):
            t = d.transitions
            self.trans[o : o + d.num_states] = np.where(t >= 0, t + o, -1)
            self.accepting[o : o + d.num_states] = d.accepting
        self.starts = offsets[:-1]
        self.cache: Dict[Tuple[bytes, bool], bool] = {}

    def viable(self, data: bytes, ends: bool) -> bool:
        """Whether ``data`` can stand in a text after a gap (``ends``: and end it)."""
        key = (data, ends)
        known = self.cache.get(key)
        if known is not None:
            return known
        alive = np.arange(self.trans.shape[0])
        for b in data:
            following = self.trans[alive, b]
            if self.accepting[alive].any():  # a lexeme may end here and the next begin
                following = np.concatenate([following, self.trans[self.starts, b]])
            alive = np.unique(following[following >= 0])
            if alive.size == 0:
                break
        result = bool(alive.size) and (not ends or bool(self.accepting[alive].any()))
        if len(self.cache) >= self.MAX_CACHED:
            self.cache.clear()
        self.cache[key] = result
        return result


def _shortest(dfa: ByteDFA) -> float:
    """Bytes in the shortest string of a terminal DFA (breadth first from state 0)."""
    if dfa.num_states == 0:
        return np.inf
    trans, accepting = dfa.transitions, dfa.accepting
    frontier, seen, depth = [0], {0}, 0
    while frontier:
        if any(accepting[s] for s in frontier):
            return float(depth)
        following = []
        for s in frontier:
            for u in np.unique(trans[s][trans[s] >= 0]).tolist():
                if u not in seen:
                    seen.add(u)
                    following.append(u)
        frontier = following
        depth += 1
    return np.inf


@dataclass
class _Search:
    """One check's state: the canvas, the room after each part, the budget, the
    configurations known to fail from a part, and the lower bounds computed."""

    parts: List[Part]
    room: List[float]
    budget: "_Budget"
    bound: _LowerBound
    bounds: Dict[Tuple[int, int], float]
    #: (part index, configuration) pairs known to fail.
    dead: Set[Tuple[int, Tuple[int, int]]] = field(default_factory=set)


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
        self._bound = _LowerBound(self.compiled)
        self._canon = _Canon()
        self._infix = _InfixLexer(self.compiled)

    # -- matchers over the byte-level compile ------------------------------------------------

    def start(self) -> Matcher:
        """A matcher at the start of the grammar (to advance over a known prefix and pass as
        ``start``)."""
        return Matcher(self.compiled, max_rollback_tokens=0)

    def slot_gap(self, count: int, *, may_be_short: bool = False) -> Gap:
        """:meth:`Gap.slots` with this vocabulary's longest token."""
        return Gap.slots(count, self.max_token_bytes, may_be_short=may_be_short)

    def slot_canvas(
        self, slots: Sequence[Optional[int]], vocab: Vocabulary, *, bytes_per_slot: Optional[int] = None
    ) -> Optional[List[Part]]:
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
        parts: List[Part] = []
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
                rest = slots[index + 1 :]
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

    def is_admissible(
        self, parts: Sequence[Part], *, start: Optional[Matcher] = None, max_seconds: Optional[float] = None
    ) -> bool:
        """Whether some filling of the gaps makes the canvas a complete string of the grammar."""
        return self.complete(parts, start=start, max_seconds=max_seconds) is not None

    def complete(
        self, parts: Sequence[Part], *, start: Optional[Matcher] = None, max_seconds: Optional[float] = None
    ) -> Optional[List[bytes]]:
        """One filling per gap (a list of bytes, in order) that completes the canvas, or
        ``None`` when there is none. ``start`` (from :meth:`start`, left unchanged) is where
        the canvas begins; by default, the start of the grammar. ``max_seconds`` overrides
        ``Limits.max_infill_seconds`` for this check.

        Raises:
            ResourceLimitError: past ``Limits.max_infill_states`` or ``max_infill_seconds``.
        """
        parts = _normalize(parts)
        if start is None:
            start = self.start()
        elif not isinstance(start, Matcher) or start.compiled is not self.compiled:
            raise ConfigurationError("`start` must be a matcher from this checker's start()")
        for k in range(1, len(parts)):
            part = parts[k]
            if isinstance(part, bytes) and not self._infix.viable(part, ends=k == len(parts) - 1):
                return None
        limits = self.limits if max_seconds is None else self.limits.replace(max_infill_seconds=float(max_seconds))
        budget = _Budget(limits)
        # room[i]: the most bytes parts i.. can hold (inf past an unbounded gap)
        room = [0.0] * (len(parts) + 1)
        for k in range(len(parts) - 1, -1, -1):
            p = parts[k]
            size = len(p) if isinstance(p, bytes) else (np.inf if p.max_bytes is None else p.max_bytes)
            room[k] = room[k + 1] + size
        search = _Search(parts, room, budget, self._bound, {})
        return self._run(search, 0, start.fork(), [])

    def _lower_bound(self, search: _Search, matcher: Matcher, key: Tuple[int, int]) -> float:
        bound = search.bounds.get(key)
        if bound is None:
            bound = search.bounds[key] = self._bound(matcher)
        return bound

    def _run(self, search: _Search, i: int, m: Matcher, fills: List[bytes]) -> Optional[List[bytes]]:
        parts = search.parts
        # Known bytes: fed as they are.
        while i < len(parts):
            piece = parts[i]
            if isinstance(piece, Gap):
                break
            if not m.accept_bytes(piece):
                return None
            i += 1
        if i == len(parts):
            return fills if m.is_accepting() else None
        key = state_key(m, self._canon)
        memo = (i, key)
        if memo in search.dead:
            return None
        if search.room[i] < np.inf and self._lower_bound(search, m, key) > search.room[i]:
            search.dead.add(memo)
            return None
        gap = parts[i]
        assert isinstance(gap, Gap)  # the loop above stops at a gap
        lo, hi = gap.min_bytes, gap.max_bytes
        # Best first, by depth + lower bound (A*): a filling that closes what is open is
        # found without expanding every shorter string first. best[(min(depth, lo), key)] is
        # the least depth a configuration was queued at; past min_bytes the least depth
        # dominates (more room left), so a configuration is queued again only at a lesser one.
        best = {(0, key): 0}
        tie = 0
        queue = [(0.0, 0, tie, m, b"")]  # (f, -depth, tie, matcher, text)
        while queue:
            _, negative_depth, _, config, text = heapq.heappop(queue)
            depth = -negative_depth
            if best.get((min(depth, lo), state_key(config, self._canon))) != depth:
                continue  # queued again at a lesser depth since
            if depth >= lo:
                found = self._run(search, i + 1, config.fork(), fills + [text])
                if found is not None:
                    return found
            if hi is not None and depth >= hi:
                continue
            # what the rest may still hold after one more byte of this gap
            left = (np.inf if hi is None else hi - depth - 1) + search.room[i + 1]
            for byte, successor in self._successors(config):
                succ_key = state_key(successor, self._canon)
                seen_key = (min(depth + 1, lo), succ_key)
                known = best.get(seen_key)
                if known is not None and known <= depth + 1:
                    continue
                best[seen_key] = depth + 1
                search.budget.charge()
                bound = self._lower_bound(search, successor, succ_key)
                if bound > left:
                    continue
                tie += 1
                # f = depth + a lower bound on the bytes still to come (the gap's own minimum
                # is one); among equal f the deepest first, so a gap with a minimum length
                # dives to it instead of widening level by level.
                f = max(depth + 1 + bound, lo)
                heapq.heappush(queue, (f, -(depth + 1), tie, successor, text + byte))
        search.dead.add(memo)
        return None

    def _successors(self, config: Matcher) -> Iterator[Tuple[bytes, Matcher]]:
        """(byte, matcher after it) for one byte of each class of the allowed bytes: bytes
        that continue the current lexeme into the same lexer state lead to the same
        configuration; each byte that ends the lexeme is tried on its own."""
        row = self._row
        config.fill_next_token_bitmask(row)
        allowed = np.flatnonzero(np.unpackbits(row.view(np.uint8), bitorder="little")[:256])
        if allowed.size == 0:
            return
        trans = self.compiled.lexers.tables[0][config._lex_state]
        classes: Dict[int, int] = {}  # lexer state after the byte (or -1 - byte) -> byte
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


def _normalize(parts: Sequence[Part]) -> List[Part]:
    """Adjacent known bytes joined, empty ones dropped; bad parts rejected."""
    out: List[Part] = []
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
