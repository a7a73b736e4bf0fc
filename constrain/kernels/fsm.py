"""Numba kernels of byte DFA construction: subset construction, products, liveness,
Hopcroft minimization and breadth-first numbering. ``constrain.automata.fsm`` allocates
every array (the kernels run without the Numba runtime) and grows buffers on overflow.

Automata here are ``int32[n, C]`` tables over byte classes, ``-1`` meaning dead. Inverse
transitions come in CSR form: the sources of the edges into ``t`` on class ``c`` are
``src[ptr[c * n + t]:ptr[c * n + t + 1]]``.
"""

import numpy as np
from numba import njit

from ..config import NJIT_OPTIONS

#: What the kernels that return a count return instead when it cannot be given: the automaton
#: has a cycle (``_acyclic_blocks``), more states than ``trans`` has rows (``product_kernel``,
#: ``determinize_kernel``), or a work array of ``determinize_kernel`` is full.
CYCLIC = -1
TOO_MANY_STATES = -1
SET_DATA_FULL = -2
MOVES_FULL = -3


@njit(**NJIT_OPTIONS)
def _inverse_csr(trans, ptr, src):
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
def _mark_live(ptr, src, n, n_cls, live, stack):
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
def _hopcroft(ptr, src, acc, live, n, n_cls, blk, elems, loc, first, end, mid, in_work, work, splitter, touched):
    """Fill ``blk`` with block ids of the coarsest stable partition of the live states of a
    partial DFA (dead states get -1 and count as the implicit dead state); returns the number
    of blocks. Scratch arrays have n + 1 entries.

    The implicit dead state is never a splitter: with it explicit, the initial partition
    is {F, N, {dead}} and Hopcroft needs all blocks but one as splitters. Every predecessor
    of a live state is live, so the edges enumerated from splitters stay among the live
    states, and a transition into a dead state reads as the implicit one. Block ``b`` is
    ``elems[first[b]:end[b]]``; members marked by the current splitter sit in
    ``elems[first[b]:mid[b]]``.
    """
    n_work = 0
    k = 0
    n_blocks = 0
    for s in range(n):
        blk[s] = -1
    for want in (True, False):
        start = k
        for s in range(n):
            if live[s] and acc[s] == want:
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
def _acyclic_blocks(trans, acc, live, blk, order, indeg, htable, n_cls):
    """For a DFA without cycles, fill ``live`` and ``blk`` (equivalence classes of the live
    states; -1 for dead ones) in one pass in reverse topological order: two trimmed states
    of an acyclic DFA are equivalent iff they agree on acceptance and their successors are
    equivalent. Returns the number of blocks, or ``CYCLIC`` when the DFA has a cycle. ``htable``
    has a power-of-two size of at least twice the states, all -1.
    """
    n = trans.shape[0]
    for s in range(n):
        indeg[s] = 0
    for s in range(n):
        for c in range(n_cls):
            t = trans[s, c]
            if t >= 0:
                indeg[t] += 1
    size = 0
    for s in range(n):
        if indeg[s] == 0:
            order[size] = s
            size += 1
    k = 0
    while k < size:
        s = order[k]
        k += 1
        for c in range(n_cls):
            t = trans[s, c]
            if t >= 0:
                indeg[t] -= 1
                if indeg[t] == 0:
                    order[size] = t
                    size += 1
    if size < n:
        return CYCLIC
    mask = np.uint64(htable.shape[0] - 1)
    n_blocks = 0
    for k in range(size - 1, -1, -1):
        s = order[k]
        alive = acc[s]
        if not alive:
            for c in range(n_cls):
                t = trans[s, c]
                if t >= 0 and live[t]:
                    alive = True
                    break
        live[s] = alive
        if not alive:
            blk[s] = -1
            continue
        h = np.uint64(0x9E3779B97F4A7C15) if acc[s] else np.uint64(0x5851F42D4C957F2D)
        for c in range(n_cls):
            t = trans[s, c]
            b = blk[t] if t >= 0 else -1
            h = (h ^ np.uint64(b + 1)) * np.uint64(0x100000001B3)
        slot = (h >> np.uint64(17)) & mask
        found = -1
        while htable[slot] != -1:
            d = htable[slot]  # a representative state of a block
            same = acc[d] == acc[s]
            if same:
                for c in range(n_cls):
                    u = trans[d, c]
                    v = trans[s, c]
                    bu = blk[u] if u >= 0 else -1
                    bv = blk[v] if v >= 0 else -1
                    if bu != bv:
                        same = False
                        break
            if same:
                found = blk[d]
                break
            slot = (slot + np.uint64(1)) & mask
        if found < 0:
            found = n_blocks
            n_blocks += 1
            htable[slot] = s
        blk[s] = found
    return n_blocks


@njit(**NJIT_OPTIONS)
def minimize_kernel(trans, acc, ptr, src, scratch, in_work, live, htable, out_trans, out_acc):
    """Trim, minimize and number a class-level table in one call.

    ``ptr`` (int32, zeroed, ``n_cls * n + 1``) and ``src`` (int32, one entry per transition)
    receive the CSR inverse of ``trans`` when it is needed; ``scratch`` is int64
    ``[12 * (n + 1)]``, ``in_work`` bool ``[n + 1]`` (zeroed), ``live`` bool ``[n]``,
    ``htable`` int64 (all -1, a power of two >= 2n); ``out_trans``/``out_acc`` have room for
    ``n`` states. Acyclic automata (finite languages) are minimized in linear time, others by
    Hopcroft's algorithm. States are numbered breadth first from state 0, visiting classes in
    increasing order, so equal languages give equal tables. Returns the number of states
    (0: the empty language).
    """
    n, n_cls = trans.shape
    if n == 0:
        return 0
    m = n + 1
    stack = scratch[0:m]
    blk = scratch[m : 2 * m]
    n_blocks = _acyclic_blocks(trans, acc, live, blk, scratch[2 * m : 3 * m], scratch[3 * m : 4 * m], htable, n_cls)
    if n_blocks == CYCLIC:
        _inverse_csr(trans, ptr, src)
        for s in range(n):
            live[s] = acc[s]
        _mark_live(ptr, src, n, n_cls, live, stack)
        if live[0]:
            n_blocks = _hopcroft(
                ptr,
                src,
                acc,
                live,
                n,
                n_cls,
                blk,
                scratch[2 * m : 3 * m],
                scratch[3 * m : 4 * m],
                scratch[4 * m : 5 * m],
                scratch[5 * m : 6 * m],
                scratch[6 * m : 7 * m],
                in_work,
                scratch[7 * m : 8 * m],
                scratch[8 * m : 9 * m],
                scratch[9 * m : 10 * m],
            )
    if not live[0]:
        return 0
    rep = scratch[10 * m : 11 * m]
    new_id = scratch[11 * m : 12 * m]
    for b in range(n_blocks):
        rep[b] = -1
        new_id[b] = -1
    for s in range(n):
        b = blk[s]
        if b >= 0 and rep[b] < 0:
            rep[b] = s
    queue = stack
    new_id[blk[0]] = 0
    queue[0] = blk[0]
    size = 1
    k = 0
    while k < size:
        s = rep[queue[k]]
        for c in range(n_cls):
            t = trans[s, c]
            if t >= 0 and live[t]:
                bt = blk[t]
                j = new_id[bt]
                if j < 0:
                    j = size
                    new_id[bt] = j
                    queue[size] = bt
                    size += 1
                out_trans[k, c] = j
            else:
                out_trans[k, c] = -1
        out_acc[k] = acc[s]
        k += 1
    return size


@njit(**NJIT_OPTIONS)
def expand_classes_kernel(trans_c, byte_class, out):
    """``out[s, b] = trans_c[s, byte_class[b]]``: a class-level table to a byte-level one."""
    n = trans_c.shape[0]
    for s in range(n):
        for b in range(256):
            out[s, b] = trans_c[s, byte_class[b]]


@njit(**NJIT_OPTIONS)
def class_order_kernel(byte_class, first):
    """``first[c]``: the first byte of class ``c`` (256 when no byte has it)."""
    for c in range(first.shape[0]):
        first[c] = 256
    for b in range(255, -1, -1):
        first[byte_class[b]] = b


@njit(**NJIT_OPTIONS)
def product_kernel(tab, offsets, start, hopeless, must_live, trans, states, htable, mult):
    """Product automaton of k DFAs over shared classes.

    DFA ``m``'s shifted table occupies rows ``offsets[m]:offsets[m + 1]`` of ``tab``: its
    row 0 is the dead state (all zeros), its state ``s`` is row ``s + 1``, and entries are
    shifted local targets. A product state is the k-vector of shifted local states, stored
    in ``states`` (``[cap + 1, k]``; the last row holds the candidate), found again through
    the open-addressing table ``htable`` (-1: empty) under a multiplicative hash. Successors
    that cannot accept are skipped: all components dead, a component of ``must_live`` (bit
    mask) dead, or, when ``hopeless`` is not empty, ``hopeless[mask of dead components]``.

    Returns the number of product states, or ``TOO_MANY_STATES`` when they would exceed ``trans.shape[0]``.
    """
    cap, n_cls = trans.shape
    k = offsets.shape[0] - 1
    mask = np.uint64(htable.shape[0] - 1)
    h = np.uint64(0)
    for m in range(k):
        states[0, m] = start[m]
        h = (h + np.uint64(start[m])) * mult[m]
    htable[(h >> np.uint64(24)) & mask] = 0
    n_states = 1
    i = 0
    use_table = hopeless.shape[0] > 0
    while i < n_states:
        for c in range(n_cls):
            dead = np.int64(0)
            n_dead = 0
            h = np.uint64(0)
            for m in range(k):
                t = tab[offsets[m] + states[i, m], c]
                states[n_states, m] = t
                if t == 0:
                    dead |= np.int64(1) << m
                    n_dead += 1
                h = (h + np.uint64(t)) * mult[m]
            if n_dead == k or (dead & must_live) != 0 or (use_table and hopeless[dead]):
                trans[i, c] = -1
                continue
            slot = (h >> np.uint64(24)) & mask
            found = -1
            while htable[slot] != -1:
                d = htable[slot]
                same = True
                for m in range(k):
                    if states[d, m] != states[n_states, m]:
                        same = False
                        break
                if same:
                    found = d
                    break
                slot = (slot + np.uint64(1)) & mask
            if found < 0:
                if n_states >= cap:
                    return TOO_MANY_STATES
                found = n_states
                htable[slot] = found
                n_states += 1
            trans[i, c] = found
        i += 1
    return n_states


@njit(**NJIT_OPTIONS)
def prepare_nfa_kernel(edges, eps, final, class_of, edge_ptr, edge_lo, edge_hi, edge_dst, eps_ptr, eps_dst, important):
    """Byte classes and CSR adjacency of an NFA for :func:`determinize_kernel`.

    ``edges`` is int64 ``[4, E]`` (source, first byte, last byte, target), ``eps`` int64
    ``[2, M]`` (source, target). Fills ``class_of`` (the class of each byte: the coarsest
    partition no edge splits), the class-range edges grouped by source, the epsilon moves
    grouped by source, and ``important`` (states with edges, and ``final``). Returns the
    number of classes.
    """
    n = important.shape[0]
    for b in range(256):
        class_of[b] = 0
    n_edges = edges.shape[1]
    for e in range(n_edges):
        class_of[edges[1, e]] = 1
        if edges[2, e] < 255:
            class_of[edges[2, e] + 1] = 1
    cls = -1
    for b in range(256):
        if b == 0 or class_of[b] == 1:
            cls += 1
        class_of[b] = cls
    for q in range(n + 1):
        edge_ptr[q] = 0
        eps_ptr[q] = 0
    for e in range(n_edges):
        edge_ptr[edges[0, e] + 1] += 1
    for q in range(n):
        edge_ptr[q + 1] += edge_ptr[q]
        important[q] = edge_ptr[q + 1] > edge_ptr[q]
    important[final] = True
    for e in range(n_edges):  # stable: edges keep their order within a source
        q = edges[0, e]
        k = edge_ptr[q]
        edge_lo[k] = class_of[edges[1, e]]
        edge_hi[k] = class_of[edges[2, e]]
        edge_dst[k] = edges[3, e]
        edge_ptr[q] = k + 1
    for q in range(n, 0, -1):
        edge_ptr[q] = edge_ptr[q - 1]
    edge_ptr[0] = 0
    n_eps = eps.shape[1]
    for e in range(n_eps):
        eps_ptr[eps[0, e] + 1] += 1
    for q in range(n):
        eps_ptr[q + 1] += eps_ptr[q]
    for e in range(n_eps):
        q = eps[0, e]
        eps_dst[eps_ptr[q]] = eps[1, e]
        eps_ptr[q] += 1
    for q in range(n, 0, -1):
        eps_ptr[q] = eps_ptr[q - 1]
    eps_ptr[0] = 0
    return cls + 1


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
def determinize_kernel(
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
):
    """Subset construction over byte classes. An NFA state's edges are
    ``edge_*[edge_ptr[q]:edge_ptr[q + 1]]`` (inclusive class ranges), its epsilon moves
    ``eps_dst[eps_ptr[q]:eps_ptr[q + 1]]``; a DFA state is the set of *important* NFA states
    (those with edges, and ``final``) of a closure, stored in ``set_data``, found again
    through the open-addressing table ``htable`` (-1: empty) keyed by an order-free hash.
    The targets of a state's edges are bucketed by class in ``moves`` (``bucket``: n_cls + 1
    entries), so each edge is read once per class it covers; classes of one state with the
    same targets share one closure (``seen``: int64, a power of two >= 2 n_cls, all -1;
    ``seen_key``: uint64 and ``seen_cnt``: int64 ``[n_cls]``).

    Returns the number of DFA states written to ``trans``/``acc``, ``TOO_MANY_STATES`` when they would
    exceed ``trans.shape[0]``, ``SET_DATA_FULL`` when ``set_data`` is too small, ``MOVES_FULL`` when ``moves`` is.
    """
    cap = trans.shape[0]
    mask = htable.shape[0] - 1
    gen = np.int64(1)
    seeds[0] = start
    m, h = _closure(eps_ptr, eps_dst, important, zob, seeds, 1, stamp, gen, stack, out)
    if m > set_data.shape[0]:
        return SET_DATA_FULL
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
        for c in range(n_cls + 1):
            bucket[c] = 0
        for j in range(set_ptr[i], set_ptr[i + 1]):
            q = set_data[j]
            for e in range(edge_ptr[q], edge_ptr[q + 1]):
                for c in range(edge_lo[e], edge_hi[e] + 1):
                    bucket[c + 1] += 1
        for c in range(n_cls):
            bucket[c + 1] += bucket[c]
        if bucket[n_cls] > moves.shape[0]:
            return MOVES_FULL
        for j in range(set_ptr[i], set_ptr[i + 1]):
            q = set_data[j]
            for e in range(edge_ptr[q], edge_ptr[q + 1]):
                t = edge_dst[e]
                for c in range(edge_lo[e], edge_hi[e] + 1):
                    moves[bucket[c]] = t
                    bucket[c] += 1
        # bucket[c] now ends class c's targets; class c starts where class c - 1 ends
        smask = np.uint64(seen.shape[0] - 1)
        for c in range(seen.shape[0]):
            seen[c] = -1
        for c in range(n_cls):
            lo = bucket[c - 1] if c > 0 else 0
            hi = bucket[c]
            if lo == hi:
                trans[i, c] = -1
                continue
            # an earlier class of this state with the same targets has the same successor
            gen += 1
            key = np.uint64(0)
            n_t = 0
            for j in range(lo, hi):
                t = moves[j]
                if stamp[t] != gen:
                    stamp[t] = gen
                    key ^= zob[t]
                    n_t += 1
            seen_key[c] = key
            seen_cnt[c] = n_t
            slot = (key >> np.uint64(7)) & smask
            prev = -1
            while seen[slot] >= 0:
                d = seen[slot]
                if seen_key[d] == key and seen_cnt[d] == n_t:  # then d's targets within c's: equal
                    dlo = bucket[d - 1] if d > 0 else 0
                    same = True
                    for j in range(dlo, bucket[d]):
                        if stamp[moves[j]] != gen:
                            same = False
                            break
                    if same:
                        prev = d
                        break
                slot = (slot + np.uint64(1)) & smask
            if prev >= 0:
                trans[i, c] = trans[i, prev]
                continue
            seen[slot] = c
            gen += 1
            m, h = _closure(eps_ptr, eps_dst, important, zob, moves[lo:hi], hi - lo, stamp, gen, stack, out)
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
                    return TOO_MANY_STATES
                base = set_ptr[n_dfa]
                if base + m > set_data.shape[0]:
                    return SET_DATA_FULL
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
