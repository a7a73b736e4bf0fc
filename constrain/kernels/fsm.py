"""Numba kernels for large byte DFAs: liveness, Hopcroft minimization and breadth-first
numbering. ``constrain.automata.fsm`` allocates every array (the kernels run without
the Numba runtime) and uses them for automata too large for its plain-Python versions;
both give identical results.

Automata here are ``int32[n, C]`` tables over byte classes, ``-1`` meaning dead. Inverse
transitions come in CSR form: the sources of the edges into ``t`` on class ``c`` are
``src[ptr[c * n + t]:ptr[c * n + t + 1]]``.
"""

import numpy as np
from numba import njit

from ..config import NJIT_OPTIONS


@njit(**NJIT_OPTIONS)
def mark_live(ptr, src, n, n_cls, live, stack):
    """Extend ``live`` (accepting states on entry) to every state that reaches one."""
    top = 0
    for s in range(n):
        if live[s]:
            stack[top] = s
            top += 1
    while top > 0:
        top -= 1
        t = stack[top]
        for c in range(n_cls):
            for k in range(ptr[c * n + t], ptr[c * n + t + 1]):
                p = src[k]
                if not live[p]:
                    live[p] = True
                    stack[top] = p
                    top += 1


@njit(**NJIT_OPTIONS)
def hopcroft(ptr, src, acc, n, n_cls, blk, elems, loc, first, end, mid, in_work, work, splitter, touched):
    """Fill ``blk`` with block ids of the coarsest stable partition of a trimmed partial
    DFA; returns the number of blocks. Scratch arrays have n + 1 entries.

    The implicit dead state is never a splitter: with it explicit, the initial partition
    is {F, N, {dead}} and Hopcroft needs all blocks but one as splitters. Block ``b`` is
    ``elems[first[b]:end[b]]``; members marked by the current splitter sit in
    ``elems[first[b]:mid[b]]``.
    """
    n_work = 0
    k = 0
    n_blocks = 0
    for want in (True, False):
        start = k
        for s in range(n):
            if acc[s] == want:
                elems[k] = s
                loc[s] = k
                blk[s] = n_blocks
                k += 1
        if k > start:
            first[n_blocks] = start
            end[n_blocks] = k
            mid[n_blocks] = start
            work[n_work] = n_blocks
            n_work += 1
            in_work[n_blocks] = True
            n_blocks += 1
    while n_work > 0:
        n_work -= 1
        a = work[n_work]
        in_work[a] = False
        size = end[a] - first[a]
        for i in range(size):
            splitter[i] = elems[first[a] + i]
        for c in range(n_cls):
            n_touched = 0
            for i in range(size):
                t = splitter[i]
                for q in range(ptr[c * n + t], ptr[c * n + t + 1]):
                    s = src[q]
                    b = blk[s]
                    if loc[s] >= mid[b]:  # not yet marked: swap it to the marked front
                        if mid[b] == first[b]:
                            touched[n_touched] = b
                            n_touched += 1
                        j = mid[b]
                        other = elems[j]
                        elems[j] = s
                        elems[loc[s]] = other
                        loc[other] = loc[s]
                        loc[s] = j
                        mid[b] += 1
            for i in range(n_touched):
                b = touched[i]
                if mid[b] == end[b]:
                    mid[b] = first[b]
                    continue
                nb = n_blocks
                n_blocks += 1
                first[nb] = first[b]
                end[nb] = mid[b]
                mid[nb] = first[nb]
                first[b] = mid[b]
                for j in range(first[nb], end[nb]):
                    blk[elems[j]] = nb
                if in_work[b] or end[nb] - first[nb] <= end[b] - first[b]:
                    pick = nb
                else:
                    pick = b
                work[n_work] = pick
                n_work += 1
                in_work[pick] = True
    return n_blocks


@njit(**NJIT_OPTIONS)
def bfs_blocks(trans, block, rep, new_id, queue):
    """Number the blocks breadth first from state 0's block, following the transitions of
    each block's representative ``rep[b]``; ``new_id`` starts at -1. Returns the count."""
    n_cls = trans.shape[1]
    new_id[block[0]] = 0
    queue[0] = block[0]
    size = 1
    k = 0
    while k < size:
        s = rep[queue[k]]
        k += 1
        for c in range(n_cls):
            t = trans[s, c]
            if t >= 0:
                bt = block[t]
                if new_id[bt] < 0:
                    new_id[bt] = size
                    queue[size] = bt
                    size += 1
    return size


@njit(**NJIT_OPTIONS)
def inverse_csr(trans, ptr, src):
    """Fill the CSR inverse of ``trans``: ``ptr`` (zeroed, n_cls * n + 1 entries) and
    ``src`` (one entry per transition); sources come out in increasing order."""
    n, n_cls = trans.shape
    for s in range(n):
        for c in range(n_cls):
            t = trans[s, c]
            if t >= 0:
                ptr[c * n + t + 1] += 1
    for i in range(n_cls * n):
        ptr[i + 1] += ptr[i]
    for s in range(n):
        for c in range(n_cls):
            t = trans[s, c]
            if t >= 0:
                k = c * n + t
                src[ptr[k]] = s
                ptr[k] += 1
    # ptr[k] now holds the old ptr[k + 1]; shift back
    for i in range(n_cls * n, 0, -1):
        ptr[i] = ptr[i - 1]
    ptr[0] = 0


@njit(**NJIT_OPTIONS)
def _closure(eps_ptr, eps_dst, important, zob, seeds, n_seeds, stamp, gen, stack, out):
    """Epsilon closure of ``seeds[:n_seeds]``: marks it with ``stamp == gen``, writes its
    important states to ``out`` and returns (their count, their order-free hash)."""
    top = 0
    for i in range(n_seeds):
        q = seeds[i]
        if stamp[q] != gen:
            stamp[q] = gen
            stack[top] = q
            top += 1
    m = 0
    h = np.uint64(0)
    while top > 0:
        top -= 1
        q = stack[top]
        if important[q]:
            out[m] = q
            m += 1
            h ^= zob[q]
        for k in range(eps_ptr[q], eps_ptr[q + 1]):
            t = eps_dst[k]
            if stamp[t] != gen:
                stamp[t] = gen
                stack[top] = t
                top += 1
    return m, h


@njit(**NJIT_OPTIONS)
def determinize(eps_ptr, eps_dst, edge_ptr, edge_lo, edge_hi, edge_dst, important, zob, start, final,
                n_cls, trans, acc, set_ptr, set_data, htable, hkeys, stamp, stack, seeds, out):
    """Subset construction over byte classes. An NFA state's edges are
    ``edge_*[edge_ptr[q]:edge_ptr[q + 1]]`` (inclusive class ranges), its epsilon moves
    ``eps_dst[eps_ptr[q]:eps_ptr[q + 1]]``; a DFA state is the set of *important* NFA states
    (those with edges, and ``final``) of a closure, stored in ``set_data``, found again
    through the open-addressing table ``htable`` (-1: empty) keyed by an order-free hash.

    Returns the number of DFA states written to ``trans``/``acc``, -1 when they would
    exceed ``trans.shape[0]``, -2 when ``set_data`` is too small.
    """
    cap = trans.shape[0]
    mask = htable.shape[0] - 1
    gen = np.int64(1)
    seeds[0] = start
    m, h = _closure(eps_ptr, eps_dst, important, zob, seeds, 1, stamp, gen, stack, out)
    if m > set_data.shape[0]:
        return -2
    for j in range(m):
        set_data[j] = out[j]
    set_ptr[0] = 0
    set_ptr[1] = m
    acc[0] = stamp[final] == gen
    hkeys[0] = h
    htable[h & np.uint64(mask)] = 0
    n_dfa = 1
    i = 0
    while i < n_dfa:
        for c in range(n_cls):
            gen += 1
            k = 0
            for j in range(set_ptr[i], set_ptr[i + 1]):
                q = set_data[j]
                for e in range(edge_ptr[q], edge_ptr[q + 1]):
                    if edge_lo[e] <= c and c <= edge_hi[e]:
                        t = edge_dst[e]
                        if stamp[t] != gen:
                            stamp[t] = gen
                            seeds[k] = t
                            k += 1
            if k == 0:
                trans[i, c] = -1
                continue
            gen += 1
            m, h = _closure(eps_ptr, eps_dst, important, zob, seeds, k, stamp, gen, stack, out)
            slot = h & np.uint64(mask)
            found = -1
            while htable[slot] != -1:
                d = htable[slot]
                if hkeys[d] == h and set_ptr[d + 1] - set_ptr[d] == m:
                    same = True
                    for j in range(set_ptr[d], set_ptr[d + 1]):
                        if stamp[set_data[j]] != gen:
                            same = False
                            break
                    if same:
                        found = d
                        break
                slot = (slot + np.uint64(1)) & np.uint64(mask)
            if found < 0:
                if n_dfa >= cap:
                    return -1
                base = set_ptr[n_dfa]
                if base + m > set_data.shape[0]:
                    return -2
                for j in range(m):
                    set_data[base + j] = out[j]
                set_ptr[n_dfa + 1] = base + m
                acc[n_dfa] = stamp[final] == gen
                hkeys[n_dfa] = h
                htable[slot] = n_dfa
                found = n_dfa
                n_dfa += 1
            trans[i, c] = found
        i += 1
    return n_dfa
