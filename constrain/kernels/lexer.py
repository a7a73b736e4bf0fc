"""Numba kernel: lexer DFA states as interned sets of live terminal states.

A lexer state is the set of (terminal, terminal-DFA state) pairs still alive in the current
lexeme; its transitions and acceptance depend on that set alone, so states are interned by it
and shared by every context that reaches them (only the start states, one per set of
terminals the parser allows, are kept apart: they are never the target of a transition).

Arrays: the terminals' DFAs stacked (``term_trans`` ``int32[total, 256]``, -1 dead;
``term_accepting`` ``bool[total]``; terminal ``t`` occupies rows
``term_offsets[t]:term_offsets[t+1]``); per lexer state ``i`` its pairs
``comp_terminal/comp_state[comp_offsets[i]:comp_offsets[i+1]]`` sorted by terminal; the output
``trans`` ``int32[capacity, 256]``, ``accept`` ``uint64[capacity, num_words]``, ``final``
``bool[capacity]``; ``table`` an open-addressing index of the non-start states (-1: empty);
``counts`` = [number of states, number of pairs, first state not yet expanded, states in table]
(indexed by the ``COUNT_STATES``, ... constants below).
"""

import numpy as np
from numba import njit

from ..config import NJIT_OPTIONS
from .bits import set_terminal_bit
from .status import OK, OVERFLOW

#: The fields of ``counts``.
COUNT_STATES = 0
COUNT_PAIRS = 1
NEXT_TO_EXPAND = 2
COUNT_INDEXED = 3
#: An empty slot of ``table``.
EMPTY_SLOT = -1


@njit(**NJIT_OPTIONS)
def _hash_pairs(terms, states, lo, hi):
    h = np.uint64(1469598103934665603)
    for c in range(lo, hi):
        h = (h ^ np.uint64(terms[c] * 40503 + states[c] + 1)) * np.uint64(1099511628211)
        h ^= h >> np.uint64(29)
    return h


@njit(**NJIT_OPTIONS)
def _table_insert(comp_offsets, comp_terminal, comp_state, table, state):
    """Index ``state`` in ``table`` (which has a free slot)."""
    mask = np.uint64(table.shape[0] - 1)
    h = _hash_pairs(comp_terminal, comp_state, comp_offsets[state], comp_offsets[state + 1]) & mask
    while table[np.int64(h)] != EMPTY_SLOT:
        h = (h + np.uint64(1)) & mask
    table[np.int64(h)] = state


@njit(**NJIT_OPTIONS)
def lexer_table_rehash_kernel(comp_offsets, comp_terminal, comp_state, old_table, table):
    """Index in ``table`` (empty, with room) every state indexed in ``old_table``."""
    for slot in range(old_table.shape[0]):
        if old_table[slot] != EMPTY_SLOT:
            _table_insert(comp_offsets, comp_terminal, comp_state, table, old_table[slot])


@njit(**NJIT_OPTIONS)
def lexer_expand_kernel(
    term_trans,
    term_accepting,
    term_offsets,
    comp_offsets,
    comp_terminal,
    comp_state,
    trans,
    accept,
    final,
    table,
    counts,
):
    """Compute the transitions of every state from ``counts[NEXT_TO_EXPAND]`` on, interning new states.

    Returns OK when every state is expanded, or OVERFLOW when an array or the table is full;
    then ``counts`` says where to resume once the caller has grown them.
    """
    mask = np.uint64(table.shape[0] - 1)
    capacity = trans.shape[0]
    comp_capacity = comp_terminal.shape[0]
    i = counts[NEXT_TO_EXPAND]
    while i < counts[COUNT_STATES]:
        lo = comp_offsets[i]
        hi = comp_offsets[i + 1]
        any_live = False
        for b in range(256):
            if b > 0:
                # Bytes every component treats like the previous one (runs of letters, of
                # UTF-8 continuation bytes) lead where it led: no pairs, no hashing.
                alike = True
                for c in range(lo, hi):
                    row = term_offsets[comp_terminal[c]] + comp_state[c]
                    if term_trans[row, b] != term_trans[row, b - 1]:
                        alike = False
                        break
                if alike:
                    trans[i, b] = trans[i, b - 1]
                    continue
            # The successor's pairs are written past the last state's, where a new state's go.
            base = counts[COUNT_PAIRS]
            m = base
            for c in range(lo, hi):
                t = comp_terminal[c]
                nxt = term_trans[term_offsets[t] + comp_state[c], b]
                if nxt >= 0:
                    if m >= comp_capacity:
                        counts[NEXT_TO_EXPAND] = i
                        return OVERFLOW
                    comp_terminal[m] = t
                    comp_state[m] = nxt
                    m += 1
            if m == base:
                trans[i, b] = -1
                continue
            any_live = True
            h = _hash_pairs(comp_terminal, comp_state, base, m) & mask
            while True:
                slot = np.int64(h)
                target = table[slot]
                if target == EMPTY_SLOT:
                    n = counts[COUNT_STATES]
                    if n >= capacity or 2 * (counts[COUNT_INDEXED] + 1) > table.shape[0]:
                        counts[NEXT_TO_EXPAND] = i
                        return OVERFLOW
                    comp_offsets[n + 1] = m
                    for w in range(accept.shape[1]):
                        accept[n, w] = 0
                    for c in range(base, m):
                        t = comp_terminal[c]
                        if term_accepting[term_offsets[t] + comp_state[c]]:
                            set_terminal_bit(accept[n], t)
                    final[n] = False
                    table[slot] = n
                    counts[COUNT_STATES] = n + 1
                    counts[COUNT_PAIRS] = m
                    counts[COUNT_INDEXED] += 1
                    target = n
                    break
                tlo = comp_offsets[target]
                thi = comp_offsets[target + 1]
                same = thi - tlo == m - base
                if same:
                    for c in range(m - base):
                        if (
                            comp_terminal[tlo + c] != comp_terminal[base + c]
                            or comp_state[tlo + c] != comp_state[base + c]
                        ):
                            same = False
                            break
                if same:
                    break
                h = (h + np.uint64(1)) & mask
            trans[i, b] = target
        if not any_live:
            for w in range(accept.shape[1]):
                if accept[i, w] != 0:
                    final[i] = True
                    break
        i += 1
        counts[NEXT_TO_EXPAND] = i
    return OK
