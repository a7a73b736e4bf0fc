"""IR regexes to minimized byte-level DFAs.

A :class:`ByteDFA` reads UTF-8 bytes. Code point ranges become sequences of byte ranges
(the scheme of regex-automata's ``Utf8Sequences``), so a DFA never accepts invalid UTF-8
or an encoded surrogate, and ``Not`` is the complement within valid UTF-8 strings.

Routes of :func:`regex_to_dfa` (all end in the same trim, minimize, number step, so they
give identical tables for equal languages):

* literals and alternations of literals: a chain or a trie, built directly;
* big repetitions (a bound >= :data:`BIG_REPEAT`) and sequences holding one or an
  ``And``/``Not``: copies of the parts' DFAs glued together, when gluing is deterministic
  (JSON strings with ``maxLength``, ``"`` + a key that is not a declared one + ``"``); no
  subset construction;
* ``And``/``Not``: one product of the parts' minimized DFAs (nested intersections are
  flattened, ``And(a, Not(b))`` is a difference; embedded back into the NFA when nested);
* anything else: a Thompson NFA over byte ranges and a subset construction over *byte
  classes* (the coarsest partition of 0..255 that no NFA edge splits).

Subset construction, products, trimming and Hopcroft minimization run in the Numba kernels
of :mod:`constrain.kernels.fsm`. States are numbered breadth first from the start state,
visiting bytes in increasing order, so equal languages give identical tables.
"""

from __future__ import annotations

from array import array
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import Callable, Dict, List, Literal, NamedTuple, Optional, Sequence, Tuple, TypeGuard, Union, overload

import numpy as np

from ..cache import LRUCache, memoize
from ..config import DEFAULT_LIMITS
from ..errors import ResourceLimitError
from ..grammar.ir import MAX_CODE_POINT, And, Alt, Chars, Not, Regex, Repeat, Seq

__all__ = (
    "ByteDFA",
    "complement_dfa",
    "difference_dfa",
    "intersect_dfa",
    "product_dfa",
    "regex_to_dfa",
    "union_dfa",
    "utf8_sequences",
)

ByteRanges = Tuple[Tuple[int, int], ...]
#: ``(class table, accepting, byte classes)``: an automaton over byte classes, ``[n, C]``
#: targets (-1 dead), ``[n]`` flags and the class of each of the 256 bytes.
ClassTable = Tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class ByteDFA:
    """A minimized deterministic automaton over bytes.

    Attributes:
        transitions: int32 ``[num_states, 256]``; ``-1`` means dead (no accepting
            continuation). Read-only.
        accepting: bool ``[num_states]``. Read-only.

    The start state is 0; every state can reach acceptance; no two states are
    equivalent; ``num_states == 0`` means the empty language. The constructor takes
    ownership of int32/bool arrays it is given (it marks them read-only); only
    :func:`regex_to_dfa` and the functions here build minimized ones.
    """

    transitions: np.ndarray
    accepting: np.ndarray
    #: A byte partition the table respects, set by the constructions here (see ``_classes``).
    _byte_class: Optional[np.ndarray] = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.transitions, dtype=np.int32)
        a = np.ascontiguousarray(self.accepting, dtype=np.bool_)
        if t.ndim != 2 or t.shape[1] != 256 or a.shape != (t.shape[0],):
            raise ValueError(f"bad DFA shapes: transitions {t.shape}, accepting {a.shape}")
        t.setflags(write=False)
        a.setflags(write=False)
        object.__setattr__(self, "transitions", t)
        object.__setattr__(self, "accepting", a)
        object.__setattr__(self, "_byte_class", None)

    @property
    def num_states(self) -> int:
        """Number of states (0 for the empty language)."""
        return int(self.transitions.shape[0])

    @property
    def is_empty(self) -> bool:
        """Whether the language is empty."""
        return self.num_states == 0

    @property
    def accepts_empty(self) -> bool:
        """Whether the empty string is in the language."""
        return self.num_states > 0 and bool(self.accepting[0])

    def run(self, data: bytes, state: int = 0) -> int:
        """The state after reading ``data`` from ``state``; -1 once dead."""
        if self.num_states == 0:
            return -1
        t = self.transitions
        for b in data:
            state = t[state, b]
            if state < 0:
                return -1
        return int(state)

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` (bytes) is in the language."""
        s = self.run(data)
        return s >= 0 and bool(self.accepting[s])

    def byte_classes(self) -> np.ndarray:
        """int32 ``[256]``: the coarsest partition of bytes into classes with identical
        columns, numbered by first occurrence."""
        if self.num_states == 0:
            return np.zeros(256, dtype=np.int32)
        cached = getattr(self, "_byte_classes", None)
        if cached is None:
            columns = np.ascontiguousarray(self.transitions.T)
            if self.num_states <= 64:
                # Sort the 256 columns as opaque byte strings (fast while they are short).
                keys = columns.view(np.dtype((np.void, columns.dtype.itemsize * columns.shape[1]))).ravel()
                _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
                rank = np.empty(len(first), dtype=np.int32)
                rank[np.argsort(first)] = np.arange(len(first), dtype=np.int32)
                cached = rank[inverse.reshape(-1)]
            else:
                ids: Dict[bytes, int] = {}
                cached = np.empty(256, dtype=np.int32)
                for b in range(256):
                    cached[b] = ids.setdefault(columns[b].tobytes(), len(ids))
            object.__setattr__(self, "_byte_classes", cached)
        classes: np.ndarray = cached.copy()
        return classes

    def _classes(self) -> np.ndarray:
        """A partition of bytes with identical columns (maybe finer than the coarsest)."""
        classes = self._byte_class
        if classes is None:
            classes = self.byte_classes()
            object.__setattr__(self, "_byte_class", classes)
        return classes

    def __repr__(self) -> str:
        return f"ByteDFA(num_states={self.num_states}, accepts_empty={self.accepts_empty})"


EMPTY_DFA = ByteDFA(np.zeros((0, 256), dtype=np.int32), np.zeros(0, dtype=np.bool_))


# --- UTF-8 ----------------------------------------------------------------------------------


def utf8_sequences(lo: int, hi: int) -> List[ByteRanges]:
    """Byte-range sequences whose concatenated products are exactly the UTF-8 encodings
    of the code points ``lo..hi`` (surrogates excluded); sequences are disjoint."""
    out: List[ByteRanges] = []
    stack = [(max(lo, 0), min(hi, MAX_CODE_POINT))]
    while stack:
        lo, hi = stack.pop()
        if lo > hi:
            continue
        if lo <= 0xDFFF and hi >= 0xD800:
            stack.append((0xE000, hi))
            stack.append((lo, 0xD7FF))
            continue
        for bound in (0x7F, 0x7FF, 0xFFFF):
            if lo <= bound < hi:
                stack.append((bound + 1, hi))
                stack.append((lo, bound))
                break
        else:
            if hi <= 0x7F:
                out.append(((lo, hi),))
                continue
            n = len(chr(lo).encode("utf-8"))
            for i in range(1, n):
                m = (1 << (6 * i)) - 1
                if lo & ~m != hi & ~m:
                    if lo & m != 0:
                        stack.append(((lo | m) + 1, hi))
                        stack.append((lo, lo | m))
                        break
                    if hi & m != m:
                        stack.append((hi & ~m, hi))
                        stack.append((lo, (hi & ~m) - 1))
                        break
            else:
                a = chr(lo).encode("utf-8")
                b = chr(hi).encode("utf-8")
                out.append(tuple(zip(a, b)))
    return out


# Bound: the distinct character classes of the grammars compiled lately (a schema has tens).
@memoize("automata.utf8_sequences", maxsize=4096)
def _chars_sequences(ranges: Tuple[Tuple[int, int], ...]) -> Tuple[ByteRanges, ...]:
    return tuple(sq for lo, hi in ranges for sq in utf8_sequences(lo, hi))


def _literal_text(regex: Regex) -> Optional[str]:
    """The string a regex of single code points matches, or None."""
    items = regex.items if isinstance(regex, Seq) else (regex,)
    out = []
    for item in items:
        if not (isinstance(item, Chars) and len(item.ranges) == 1 and item.ranges[0][0] == item.ranges[0][1]):
            return None
        out.append(item.ranges[0][0])
    if any(0xD800 <= c <= 0xDFFF or c > MAX_CODE_POINT for c in out):
        return None
    return "".join(map(chr, out))


def _literal_dfa(data: bytes) -> ByteDFA:
    n = len(data)
    trans = np.full((n + 1, 256), -1, dtype=np.int32)
    trans[np.arange(n), np.frombuffer(data, dtype=np.uint8)] = np.arange(1, n + 1)
    accepting = np.zeros(n + 1, dtype=np.bool_)
    accepting[n] = True
    return ByteDFA(trans, accepting)


def _literals_dfa(strings: Sequence[bytes], max_states: int) -> ByteDFA:
    """The minimal DFA of a finite set of byte strings: a trie, then suffix merging."""
    used = sorted({b for data in strings for b in data})
    byte_class = np.zeros(256, dtype=np.int32)  # class 0: bytes no string uses
    for i, b in enumerate(used):
        byte_class[b] = i + 1
    n_cls = len(used) + 1
    # One flat int32 array for the rows, not a list per state: thousands of small lists
    # made the garbage collector, which tracks every list, a third of the build.
    dead_row = array("i", [-1]) * n_cls
    trans = array("i", dead_row)
    acc = bytearray(1)
    limit = 2 * max_states + 64
    classes = [int(c) for c in byte_class]
    n_states = 1
    for data in strings:
        s = 0
        for b in data:
            at = s * n_cls + classes[b]
            t = trans[at]
            if t < 0:
                t = trans[at] = n_states
                n_states += 1
                if t >= limit:
                    raise ResourceLimitError(
                        f"alternation of literals exceeds {limit} trie states (2 x Limits.max_dfa_states={max_states})"
                    )
                trans.extend(dead_row)
                acc.append(0)
            s = t
        acc[s] = 1
    rows = np.frombuffer(trans, dtype=np.int32).reshape(n_states, n_cls)
    return _finish(rows, np.frombuffer(bytes(acc), dtype=np.bool_), byte_class, max_states)


# --- NFA ------------------------------------------------------------------------------------


_KERNELS: Optional[ModuleType] = None


def _kernels() -> ModuleType:
    """:mod:`constrain.kernels.fsm`, imported on first use (it loads Numba)."""
    global _KERNELS
    if _KERNELS is None:
        from ..kernels import fsm

        _KERNELS = fsm
    return _KERNELS


class _NFA:
    """Thompson NFA over byte ranges, kept as flat edge lists. Fragments are built *from* a
    given start state and return their end state; only fresh states ever receive back edges,
    so sibling fragments may share a start state."""

    def __init__(self, max_states: int) -> None:
        self.n = 0
        self.e_src: List[int] = []
        self.e_lo: List[int] = []
        self.e_hi: List[int] = []
        self.e_dst: List[int] = []
        self.eps_src: List[int] = []
        self.eps_dst: List[int] = []
        self.max_states = max_states
        self.limit_nfa = 16 * max_states + 4096

    def new(self, count: int = 1) -> int:
        """``count`` fresh states; returns the first."""
        first = self.n
        self.n += count
        if self.n > self.limit_nfa:
            raise ResourceLimitError(
                f"regex too large: its NFA exceeds {self.limit_nfa} states "
                f"(16 x Limits.max_dfa_states={self.max_states}); reduce bounded repetitions"
            )
        return first

    def eps(self, a: int, b: int) -> None:
        self.eps_src.append(a)
        self.eps_dst.append(b)

    def build(self, r: Regex, start: int) -> int:
        """Place ``r``'s fragment from ``start``; returns its end state. Fragments are built
        once per node (relocatable copies are cached) and copied in with list operations;
        a class of code points is as cheap to build as to copy."""
        if isinstance(r, Chars):
            return self.build_chars(r.ranges, start)
        f = FRAGMENTS.get_or_create((r, self.max_states), self._fragment, r)
        off = self.new(f.n - 1) - 1 if f.n > 1 else 0
        self.e_src += [start if x == 0 else x + off for x in f.e_src]
        self.e_lo += f.e_lo
        self.e_hi += f.e_hi
        self.e_dst += [start if x == 0 else x + off for x in f.e_dst]
        self.eps_src += [start if x == 0 else x + off for x in f.eps_src]
        self.eps_dst += [start if x == 0 else x + off for x in f.eps_dst]
        return start if f.end == 0 else f.end + off

    def _fragment(self, r: Regex) -> "_Fragment":
        sub = _NFA(self.max_states)
        end = sub.build_node(r, sub.new())
        return _Fragment(sub.n, end, sub.e_src, sub.e_lo, sub.e_hi, sub.e_dst, sub.eps_src, sub.eps_dst)

    def build_node(self, r: Regex, start: int) -> int:
        """Build ``r`` from ``start`` (its children through :meth:`build`); returns the end."""
        if isinstance(r, Chars):
            return self.build_chars(r.ranges, start)
        if isinstance(r, Seq):
            cur = start
            for item in r.items:
                cur = self.build(item, cur)
            return cur
        if isinstance(r, Alt):
            end = self.new()
            for item in r.items:
                self.eps(self.build(item, start), end)
            return end
        if isinstance(r, Repeat):
            cur = start
            for _ in range(r.min):
                cur = self.build(r.item, cur)
            if r.max is None:
                loop = self.new()
                self.eps(cur, loop)
                self.eps(self.build(r.item, loop), loop)
                return loop
            if r.max == r.min:
                return cur
            end = self.new()
            for _ in range(r.max - r.min):  # nested optionals: (x(x(x)?)?)?
                self.eps(cur, end)
                cur = self.build(r.item, cur)
            self.eps(cur, end)
            return end
        if isinstance(r, (And, Not)):
            return self.embed(regex_to_dfa(r, max_states=self.max_states), start)
        raise TypeError(f"not a regex node: {r!r}")

    def build_chars(self, ranges: Tuple[Tuple[int, int], ...], start: int) -> int:
        end = self.new()
        seqs = _chars_sequences(ranges)
        e_src, e_lo, e_hi, e_dst = self.e_src, self.e_lo, self.e_hi, self.e_dst
        if all(len(sq) == 1 for sq in seqs):
            for sq in seqs:
                e_src.append(start)
                e_lo.append(sq[0][0])
                e_hi.append(sq[0][1])
                e_dst.append(end)
            return end
        suffix_state: Dict[ByteRanges, int] = {(): end}

        def state_for(suffix: ByteRanges) -> int:
            s = suffix_state.get(suffix)
            if s is None:
                s = self.new()
                nxt = state_for(suffix[1:])
                e_src.append(s)
                e_lo.append(suffix[0][0])
                e_hi.append(suffix[0][1])
                e_dst.append(nxt)
                suffix_state[suffix] = s
            return s

        for sq in seqs:
            nxt = state_for(sq[1:])
            e_src.append(start)
            e_lo.append(sq[0][0])
            e_hi.append(sq[0][1])
            e_dst.append(nxt)
        return end

    def embed(self, dfa: ByteDFA, start: int) -> int:
        end = self.new()
        if dfa.num_states == 0:
            return end
        # fresh states for the DFA: its start may have incoming edges, and fragments never
        # add edges into the start state they were given
        base = self.new(dfa.num_states)
        self.eps(start, base)
        t = dfa.transitions
        # one edge per maximal run of equal targets in a row
        run_start = np.ones(t.shape, dtype=np.bool_)
        run_start[:, 1:] = t[:, 1:] != t[:, :-1]
        flat = np.flatnonzero(run_start)
        ends = np.append(flat[1:], t.size) - 1
        rows = flat >> 8
        ends = np.minimum(ends, (rows << 8) | 255)
        targets = t.reshape(-1)[flat]
        keep = targets >= 0
        self.e_src.extend((rows[keep] + base).tolist())
        self.e_lo.extend((flat[keep] & 255).tolist())
        self.e_hi.extend((ends[keep] & 255).tolist())
        self.e_dst.extend((targets[keep] + base).tolist())
        for s in np.flatnonzero(dfa.accepting).tolist():
            self.eps(base + s, end)
        return end


class _Fragment(NamedTuple):
    """A relocatable NFA fragment: state 0 is the start it is built from, 1..n-1 are its own
    fresh states."""

    n: int
    end: int
    e_src: List[int]
    e_lo: List[int]
    e_hi: List[int]
    e_dst: List[int]
    eps_src: List[int]
    eps_dst: List[int]


#: Bytes per list entry of a fragment, an upper estimate: an 8-byte list slot and at most
#: one 32-byte int object (state numbers past 256 are objects of their own).
FRAGMENT_ENTRY_BYTES = 40


def _fragment_nbytes(f: _Fragment) -> int:
    return FRAGMENT_ENTRY_BYTES * (1 + 4 * len(f.e_src) + 2 * len(f.eps_src))


#: Fragments of regex nodes by (node, max_states), shared by every compile of the process (a
#: schema's string and number terminals repeat the same items). Bound: 4 million list entries
#: (160 MB by the estimate above) in all, 200,000 for one fragment: a larger one is rebuilt
#: rather than crowd out the small ones that are reused.
FRAGMENTS: LRUCache[Tuple[Regex, int], _Fragment] = LRUCache(
    "automata.nfa_fragments",
    max_entries=1 << 20,
    max_bytes=4_000_000 * FRAGMENT_ENTRY_BYTES,
    nbytes=_fragment_nbytes,
    max_entry_bytes=200_000 * FRAGMENT_ENTRY_BYTES,
)


#: Limits.max_automaton_bytes of the regex_to_dfa call in progress: a keyword of the entry
#: point that the nested constructions it makes (items, products, repetitions) inherit.
_BYTE_BUDGET: ContextVar[int] = ContextVar("constrain_automaton_bytes", default=DEFAULT_LIMITS.max_automaton_bytes)


def _check_bytes(needed: int, what: str) -> None:
    budget = _BYTE_BUDGET.get()
    if needed > budget:
        raise ResourceLimitError(
            f"regex too large: {what} needs {needed >> 20} MiB of working memory, over "
            f"Limits.max_automaton_bytes={budget >> 20} MiB"
        )


_ZOBRIST = np.random.default_rng(0x5EED).integers(1, 2**63, size=1 << 12, dtype=np.uint64)


def _zobrist(n: int) -> np.ndarray:
    global _ZOBRIST
    if _ZOBRIST.shape[0] < n:
        _ZOBRIST = np.random.default_rng(0x5EED).integers(1, 2**63, size=2 * n, dtype=np.uint64)
    return _ZOBRIST[:n]


def _determinize(nfa: _NFA, start: int, final: int, max_states: int) -> ClassTable:
    """Subset construction over byte classes (the coarsest partition of 0..255 that no NFA
    edge splits): (trans int32 [n, C] with -1, accepting, byte_class)."""
    kernels = _kernels()
    n = nfa.n
    edges = np.array((nfa.e_src, nfa.e_lo, nfa.e_hi, nfa.e_dst), dtype=np.int64).reshape(4, -1)
    eps = np.array((nfa.eps_src, nfa.eps_dst), dtype=np.int64).reshape(2, -1)
    class_of = np.empty(256, np.int64)
    edge_ptr = np.empty(n + 1, np.int64)
    eps_ptr = np.empty(n + 1, np.int64)
    edge_lo, edge_hi, edge_dst = (np.empty(edges.shape[1], np.int64) for _ in range(3))
    eps_dst = np.empty(eps.shape[1], np.int64)
    important = np.empty(n, np.bool_)
    n_cls = kernels.prepare_nfa_kernel(
        edges, eps, final, class_of, edge_ptr, edge_lo, edge_hi, edge_dst, eps_ptr, eps_dst, important
    )
    byte_class = class_of.astype(np.int32)
    zob = _zobrist(n)
    stamp = np.zeros(n, np.int64)
    stack, seeds, out = (np.empty(n, np.int64) for _ in range(3))
    limit = 2 * max_states + 64
    cap = min(limit, 256)
    data_cap = 1 << 12
    moves = np.empty(1 << 12, np.int64)
    bucket = np.empty(n_cls + 1, np.int64)
    seen = np.full(1 << int(2 * n_cls - 1).bit_length(), -1, np.int64)
    seen_key = np.empty(n_cls, np.uint64)
    seen_cnt = np.empty(n_cls, np.int64)
    while True:
        size = 1 << int(2 * cap - 1).bit_length()
        _check_bytes(
            8 * (data_cap + moves.shape[0] + size + 2 * cap) + cap * (4 * n_cls + 1), "the subset construction"
        )
        trans = np.empty((cap, n_cls), np.int32)
        acc = np.zeros(cap, np.bool_)
        set_ptr = np.zeros(cap + 1, np.int64)
        set_data = np.empty(data_cap, np.int64)
        htable = np.full(size, -1, np.int64)
        hkeys = np.zeros(cap, np.uint64)
        stamp[:] = 0
        got = kernels.determinize_kernel(
            eps_ptr,
            eps_dst,
            edge_ptr,
            edge_lo,
            edge_hi,
            edge_dst,
            important,
            zob,
            start,
            final,
            n_cls,
            trans,
            acc,
            set_ptr,
            set_data,
            htable,
            hkeys,
            stamp,
            stack,
            seeds,
            out,
            bucket,
            moves,
            seen,
            seen_key,
            seen_cnt,
        )
        if got >= 0:
            return trans[:got], acc[:got], byte_class
        # A retry starts over, so the second try gets room for the limit at once (np.empty
        # and np.zeros only touch the pages a run writes).
        if got == kernels.TOO_MANY_STATES:
            if cap >= limit:
                raise ResourceLimitError(
                    f"regex too large: its DFA exceeds {limit} states before minimization "
                    f"(2 x Limits.max_dfa_states={max_states})"
                )
            cap = limit
            data_cap = max(data_cap, 16 * cap)
        elif got == kernels.SET_DATA_FULL:
            data_cap *= 4
        else:  # kernels.MOVES_FULL
            _check_bytes(32 * moves.shape[0], "the subset construction")
            moves = np.empty(4 * moves.shape[0], np.int64)


# --- trimming, minimization, canonical numbering ----------------------------------------------


def _minimize(trans: np.ndarray, acc: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Trim, minimize and number breadth first a class-level table (int32 ``[n, C]``, -1
    dead) with the Numba kernels."""
    kernels = _kernels()
    # The kernel is compiled for writable int32/bool arrays: one read-only input (a table
    # from np.frombuffer) would compile a second specialization at run time, a second long.
    trans = np.require(trans, np.int32, ["C", "W"])
    acc = np.require(acc, np.bool_, ["C", "W"])
    n, n_cls = trans.shape
    ptr = np.zeros(n_cls * n + 1, np.int32)  # the CSR inverse, filled only for cyclic tables
    src = np.empty(n_cls * n, np.int32)
    scratch = np.empty(12 * (n + 1), np.int64)
    htable = np.full(1 << int(2 * n + 1).bit_length(), -1, np.int64)
    out_trans = np.empty((n, n_cls), np.int32)
    out_acc = np.empty(n, np.bool_)
    size = kernels.minimize_kernel(
        trans, acc, ptr, src, scratch, np.zeros(n + 1, np.bool_), np.empty(n, np.bool_), htable, out_trans, out_acc
    )
    return out_trans[:size], out_acc[:size]


def _finish(
    rows: Union[np.ndarray, Sequence[Sequence[int]]],
    acc: Union[np.ndarray, Sequence[bool]],
    byte_class: np.ndarray,
    max_states: int,
    what: str = "regex",
) -> ByteDFA:
    """Trim, minimize, check the limit and expand classes to bytes. ``rows``/``acc`` are
    lists or arrays (``[n, C]`` targets, -1 dead; ``[n]`` flags)."""
    trans = np.asarray(rows, dtype=np.int32)
    n_old = trans.shape[1] if trans.ndim == 2 and trans.shape[0] else int(byte_class.max()) + 1
    trans = trans.reshape(-1, n_old)
    acc = np.asarray(acc, dtype=np.bool_)
    # Number classes by their first byte, so that breadth-first numbering (which visits
    # successors in class order) is canonical: equal languages give equal tables.
    # Classes no byte uses drop out here.
    first_pos = np.empty(n_old, dtype=np.int64)
    _kernels().class_order_kernel(byte_class, first_pos)
    perm = np.argsort(first_pos, kind="stable")
    perm = perm[first_pos[perm] < 256]  # new class i is old class perm[i]
    if len(perm) != n_old or np.any(perm != np.arange(n_old)):
        inv = np.full(n_old, -1, dtype=np.int64)
        inv[perm] = np.arange(len(perm))
        byte_class = inv[byte_class].astype(np.int32)
        trans = np.take(trans, perm, axis=1)
    trans_c, acc_a = _minimize(np.ascontiguousarray(trans), acc)
    if trans_c.shape[0] == 0:
        return EMPTY_DFA
    if trans_c.shape[0] > max_states:
        raise ResourceLimitError(
            f"{what} needs a DFA of {trans_c.shape[0]} states, over Limits.max_dfa_states={max_states}"
        )
    full = np.empty((trans_c.shape[0], 256), np.int32)
    _kernels().expand_classes_kernel(trans_c, byte_class, full)
    dfa = ByteDFA(full, acc_a)
    object.__setattr__(dfa, "_byte_class", byte_class)
    return dfa


def _joint_classes(partitions: Sequence[np.ndarray]) -> np.ndarray:
    """The common refinement of byte partitions (int32 ``[256]`` class ids each)."""
    joint = np.zeros(256, dtype=np.int64)
    for cls in partitions:
        code = joint * (int(cls.max()) + 1) + cls  # both factors < 257: no overflow
        _, joint = np.unique(code, return_inverse=True)
        joint = joint.reshape(256)
    return joint.astype(np.int32)


# --- products -------------------------------------------------------------------------------

#: The most DFAs one product takes (dead-component masks are int64 bit sets).
MAX_PRODUCT_ARITY = 62

_MULTIPLIERS = np.random.default_rng(0xC0FFEE).integers(1, 2**63, size=MAX_PRODUCT_ARITY, dtype=np.uint64) | np.uint64(
    1
)


def _product(
    dfas: Sequence[ByteDFA],
    accept: Callable[[Tuple[bool, ...]], bool],
    hopeless: np.ndarray,
    must_live: int,
    max_states: int,
) -> ByteDFA:
    return _finish(*_product_table(dfas, accept, hopeless, must_live, max_states), max_states, "DFA product")


def _product_table(
    dfas: Sequence[ByteDFA],
    accept: Callable[[Tuple[bool, ...]], bool],
    hopeless: np.ndarray,
    must_live: int,
    max_states: int,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class table, accepting, byte classes) of the product, not minimized."""
    kernels = _kernels()
    k = len(dfas)
    byte_class = _joint_classes([d._classes() for d in dfas])
    n_cls = int(byte_class.max()) + 1
    reps = np.zeros(n_cls, dtype=np.int64)
    reps[byte_class[::-1]] = np.arange(255, -1, -1)
    # shifted tables: row 0 is the dead state, state s is row s + 1
    sizes = [d.num_states + 1 for d in dfas]
    offsets = np.zeros(k + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    tab = np.zeros((int(offsets[-1]), n_cls), np.int32)
    acc_in = np.zeros(int(offsets[-1]), np.bool_)
    for m, d in enumerate(dfas):
        if d.num_states:
            o = int(offsets[m])
            tab[o + 1 : o + sizes[m]] = np.take(d.transitions, reps, axis=1) + 1
            acc_in[o + 1 : o + sizes[m]] = d.accepting
    start = np.array([1 if d.num_states else 0 for d in dfas], np.int32)
    limit = 2 * max_states + 64
    cap = min(limit, 1024)
    while True:
        trans = np.empty((cap, n_cls), np.int32)
        states = np.empty((cap + 1, k), np.int32)
        htable = np.full(1 << int(2 * cap - 1).bit_length(), -1, np.int64)
        got = kernels.product_kernel(
            tab, offsets, start, hopeless, np.int64(must_live), trans, states, htable, _MULTIPLIERS
        )
        if got >= 0:
            break
        if cap >= limit:
            raise ResourceLimitError(
                f"DFA product exceeds {limit} states before minimization (2 x Limits.max_dfa_states={max_states})"
            )
        cap = limit  # a retry starts over: room for the limit at once (pages are touched lazily)
    flags = acc_in[states[:got] + offsets[:-1].astype(np.int32)]
    uniq, inverse = np.unique(flags, axis=0, return_inverse=True)
    verdict = np.array([bool(accept(tuple(bool(f) for f in row))) for row in uniq], dtype=np.bool_)
    return trans[:got], verdict[inverse.reshape(-1)], byte_class


def product_dfa(
    dfas: Sequence[ByteDFA],
    accept: Callable[[Tuple[bool, ...]], bool],
    *,
    max_states: int = DEFAULT_LIMITS.max_dfa_states,
) -> ByteDFA:
    """The product automaton of ``dfas``, accepting where ``accept(flags)`` is true.

    ``flags[i]`` says whether ``dfas[i]`` accepts (False once it is dead). ``accept`` must
    be False when every flag is False (else the product would accept invalid UTF-8); use
    :func:`complement_dfa` for negation.

    Raises:
        ValueError: no DFAs, more than :data:`MAX_PRODUCT_ARITY`, or ``accept`` holds with
            every flag False.
        ResourceLimitError: the product exceeds ``max_states`` (2 x before minimization).
    """
    if not dfas:
        raise ValueError("product_dfa needs at least one DFA")
    k = len(dfas)
    if k > MAX_PRODUCT_ARITY:
        raise ValueError(f"product_dfa takes at most {MAX_PRODUCT_ARITY} DFAs, got {k}")
    if accept(tuple(False for _ in dfas)):
        raise ValueError("accept(all False) must be False; use complement_dfa for negations")
    # hopeless[mask]: with the DFAs in ``mask`` dead, no outcome of the others accepts
    # (tabulated for a few DFAs; beyond that only "all dead" prunes, or "any dead" for all)
    must_live = 0
    if accept is all:
        must_live = (1 << k) - 1
        hopeless = np.zeros(0, np.bool_)
    elif k <= 4:
        hopeless = np.array(
            [
                not any(accept(tuple(bool(f >> i & 1) and not mask >> i & 1 for i in range(k))) for f in range(1 << k))
                for mask in range(1 << k)
            ],
            dtype=np.bool_,
        )
    else:
        hopeless = np.zeros(0, np.bool_)
    return _product(dfas, accept, hopeless, must_live, max_states)


def intersect_dfa(*dfas: ByteDFA, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Strings every DFA accepts."""
    if not dfas:
        raise ValueError("intersect_dfa needs at least one DFA")
    result: Optional[ByteDFA] = None
    for i in range(0, len(dfas), MAX_PRODUCT_ARITY - 1):
        chunk = dfas[i : i + MAX_PRODUCT_ARITY - 1]
        result = product_dfa(chunk if result is None else (result, *chunk), all, max_states=max_states)
        if result.is_empty:
            break
    assert result is not None  # dfas is not empty
    return result


def union_dfa(*dfas: ByteDFA, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Strings some DFA accepts."""
    if not dfas:
        raise ValueError("union_dfa needs at least one DFA")
    result: Optional[ByteDFA] = None
    for i in range(0, len(dfas), MAX_PRODUCT_ARITY - 1):
        chunk = dfas[i : i + MAX_PRODUCT_ARITY - 1]
        result = product_dfa(chunk if result is None else (result, *chunk), any, max_states=max_states)
    assert result is not None  # dfas is not empty
    return result


def difference_dfa(a: ByteDFA, b: ByteDFA, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Strings ``a`` accepts and ``b`` does not."""
    return _product((a, b), _first_only, np.zeros(0, np.bool_), 1, max_states)


def _first_only(flags: Tuple[bool, ...]) -> bool:
    return flags[0] and not any(flags[1:])


def complement_dfa(dfa: ByteDFA, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Valid UTF-8 strings ``dfa`` does not accept."""
    return difference_dfa(_any_utf8(), dfa, max_states=max_states)


def _and_not(
    positives: Sequence[ByteDFA], negatives: Sequence[ByteDFA], max_states: int, table: bool = False
) -> Union[ByteDFA, ClassTable]:
    """Strings every DFA of ``positives`` accepts and none of ``negatives`` (one product).
    With ``table``, a product is returned unminimized, as (class table, accepting, byte
    classes); the other cases return a DFA."""
    if not positives:
        positives = [_any_utf8()]
    if any(p.is_empty for p in positives):
        return EMPTY_DFA
    negatives = [d for d in negatives if not d.is_empty]
    if len(positives) + len(negatives) > MAX_PRODUCT_ARITY:
        pos = intersect_dfa(*positives, max_states=max_states)
        if not negatives:
            return pos
        return difference_dfa(pos, union_dfa(*negatives, max_states=max_states), max_states=max_states)
    k = len(positives)
    if not negatives and k == 1:
        return positives[0]

    def accept(flags: Tuple[bool, ...]) -> bool:
        return all(flags[:k]) and not any(flags[k:])

    build = _product_table if table else _product
    return build((*positives, *negatives), accept, np.zeros(0, np.bool_), (1 << k) - 1, max_states)


_NOT_EMPTY = Not(Seq(()))


def _without_empty(dfa: ByteDFA, max_states: int) -> ByteDFA:
    """``dfa`` minus the empty string: a fresh, non-accepting copy of the start state."""
    if not dfa.accepts_empty:
        return dfa
    classes = dfa._classes()
    n_cls = int(classes.max()) + 1
    reps = np.zeros(n_cls, dtype=np.int64)
    reps[classes[::-1]] = np.arange(255, -1, -1)
    t = np.take(dfa.transitions, reps, axis=1)
    t = np.where(t >= 0, t + 1, -1)
    acc = np.concatenate([[False], dfa.accepting])
    return _finish(np.concatenate([t[:1], t]), acc, classes, max_states)


@lru_cache(maxsize=1)  # no arguments: one fixed DFA
def _any_utf8() -> ByteDFA:
    return regex_to_dfa(Repeat(Chars(((0, MAX_CODE_POINT),)), 0, None))


# --- co-finite sets between literals ------------------------------------------------------------
#
# An object's other keys are ``"`` + (any string body but the declared names) + ``"``: an
# intersection ``P* & ~(n1|n2|...)`` between two literals. The general route takes products
# of class tables (milliseconds of NumPy calls); built directly, the body is the trie of the
# removed names, each node paired with the state ``P*`` is in after its path, plus ``P*``'s
# own states for strings that have left the trie. Every state reaches acceptance: ``P*`` is
# infinite, so a longer string is never removed.


def cofinite_parts(regex: Seq) -> Optional[Tuple[bytes, Repeat, List[bytes], bytes]]:
    """(prefix, P*, removed strings, suffix) when ``regex`` is literal code points around one
    intersection of ``P*`` with complements of literals (or of alternations of them): an
    object's other keys. Also what ``lowering.lazy_state_bound`` vouches for."""
    prefix: List[str] = []
    suffix: List[str] = []
    middle: Optional[And] = None
    for item in regex.items:
        if isinstance(item, And) and middle is None:
            middle = item
            continue
        text = _literal_text(item)
        if text is None:
            return None
        (suffix if middle is not None else prefix).append(text)
    if middle is None:
        return None
    star: Optional[Repeat] = None
    removed: List[bytes] = []
    for x in _and_items(middle):
        if isinstance(x, Repeat) and x.min == 0 and x.max is None and (star is None or x == star):
            star = x
            continue
        if not isinstance(x, Not):
            return None
        options = x.item.items if isinstance(x.item, Alt) else (x.item,)
        for option in options:
            text = _literal_text(option) if option != Seq(()) else ""
            if text is None:
                return None
            removed.append(text.encode("utf-8"))
    if star is None:
        return None
    return "".join(prefix).encode("utf-8"), star, removed, "".join(suffix).encode("utf-8")


def _cofinite_route(regex: Seq, max_states: int) -> Optional[ByteDFA]:
    """The DFA of literal + (``P*`` minus finitely many literals) + literal, built directly
    (None when ``regex`` has another shape, or the suffix could continue the body)."""
    parts = cofinite_parts(regex)
    if parts is None:
        return None
    prefix, star, removed, suffix = parts
    body = regex_to_dfa(star, max_states=max_states)
    if body.num_states == 0:
        return None
    p_trans, p_acc = body.transitions, body.accepting
    # The trie of the removed strings that P* can read, with the P* state of each node.
    child: List[Dict[int, int]] = [{}]
    node_state = [0]
    ends = [False]
    for data in removed:
        node, state = 0, 0
        for b in data:
            state = int(p_trans[state, b])
            if state < 0:
                break
            nxt = child[node].get(b)
            if nxt is None:
                nxt = child[node][b] = len(child)
                child.append({})
                node_state.append(state)
                ends.append(False)
            node = nxt
        else:
            ends[node] = True
    n_trie, n_body = len(child), body.num_states
    n_pre, n_suf = len(prefix), len(suffix)
    total = n_pre + n_trie + n_body + n_suf + 1
    if total > 2 * max_states + 64:
        return None  # the general route reports the limit
    # rows: prefix chain, trie nodes, P* states, suffix chain, the final state
    rows = np.full((total, 256), -1, dtype=np.int32)
    trie0, body0, suf0 = n_pre, n_pre + n_trie, n_pre + n_trie + n_body
    for i, b in enumerate(prefix):
        rows[i, b] = i + 1
    escaped = np.where(p_trans >= 0, p_trans + body0, -1)
    rows[body0:suf0] = escaped
    rows[trie0:body0] = escaped[node_state]
    for node, edges in enumerate(child):
        for b, nxt in edges.items():
            rows[trie0 + node, b] = trie0 + nxt
    acc_body = np.concatenate([p_acc[node_state] & ~np.array(ends, dtype=np.bool_), p_acc])
    acc = np.zeros(total, dtype=np.bool_)
    if n_suf:
        # leave the body on the suffix's first byte, which must not continue it
        ends_body = np.flatnonzero(acc_body) + trie0
        if np.any(rows[ends_body, suffix[0]] >= 0):
            return None
        rows[ends_body, suffix[0]] = suf0 + 1 if n_suf > 1 else total - 1
        for i in range(1, n_suf):
            rows[suf0 + i, suffix[i]] = suf0 + i + 1 if i + 1 < n_suf else total - 1
        acc[total - 1] = True
    else:
        acc[trie0:suf0] = acc_body
    return _finish(rows, acc, np.arange(256, dtype=np.int32), max_states)


# --- DFA-level concatenation and repetition ---------------------------------------------------
#
# Large bounded repetitions (``[^"\\]{0,2000}``, a JSON string with maxLength) are built
# from the item's DFA without a subset construction when gluing is deterministic: the
# bytes leaving an accepting state of the left part never overlap the bytes leaving the
# start of the right part. Then "A then B" is A with B's start row merged into A's
# accepting states, and the choice between continuing A and starting B is forced.

#: Repetitions with a bound at least this large take the DFA-level route when they can.
BIG_REPEAT = 16


def _class_tables(dfas: Sequence[ByteDFA]) -> Tuple[List[np.ndarray], np.ndarray]:
    """Class-level tables of ``dfas`` over their joint byte classes."""
    byte_class = _joint_classes([d._classes() for d in dfas])
    n_cls = int(byte_class.max()) + 1
    reps = np.zeros(n_cls, dtype=np.int64)
    reps[byte_class[::-1]] = np.arange(255, -1, -1)
    return [np.take(d.transitions, reps, axis=1) for d in dfas], byte_class


def _glues(left: np.ndarray, left_acc: np.ndarray, right_start: np.ndarray) -> bool:
    return not bool(np.any((left[left_acc] >= 0) & (right_start >= 0)))


def _repeat_tables(
    t: np.ndarray, acc: np.ndarray, lo: int, hi: Optional[int], limit: int
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Class-level table of ``X{lo,hi}`` from X's minimal DFA, or None if gluing is not
    deterministic (or X matches the empty string)."""
    k, n_cls = t.shape
    if acc[0] or not _glues(t, acc, t[0]):
        return None
    copies = max(lo, 1) if hi is None else hi
    if copies * k > limit:
        raise ResourceLimitError(
            f"repetition needs {copies * k} DFA states before minimization, over {limit} (2 x Limits.max_dfa_states)"
        )
    offsets = (np.arange(copies, dtype=np.int32) * k)[:, None, None]
    big = np.where(t[None] >= 0, t[None] + offsets, np.int32(-1))
    nxt = np.arange(1, copies + 1, dtype=np.int32)
    if hi is None:
        nxt[-1] = copies - 1  # the last copy loops onto itself
    start_next = np.where(t[0][None, :] >= 0, t[0][None, :] + nxt[:, None] * k, -1)
    if hi is not None:
        start_next[-1] = -1  # no unit after the last one
    f = np.flatnonzero(acc)
    for q in f.tolist():
        big[:, q, :] = np.where(big[:, q, :] >= 0, big[:, q, :], start_next)
    big_acc: np.ndarray = np.zeros((copies, k), dtype=np.bool_)
    big_acc[:, f] = (np.arange(copies) + 1 >= lo)[:, None]
    big = big.reshape(copies * k, n_cls)
    big_acc = big_acc.reshape(-1)
    if lo == 0:
        # zero units: a fresh accepting start (X's start may be re-entered mid-unit)
        big = np.where(big >= 0, big + 1, -1)
        big = np.concatenate([big[:1], big])
        big_acc = np.concatenate([[True], big_acc])
    return big.astype(np.int32), big_acc


def _glue_seq(
    a: np.ndarray, a_acc: np.ndarray, b: np.ndarray, b_acc: np.ndarray
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A then B (class-level tables over the same classes), or None if not deterministic."""
    if not _glues(a, a_acc, b[0]):
        return None
    ka = a.shape[0]
    b_start = np.where(b[0] >= 0, b[0] + ka, -1)
    head = a.copy()
    head[a_acc] = np.where(a[a_acc] >= 0, a[a_acc], b_start[None, :])
    tail = np.where(b >= 0, b + ka, -1)
    acc = np.concatenate([np.where(a_acc, b_acc[0], False), b_acc])
    return np.concatenate([head, tail]).astype(np.int32), acc


def _is_big_repeat(r: Regex) -> TypeGuard[Repeat]:
    return isinstance(r, Repeat) and max(r.min, r.max or 0) >= BIG_REPEAT


def _part_table(regex: Regex, max_states: int, limit: int) -> Optional[ClassTable]:
    """(class table, accepting, byte classes) of one part of the DFA-level route -- left
    unminimized for a big repetition -- or None if the language is empty."""
    if _is_big_repeat(regex):
        item = regex_to_dfa(regex.item, max_states=max_states)
        if item.is_empty:
            return None if regex.min > 0 else _part_table(Seq(()), max_states, limit)
        (t,), byte_class = _class_tables([item])
        built = _repeat_tables(t, item.accepting, regex.min, regex.max, limit)
        if built is not None:
            return built[0], built[1], byte_class
    if isinstance(regex, (And, Not)) and (regex, max_states) not in regex_to_dfa.cache:
        # the glued whole is minimized anyway: skip minimizing the product
        boolean = _boolean(regex, max_states, table=True)
        if not isinstance(boolean, ByteDFA):
            t, acc, byte_class = boolean
            return (t, acc, byte_class) if t.shape[0] else None
        d = boolean
    else:
        d = regex_to_dfa(regex, max_states=max_states)
    if d.is_empty:
        return None
    (t,), byte_class = _class_tables([d])
    return t, d.accepting, byte_class


def _dfa_level(regex: Union[Repeat, Seq], max_states: int) -> Optional[ByteDFA]:
    """The DFA-level route for a big repetition or a sequence containing one (None when
    gluing is not deterministic)."""
    limit = 2 * max_states + 64
    if isinstance(regex, Repeat):
        item = regex_to_dfa(regex.item, max_states=max_states)
        if item.is_empty:
            return None
        (t,), byte_class = _class_tables([item])
        built = _repeat_tables(t, item.accepting, regex.min, regex.max, limit)
        if built is None:
            return None
        return _finish(built[0], built[1], byte_class, max_states)
    parts: List[ClassTable] = []
    for x in regex.items:
        part = _part_table(x, max_states, limit)
        if part is None:
            return EMPTY_DFA
        parts.append(part)
    byte_class = _joint_classes([cls for _, _, cls in parts])
    reps = np.zeros(int(byte_class.max()) + 1, dtype=np.int64)
    reps[byte_class[::-1]] = np.arange(255, -1, -1)
    tables = [(np.take(t, cls[reps], axis=1), acc) for t, acc, cls in parts]
    t, acc = tables[0]
    for nxt, nxt_acc in tables[1:]:
        glued = _glue_seq(t, acc, nxt, nxt_acc)
        if glued is None:
            return None
        t, acc = glued
        if t.shape[0] > limit:
            raise ResourceLimitError(
                f"sequence needs {t.shape[0]} DFA states before minimization, over {limit} "
                f"(2 x Limits.max_dfa_states={max_states})"
            )
    return _finish(t, acc, byte_class, max_states)


# --- entry point ----------------------------------------------------------------------------


def _dfa_nbytes(dfa: ByteDFA) -> int:
    return dfa.transitions.nbytes + dfa.accepting.nbytes


class _DFACache:
    """:func:`regex_to_dfa` through an LRU cache of DFAs bounded by the bytes of their tables
    (a 16k-state DFA holds 16 MB); ``cache_clear()`` empties it and the NFA fragments."""

    def __init__(
        self, fn: Callable[..., ByteDFA], max_bytes: int, name: str = "automata.dfas", register: bool = True
    ) -> None:
        self.fn = fn
        # The entry bound only backs the byte bound up: most DFAs are a few kB.
        self.cache: LRUCache[Tuple[Regex, int], ByteDFA] = LRUCache(
            name, max_entries=1 << 16, max_bytes=max_bytes, nbytes=_dfa_nbytes, register=register
        )
        self.__doc__ = fn.__doc__
        self.__name__ = "regex_to_dfa"
        self.__wrapped__ = fn

    def __call__(
        self, regex: Regex, *, max_states: int = DEFAULT_LIMITS.max_dfa_states, max_bytes: Optional[int] = None
    ) -> ByteDFA:
        return self.cache.get_or_create((regex, max_states), self._build, regex, max_states, max_bytes)

    def _build(self, regex: Regex, max_states: int, max_bytes: Optional[int]) -> ByteDFA:
        if max_bytes is None:
            return self.fn(regex, max_states=max_states)
        token = _BYTE_BUDGET.set(max_bytes)
        try:
            return self.fn(regex, max_states=max_states)
        finally:
            _BYTE_BUDGET.reset(token)

    def cache_clear(self) -> None:
        """Forget every DFA and NFA fragment."""
        self.cache.clear()
        FRAGMENTS.clear()


def _regex_to_dfa(regex: Regex, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """The minimized byte DFA of ``regex`` (UTF-8 encoded code points).

    Args:
        regex: an IR regex (hashable; results are cached).
        max_states: the most states the minimized DFA may have.

    Raises:
        ResourceLimitError: the DFA (or an intermediate automaton) is too large.
    """
    if isinstance(regex, (And, Not)):
        return _boolean(regex, max_states)
    if isinstance(regex, Alt) and len(regex.items) > 1:
        texts = [_literal_text(x) for x in regex.items]
        literals = [t for t in texts if t is not None]
        if len(literals) == len(texts):
            return _literals_dfa([t.encode("utf-8") for t in literals], max_states)
    text = _literal_text(regex)
    if text is not None:
        data = text.encode("utf-8")
        if len(data) + 1 > max_states:
            raise ResourceLimitError(
                f"a literal of {len(data)} bytes needs {len(data) + 1} DFA states, "
                f"over Limits.max_dfa_states={max_states}"
            )
        return _literal_dfa(data)
    if isinstance(regex, Seq):
        cofinite = _cofinite_route(regex, max_states)
        if cofinite is not None:
            return cofinite
    if _is_big_repeat(regex) or (
        isinstance(regex, Seq) and any(_is_big_repeat(x) or isinstance(x, (And, Not)) for x in regex.items)
    ):
        built = _dfa_level(regex, max_states)
        if built is not None:
            return built
    return _nfa_route(regex, max_states)


@overload
def _boolean(regex: Union[And, Not], max_states: int, table: Literal[False] = False) -> ByteDFA: ...
@overload
def _boolean(regex: Union[And, Not], max_states: int, table: bool) -> Union[ByteDFA, ClassTable]: ...


def _boolean(regex: Union[And, Not], max_states: int, table: bool = False) -> Union[ByteDFA, ClassTable]:
    """The DFA of an ``And``/``Not`` node (see :func:`_and_not` for ``table``)."""
    if isinstance(regex, Not):
        return _and_not([], [regex_to_dfa(regex.item, max_states=max_states)], max_states, table)
    items = _and_items(regex)
    if _NOT_EMPTY in items and len(items) > 1:
        # r minus the empty string: cheaper than a product with the complement
        items.remove(_NOT_EMPTY)
        inner = regex_to_dfa(items[0] if len(items) == 1 else And(tuple(items)), max_states=max_states)
        return _without_empty(inner, max_states)
    pos = []
    for x in items:
        if not isinstance(x, Not):
            d = regex_to_dfa(x, max_states=max_states)
            if d.is_empty:
                return EMPTY_DFA
            pos.append(d)
    neg = [regex_to_dfa(x.item, max_states=max_states) for x in items if isinstance(x, Not)]
    return _and_not(pos, neg, max_states, table)


def _and_items(regex: And) -> List[Regex]:
    """The items of nested intersections, each once, in first-seen order."""
    out: List[Regex] = []
    seen = set()
    stack = list(reversed(regex.items))
    while stack:
        x = stack.pop()
        if isinstance(x, And):
            stack.extend(reversed(x.items))
        elif x not in seen:
            seen.add(x)
            out.append(x)
    return out


#: The cached entry point. Bound: 256 MB of tables, the DFAs of the grammars compiled lately
#: (each schema compiles its own string and number DFAs; equal ones are shared).
regex_to_dfa = _DFACache(_regex_to_dfa, max_bytes=256 << 20)


# Bound: the distinct regex nodes of the grammars compiled lately.
@memoize("automata.nfa_size_bounds", maxsize=4096)
def _nfa_size_lower_bound(regex: Regex) -> int:
    """A lower bound on the states :class:`_NFA` creates for ``regex`` (to fail fast)."""
    if isinstance(regex, Chars):
        return 1
    if isinstance(regex, Seq):
        return sum(_nfa_size_lower_bound(x) for x in regex.items)
    if isinstance(regex, Alt):
        return 1 + sum(_nfa_size_lower_bound(x) for x in regex.items)
    if isinstance(regex, Repeat):
        copies = regex.min + 1 if regex.max is None else regex.max
        return 1 + copies * _nfa_size_lower_bound(regex.item)
    return 1


def _nfa_route(regex: Regex, max_states: int) -> ByteDFA:
    """Thompson NFA, subset construction over byte classes, trim, minimize."""
    nfa = _NFA(max_states)
    if _nfa_size_lower_bound(regex) > nfa.limit_nfa:
        raise ResourceLimitError(
            f"regex too large: its NFA needs over {nfa.limit_nfa} states "
            f"(16 x Limits.max_dfa_states={max_states}); reduce bounded repetitions"
        )
    start = nfa.new()
    try:
        final = nfa.build_node(regex, start)
    except RecursionError:
        raise ResourceLimitError("regex nested too deeply to compile") from None
    rows, accepting, byte_class = _determinize(nfa, start, final, max_states)
    return _finish(rows, accepting, byte_class, max_states)
