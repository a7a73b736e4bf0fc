"""Numba kernel: the product of several terminal DFAs, the lexer for one set of live terminals.

Inputs are the terminals' DFAs stacked: ``trans`` is ``int32[total_states, num_classes]`` over a
byte partition shared by all of them (-1: dead), DFA ``j`` occupying rows
``offsets[j]:offsets[j+1]``, with per-row acceptance ``accepting``; ``terminal_ids[j]`` is the
terminal's global id. A product state is the tuple of the component states (-1 for a dead
component); tuples are interned in an open-addressing table keyed by their contents.
"""

import numpy as np
from numba import njit

from ..config import NJIT_OPTIONS


@njit(**NJIT_OPTIONS)
def _hash_row(row, k):
    h = np.uint64(1469598103934665603)
    for j in range(k):
        h = (h ^ np.uint64(row[j] + 1)) * np.uint64(1099511628211)
    return h ^ (h >> np.uint64(31))


@njit(**NJIT_OPTIONS)
def product_dfa_kernel(trans, accepting, offsets, terminal_ids, tuples, table, out_trans, out_accept, scratch):
    """Breadth-first product construction.

    Args:
        tuples: ``int32[capacity, k]`` workspace for the product states' component tuples.
        table: ``int32[table_size]`` (a power of two >= 2 * capacity), filled with -1.
        out_trans: ``int32[capacity, num_classes]`` product transitions (-1: dead).
        out_accept: ``uint64[capacity, num_words]`` zeroed; terminals accepting in each state.
        scratch: ``int32[k]``.

    Returns:
        The number of product states, or -1 if more than ``capacity`` are needed. State 0 is
        the start state; it is never the target of a transition.
    """
    k = offsets.shape[0] - 1
    num_classes = trans.shape[1]
    capacity = tuples.shape[0]
    mask = np.uint64(table.shape[0] - 1)
    for j in range(k):
        tuples[0, j] = 0 if offsets[j + 1] > offsets[j] else -1
    n = 1
    i = 0
    while i < n:
        for j in range(k):
            s = tuples[i, j]
            if s >= 0 and accepting[offsets[j] + s]:
                t = terminal_ids[j]
                out_accept[i, t >> 6] |= np.uint64(1) << np.uint64(t & 63)
        for c in range(num_classes):
            alive = False
            for j in range(k):
                s = tuples[i, j]
                if s >= 0:
                    nxt = trans[offsets[j] + s, c]
                    scratch[j] = nxt
                    if nxt >= 0:
                        alive = True
                else:
                    scratch[j] = -1
            if not alive:
                out_trans[i, c] = -1
                continue
            h = _hash_row(scratch, k) & mask
            while True:
                slot = np.int64(h)
                target = table[slot]
                if target == -1:
                    if n >= capacity:
                        return -1
                    for j in range(k):
                        tuples[n, j] = scratch[j]
                    table[slot] = n
                    target = n
                    n += 1
                    break
                same = True
                for j in range(k):
                    if tuples[target, j] != scratch[j]:
                        same = False
                        break
                if same:
                    break
                h = (h + np.uint64(1)) & mask
            out_trans[i, c] = target
        i += 1
    return n
