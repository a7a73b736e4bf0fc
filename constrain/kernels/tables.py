"""Numba kernels of parser-table construction: the prediction closures of
``constrain.automata.tables``, which allocates every array and grows them when a kernel
reports them full.

A nonterminal's *chain* is what predicting it adds by itself (the positions from each of
its rules' first dot through nullable nonterminals, and the nonterminals at those
positions); its *closure* is the concatenation of the chains of every nonterminal reached
from it, each once. Chains come in CSR form: ``chain_positions[chain_offsets[n]:
chain_offsets[n + 1]]`` and ``predicted[predicted_offsets[n]:predicted_offsets[n + 1]]``.
"""

from numba import njit

from ..config import NJIT_OPTIONS

#: What ``prediction_closures_kernel`` returns when the closures hold more entries than its
#: budget.
CLOSURES_OVER_BUDGET = -1


@njit(**NJIT_OPTIONS)
def prediction_closures_kernel(
    chain_offsets,
    chain_positions,
    predicted_offsets,
    predicted,
    first,
    budget,
    offsets,
    positions,
    nt_offsets,
    nonterminals,
    visited,
    stack,
):
    """Fill the closures of nonterminals ``first``, ``first + 1``, ...: ``positions[
    offsets[n]:offsets[n + 1]]`` and ``nonterminals[nt_offsets[n]:nt_offsets[n + 1]]``
    (``offsets[first]`` and ``nt_offsets[first]`` say where the output goes on).

    Nonterminals are visited depth first, a popped one's chain appended and its predicted
    nonterminals pushed in order (so the last one is visited next), each once per closure:
    ``visited[m] == n + 1`` while the closure of ``n`` is built (``visited`` starts zeroed).
    ``stack`` holds ``len(predicted) + 1`` entries, the most one closure pushes.

    Returns the number of nonterminals (all done); or the nonterminal whose closure did not
    fit in ``positions`` or ``nonterminals``, to resume from with larger arrays and a zeroed
    ``visited``; or ``CLOSURES_OVER_BUDGET`` when the entries of the closures (positions and
    nonterminals, over all of them) exceed ``budget``."""
    n_nonterminals = chain_offsets.shape[0] - 1
    n_pos = offsets[first]
    n_nt = nt_offsets[first]
    for root in range(first, n_nonterminals):
        stack[0] = root
        top = 1
        while top > 0:
            top -= 1
            m = stack[top]
            if visited[m] == root + 1:
                continue
            visited[m] = root + 1
            begin = chain_offsets[m]
            end = chain_offsets[m + 1]
            if n_pos + (end - begin) > positions.shape[0] or n_nt >= nonterminals.shape[0]:
                return root
            nonterminals[n_nt] = m
            n_nt += 1
            for x in range(begin, end):
                positions[n_pos] = chain_positions[x]
                n_pos += 1
            for x in range(predicted_offsets[m], predicted_offsets[m + 1]):
                stack[top] = predicted[x]
                top += 1
        if n_pos + n_nt > budget:
            return CLOSURES_OVER_BUDGET
        offsets[root + 1] = n_pos
        nt_offsets[root + 1] = n_nt
    return n_nonterminals
