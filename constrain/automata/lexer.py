"""Lexer DFAs, one per set of terminals the parser allows, built when first needed.

The parser decides which terminals may come next; the lexer for exactly that set is the
product of those terminals' byte DFAs. A lexer state is the set of (terminal, state) pairs
still alive, interned across all lexers of the grammar (see ``constrain.kernels.lexer``), so
contexts share every state past their start. Building is lazy and memoized: a kernel that
meets a set without a lexer reports it, this module builds it, and the kernel runs again.

Thread safety: building holds a lock and writes only rows past the published states; the
``tables`` tuple is replaced whole when a lexer is complete, so a kernel reading an older
tuple never sees a half-built state.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from ..errors import ResourceLimitError
from ..kernels.earley import NO_LEXER, lexer_insert_kernel, lexer_lookup_kernel
from ..kernels.lexer import COUNT_INDEXED, COUNT_PAIRS, COUNT_STATES, lexer_expand_kernel, lexer_table_rehash_kernel
from ..kernels.records import LEXER_START_KEYS, LEXER_START_VALS, make_lexer_record
from ..kernels.status import OVERFLOW
from .lowering import TerminalDFAs
from .tables import bitset_members


class LexerCache:
    """The growing lexer tables of one compiled grammar.

    Args:
        terminal_dfas: one byte DFA per terminal id.
        num_words: uint64 words of a terminal bitset.
        max_states: bound on lexer states (each costs about 1 KiB).
    """

    def __init__(self, terminal_dfas: TerminalDFAs, num_words: int, max_states: int) -> None:
        self._num_words = num_words
        self._max_states = max_states
        self._lock = threading.Lock()
        self._dfas = terminal_dfas
        n = len(terminal_dfas)
        # The terminals' DFAs stacked: terminal t's state s is row ``_term_offsets[t] + s``
        # (-1 until its DFA is loaded: built ones now, the others when a lexer needs them).
        self._term_offsets = np.full(n + 1, -1, dtype=np.int64)
        self._term_nonempty = [terminal_dfas.nonempty(t) for t in range(n)]
        built = [t for t in range(n) if terminal_dfas.is_built(t) and self._term_nonempty[t]]
        rows = sum(terminal_dfas[t].num_states for t in built)
        self._term_trans = np.zeros((max(rows, 16), 256), dtype=np.int32)
        self._term_accepting = np.zeros(max(rows, 16), dtype=np.bool_)
        self._term_rows = 0
        self._load(built)
        capacity = 256
        self._comp_offsets = np.zeros(capacity + 1, dtype=np.int64)
        self._comp_terminal = np.zeros(4 * capacity, dtype=np.int32)
        self._comp_state = np.zeros(4 * capacity, dtype=np.int32)
        self._table = np.full(2 * capacity, -1, dtype=np.int32)
        self._counts = np.zeros(4, dtype=np.int64)
        self._trans = np.zeros((capacity, 256), dtype=np.int32)
        self._accept = np.zeros((capacity, num_words), dtype=np.uint64)
        self._final = np.zeros(capacity, dtype=np.bool_)
        self._num_keys = 0
        #: The kernels' ``L`` record, replaced whole.
        self.tables = make_lexer_record(
            trans=self._trans,
            accept=self._accept,
            start_keys=np.zeros((16, num_words), dtype=np.uint64),
            start_vals=np.full(16, -1, dtype=np.int32),
            final=self._final,
        )

    @property
    def num_states(self) -> int:
        """Lexer states built so far."""
        return int(self._counts[COUNT_STATES])

    def components(self, state: int) -> List[Tuple[int, int]]:
        """The (terminal, terminal DFA state) pairs alive in lexer ``state``."""
        lo, hi = self._comp_offsets[state], self._comp_offsets[state + 1]
        return list(zip(self._comp_terminal[lo:hi].tolist(), self._comp_state[lo:hi].tolist()))

    def single_component(self, state: int) -> Optional[Tuple[int, int]]:
        """``(terminal, terminal DFA state)`` when one terminal is alive in lexer ``state``."""
        lo, hi = self._comp_offsets[state], self._comp_offsets[state + 1]
        if hi - lo == 1:
            return int(self._comp_terminal[lo]), int(self._comp_state[lo])
        return None

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def ensure(self, live_words: np.ndarray) -> None:
        """Build the lexer for the live-terminal bitset ``live_words`` if it is missing."""
        live_words = np.ascontiguousarray(live_words, dtype=np.uint64)
        with self._lock:
            old_keys, old_vals = self.tables[LEXER_START_KEYS], self.tables[LEXER_START_VALS]
            if lexer_lookup_kernel(old_keys, old_vals, live_words) != NO_LEXER:
                return
            terminals = [t for t in bitset_members(live_words) if self._term_nonempty[t]]
            self._load(terminals)
            start = self._add_start(terminals)
            while (
                lexer_expand_kernel(
                    self._term_trans,
                    self._term_accepting,
                    self._term_offsets,
                    self._comp_offsets,
                    self._comp_terminal,
                    self._comp_state,
                    self._trans,
                    self._accept,
                    self._final,
                    self._table,
                    self._counts,
                )
                == OVERFLOW
            ):
                self._grow()
            if 2 * (self._num_keys + 1) > old_vals.shape[0]:
                keys, vals = self._rehash_keys(old_keys, old_vals, 2 * old_vals.shape[0])
            else:
                keys, vals = old_keys.copy(), old_vals.copy()
            lexer_insert_kernel(keys, vals, live_words, start)
            self._num_keys += 1
            self.tables = make_lexer_record(
                trans=self._trans, accept=self._accept, start_keys=keys, start_vals=vals, final=self._final
            )

    def _load(self, terminals: List[int]) -> None:
        """Stack the DFAs of ``terminals`` not loaded yet (building those not built)."""
        missing = [t for t in terminals if self._term_offsets[t] < 0]
        if not missing:
            return
        dfas = [self._dfas[t] for t in missing]
        needed = self._term_rows + sum(d.num_states for d in dfas)
        if needed > self._term_trans.shape[0]:
            rows = max(needed, 2 * self._term_trans.shape[0])
            self._term_trans = _resized(self._term_trans, rows)
            self._term_accepting = _resized(self._term_accepting, rows)
        for t, dfa in zip(missing, dfas):
            if dfa.num_states == 0:  # cannot happen for a lazily built one (vouched non-empty)
                self._term_nonempty[t] = False
                continue
            lo, hi = self._term_rows, self._term_rows + dfa.num_states
            self._term_trans[lo:hi] = dfa.transitions
            self._term_accepting[lo:hi] = dfa.accepting
            self._term_offsets[t] = lo
            self._term_rows = hi

    def _add_start(self, terminals: List[int]) -> int:
        """A start state: the terminals at their DFAs' start; never indexed in the table."""
        n, pairs = int(self._counts[COUNT_STATES]), int(self._counts[COUNT_PAIRS])
        while n + 1 >= self._trans.shape[0] or pairs + len(terminals) > self._comp_terminal.shape[0]:
            self._grow()
        self._comp_terminal[pairs : pairs + len(terminals)] = terminals
        self._comp_state[pairs : pairs + len(terminals)] = 0
        self._comp_offsets[n + 1] = pairs + len(terminals)
        self._accept[n] = 0
        self._final[n] = False
        self._counts[COUNT_STATES] = n + 1
        self._counts[COUNT_PAIRS] = pairs + len(terminals)
        return n

    def _grow(self) -> None:
        """Double whatever is full; new arrays, so readers of the old ones are unaffected."""
        n = int(self._counts[COUNT_STATES])
        pairs = int(self._counts[COUNT_PAIRS])
        indexed = int(self._counts[COUNT_INDEXED])
        capacity = self._trans.shape[0]
        if n + 2 >= capacity:
            if capacity >= self._max_states:
                raise ResourceLimitError(
                    f"the grammar's lexers need more than {self._max_states} states "
                    "(max_lexer_states); its terminals overlap too much"
                )
            capacity = min(2 * capacity, self._max_states)
            self._trans = _resized(self._trans, capacity)
            self._accept = _resized(self._accept, capacity)
            self._final = _resized(self._final, capacity)
            self._comp_offsets = _resized(self._comp_offsets, capacity + 1)
        if pairs + len(self._term_nonempty) + 1 > self._comp_terminal.shape[0]:
            size = 2 * self._comp_terminal.shape[0] + len(self._term_nonempty)
            self._comp_terminal = _resized(self._comp_terminal, size)
            self._comp_state = _resized(self._comp_state, size)
        if 4 * (indexed + 1) > self._table.shape[0]:
            table = np.full(2 * self._table.shape[0], -1, dtype=np.int32)
            lexer_table_rehash_kernel(self._comp_offsets, self._comp_terminal, self._comp_state, self._table, table)
            self._table = table

    def _rehash_keys(
        self, old_keys: NDArray[np.uint64], old_vals: NDArray[np.int32], capacity: int
    ) -> Tuple[NDArray[np.uint64], NDArray[np.int32]]:
        keys = np.zeros((capacity, self._num_words), dtype=np.uint64)
        vals = np.full(capacity, -1, dtype=np.int32)
        for slot in np.nonzero(old_vals >= 0)[0]:
            lexer_insert_kernel(keys, vals, old_keys[slot], int(old_vals[slot]))
        return keys, vals


def _resized(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows,) + array.shape[1:], dtype=array.dtype)
    out[: array.shape[0]] = array
    return out
