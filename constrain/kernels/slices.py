"""Numba kernels of the JSON-string slice tests (``constrain.automata.slices``): where every
safe character leads a DFA state, and whether every string of them keeps it alive.

A safe character is one ASCII byte or a multi-byte UTF-8 sequence, tried as levels of byte
representatives: level ``l`` tries ``rep_values[rep_offsets[l]:rep_offsets[l + 1]]``; level 0
is ASCII, and pattern ``p`` (one per UTF-8 lead range) is levels
``level_offsets[p]:level_offsets[p + 1]``.
"""

from numba import njit

from ..config import NJIT_OPTIONS

#: What ``safe_successor_kernel`` returns when there is no one successor.
SEVERAL = -1
ALL_DEAD = -2
#: No successor seen yet.
_NONE_YET = -3
#: What ``_character_ends`` counts when some byte of a character is dead or final.
_BROKEN = -1


@njit(inline="always", **NJIT_OPTIONS)
def _character_ends(trans, final, s, p, rep_values, rep_offsets, level_offsets, current, following, mark, stamp):
    """The states the characters of pattern ``p`` lead ``s`` to, in ``current[:n]``, each once
    (``mark`` stamps the states of each level with a fresh ``stamp``). Returns (n, the last
    stamp used); n is ``_BROKEN`` when some byte is dead or passes a final state inside a character."""
    current[0] = s
    n_current = 1
    last = level_offsets[p + 1] - 1
    for lvl in range(level_offsets[p], level_offsets[p + 1]):
        stamp += 1
        n_following = 0
        for i in range(n_current):
            u = current[i]
            for x in range(rep_offsets[lvl], rep_offsets[lvl + 1]):
                t = trans[u, rep_values[x]]
                if t < 0 or (lvl < last and final[t]):
                    return _BROKEN, stamp
                if mark[t] != stamp:
                    mark[t] = stamp
                    following[n_following] = t
                    n_following += 1
        for i in range(n_following):
            current[i] = following[i]
        n_current = n_following
    return n_current, stamp


@njit(**NJIT_OPTIONS)
def safe_successor_kernel(
    trans, final, state, rep_values, rep_offsets, level_offsets, current, following, mark, mark_id
):
    """The one state every safe character leads ``state`` to; ``SEVERAL`` when they lead to
    different states, or one of them to a dead or (``final``) final state, including final
    states met inside a character; ``ALL_DEAD`` when every safe character is dead.

    ``current``/``following`` (``int32[num_states]``) and ``mark`` (``int64[num_states]``) are
    scratch; ``mark_id`` must exceed every value already in ``mark`` by at least the number of
    levels (it stamps the states reached at each level)."""
    # Every character dead: the ASCII bytes and every pattern's first byte.
    all_dead = True
    for p in range(-1, level_offsets.shape[0] - 1):
        lvl = 0 if p < 0 else level_offsets[p]
        for x in range(rep_offsets[lvl], rep_offsets[lvl + 1]):
            if trans[state, rep_values[x]] >= 0:
                all_dead = False
                break
        if not all_dead:
            break
    if all_dead:
        return ALL_DEAD
    if final[state]:
        return SEVERAL
    target = _NONE_YET
    for x in range(rep_offsets[0], rep_offsets[1]):
        t = trans[state, rep_values[x]]
        if t < 0 or (target != _NONE_YET and t != target):
            return SEVERAL
        target = t
    stamp = mark_id
    for p in range(level_offsets.shape[0] - 1):
        n_current, stamp = _character_ends(
            trans, final, state, p, rep_values, rep_offsets, level_offsets, current, following, mark, stamp
        )
        if n_current == _BROKEN:
            return SEVERAL
        for i in range(n_current):
            t = current[i]
            if target != _NONE_YET and t != target:
                return SEVERAL
            target = t
    if target < 0 or final[target]:
        return SEVERAL
    return target


@njit(**NJIT_OPTIONS)
def safe_closed_kernel(
    trans, final, state, rep_values, rep_offsets, level_offsets, stack, current, following, mark, visited, mark_id
):
    """Whether every string of safe characters keeps ``state`` alive and never passes a final
    state (every slice token stays in the lexeme): a search of the states safe
    characters reach from ``state``, stopping at the first dead or final one.

    ``stack``, ``current``, ``following`` (``int32[num_states]``), ``mark`` and ``visited``
    (``int64[num_states]``) are scratch; ``mark_id`` must exceed every value in them. Returns
    (answer, the next free mark)."""
    seen = mark_id
    stamp = mark_id
    if final[state]:
        return False, stamp + 1
    visited[state] = seen
    stack[0] = state
    n_stack = 1
    while n_stack > 0:
        n_stack -= 1
        s = stack[n_stack]
        for p in range(-1, level_offsets.shape[0] - 1):
            if p < 0:  # one ASCII byte
                n_current = 0
                for x in range(rep_offsets[0], rep_offsets[1]):
                    t = trans[s, rep_values[x]]
                    if t < 0:
                        return False, stamp + 1
                    current[n_current] = t
                    n_current += 1
            else:
                n_current, stamp = _character_ends(
                    trans, final, s, p, rep_values, rep_offsets, level_offsets, current, following, mark, stamp
                )
                if n_current == _BROKEN:
                    return False, stamp + 1
            for i in range(n_current):
                t = current[i]
                if final[t]:
                    return False, stamp + 1
                if visited[t] != seen:
                    visited[t] = seen
                    stack[n_stack] = t
                    n_stack += 1
    return True, stamp + 1
