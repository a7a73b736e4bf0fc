"""Lexer DFAs, one per set of live terminals, built when first needed.

The parser decides which terminals may come next; the lexer for exactly that set is the
product of the terminals' byte DFAs. All such lexers share one pair of tables (state ids are
global), so the kernels switch lexers by switching start state. Building is lazy and
memoized: a kernel that meets a set without a lexer reports it, this module builds it, and
the kernel runs again. The tables only ever grow, by replacement: a kernel running in another
thread keeps reading the arrays it was given.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from ..errors import ResourceLimitError
from ..kernels.earley import lexer_insert_kernel
from ..kernels.lexer import product_dfa_kernel
from .fsm import ByteDFA
from .tables import bitset_members


class LexerCache:
    """The growing lexer tables of one compiled grammar (see ``constrain.kernels.earley``)."""

    def __init__(self, terminal_dfas: Sequence[ByteDFA], num_words: int, max_states: int) -> None:
        self._dfas = list(terminal_dfas)
        self._num_words = num_words
        self._max_states = max_states
        self._lock = threading.Lock()
        #: The ``L`` tuple the kernels take, replaced whole (never mutated) so that a reader
        #: in another thread always sees a consistent set of arrays.
        self.tables = (
            np.zeros((0, 256), dtype=np.int32),
            np.zeros((0, num_words), dtype=np.uint64),
            np.zeros((16, num_words), dtype=np.uint64),
            np.full(16, -1, dtype=np.int32),
            np.zeros(0, dtype=np.bool_),
        )
        self._num_keys = 0
        self._classes: dict = {}

    @property
    def num_states(self) -> int:
        return self.tables[0].shape[0]

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def ensure(self, live_words: np.ndarray) -> None:
        """Build the lexer for the live-terminal bitset ``live_words`` if it is missing."""
        from ..kernels.earley import lexer_lookup_kernel

        with self._lock:
            old_trans, old_accept, old_keys, old_vals, old_final = self.tables
            if lexer_lookup_kernel(old_keys, old_vals, live_words) >= 0:
                return
            trans, accept = self._product(bitset_members(live_words))
            offset = old_trans.shape[0]
            if offset + trans.shape[0] > 8 * self._max_states:
                raise ResourceLimitError(
                    f"lexer tables would exceed {8 * self._max_states} states "
                    f"(8 x max_dfa_states); the grammar's terminals overlap too much"
                )
            trans = np.where(trans >= 0, trans + offset, -1).astype(np.int32)
            if 2 * (self._num_keys + 1) > old_vals.shape[0]:
                keys, vals = self._rehash(old_keys, old_vals, 2 * old_vals.shape[0])
            else:
                keys, vals = old_keys.copy(), old_vals.copy()
            lexer_insert_kernel(keys, vals, np.ascontiguousarray(live_words, dtype=np.uint64), offset)
            final = accept.any(axis=1) & (trans < 0).all(axis=1)
            self.tables = (
                np.concatenate([old_trans, trans]),
                np.concatenate([old_accept, accept]),
                keys,
                vals,
                np.concatenate([old_final, final]),
            )
            self._num_keys += 1

    def _rehash(self, old_keys, old_vals, capacity: int):
        keys = np.zeros((capacity, self._num_words), dtype=np.uint64)
        vals = np.full(capacity, -1, dtype=np.int32)
        for slot in np.nonzero(old_vals >= 0)[0]:
            lexer_insert_kernel(keys, vals, old_keys[slot], old_vals[slot])
        return keys, vals

    def _byte_classes(self, terminal: int) -> np.ndarray:
        classes = self._classes.get(terminal)
        if classes is None:
            classes = self._classes[terminal] = self._dfas[terminal].byte_classes()
        return classes

    def _product(self, terminals: list):
        """Product DFA of the given terminals' DFAs; state 0 is a start state never re-entered."""
        dfas = [self._dfas[t] for t in terminals if self._dfas[t].num_states]
        ids = np.asarray([t for t in terminals if self._dfas[t].num_states], dtype=np.int32)
        if not len(dfas):
            return np.full((1, 256), -1, dtype=np.int32), np.zeros((1, self._num_words), dtype=np.uint64)
        # One byte partition refining every component's: product transitions per class.
        classes = np.stack([self._byte_classes(t) for t in ids.tolist()])  # (k, 256)
        _, representative, class_of_byte = np.unique(classes.T, axis=0, return_index=True, return_inverse=True)
        class_of_byte = class_of_byte.reshape(-1)
        trans = np.ascontiguousarray(np.concatenate([d.transitions[:, representative] for d in dfas]), dtype=np.int32)
        accepting = np.concatenate([d.accepting for d in dfas]).astype(np.bool_)
        offsets = np.zeros(len(dfas) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([d.num_states for d in dfas])
        capacity = 64
        while True:
            k = len(dfas)
            tuples = np.empty((capacity, k), dtype=np.int32)
            table = np.full(1 << int(2 * capacity - 1).bit_length(), -1, dtype=np.int32)
            out_trans = np.empty((capacity, len(representative)), dtype=np.int32)
            out_accept = np.zeros((capacity, self._num_words), dtype=np.uint64)
            n = product_dfa_kernel(trans, accepting, offsets, ids, tuples, table, out_trans, out_accept,
                                   np.empty(k, dtype=np.int32))
            if n >= 0:
                break
            if capacity >= self._max_states:
                raise ResourceLimitError(
                    f"a lexer DFA over {k} terminals exceeds max_dfa_states={self._max_states} states"
                )
            capacity = min(4 * capacity, self._max_states)
        return np.ascontiguousarray(out_trans[:n][:, class_of_byte]), out_accept[:n]
