"""IR regexes to minimized byte-level DFAs.

A :class:`ByteDFA` reads UTF-8 bytes. Code point ranges become sequences of byte ranges
(the scheme of regex-automata's ``Utf8Sequences``), so a DFA never accepts invalid UTF-8
or an encoded surrogate, and ``Not`` is the complement within valid UTF-8 strings.

Routes of :func:`regex_to_dfa` (all end in the same trim, minimize, number step, so they
give identical tables for equal languages):

* literals and alternations of literals: a chain or a trie, built directly;
* big repetitions (a bound >= :data:`BIG_REPEAT`) and sequences holding one: copies of
  the item's DFA glued together, when gluing is deterministic (JSON strings with
  ``maxLength``, ``[^"\\]{0,2000}``); no subset construction;
* ``And``/``Not``: products of the parts' minimized DFAs (embedded back into the NFA when
  nested);
* anything else: a Thompson NFA over byte ranges and a subset construction over *byte
  classes* (the coarsest partition of 0..255 that no NFA edge splits).

Trimming and Hopcroft minimization run in plain Python for small automata and in the
Numba kernels of :mod:`constrain.kernels.fsm` beyond :data:`NUMBA_THRESHOLD` table
entries. States are numbered breadth first from the start state, visiting bytes in
increasing order, so equal languages give identical tables.
"""

from __future__ import annotations

from dataclasses import dataclass
import gc
from collections import OrderedDict
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

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
        columns = np.ascontiguousarray(self.transitions.T)
        ids: Dict[bytes, int] = {}
        out = np.empty(256, dtype=np.int32)
        for b in range(256):
            out[b] = ids.setdefault(columns[b].tobytes(), len(ids))
        return out

    def _classes(self) -> np.ndarray:
        """A partition of bytes with identical columns (maybe finer than the coarsest)."""
        if self._byte_class is None:
            object.__setattr__(self, "_byte_class", self.byte_classes())
        return self._byte_class

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


@lru_cache(maxsize=4096)
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
    rows: List[List[int]] = [[-1] * n_cls]
    acc = [False]
    limit = 2 * max_states + 64
    for data in strings:
        s = 0
        for b in data:
            c = byte_class[b]
            t = rows[s][c]
            if t < 0:
                t = rows[s][c] = len(rows)
                if t >= limit:
                    raise ResourceLimitError(
                        f"alternation of literals exceeds {limit} trie states "
                        f"(2 x Limits.max_dfa_states={max_states})"
                    )
                rows.append([-1] * n_cls)
                acc.append(False)
            s = t
        acc[s] = True
    return _finish(rows, acc, byte_class, max_states)


# --- NFA ------------------------------------------------------------------------------------


class _NFA:
    """Thompson NFA over byte ranges. Fragments are built *from* a given start state and
    return their end state; only fresh states ever receive back edges, so sibling
    fragments may share a start state."""

    def __init__(self, max_states: int) -> None:
        self.eps: List[List[int]] = []
        self.edges: List[List[Tuple[int, int, int]]] = []
        self.max_states = max_states
        self.limit_nfa = 16 * max_states + 4096

    def new(self) -> int:
        self.eps.append([])
        self.edges.append([])
        n = len(self.eps)
        if n > self.limit_nfa:
            raise ResourceLimitError(
                f"regex too large: its NFA exceeds {self.limit_nfa} states "
                f"(16 x Limits.max_dfa_states={self.max_states}); reduce bounded repetitions"
            )
        return n - 1

    def build(self, r: Regex, start: int) -> int:
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
                self.eps[self.build(item, start)].append(end)
            return end
        if isinstance(r, Repeat):
            cur = start
            for _ in range(r.min):
                cur = self.build(r.item, cur)
            if r.max is None:
                loop = self.new()
                self.eps[cur].append(loop)
                self.eps[self.build(r.item, loop)].append(loop)
                return loop
            if r.max == r.min:
                return cur
            end = self.new()
            for _ in range(r.max - r.min):  # nested optionals: (x(x(x)?)?)?
                self.eps[cur].append(end)
                cur = self.build(r.item, cur)
            self.eps[cur].append(end)
            return end
        if isinstance(r, (And, Not)):
            return self.embed(regex_to_dfa(r, max_states=self.max_states), start)
        raise TypeError(f"not a regex node: {r!r}")

    def build_chars(self, ranges, start: int) -> int:
        end = self.new()
        seqs = _chars_sequences(ranges)
        if all(len(sq) == 1 for sq in seqs):
            self.edges[start].extend((sq[0][0], sq[0][1], end) for sq in seqs)
            return end
        suffix_state: Dict[ByteRanges, int] = {(): end}

        def state_for(suffix: ByteRanges) -> int:
            s = suffix_state.get(suffix)
            if s is None:
                s = self.new()
                nxt = state_for(suffix[1:])
                self.edges[s].append((suffix[0][0], suffix[0][1], nxt))
                suffix_state[suffix] = s
            return s

        for sq in seqs:
            nxt = state_for(sq[1:])
            self.edges[start].append((sq[0][0], sq[0][1], nxt))
        return end

    def embed(self, dfa: ByteDFA, start: int) -> int:
        end = self.new()
        if dfa.num_states == 0:
            return end
        # a fresh state for the DFA's start: it may have incoming edges, and fragments
        # never add edges into the start state they were given
        ids = [self.new() for _ in range(dfa.num_states)]
        self.eps[start].append(ids[0])
        t = dfa.transitions
        for s in range(dfa.num_states):
            row = t[s]
            cuts = np.flatnonzero(np.diff(row)) + 1
            bounds = np.concatenate(([0], cuts, [256]))
            for a, b in zip(bounds[:-1], bounds[1:]):
                target = int(row[a])
                if target >= 0:
                    self.edges[ids[s]].append((int(a), int(b) - 1, ids[target]))
            if dfa.accepting[s]:
                self.eps[ids[s]].append(end)
        return end


def _closure(eps: List[List[int]], states) -> set:
    seen = set(states)
    stack = list(seen)
    while stack:
        for t in eps[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


#: NFAs with more states than this are determinized by the Numba kernel.
NUMBA_NFA_THRESHOLD = 2_000
#: The Python subset construction hands over to the Numba kernel past this many DFA states.
NUMBA_DFA_SWITCH = 2_000


def _determinize_numba(nfa: _NFA, edges_cls, start: int, final: int, n_cls: int, limit: int,
                       max_states: int) -> Tuple[np.ndarray, np.ndarray]:
    from ..kernels import fsm as kernels

    n = len(nfa.eps)
    eps_len = np.fromiter((len(e) for e in nfa.eps), dtype=np.int64, count=n)
    eps_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(eps_len, out=eps_ptr[1:])
    eps_dst = np.fromiter((t for e in nfa.eps for t in e), dtype=np.int64, count=int(eps_ptr[-1]))
    edge_len = np.fromiter((len(e) for e in edges_cls), dtype=np.int64, count=n)
    edge_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(edge_len, out=edge_ptr[1:])
    flat = np.array([x for e in edges_cls for x in e], dtype=np.int64).reshape(-1, 3)
    important = edge_len > 0
    important[final] = True
    zob = np.random.default_rng(0x5EED).integers(1, 2**63, size=n, dtype=np.uint64)
    stamp = np.zeros(n, np.int64)
    stack, seeds, out = (np.empty(n, np.int64) for _ in range(3))
    cap = min(limit, 4096)
    data_cap = 1 << 16
    while True:
        trans = np.empty((cap, n_cls), np.int32)
        acc = np.zeros(cap, np.bool_)
        set_ptr = np.zeros(cap + 1, np.int64)
        set_data = np.empty(data_cap, np.int64)
        size = 1 << int(2 * cap - 1).bit_length()
        htable = np.full(size, -1, np.int64)
        hkeys = np.zeros(cap, np.uint64)
        stamp[:] = 0
        got = kernels.determinize(eps_ptr, eps_dst, edge_ptr, flat[:, 0].copy(), flat[:, 1].copy(),
                                  flat[:, 2].copy(), important, zob, start, final, n_cls, trans, acc,
                                  set_ptr, set_data, htable, hkeys, stamp, stack, seeds, out)
        if got >= 0:
            return trans[:got], acc[:got]
        if got == -1:
            if cap >= limit:
                raise ResourceLimitError(
                    f"regex too large: its DFA exceeds {limit} states before minimization "
                    f"(2 x Limits.max_dfa_states={max_states})"
                )
            cap = min(limit, 4 * cap)
        else:
            data_cap *= 4


def _determinize(nfa: _NFA, start: int, final: int, max_states: int):
    """Subset construction over byte classes: (trans [n, C] with -1, accepting, byte_class)."""
    points = {0, 256}
    for edges in nfa.edges:
        for lo, hi, _ in edges:
            points.add(lo)
            points.add(hi + 1)
    bounds = np.array(sorted(points), dtype=np.int64)
    byte_class = (np.searchsorted(bounds, np.arange(256), side="right") - 1).astype(np.int32)
    cls_lo = {int(b): i for i, b in enumerate(bounds[:-1])}
    edges_cls = [[(cls_lo[lo], cls_lo[hi + 1] - 1 if hi + 1 < 256 else len(bounds) - 2, t)
                  for lo, hi, t in edges] for edges in nfa.edges]
    n_cls = len(bounds) - 1
    eps = nfa.eps
    limit = 2 * max_states + 64
    if len(eps) > NUMBA_NFA_THRESHOLD:
        trans, acc = _determinize_numba(nfa, edges_cls, start, final, n_cls, limit, max_states)
        return trans, acc, byte_class

    def key_of(closure: set) -> frozenset:
        return frozenset(q for q in closure if edges_cls[q] or q == final)

    first = key_of(_closure(eps, [start]))
    index: Dict[frozenset, int] = {first: 0}
    order = [first]
    rows: List[List[int]] = []
    accepting: List[bool] = []
    i = 0
    while i < len(order):
        cur = order[i]
        i += 1
        accepting.append(final in cur)
        moves: Dict[int, set] = {}
        for q in cur:
            for a, b, t in edges_cls[q]:
                for c in range(a, b + 1):
                    s = moves.get(c)
                    if s is None:
                        moves[c] = {t}
                    else:
                        s.add(t)
        row = [-1] * n_cls
        by_set: Dict[frozenset, int] = {}
        for c, targets in moves.items():
            fs = frozenset(targets)
            j = by_set.get(fs)
            if j is None:
                key = key_of(_closure(eps, fs))
                j = index.get(key)
                if j is None:
                    j = len(order)
                    if j >= limit:
                        raise ResourceLimitError(
                            f"regex too large: its DFA exceeds {limit} states before minimization "
                            f"(2 x Limits.max_dfa_states={max_states})"
                        )
                    if j >= NUMBA_DFA_SWITCH:  # a small NFA with a big DFA: start over in Numba
                        trans, acc = _determinize_numba(nfa, edges_cls, start, final, n_cls, limit,
                                                        max_states)
                        return trans, acc, byte_class
                    index[key] = j
                    order.append(key)
                by_set[fs] = j
            row[c] = j
        rows.append(row)
    return rows, accepting, byte_class


# --- trimming, minimization, canonical numbering ----------------------------------------------
#
# Automata in construction are lists: rows[s][c] = target state or -1, for byte class c.


def _trim(rows: List[List[int]], acc: List[bool]) -> Tuple[List[List[int]], List[bool]]:
    """Drop the states that cannot reach acceptance; state 0 stays first. Returns empty
    lists when state 0 itself is dead (the empty language)."""
    n = len(rows)
    preds: List[List[int]] = [[] for _ in range(n)]
    for s, row in enumerate(rows):
        for t in row:
            if t >= 0:
                preds[t].append(s)
    live = list(acc)
    stack = [s for s in range(n) if acc[s]]
    while stack:
        for p in preds[stack.pop()]:
            if not live[p]:
                live[p] = True
                stack.append(p)
    if not live[0]:
        return [], []
    if all(live):
        return rows, acc
    idx = [-1] * n
    keep = [s for s in range(n) if live[s]]
    for i, s in enumerate(keep):
        idx[s] = i
    return [[idx[t] if t >= 0 else -1 for t in rows[s]] for s in keep], [acc[s] for s in keep]


def _renumber(rows: List[List[int]], acc: List[bool],
              block_of: List[int]) -> Tuple[List[List[int]], List[bool]]:
    """Quotient by ``block_of``, numbered breadth first from state 0's block."""
    rep: Dict[int, int] = {}
    for s, b in enumerate(block_of):
        rep.setdefault(b, s)
    new_id = {block_of[0]: 0}
    queue = [block_of[0]]
    out_rows: List[List[int]] = []
    k = 0
    while k < len(queue):
        row = rows[rep[queue[k]]]
        k += 1
        out = []
        for t in row:
            if t < 0:
                out.append(-1)
                continue
            bt = block_of[t]
            j = new_id.get(bt)
            if j is None:
                j = new_id[bt] = len(queue)
                queue.append(bt)
            out.append(j)
        out_rows.append(out)
    return out_rows, [acc[rep[b]] for b in queue]


def _minimize_acyclic(rows: List[List[int]], acc: List[bool]) -> Optional[Tuple[List[List[int]], List[bool]]]:
    """Minimize a trimmed DFA without cycles in linear time (None if it has a cycle).

    In a trimmed acyclic DFA two states are equivalent iff they agree on acceptance and
    their successors are equivalent, so one pass in reverse topological order, merging
    states with equal signatures, gives the minimal automaton.
    """
    n = len(rows)
    indegree = [0] * n
    for row in rows:
        for t in row:
            if t >= 0:
                indegree[t] += 1
    order = [s for s in range(n) if indegree[s] == 0]
    k = 0
    while k < len(order):
        for t in rows[order[k]]:
            if t >= 0:
                indegree[t] -= 1
                if indegree[t] == 0:
                    order.append(t)
        k += 1
    if len(order) < n:
        return None
    block_of = [0] * n
    register: Dict[tuple, int] = {}
    for s in reversed(order):
        sig = (acc[s], *[block_of[t] if t >= 0 else -1 for t in rows[s]])
        block_of[s] = register.setdefault(sig, len(register))
    return _renumber(rows, acc, block_of)


def _minimize(rows: List[List[int]], acc: List[bool]) -> Tuple[List[List[int]], List[bool]]:
    """Hopcroft's algorithm on a trimmed partial DFA, then BFS numbering.

    With an explicit dead state D the initial partition is {F, N, {D}} and Hopcroft needs
    every block but one as a splitter: F and N, never {D} (D is alone in its block, the
    only state that cannot accept), so the missing transitions are never enumerated.
    """
    n = len(rows)
    if n <= 1:
        return _renumber(rows, acc, [0] * n) if n else (rows, acc)
    acyclic = _minimize_acyclic(rows, acc)
    if acyclic is not None:
        return acyclic
    preds: List[List[Tuple[int, int]]] = [[] for _ in range(n)]
    for s, row in enumerate(rows):
        for c, t in enumerate(row):
            if t >= 0:
                preds[t].append((c, s))
    block_of = [0 if a else 1 for a in acc]
    blocks: List[set] = [set(), set()]
    for s, b in enumerate(block_of):
        blocks[b].add(s)
    if not blocks[1]:
        blocks.pop()
    elif not blocks[0]:
        blocks = [blocks[1]]
        block_of = [0] * n
    work = list(range(len(blocks)))
    in_work = set(work)
    while work:
        a = work.pop()
        in_work.discard(a)
        by_cls: Dict[int, List[int]] = {}
        for t in list(blocks[a]):
            for c, s in preds[t]:
                lst = by_cls.get(c)
                if lst is None:
                    by_cls[c] = [s]
                else:
                    lst.append(s)
        for xs in by_cls.values():
            touched: Dict[int, List[int]] = {}
            for s in xs:
                b = block_of[s]
                lst = touched.get(b)
                if lst is None:
                    touched[b] = [s]
                else:
                    lst.append(s)
            for b, members in touched.items():
                if len(members) == len(blocks[b]):
                    continue
                new = len(blocks)
                moved = set(members)
                blocks[b] -= moved
                blocks.append(moved)
                for s in members:
                    block_of[s] = new
                if b in in_work:
                    pick = new
                else:
                    pick = new if len(moved) <= len(blocks[b]) else b
                work.append(pick)
                in_work.add(pick)
    return _renumber(rows, acc, block_of)


#: Automata with more table entries than this are minimized by the Numba kernels.
NUMBA_THRESHOLD = 20_000


def _inverse(trans: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """CSR inverse transitions: sources into ``t`` on class ``c`` are
    ``src[ptr[c * n + t]:ptr[c * n + t + 1]]``."""
    from ..kernels import fsm as kernels

    n, n_cls = trans.shape
    ptr = np.zeros(n_cls * n + 1, np.int64)
    src = np.empty(int(np.count_nonzero(trans >= 0)), np.int64)
    kernels.inverse_csr(trans, ptr, src)
    return ptr, src


def _finish_arrays(trans: np.ndarray, acc: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Trim, minimize and number a class-level table with the Numba kernels."""
    from ..kernels import fsm as kernels

    n, n_cls = trans.shape
    ptr, src = _inverse(trans)
    live = acc.copy()
    kernels.mark_live(ptr, src, n, n_cls, live, np.empty(n, np.int64))
    if not live[0]:
        return np.zeros((0, n_cls), np.int32), np.zeros(0, np.bool_)
    if not live.all():
        idx = np.cumsum(live) - 1
        safe = np.where(trans >= 0, trans, 0)
        trans = np.where((trans >= 0) & live[safe], idx[safe], -1).astype(np.int32)[live]
        acc = acc[live]
        n = trans.shape[0]
        ptr, src = _inverse(trans)
    blk = np.empty(n, np.int64)
    scratch = [np.empty(n + 1, np.int64) for _ in range(8)]
    in_work = np.zeros(n + 1, np.bool_)
    elems, loc, first, end, mid, work, splitter, touched = scratch
    n_blocks = kernels.hopcroft(ptr, src, acc, n, n_cls, blk, elems, loc, first, end, mid,
                                in_work, work, splitter, touched)
    rep = np.full(n_blocks, n, np.int64)
    np.minimum.at(rep, blk, np.arange(n))
    new_id = np.full(n_blocks, -1, np.int64)
    queue = np.empty(n_blocks, np.int64)
    size = kernels.bfs_blocks(trans, blk, rep, new_id, queue)
    reps = rep[queue[:size]]
    rows = trans[reps]
    out = np.where(rows >= 0, new_id[blk[np.where(rows >= 0, rows, 0)]], -1).astype(np.int32)
    return out, acc[reps]


def _finish(rows, acc, byte_class: np.ndarray, max_states: int, what: str = "regex") -> ByteDFA:
    """Trim, minimize, check the limit and expand classes to bytes. ``rows``/``acc`` are
    lists, or arrays (int32 ``[n, C]``, bool ``[n]``)."""
    # Number classes by their first byte, so that breadth-first numbering (which visits
    # successors in class order) is canonical: equal languages give equal tables.
    # Classes no byte uses (none of our builders makes them) drop out here.
    used, first_pos = np.unique(byte_class, return_index=True)
    perm = used[np.argsort(first_pos, kind="stable")]  # new class i is old class perm[i]
    n_old = len(rows[0]) if len(rows) else int(byte_class.max()) + 1
    if len(perm) != n_old or np.any(perm != np.arange(n_old)):
        inv = np.full(n_old, -1, dtype=np.int64)
        inv[perm] = np.arange(len(perm))
        byte_class = inv[byte_class].astype(np.int32)
        if isinstance(rows, np.ndarray):
            rows = np.take(rows, perm, axis=1)
        else:
            p = perm.tolist()
            rows = [[row[i] for i in p] for row in rows]
    n_entries = len(rows) * (int(byte_class.max()) + 1)
    if isinstance(rows, np.ndarray) and n_entries <= NUMBA_THRESHOLD:
        rows, acc = rows.tolist(), [bool(a) for a in acc]
    if n_entries > NUMBA_THRESHOLD:
        trans_c = np.asarray(rows, dtype=np.int32).reshape(len(rows), -1)
        trans_c, acc_a = _finish_arrays(trans_c, np.asarray(acc, dtype=np.bool_))
    else:
        rows, acc = _trim(rows, acc)
        if not rows:
            return EMPTY_DFA
        rows, acc = _minimize(rows, acc)
        trans_c = np.array(rows, dtype=np.int32).reshape(len(rows), -1)
        acc_a = np.array(acc, dtype=np.bool_)
    if trans_c.shape[0] == 0:
        return EMPTY_DFA
    if trans_c.shape[0] > max_states:
        raise ResourceLimitError(
            f"{what} needs a DFA of {trans_c.shape[0]} states, over Limits.max_dfa_states={max_states}"
        )
    dfa = ByteDFA(np.take(trans_c, byte_class, axis=1), acc_a)
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


def product_dfa(dfas: Sequence[ByteDFA], accept: Callable[[Tuple[bool, ...]], bool], *,
                max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """The product automaton of ``dfas``, accepting where ``accept(flags)`` is true.

    ``flags[i]`` says whether ``dfas[i]`` accepts (False once it is dead). ``accept`` must
    be False when every flag is False (else the product would accept invalid UTF-8); use
    :func:`complement_dfa` for negation.

    Raises:
        ValueError: no DFAs, or ``accept`` holds with every flag False.
        ResourceLimitError: the product exceeds ``max_states`` (2 x before minimization).
    """
    if not dfas:
        raise ValueError("product_dfa needs at least one DFA")
    k = len(dfas)
    if accept(tuple(False for _ in dfas)):
        raise ValueError("accept(all False) must be False; use complement_dfa for negations")
    # hopeless[mask]: with the DFAs in ``mask`` dead, no outcome of the others accepts
    # (tabulated for a few DFAs; beyond that only "all dead" prunes)
    if k <= 4:
        hopeless = [not any(accept(tuple(bool(f >> i & 1) and not mask >> i & 1 for i in range(k)))
                            for f in range(1 << k)) for mask in range(1 << k)]
    else:
        hopeless = _AllDeadOnly((1 << k) - 1)
    # joint byte classes; each DFA's classes are a valid partition of its columns
    byte_class = _joint_classes([d._classes() for d in dfas])
    n_cls = int(byte_class.max()) + 1
    reps = np.zeros(n_cls, dtype=np.int64)
    reps[byte_class[::-1]] = np.arange(255, -1, -1)
    # shifted tables: row 0 is the dead state, state s is row s + 1
    cols = []
    for d in dfas:
        t = np.take(d.transitions, reps, axis=1) + 1 if d.num_states else np.zeros((0, n_cls), np.int64)
        cols.append([[0] * n_cls] + t.tolist())
    accs = [[False] + d.accepting.tolist() for d in dfas]
    radix = [len(c) for c in cols]
    limit = 2 * max_states + 64

    def overflow() -> ResourceLimitError:
        return ResourceLimitError(
            f"DFA product exceeds {limit} states before minimization "
            f"(2 x Limits.max_dfa_states={max_states})"
        )

    rows: List[List[int]] = []
    acc: List[bool] = []
    if k == 2:
        c1, c2 = cols
        a1, a2 = accs
        r = radix[1]
        h1, h2, h3 = hopeless[1], hopeless[2], hopeless[3]
        first = (1 if dfas[0].num_states else 0) * r + (1 if dfas[1].num_states else 0)
        index = {first: 0}
        order = [first]
        i = 0
        while i < len(order):
            x, y = divmod(order[i], r)
            i += 1
            acc.append(bool(accept((a1[x], a2[y]))))
            row = [-1] * n_cls
            rx, ry = c1[x], c2[y]
            for c in range(n_cls):
                u, v = rx[c], ry[c]
                if (h3 if u == 0 and v == 0 else h1 if u == 0 else h2 if v == 0 else False):
                    continue
                key = u * r + v
                j = index.get(key)
                if j is None:
                    j = len(order)
                    if j >= limit:
                        raise overflow()
                    index[key] = j
                    order.append(key)
                row[c] = j
            rows.append(row)
    else:
        start = tuple(1 if d.num_states else 0 for d in dfas)
        index_t = {start: 0}
        order_t = [start]
        i = 0
        while i < len(order_t):
            cur = order_t[i]
            i += 1
            acc.append(bool(accept(tuple(accs[m][s] for m, s in enumerate(cur)))))
            row = [-1] * n_cls
            for c in range(n_cls):
                nxt = tuple(cols[m][s][c] for m, s in enumerate(cur))
                mask = sum(1 << m for m, s in enumerate(nxt) if s == 0)
                if hopeless[mask]:
                    continue
                j = index_t.get(nxt)
                if j is None:
                    j = len(order_t)
                    if j >= limit:
                        raise overflow()
                    index_t[nxt] = j
                    order_t.append(nxt)
                row[c] = j
            rows.append(row)
    return _finish(rows, acc, byte_class, max_states, "DFA product")


class _AllDeadOnly:
    def __init__(self, all_mask: int) -> None:
        self.all_mask = all_mask

    def __getitem__(self, mask: int) -> bool:
        return mask == self.all_mask


def intersect_dfa(*dfas: ByteDFA, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Strings every DFA accepts (pairwise, minimizing after each step)."""
    if not dfas:
        raise ValueError("intersect_dfa needs at least one DFA")
    result = dfas[0]
    for d in dfas[1:]:
        if result.is_empty:
            return result
        result = product_dfa((result, d), all, max_states=max_states)
    return result if len(dfas) > 1 else product_dfa(dfas, all, max_states=max_states)


def union_dfa(*dfas: ByteDFA, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Strings some DFA accepts (pairwise, minimizing after each step)."""
    if not dfas:
        raise ValueError("union_dfa needs at least one DFA")
    result = dfas[0]
    for d in dfas[1:]:
        result = product_dfa((result, d), any, max_states=max_states)
    return result if len(dfas) > 1 else product_dfa(dfas, any, max_states=max_states)


def difference_dfa(a: ByteDFA, b: ByteDFA, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Strings ``a`` accepts and ``b`` does not."""
    return product_dfa((a, b), lambda f: f[0] and not f[1], max_states=max_states)


def complement_dfa(dfa: ByteDFA, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """Valid UTF-8 strings ``dfa`` does not accept."""
    return difference_dfa(_any_utf8(), dfa, max_states=max_states)


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
    rows = [t[0].tolist()] + t.tolist()
    acc = [False] + dfa.accepting.tolist()
    return _finish(rows, acc, classes, max_states)


@lru_cache(maxsize=1)
def _any_utf8() -> ByteDFA:
    return regex_to_dfa(Repeat(Chars(((0, MAX_CODE_POINT),)), 0, None))


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


def _repeat_tables(t: np.ndarray, acc: np.ndarray, lo: int, hi: Optional[int], limit: int):
    """Class-level table of ``X{lo,hi}`` from X's minimal DFA, or None if gluing is not
    deterministic (or X matches the empty string)."""
    k, n_cls = t.shape
    if acc[0] or not _glues(t, acc, t[0]):
        return None
    copies = max(lo, 1) if hi is None else hi
    if copies * k > limit:
        raise ResourceLimitError(
            f"repetition needs {copies * k} DFA states before minimization, over {limit} "
            f"(2 x Limits.max_dfa_states)"
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
    big_acc = np.zeros((copies, k), dtype=np.bool_)
    big_acc[:, f] = (np.arange(copies) + 1 >= lo)[:, None]
    big = big.reshape(copies * k, n_cls)
    big_acc = big_acc.reshape(-1)
    if lo == 0:
        # zero units: a fresh accepting start (X's start may be re-entered mid-unit)
        big = np.where(big >= 0, big + 1, -1)
        big = np.concatenate([big[:1], big])
        big_acc = np.concatenate([[True], big_acc])
    return big.astype(np.int32), big_acc


def _glue_seq(a: np.ndarray, a_acc: np.ndarray, b: np.ndarray, b_acc: np.ndarray):
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


def _is_big_repeat(r: Regex) -> bool:
    return isinstance(r, Repeat) and max(r.min, r.max or 0) >= BIG_REPEAT


def _part_table(regex: Regex, max_states: int, limit: int):
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
    d = regex_to_dfa(regex, max_states=max_states)
    if d.is_empty:
        return None
    (t,), byte_class = _class_tables([d])
    return t, d.accepting, byte_class


def _dfa_level(regex: Regex, max_states: int) -> Optional[ByteDFA]:
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
    parts = []
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


class _DFACache:
    """An LRU cache of DFAs bounded by the bytes of their tables (a 16k-state DFA holds
    16 MB), wrapping :func:`regex_to_dfa`; ``cache_clear()`` empties it."""

    def __init__(self, fn: Callable[..., ByteDFA], max_bytes: int) -> None:
        self.fn = fn
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: "OrderedDict[tuple, ByteDFA]" = OrderedDict()
        self.__doc__ = fn.__doc__
        self.__name__ = "regex_to_dfa"
        self.__wrapped__ = fn

    def __call__(self, regex: Regex, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
        key = (regex, max_states)
        dfa = self.entries.get(key)
        if dfa is not None:
            self.entries.move_to_end(key)
            return dfa
        # The collector would traverse the many small lists of an NFA again and again.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            dfa = self.fn(regex, max_states=max_states)
        finally:
            if was_enabled:
                gc.enable()
        self.entries[key] = dfa
        self.bytes += dfa.transitions.nbytes
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.transitions.nbytes
        return dfa

    def cache_clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


def _regex_to_dfa(regex: Regex, *, max_states: int = DEFAULT_LIMITS.max_dfa_states) -> ByteDFA:
    """The minimized byte DFA of ``regex`` (UTF-8 encoded code points).

    Args:
        regex: an IR regex (hashable; results are cached).
        max_states: the most states the minimized DFA may have.

    Raises:
        ResourceLimitError: the DFA (or an intermediate automaton) is too large.
    """
    if isinstance(regex, And):
        items = [x for x in regex.items if x != _NOT_EMPTY]
        if len(items) < len(regex.items) and items:
            # r minus the empty string: cheaper than a product with the complement
            inner = regex_to_dfa(items[0] if len(items) == 1 else And(tuple(items)), max_states=max_states)
            return _without_empty(inner, max_states)
        parts = [regex_to_dfa(x, max_states=max_states) for x in regex.items]
        if any(p.is_empty for p in parts):
            return EMPTY_DFA
        if not parts:
            return _any_utf8()
        return intersect_dfa(*parts, max_states=max_states)
    if isinstance(regex, Not):
        return complement_dfa(regex_to_dfa(regex.item, max_states=max_states), max_states=max_states)
    if isinstance(regex, Alt) and len(regex.items) > 1:
        texts = [_literal_text(x) for x in regex.items]
        if all(t is not None for t in texts):
            return _literals_dfa([t.encode("utf-8") for t in texts], max_states)
    text = _literal_text(regex)
    if text is not None:
        data = text.encode("utf-8")
        if len(data) + 1 > max_states:
            raise ResourceLimitError(
                f"a literal of {len(data)} bytes needs {len(data) + 1} DFA states, "
                f"over Limits.max_dfa_states={max_states}"
            )
        return _literal_dfa(data)
    if _is_big_repeat(regex) or (isinstance(regex, Seq) and any(_is_big_repeat(x) for x in regex.items)):
        built = _dfa_level(regex, max_states)
        if built is not None:
            return built
    return _nfa_route(regex, max_states)


#: The cached entry point (at most 256 MB of tables are kept).
regex_to_dfa = _DFACache(_regex_to_dfa, max_bytes=256 << 20)


@lru_cache(maxsize=4096)
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
        final = nfa.build(regex, start)
    except RecursionError:
        raise ResourceLimitError("regex nested too deeply to compile") from None
    rows, accepting, byte_class = _determinize(nfa, start, final, max_states)
    return _finish(rows, accepting, byte_class, max_states)
