"""Numba kernels of the matcher: a lexer over bytes, an Earley parser over lexemes, and the
token-trie walk that fills a next-token bitmask.

Everything here takes arrays and scalars only, carried by four tuples whose fields are
named in ``constrain.kernels.records``: ``G`` (the grammar, read-only), ``L`` (the lexer,
read-only during a call), ``P`` (the parser state, mutated) and ``T`` (a token trie).

In ``L``, ``start_keys``/``start_vals`` map a bitset of live terminals to the start state of the
lexer DFA built for exactly those terminals. Start states are never re-entered, so "the current
lexeme is empty" is ``lex_state == set_lexstart[last set]``.

In ``P``, ``items`` is ``int32[capacity, 2]`` of (dotted position, origin set); set ``k`` is
``items[set_starts[k]:set_starts[k+1]]``. Only sets ``< n_sets`` are committed; anything past
``set_starts[n_sets]`` is scratch that a walk may overwrite, which is what makes popping a set
free. ``seen_build``/``seen_origin`` stamp items of the set being built for O(1)
de-duplication, ``pairs`` the items whose position is already there with another origin,
``nt_stamp`` the nonterminals already predicted in it; ``counter[COUNTER_BUILD]`` numbers
builds, uniquely in the process (each thread counts in its own range).

Work is bounded per *step* (one mask, one token or byte accepted, one completeness check):
every set build adds its work (the items of the previous set scanned, the items closed, and
the items examined to complete them: the parts that grow with ambiguity) to
``counter[COUNTER_WORK]``, and a step whose work passes ``counter[COUNTER_BUDGET]`` ends with
``OVER_BUDGET``; the set being built is left unbuilt, so nothing committed changes. Entry
kernels zero the work at the start of each step.

Set ``k`` remembers how it was built: ``set_build[k, SET_BUILD_ID]`` is its build number
(``DEAD_BUILD`` when the last scan into ``k`` found nothing), ``set_build[k, SET_SCANNED_FROM]``
the build number of set ``k - 1`` it was scanned from, and ``set_scan[k]`` the terminals
scanned. A scan that would rebuild set ``k`` from the same set ``k - 1`` over the same
terminals finds it intact and skips the work: nothing but building set ``k`` writes set
``k``'s items or these fields, and rebuilding set ``k - 1`` changes its build number. A mask walk pushes the same set many times
(every token that ends a name with ``(``, ``)``, ``;`` ... scans the name from the same set).

Completion of a nonterminal whose origin set holds exactly one item waiting for it, an item
that the completion finishes (a right-recursive rule), adds Leo's transitive item instead: the
top of that deterministic chain of completions, remembered per (set build, nonterminal) in the
thread's table ``leo`` (see :func:`_leo_top`).

Completion looks up, in the origin set, the items waiting for the completed nonterminal. In an
expression grammar one scan completes a chain of twenty rules against an origin set of hundreds
of items, so a set larger than ``INDEX_MIN_ITEMS`` gets an index the first time it is looked
up: ``by_symbol[set_starts[k]:set_starts[k] + set_build[k, SET_INDEX_LENGTH]]`` holds its items
that wait for a nonterminal, sorted by it (a counting sort over ``symbol_count``, a per-thread
buffer), valid while ``set_build[k, SET_INDEXED_AT] == set_build[k, SET_BUILD_ID]``.

The lexing rule: a lexeme grows while the next byte keeps a live terminal alive; only when it
cannot grow does it end, and then the set of live terminals accepting it is scanned (ignored
terminals are used only when no grammar terminal accepts).
"""

import numpy as np
from numba import njit

from ..config import NJIT_OPTIONS
from .bits import has_terminal_bit, set_terminal_bit, set_token_bit, set_token_bits
from .records import (
    GRAMMAR_ACCEPT_DOT,
    GRAMMAR_DOT_RULE,
    GRAMMAR_DOT_SYMBOL,
    GRAMMAR_IGNORE_MASK,
    GRAMMAR_NT_RULE_END,
    GRAMMAR_NT_RULE_START,
    GRAMMAR_NT_RULES,
    GRAMMAR_NULLABLE,
    GRAMMAR_NUM_TERMINALS,
    GRAMMAR_PRED_NONTERMINALS,
    GRAMMAR_PRED_NT_OFFSETS,
    GRAMMAR_PRED_OFFSETS,
    GRAMMAR_PRED_POSITIONS,
    GRAMMAR_RULE_FIRST_DOT,
    GRAMMAR_RULE_LHS,
    LEXER_ACCEPT,
    LEXER_FINAL,
    LEXER_START_KEYS,
    LEXER_START_VALS,
    LEXER_TRANS,
    PARSER_ACCEPTED,
    PARSER_BY_SYMBOL,
    PARSER_COUNTER,
    PARSER_ITEMS,
    PARSER_LEO,
    PARSER_LIVE_WORDS,
    PARSER_NT_STAMP,
    PARSER_PAIRS,
    PARSER_SEEN_BUILD,
    PARSER_SEEN_ORIGIN,
    PARSER_SET_BUILD,
    PARSER_SET_LEXSTART,
    PARSER_SET_SCAN,
    PARSER_SET_STARTS,
    PARSER_SYMBOL_COUNT,
    COUNTER_BUDGET,
    COUNTER_BUILD,
    COUNTER_PAIRS_FULL,
    COUNTER_WORK,
    SET_BUILD_ID,
    SET_INDEX_LENGTH,
    SET_INDEXED_AT,
    SET_SCANNED_FROM,
    TRIE_BYTE,
    TRIE_DEPTH,
    TRIE_SUBTREE_END,
    TRIE_TOKEN_IDS,
    TRIE_TOKEN_OFFSETS,
)
from .status import DEAD, NEED_LEXER, OK, OVER_BUDGET, OVERFLOW

#: An item count meaning that ``items`` is full.
ITEMS_FULL = -1
#: The lexer start state of a set whose lexer is not built yet (``lexer_lookup_kernel``).
NO_LEXER = -1
#: The lexer state a failed step returns (the caller keeps its own).
NO_STATE = -1
#: An empty slot of the lexer start table (``start_vals``).
EMPTY_SLOT = -1
#: ``set_build[k, SET_BUILD_ID]`` of a set never built, or being rebuilt (build numbers start at 1).
UNBUILT = 0
#: ``set_build[k, SET_BUILD_ID]`` of a set whose last scan found no item.
DEAD_BUILD = -2
#: Slots probed in the item de-duplication table before scanning the set instead.
PAIR_PROBES = 16
#: The de-duplication table grows while it has fewer slots than this per item of the set.
PAIR_SLOTS_PER_ITEM = 4
#: The largest de-duplication table (the hash below spreads keys over 2^24 slots).
PAIR_MAX_SLOTS = 1 << 24
_PAIR_HASH = np.uint64(0x9E3779B97F4A7C15)
#: Origin sets up to this size are searched item by item.
INDEX_MIN_ITEMS = 24
#: No Leo item (:func:`_leo_top`): complete as usual.
LEO_NONE = -1
#: Steps of a Leo chain walked at once (a longer chain is walked in several completions).
LEO_MAX_CHAIN = 64
#: Columns of the Leo table: the set's build number, the completed symbol, and the item to add.
LEO_BUILD = 0
LEO_SYMBOL = 1
LEO_TOP = 2
LEO_TOP_ORIGIN = 3

_FNV_OFFSET = np.uint64(1469598103934665603)
_FNV_PRIME = np.uint64(1099511628211)


@njit(**NJIT_OPTIONS)
def _hash_words(words):
    h = _FNV_OFFSET
    for w in range(words.shape[0]):
        h = (h ^ words[w]) * _FNV_PRIME
        h ^= h >> np.uint64(29)
    return h


@njit(**NJIT_OPTIONS)
def lexer_lookup_kernel(keys, vals, words):
    """Start state of the lexer for the live-terminal bitset ``words``, or ``NO_LEXER``."""
    mask = np.uint64(vals.shape[0] - 1)
    h = _hash_words(words) & mask
    num_words = words.shape[0]
    while True:
        slot = np.int64(h)
        if vals[slot] == EMPTY_SLOT:
            return NO_LEXER
        same = True
        for w in range(num_words):
            if keys[slot, w] != words[w]:
                same = False
                break
        if same:
            return vals[slot]
        h = (h + np.uint64(1)) & mask


@njit(**NJIT_OPTIONS)
def lexer_insert_kernel(keys, vals, words, start):
    """Insert into a table with a free slot (the caller keeps the load below one half)."""
    mask = np.uint64(vals.shape[0] - 1)
    h = _hash_words(words) & mask
    while vals[np.int64(h)] != EMPTY_SLOT:
        h = (h + np.uint64(1)) & mask
    slot = np.int64(h)
    for w in range(words.shape[0]):
        keys[slot, w] = words[w]
    vals[slot] = start


@njit(**NJIT_OPTIONS)
def _add_item(items, seen_build, seen_origin, pairs, counter, n_items, p, origin, set_begin, build_id):
    """Add item (``p``, ``origin``) to the set being built (items from ``set_begin``) unless it
    is there. Returns the new item count, ``ITEMS_FULL`` when ``items`` is full, or when
    ``pairs`` is (``counter[COUNTER_PAIRS_FULL]`` set: the caller doubles it and calls again).

    The first origin of each position is checked in ``seen_origin``; further origins of the
    same position (one expression nested in another predicts the same rules twice; an
    ambiguous grammar completes one rule from many origins) go to the open-addressing table
    ``pairs``, whose slots belong to the build stamped in them. A probe that finds no slot
    within ``PAIR_PROBES`` asks for a larger table while the table has fewer than
    ``PAIR_SLOTS_PER_ITEM`` slots per item of the set, and otherwise falls back to scanning
    the set: a crowded table costs time, never a duplicate, and never a scan per item of a
    large set (which cost an ambiguous grammar's large sets the square of their size)."""
    if seen_build[p] != build_id:
        seen_build[p] = build_id
        seen_origin[p] = origin
    elif seen_origin[p] == origin:
        return n_items
    else:
        key = (np.int64(p) << 32) | np.int64(origin)
        mask = pairs.shape[0] - 1
        h = (np.uint64(key) * _PAIR_HASH) >> np.uint64(40)
        slot = np.int64(h) & mask
        placed = False
        for _ in range(PAIR_PROBES):
            if pairs[slot, 1] != build_id:
                pairs[slot, 0] = key
                pairs[slot, 1] = build_id
                placed = True
                break
            if pairs[slot, 0] == key:
                return n_items
            slot = (slot + 1) & mask
        if not placed:
            if pairs.shape[0] < PAIR_SLOTS_PER_ITEM * (n_items - set_begin) and pairs.shape[0] < PAIR_MAX_SLOTS:
                counter[COUNTER_PAIRS_FULL] = 1
                return ITEMS_FULL
            for j in range(set_begin, n_items):
                if items[j, 0] == p and items[j, 1] == origin:
                    return n_items
    if n_items >= items.shape[0]:
        return ITEMS_FULL
    items[n_items, 0] = p
    items[n_items, 1] = origin
    return n_items + 1


@njit(inline="always", **NJIT_OPTIONS)
def _index_set(G, P, o):
    """Sort set ``o``'s items that wait for a nonterminal into ``by_symbol`` (see the module's
    docstring). Returns how many there are."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    num_t = G[GRAMMAR_NUM_TERMINALS]
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    set_build = P[PARSER_SET_BUILD]
    by_symbol = P[PARSER_BY_SYMBOL]
    count = P[PARSER_SYMBOL_COUNT]
    begin, end = set_starts[o], set_starts[o + 1]
    for x in range(count.shape[0]):
        count[x] = 0
    for j in range(begin, end):
        s = dot_symbol[items[j, 0]]
        if s >= num_t:
            count[s - num_t + 1] += 1
    for x in range(1, count.shape[0]):
        count[x] += count[x - 1]
    n = count[count.shape[0] - 1]
    for j in range(begin, end):
        s = dot_symbol[items[j, 0]]
        if s >= num_t:
            at = begin + count[s - num_t]
            count[s - num_t] += 1
            by_symbol[at, 0] = items[j, 0]
            by_symbol[at, 1] = items[j, 1]
    set_build[o, SET_INDEXED_AT] = set_build[o, SET_BUILD_ID]
    set_build[o, SET_INDEX_LENGTH] = n
    return n


@njit(inline="always", **NJIT_OPTIONS)
def _indexed_range(G, P, o, lhs):
    """The entries ``by_symbol[lo:hi]`` of set ``o``'s index that wait for ``lhs`` (indexing
    the set first if its index is stale). For sets of more than ``INDEX_MIN_ITEMS`` items."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    set_starts = P[PARSER_SET_STARTS]
    set_build = P[PARSER_SET_BUILD]
    by_symbol = P[PARSER_BY_SYMBOL]
    if set_build[o, SET_INDEXED_AT] == set_build[o, SET_BUILD_ID]:
        n = set_build[o, SET_INDEX_LENGTH]
    else:
        n = _index_set(G, P, o)
    lo = set_starts[o]
    end = lo + n
    while lo < end:  # the first entry waiting for lhs or a later nonterminal
        mid = (lo + end) >> 1
        if dot_symbol[by_symbol[mid, 0]] < lhs:
            lo = mid + 1
        else:
            end = mid
    hi = lo
    end = set_starts[o] + n
    while hi < end and dot_symbol[by_symbol[hi, 0]] == lhs:
        hi += 1
    return lo, hi


@njit(inline="always", **NJIT_OPTIONS)
def _unique_waiting(G, P, o, lhs):
    """(position, origin) of the one item of set ``o`` waiting for ``lhs``, or (``LEO_NONE``,
    ``LEO_NONE``) when there is none or more than one."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    lo, hi = set_starts[o], set_starts[o + 1]
    if hi - lo <= INDEX_MIN_ITEMS:
        found = -1
        for jj in range(lo, hi):
            if dot_symbol[items[jj, 0]] == lhs:
                if found >= 0:
                    return LEO_NONE, LEO_NONE
                found = jj
        if found < 0:
            return LEO_NONE, LEO_NONE
        return items[found, 0], items[found, 1]
    lo, hi = _indexed_range(G, P, o, lhs)
    if hi - lo != 1:
        return LEO_NONE, LEO_NONE
    by_symbol = P[PARSER_BY_SYMBOL]
    return by_symbol[lo, 0], by_symbol[lo, 1]


@njit(inline="always", **NJIT_OPTIONS)
def _leo_slot(leo, build, lhs):
    h = (np.uint64(build) * _PAIR_HASH) ^ (np.uint64(lhs) * _FNV_PRIME)
    return np.int64(h >> np.uint64(40)) & (leo.shape[0] - 1)


@njit(inline="always", **NJIT_OPTIONS)
def _leo_top(G, P, o, lhs):
    """Leo (1991)'s transitive item for completing ``lhs`` from set ``o``: (position, origin)
    of a completed item to add instead of the usual completion, or (``LEO_NONE``, ...).

    Set ``o`` is *``lhs``-deterministic* when exactly one of its items waits for ``lhs`` and
    that item is penultimate, (A -> alpha . lhs, i): completing ``lhs`` from ``o`` then yields
    exactly the completed (A -> alpha lhs ., i), whose own completion of A from set ``i`` may be
    deterministic again, and so on. A right-recursive rule (``s ::= "" | [^"] s``) makes such a
    chain as long as the text; walking it at every completion made each Earley set cost its
    position. Any completed item on the chain is a correct result (the close loop completes
    it as usual, and the items skipped have no other consequence); the top of the chain, as
    far as ``LEO_MAX_CHAIN`` steps reach, is remembered per (set build, ``lhs``) in the thread's
    table ``leo`` (a cache: a collision costs a recomputation), so a chain is walked once and a
    right-recursive rule costs what its iterative form does."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    dot_rule = G[GRAMMAR_DOT_RULE]
    rule_lhs = G[GRAMMAR_RULE_LHS]
    set_build = P[PARSER_SET_BUILD]
    leo = P[PARSER_LEO]
    counter = P[PARSER_COUNTER]
    build = set_build[o, SET_BUILD_ID]
    slot = _leo_slot(leo, build, lhs)
    if leo[slot, LEO_BUILD] == build and leo[slot, LEO_SYMBOL] == lhs:
        return leo[slot, LEO_TOP], leo[slot, LEO_TOP_ORIGIN]
    top, top_origin = LEO_NONE, LEO_NONE
    j, b = o, lhs
    for _ in range(LEO_MAX_CHAIN):
        counter[COUNTER_WORK] += 1
        pp, origin = _unique_waiting(G, P, j, b)
        if pp == LEO_NONE or dot_symbol[pp + 1] >= 0:
            break
        top, top_origin = pp + 1, origin
        j, b = origin, rule_lhs[dot_rule[pp]]
        below = _leo_slot(leo, set_build[j, SET_BUILD_ID], b)
        if leo[below, LEO_BUILD] == set_build[j, SET_BUILD_ID] and leo[below, LEO_SYMBOL] == b:
            if leo[below, LEO_TOP] != LEO_NONE:
                top, top_origin = leo[below, LEO_TOP], leo[below, LEO_TOP_ORIGIN]
            break
    leo[slot, LEO_BUILD] = build
    leo[slot, LEO_SYMBOL] = lhs
    leo[slot, LEO_TOP] = top
    leo[slot, LEO_TOP_ORIGIN] = top_origin
    return top, top_origin


@njit(inline="always", **NJIT_OPTIONS)
def _complete(G, P, o, lhs, n_items, begin, build_id):
    """Advance over ``lhs`` every item of set ``o`` waiting for it, into the set being built
    (items from ``begin``), or add Leo's transitive item instead (:func:`_leo_top`). Returns
    the new item count, ``ITEMS_FULL`` on overflow."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    by_symbol = P[PARSER_BY_SYMBOL]
    seen_build = P[PARSER_SEEN_BUILD]
    seen_origin = P[PARSER_SEEN_ORIGIN]
    pairs = P[PARSER_PAIRS]
    counter = P[PARSER_COUNTER]
    top, top_origin = _leo_top(G, P, o, lhs)
    if top != LEO_NONE:
        return _add_item(items, seen_build, seen_origin, pairs, counter, n_items, top, top_origin, begin, build_id)
    lo, hi = set_starts[o], set_starts[o + 1]
    if hi - lo <= INDEX_MIN_ITEMS:
        counter[COUNTER_WORK] += hi - lo
        for jj in range(lo, hi):
            pp = items[jj, 0]
            if dot_symbol[pp] == lhs:
                n_items = _add_item(
                    items, seen_build, seen_origin, pairs, counter, n_items, pp + 1, items[jj, 1], begin, build_id
                )
                if n_items == ITEMS_FULL:
                    return ITEMS_FULL
        return n_items
    lo, hi = _indexed_range(G, P, o, lhs)
    counter[COUNTER_WORK] += hi - lo
    for x in range(lo, hi):
        n_items = _add_item(
            items,
            seen_build,
            seen_origin,
            pairs,
            counter,
            n_items,
            by_symbol[x, 0] + 1,
            by_symbol[x, 1],
            begin,
            build_id,
        )
        if n_items == ITEMS_FULL:
            return ITEMS_FULL
    return n_items


@njit(inline="always", **NJIT_OPTIONS)
def _close_set(G, P, k, n_items, build_id):
    """Earley predict/complete to a fixed point over set ``k`` (items from ``set_starts[k]``).

    Nullable nonterminals are handled as Aycock & Horspool (2002): predicting a nullable ``A``
    also advances over it, so a completed item whose origin is the current set needs no
    completion step.
    """
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    dot_rule = G[GRAMMAR_DOT_RULE]
    rule_lhs = G[GRAMMAR_RULE_LHS]
    rule_first_dot = G[GRAMMAR_RULE_FIRST_DOT]
    nt_rule_start = G[GRAMMAR_NT_RULE_START]
    nt_rule_end = G[GRAMMAR_NT_RULE_END]
    nt_rules = G[GRAMMAR_NT_RULES]
    nullable = G[GRAMMAR_NULLABLE]
    num_t = G[GRAMMAR_NUM_TERMINALS]
    pred_offsets = G[GRAMMAR_PRED_OFFSETS]
    pred_positions = G[GRAMMAR_PRED_POSITIONS]
    pred_nt_offsets = G[GRAMMAR_PRED_NT_OFFSETS]
    pred_nonterminals = G[GRAMMAR_PRED_NONTERMINALS]
    use_closures = pred_offsets.shape[0] > 0
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    seen_build = P[PARSER_SEEN_BUILD]
    seen_origin = P[PARSER_SEEN_ORIGIN]
    nt_stamp = P[PARSER_NT_STAMP]
    pairs = P[PARSER_PAIRS]
    counter = P[PARSER_COUNTER]
    begin = set_starts[k]
    j = begin
    while j < n_items:
        p = items[j, 0]
        o = items[j, 1]
        if use_closures and o == k:
            # Predicted here: its predictions and nullable skips are already in the closure
            # that added it, and completing it (a nullable rule) needs nothing (see above).
            j += 1
            continue
        s = dot_symbol[p]
        if s < 0:
            if o != k:
                n_items = _complete(G, P, o, rule_lhs[dot_rule[p]], n_items, begin, build_id)
                if n_items == ITEMS_FULL:
                    return ITEMS_FULL
        elif s >= num_t:
            n = s - num_t
            if use_closures:
                if nt_stamp[n] != build_id:
                    for x in range(pred_offsets[n], pred_offsets[n + 1]):
                        n_items = _add_item(
                            items,
                            seen_build,
                            seen_origin,
                            pairs,
                            counter,
                            n_items,
                            pred_positions[x],
                            k,
                            begin,
                            build_id,
                        )
                        if n_items == ITEMS_FULL:
                            return ITEMS_FULL
                    for x in range(pred_nt_offsets[n], pred_nt_offsets[n + 1]):
                        nt_stamp[pred_nonterminals[x]] = build_id
            else:
                for ri in range(nt_rule_start[n], nt_rule_end[n]):
                    n_items = _add_item(
                        items,
                        seen_build,
                        seen_origin,
                        pairs,
                        counter,
                        n_items,
                        rule_first_dot[nt_rules[ri]],
                        k,
                        begin,
                        build_id,
                    )
                    if n_items == ITEMS_FULL:
                        return ITEMS_FULL
            if nullable[n]:
                n_items = _add_item(items, seen_build, seen_origin, pairs, counter, n_items, p + 1, o, begin, build_id)
                if n_items == ITEMS_FULL:
                    return ITEMS_FULL
        j += 1
    return n_items


@njit(inline="always", **NJIT_OPTIONS)
def _expected_terminals(G, P, k, out):
    """Bitset of the terminals set ``k`` can scan next, plus the ignored ones."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    ignore_mask = G[GRAMMAR_IGNORE_MASK]
    num_t = G[GRAMMAR_NUM_TERMINALS]
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    for w in range(out.shape[0]):
        out[w] = ignore_mask[w]
    for j in range(set_starts[k], set_starts[k + 1]):
        s = dot_symbol[items[j, 0]]
        if 0 <= s < num_t:
            set_terminal_bit(out, s)


@njit(**NJIT_OPTIONS)
def _set_is_complete(G, P, k):
    accept_dot = G[GRAMMAR_ACCEPT_DOT]
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    for j in range(set_starts[k], set_starts[k + 1]):
        if items[j, 0] == accept_dot and items[j, 1] == 0:
            return True
    return False


@njit(inline="always", **NJIT_OPTIONS)
def _finish_set(G, L, P, k, n_items):
    """Close set ``k``, record its end and its lexer. Returns a status."""
    set_starts = P[PARSER_SET_STARTS]
    set_lexstart = P[PARSER_SET_LEXSTART]
    counter = P[PARSER_COUNTER]
    scratch = P[PARSER_LIVE_WORDS]
    n_items = _close_set(G, P, k, n_items, counter[COUNTER_BUILD])
    if n_items == ITEMS_FULL:
        return OVERFLOW
    counter[COUNTER_WORK] += n_items - set_starts[k]
    if counter[COUNTER_WORK] > counter[COUNTER_BUDGET]:
        return OVER_BUDGET  # set k stays unbuilt (SET_BUILD_ID), so it is never reused
    set_starts[k + 1] = n_items
    P[PARSER_SET_BUILD][k, SET_BUILD_ID] = counter[COUNTER_BUILD]
    _expected_terminals(G, P, k, scratch)
    start = lexer_lookup_kernel(L[LEXER_START_KEYS], L[LEXER_START_VALS], scratch)
    set_lexstart[k] = start
    if start == NO_LEXER:
        return NEED_LEXER
    return OK


@njit(**NJIT_OPTIONS)
def init_parser_kernel(G, L, P):
    """Set 0: the prediction of ``$start -> . start``. Returns a status (n_sets is then 1)."""
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    counter = P[PARSER_COUNTER]
    seen_build = P[PARSER_SEEN_BUILD]
    seen_origin = P[PARSER_SEEN_ORIGIN]
    pairs = P[PARSER_PAIRS]
    pred_offsets = G[GRAMMAR_PRED_OFFSETS]
    pred_positions = G[GRAMMAR_PRED_POSITIONS]
    pred_nt_offsets = G[GRAMMAR_PRED_NT_OFFSETS]
    pred_nonterminals = G[GRAMMAR_PRED_NONTERMINALS]
    counter[COUNTER_WORK] = 0
    counter[COUNTER_BUILD] += 1
    build_id = counter[COUNTER_BUILD]
    set_starts[0] = 0
    n_items = 0
    if pred_offsets.shape[0] > 0:
        # Nonterminal 0 is $start: add its whole prediction closure (origin 0), as a kernel
        # item predicting it would.
        for x in range(pred_offsets[0], pred_offsets[1]):
            n_items = _add_item(
                items, seen_build, seen_origin, pairs, counter, n_items, pred_positions[x], 0, 0, build_id
            )
            if n_items == ITEMS_FULL:
                return OVERFLOW
        for x in range(pred_nt_offsets[0], pred_nt_offsets[1]):
            P[PARSER_NT_STAMP][pred_nonterminals[x]] = build_id
    else:
        n_items = _add_item(
            items, seen_build, seen_origin, pairs, counter, 0, G[GRAMMAR_RULE_FIRST_DOT][0], 0, 0, build_id
        )
        if n_items == ITEMS_FULL:
            return OVERFLOW
    return _finish_set(G, L, P, 0, n_items)


@njit(inline="always", **NJIT_OPTIONS)
def _scan(G, L, P, n_sets, scan_words):
    """Push set ``n_sets``: advance every item of the last set over a terminal in
    ``scan_words``. Returns a status; on OK or NEED_LEXER the set is fully built. A set still
    intact from the same scan of the same set is reused (see the module's docstring); the
    check is inlined so that a reuse costs no call."""
    set_build = P[PARSER_SET_BUILD]
    set_scan = P[PARSER_SET_SCAN]
    k = n_sets
    if (
        k + 1 < P[PARSER_SET_STARTS].shape[0]
        and set_build[k, SET_SCANNED_FROM] == set_build[k - 1, SET_BUILD_ID]
        and set_build[k, SET_BUILD_ID] != UNBUILT
    ):
        same = True
        for w in range(scan_words.shape[0]):
            if set_scan[k, w] != scan_words[w]:
                same = False
                break
        if same:
            if set_build[k, SET_BUILD_ID] == DEAD_BUILD:
                return DEAD
            if P[PARSER_SET_LEXSTART][k] != NO_LEXER:
                return OK
    return _build_set(G, L, P, n_sets, scan_words)


@njit(**NJIT_OPTIONS)
def _build_set(G, L, P, n_sets, scan_words):
    """:func:`_scan` without the reuse: build set ``n_sets`` and record how."""
    dot_symbol = G[GRAMMAR_DOT_SYMBOL]
    num_t = G[GRAMMAR_NUM_TERMINALS]
    items = P[PARSER_ITEMS]
    set_starts = P[PARSER_SET_STARTS]
    seen_build = P[PARSER_SEEN_BUILD]
    seen_origin = P[PARSER_SEEN_ORIGIN]
    counter = P[PARSER_COUNTER]
    set_build = P[PARSER_SET_BUILD]
    set_scan = P[PARSER_SET_SCAN]
    pairs = P[PARSER_PAIRS]
    k = n_sets
    if k + 1 >= set_starts.shape[0]:
        return OVERFLOW
    begin = set_starts[k]
    counter[COUNTER_BUILD] += 1
    build_id = counter[COUNTER_BUILD]
    counter[COUNTER_WORK] += begin - set_starts[k - 1]
    set_build[k, SET_BUILD_ID] = UNBUILT  # set k is being rebuilt: invalid until it is finished
    set_build[k, SET_SCANNED_FROM] = set_build[k - 1, SET_BUILD_ID]
    for w in range(scan_words.shape[0]):
        set_scan[k, w] = scan_words[w]
    n_items = begin
    for j in range(set_starts[k - 1], begin):
        p = items[j, 0]
        s = dot_symbol[p]
        if 0 <= s < num_t:
            if has_terminal_bit(scan_words, s):
                n_items = _add_item(
                    items, seen_build, seen_origin, pairs, counter, n_items, p + 1, items[j, 1], begin, build_id
                )
                if n_items == ITEMS_FULL:
                    return OVERFLOW
    if n_items == begin:
        set_build[k, SET_BUILD_ID] = DEAD_BUILD
        return DEAD
    return _finish_set(G, L, P, k, n_items)


@njit(inline="always", **NJIT_OPTIONS)
def _end_with(G, L, P, n_sets, accepted):
    """End the current non-empty lexeme, which the terminals in the bitset ``accepted`` accept.
    Returns (status, n_sets, start state of the next lexeme)."""
    ignore_mask = G[GRAMMAR_IGNORE_MASK]
    acc = P[PARSER_ACCEPTED]
    has_real = False
    has_ignored = False
    for w in range(acc.shape[0]):
        a = accepted[w]
        acc[w] = a & ~ignore_mask[w]
        if acc[w] != 0:
            has_real = True
        if a & ignore_mask[w]:
            has_ignored = True
    if has_real:
        status = _scan(G, L, P, n_sets, acc)
        if status != OK:
            return status, n_sets, NO_STATE
        return OK, n_sets + 1, P[PARSER_SET_LEXSTART][n_sets]
    if has_ignored:
        return OK, n_sets, P[PARSER_SET_LEXSTART][n_sets - 1]
    return DEAD, n_sets, NO_STATE


@njit(inline="always", **NJIT_OPTIONS)
def _end_lexeme(G, L, P, n_sets, lex_state):
    return _end_with(G, L, P, n_sets, L[LEXER_ACCEPT][lex_state])


@njit(inline="always", **NJIT_OPTIONS)
def _start_lexeme(G, L, P, n_sets, start, b):
    """Feed byte ``b`` to a fresh lexeme from ``start`` (ending it at once if final)."""
    nxt = L[LEXER_TRANS][start, b]
    if nxt < 0:
        return DEAD, n_sets, NO_STATE
    if L[LEXER_FINAL][nxt]:
        return _end_lexeme(G, L, P, n_sets, nxt)
    return OK, n_sets, nxt


@njit(inline="always", **NJIT_OPTIONS)
def _step_byte(G, L, P, n_sets, lex_state, b):
    """Consume one byte. Returns (status, n_sets, lex_state); on a status other than OK the
    caller must keep its previous (n_sets, lex_state).

    A lexeme that reaches a *final* state (accepting, no byte continues it) is ended at once
    rather than at the next byte; greedy lexing would end it there anyway, and this way the
    matcher rests at the next lexeme's start state, whose mask is memoized.
    """
    trans = L[LEXER_TRANS]
    final = L[LEXER_FINAL]
    nxt = trans[lex_state, b]
    if nxt < 0:
        if lex_state == P[PARSER_SET_LEXSTART][n_sets - 1]:
            return DEAD, n_sets, lex_state
        status, n2, start = _end_lexeme(G, L, P, n_sets, lex_state)
        if status != OK:
            return status, n_sets, lex_state
        nxt = trans[start, b]
        if nxt < 0:
            return DEAD, n_sets, lex_state
    else:
        n2 = n_sets
    if final[nxt]:
        status, n3, start = _end_lexeme(G, L, P, n2, nxt)
        if status != OK:
            return status, n_sets, lex_state
        return OK, n3, start
    return OK, n2, nxt


@njit(**NJIT_OPTIONS)
def advance_kernel(G, L, P, n_sets, lex_state, data):
    """Consume ``data`` (uint8), each byte a step. Returns (status, n_sets, lex_state)."""
    counter = P[PARSER_COUNTER]
    for i in range(data.shape[0]):
        counter[COUNTER_WORK] = 0
        status, n2, q2 = _step_byte(G, L, P, n_sets, lex_state, data[i])
        if status != OK:
            return status, n_sets, lex_state
        n_sets = n2
        lex_state = q2
    return OK, n_sets, lex_state


@njit(**NJIT_OPTIONS)
def is_accepting_kernel(G, L, P, n_sets, lex_state):
    """Whether the text so far is a complete member of the language (a step). Returns
    (status, bool)."""
    P[PARSER_COUNTER][COUNTER_WORK] = 0
    return _is_accepting(G, L, P, n_sets, lex_state)


@njit(inline="always", **NJIT_OPTIONS)
def _is_accepting(G, L, P, n_sets, lex_state):
    """:func:`is_accepting_kernel` within the current step."""
    if lex_state == P[PARSER_SET_LEXSTART][n_sets - 1]:
        return OK, _set_is_complete(G, P, n_sets - 1)
    accept = L[LEXER_ACCEPT]
    ignore_mask = G[GRAMMAR_IGNORE_MASK]
    acc = P[PARSER_ACCEPTED]
    has_real = False
    has_ignored = False
    for w in range(acc.shape[0]):
        a = accept[lex_state, w]
        acc[w] = a & ~ignore_mask[w]
        if acc[w] != 0:
            has_real = True
        if a & ignore_mask[w]:
            has_ignored = True
    if has_real:
        status = _scan(G, L, P, n_sets, acc)
        if status >= OVERFLOW:
            return status, False
        if status == DEAD:
            return OK, False
        return OK, _set_is_complete(G, P, n_sets)
    if has_ignored:
        return OK, _set_is_complete(G, P, n_sets - 1)
    return OK, False


@njit(**NJIT_OPTIONS)
def _record_need(scratch, need, n_need, max_need):
    num_words = scratch.shape[0]
    for j in range(n_need):
        same = True
        for w in range(num_words):
            if need[j, w] != scratch[w]:
                same = False
                break
        if same:
            return n_need
    if n_need < max_need:
        for w in range(num_words):
            need[n_need, w] = scratch[w]
        n_need += 1
    return n_need


@njit(**NJIT_OPTIONS)
def _walk(G, L, P, T, begin, end, row, lex_at, sets_at, need, n_need, max_need):
    """Walk trie nodes ``begin .. end-1`` (a run of whole subtrees) from the states stored in
    ``lex_at``/``sets_at`` at their parents' depths; returns (status, n_need)."""
    trie_byte = T[TRIE_BYTE]
    trie_depth = T[TRIE_DEPTH]
    trie_subtree_end = T[TRIE_SUBTREE_END]
    token_offsets = T[TRIE_TOKEN_OFFSETS]
    token_ids = T[TRIE_TOKEN_IDS]
    trans = L[LEXER_TRANS]
    final = L[LEXER_FINAL]
    scratch = P[PARSER_LIVE_WORDS]
    i = begin
    while i < end:
        d = trie_depth[i]
        q = lex_at[d - 1]
        nxt = trans[q, trie_byte[i]]
        if nxt >= 0 and not final[nxt]:
            # The common case: the byte continues the current lexeme; the parser is not involved.
            status, n2, q2 = OK, sets_at[d - 1], nxt
        else:
            status, n2, q2 = _step_byte(G, L, P, sets_at[d - 1], q, trie_byte[i])
        if status == OK:
            lex_at[d] = q2
            sets_at[d] = n2
            set_token_bits(row, token_ids, token_offsets[i], token_offsets[i + 1])
            i += 1
        else:
            if status >= OVERFLOW:
                return status, n_need
            if status == NEED_LEXER:
                n_need = _record_need(scratch, need, n_need, max_need)
            i = trie_subtree_end[i]
    return OK, n_need


@njit(**NJIT_OPTIONS)
def _allow_eos(G, L, P, n_sets, lex_state, row, eos_ids):
    """Set the EOS bits when the text so far is complete. Returns a status."""
    if eos_ids.shape[0] == 0:
        return OK
    status, accepting = _is_accepting(G, L, P, n_sets, lex_state)
    if status >= OVERFLOW:
        return status
    if accepting:
        for j in range(eos_ids.shape[0]):
            set_token_bit(row, eos_ids[j])
    return OK


@njit(**NJIT_OPTIONS)
def fill_mask_kernel(G, L, P, T, n_sets, lex_state, row, lex_at, sets_at, need, max_need, eos_ids):
    """Walk the token trie ``T`` from the current state and set ``row``'s bit for every token whose
    bytes can follow (``row``: uint32 view of one bitmask row, zeroed here), and the bits of
    ``eos_ids`` when the text so far is complete (an empty ``eos_ids`` skips that).

    A rejected byte skips the node's whole subtree. Returns (status, number of lexer bitsets
    written to ``need``): NEED_LEXER means some subtrees were skipped because their lexer is not
    built yet; the caller builds ``need[:n]`` and walks again.
    """
    P[PARSER_COUNTER][COUNTER_WORK] = 0
    for w in range(row.shape[0]):
        row[w] = 0
    lex_at[0] = lex_state
    sets_at[0] = n_sets
    status, n_need = _walk(G, L, P, T, 1, T[TRIE_BYTE].shape[0], row, lex_at, sets_at, need, 0, max_need)
    if status == OK and n_need > 0:
        return NEED_LEXER, n_need
    if status == OK:
        status = _allow_eos(G, L, P, n_sets, lex_state, row, eos_ids)
    return status, n_need


@njit(**NJIT_OPTIONS)
def lexeme_mask_kernel(trans, accept, final, lex_state, T, row, stop_row, lex_at, frontier_node, frontier_state):
    """The part of a mask that depends on the lexer state alone (``trans``, ``accept``,
    ``final``: the fields of a lexer record, or of one terminal's DFA), over the trie ``T``.

    Sets ``row``'s bit for every token whose bytes all continue the current lexeme, and lists
    the *frontier*: trie nodes where the parser is needed, with the lexer state before their
    byte: the byte ends the lexeme (it reaches a final state), or it cannot continue the lexeme
    although the lexeme could end just before (``accept`` non-zero). Every other token is dead
    whatever the parser state.

    One case is kept out of the frontier: a first byte that cannot continue a lexeme that could
    end right here. All such tokens start with the same parser step (end the lexeme before the
    token), so the caller handles them at once with the mask of the state after that step,
    restricted to ``stop_row``: the tokens whose first byte is such a byte.

    Returns (frontier length, whether ``stop_row`` is used); entries are in trie order.
    """
    trie_byte = T[TRIE_BYTE]
    trie_depth = T[TRIE_DEPTH]
    trie_subtree_end = T[TRIE_SUBTREE_END]
    token_offsets = T[TRIE_TOKEN_OFFSETS]
    token_ids = T[TRIE_TOKEN_IDS]
    for w in range(row.shape[0]):
        row[w] = 0
        stop_row[w] = 0
    lex_at[0] = lex_state
    n_frontier = 0
    root_end = False
    num_words = accept.shape[1]
    num_nodes = trie_byte.shape[0]
    i = 1
    while i < num_nodes:
        d = trie_depth[i]
        q = lex_at[d - 1]
        nxt = trans[q, trie_byte[i]]
        if nxt >= 0 and not final[nxt]:
            lex_at[d] = nxt
            set_token_bits(row, token_ids, token_offsets[i], token_offsets[i + 1])
            i += 1
        elif nxt >= 0:
            frontier_node[n_frontier] = i
            frontier_state[n_frontier] = q
            n_frontier += 1
            i = trie_subtree_end[i]
        else:
            can_end = False
            for w in range(num_words):
                if accept[q, w] != 0:
                    can_end = True
                    break
            if can_end and d == 1:
                root_end = True
                # Preorder keeps a subtree's tokens contiguous in ``token_ids``.
                set_token_bits(stop_row, token_ids, token_offsets[i], token_offsets[trie_subtree_end[i]])
            elif can_end:
                frontier_node[n_frontier] = i
                frontier_state[n_frontier] = q
                n_frontier += 1
            i = trie_subtree_end[i]
    return n_frontier, root_end


@njit(**NJIT_OPTIONS)
def end_lexeme_kernel(G, L, P, n_sets, lex_state):
    """End the current non-empty lexeme without consuming a byte. Returns
    (status, n_sets, start state of the next lexeme). A step."""
    P[PARSER_COUNTER][COUNTER_WORK] = 0
    return _end_lexeme(G, L, P, n_sets, lex_state)


@njit(**NJIT_OPTIONS)
def end_with_kernel(G, L, P, n_sets, accepted):
    """End the current lexeme as the terminals in ``accepted``; see :func:`_end_with`. A step."""
    P[PARSER_COUNTER][COUNTER_WORK] = 0
    return _end_with(G, L, P, n_sets, accepted)


@njit(**NJIT_OPTIONS)
def fill_mask_cached_kernel(
    G,
    L,
    P,
    T,
    n_sets,
    lex_state,
    accepted,
    inside_row,
    frontier_node,
    frontier_key,
    run_end,
    row,
    merge,
    stop_row,
    lex_at,
    sets_at,
    need,
    max_need,
    eos_ids,
):
    """``fill_mask_kernel`` from a memoized :func:`lexeme_mask_kernel` result: copy the
    lexeme-only part, then walk only the frontier subtrees, where lexemes end and the parser
    decides.

    The frontier comes in runs of entries that share one parser step (``run_end[e]``: the
    first entry past ``e``'s run); the step is taken once per run, and a failed step skips the
    run. The subtree walks in between never overwrite the set the step pushed at ``n_sets``
    (they push only above it). A memo made on a grammar's lexer has ``frontier_key`` = the
    lexer state before the entry's byte (``accepted`` empty); one made on a single terminal's
    DFA (shared by every grammar with that terminal) has ``accepted`` = that terminal and
    ``frontier_key`` = ``BYTE_ENDS_LEXEME`` when the byte is the lexeme's last,
    ``BYTE_STARTS_LEXEME`` when it starts the next one. ``T`` is the trie the memo was made on.

    With ``merge``, ``row`` already holds the mask after ending the lexeme before the token
    (see :func:`lexeme_mask_kernel`) and is first restricted to ``stop_row``. EOS as in
    :func:`fill_mask_kernel` (``lex_state`` is the state the mask is for). A step."""
    P[PARSER_COUNTER][COUNTER_WORK] = 0
    if merge:
        for w in range(row.shape[0]):
            row[w] = (row[w] & stop_row[w]) | inside_row[w]
    else:
        for w in range(row.shape[0]):
            row[w] = inside_row[w]
    trie_byte = T[TRIE_BYTE]
    trie_depth = T[TRIE_DEPTH]
    trie_subtree_end = T[TRIE_SUBTREE_END]
    token_offsets = T[TRIE_TOKEN_OFFSETS]
    token_ids = T[TRIE_TOKEN_IDS]
    on_terminal = accepted.shape[0] > 0
    n_need = 0
    scratch = P[PARSER_LIVE_WORDS]
    e = 0
    while e < frontier_node.shape[0]:
        b = trie_byte[frontier_node[e]]
        if on_terminal:
            status, n2, q2 = _end_with(G, L, P, n_sets, accepted)
            if status == OK and frontier_key[e] == BYTE_STARTS_LEXEME:
                status, n2, q2 = _start_lexeme(G, L, P, n2, q2, b)
        else:
            status, n2, q2 = _step_byte(G, L, P, n_sets, frontier_key[e], b)
        if status != OK:
            if status >= OVERFLOW:
                return status, n_need
            if status == NEED_LEXER:
                n_need = _record_need(scratch, need, n_need, max_need)
            e = run_end[e]
            continue
        for f in range(e, run_end[e]):
            i = frontier_node[f]
            set_token_bits(row, token_ids, token_offsets[i], token_offsets[i + 1])
            if trie_subtree_end[i] == i + 1:
                continue  # a leaf: most frontier nodes (a string's closing quote ends the token)
            d = trie_depth[i]
            lex_at[d] = q2
            sets_at[d] = n2
            status2, n_need = _walk(
                G, L, P, T, i + 1, trie_subtree_end[i], row, lex_at, sets_at, need, n_need, max_need
            )
            if status2 >= OVERFLOW:
                return status2, n_need
        e = run_end[e]
    if n_need > 0:
        return NEED_LEXER, n_need
    return _allow_eos(G, L, P, n_sets, lex_state, row, eos_ids), 0


#: ``frontier_key`` values of a memo made on one terminal's DFA (``fill_mask_cached_kernel``).
BYTE_STARTS_LEXEME = 0
BYTE_ENDS_LEXEME = 1

#: ``token_kind`` values of the token-by-id kernels (``CompiledGrammar.token_table``).
TOKEN_TEXT = 0
TOKEN_EOS = 1
TOKEN_NEVER = 2  # special and padding ids: never allowed


@njit(inline="always", **NJIT_OPTIONS)
def _advance_token(G, L, P, n_sets, lex_state, token_bytes, begin, end):
    """Consume ``token_bytes[begin:end]`` from (``n_sets``, ``lex_state``) without committing
    anything (sets are pushed past ``n_sets`` only). Returns (status, n_sets, lex_state)."""
    for j in range(begin, end):
        status, n2, q2 = _step_byte(G, L, P, n_sets, lex_state, token_bytes[j])
        if status != OK:
            return status, n_sets, lex_state
        n_sets = n2
        lex_state = q2
    return OK, n_sets, lex_state


@njit(**NJIT_OPTIONS)
def try_tokens_kernel(G, L, P, n_sets, lex_state, token_bytes, token_starts, token_kind, ids, start, out):
    """``out[i]`` = whether token ``ids[i]`` would be accepted at (``n_sets``, ``lex_state``),
    for ``i`` from ``start``; each token is tried alone from that state and nothing is committed
    (a trial pushes sets past ``n_sets``, which the next trial overwrites). Token ``t``'s bytes
    are ``token_bytes[token_starts[t]:token_starts[t + 1]]``; an EOS id is accepted exactly when
    the text so far is complete.

    Returns (status, i): OK with ``i = len(ids)``, or NEED_LEXER / OVERFLOW at the token ``i``
    that needs it (``out[start:i]`` is filled; the caller resumes from ``i``)."""
    accepting = -1
    counter = P[PARSER_COUNTER]
    for i in range(start, ids.shape[0]):
        counter[COUNTER_WORK] = 0  # a step per token
        t = ids[i]
        kind = token_kind[t]
        if kind == TOKEN_TEXT:
            status, _, _ = _advance_token(G, L, P, n_sets, lex_state, token_bytes, token_starts[t], token_starts[t + 1])
            if status >= NEED_LEXER:
                return status, i
            out[i] = status == OK
        elif kind == TOKEN_EOS:
            if accepting < 0:
                status, complete = _is_accepting(G, L, P, n_sets, lex_state)
                if status != OK:
                    return status, i
                accepting = 1 if complete else 0
            out[i] = accepting == 1
        else:
            out[i] = False
    return OK, ids.shape[0]


@njit(**NJIT_OPTIONS)
def advance_tokens_kernel(G, L, P, token_bytes, token_starts, token_kind, ids, start, states):
    """Consume tokens ``ids[start:]`` in order from the state ``states[start]`` = (n_sets,
    lex_state), stopping at the first one rejected or after an EOS; ``states[i + 1]`` is the
    state after token ``i``. Nothing is committed: the caller commits by adopting a state
    (sets past the committed ones are the caller's scratch). An EOS id is accepted when the
    text so far is complete and leaves the state as it was.

    Returns (status, i): OK with ``i`` = the index past the last token accepted, or
    NEED_LEXER / OVERFLOW at token ``i`` (``states[:i + 1]`` are valid; the caller resumes
    from ``i``). Each token is a step."""
    counter = P[PARSER_COUNTER]
    for i in range(start, ids.shape[0]):
        counter[COUNTER_WORK] = 0
        n_sets, lex_state = states[i, 0], states[i, 1]
        t = ids[i]
        kind = token_kind[t]
        if kind == TOKEN_TEXT:
            status, n2, q2 = _advance_token(
                G, L, P, n_sets, lex_state, token_bytes, token_starts[t], token_starts[t + 1]
            )
            if status != OK:
                if status == DEAD:
                    return OK, i
                return status, i
            states[i + 1, 0] = n2
            states[i + 1, 1] = q2
        elif kind == TOKEN_EOS:
            status, complete = _is_accepting(G, L, P, n_sets, lex_state)
            if status != OK:
                return status, i
            if not complete:
                return OK, i
            states[i + 1, 0] = n_sets
            states[i + 1, 1] = lex_state
            return OK, i + 1
        else:
            return OK, i
    return OK, ids.shape[0]


#: What ``forced_bytes_kernel`` found continues the text: no byte, or more than one.
NO_BYTE = -1
SEVERAL_BYTES = -2


@njit(**NJIT_OPTIONS)
def forced_bytes_kernel(G, L, P, n_sets, lex_state, out, n_out):
    """Append to ``out`` (from ``n_out``) the bytes every continuation of the text must start
    with: while the text is not complete and exactly one byte keeps the matcher alive, take
    that byte. Stops when ``out`` is full. Nothing is committed.

    Returns (status, n_out, n_sets, lex_state): the state after ``out[:n_out]``; on NEED_LEXER
    or OVERFLOW the caller resumes from it. Each byte found is a step."""
    trans = L[LEXER_TRANS]
    final = L[LEXER_FINAL]
    counter = P[PARSER_COUNTER]
    while n_out < out.shape[0]:
        counter[COUNTER_WORK] = 0
        status, complete = _is_accepting(G, L, P, n_sets, lex_state)
        if status != OK:
            return status, n_out, n_sets, lex_state
        if complete:
            break
        only = NO_BYTE
        for b in range(256):
            nxt = trans[lex_state, b]
            if nxt >= 0 and not final[nxt]:
                alive = True  # the byte continues the lexeme: the parser is not involved
            else:
                status, _, _ = _step_byte(G, L, P, n_sets, lex_state, b)
                if status >= NEED_LEXER:
                    return status, n_out, n_sets, lex_state
                alive = status == OK
            if alive:
                if only != NO_BYTE:
                    only = SEVERAL_BYTES
                    break
                only = b
        if only == NO_BYTE or only == SEVERAL_BYTES:
            break
        # Again: the trials of later bytes may have overwritten the set this byte pushed.
        status, n2, q2 = _step_byte(G, L, P, n_sets, lex_state, only)
        if status != OK:
            return status, n_out, n_sets, lex_state
        out[n_out] = only
        n_out += 1
        n_sets = n2
        lex_state = q2
    return OK, n_out, n_sets, lex_state
