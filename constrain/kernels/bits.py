"""Bit helpers the kernels share, inlined into every caller.

A next-token mask row is packed 32 tokens to a word: token ``t`` is bit ``t & 31`` of word
``t >> 5``. The kernels see the row as ``uint32`` (a view of the caller's ``int32`` row), so
setting bit 31 needs no sign handling. A terminal bitset packs 64 terminals to a ``uint64``
word the same way.
"""

import numpy as np
from numba import njit

from ..config import NJIT_OPTIONS


@njit(inline="always", **NJIT_OPTIONS)
def set_token_bit(row, t):
    """Allow token ``t`` in the ``uint32`` mask row ``row``."""
    row[t >> 5] |= np.uint32(1) << np.uint32(t & 31)


@njit(inline="always", **NJIT_OPTIONS)
def set_token_bits(row, token_ids, begin, end):
    """Allow the tokens ``token_ids[begin:end]`` in ``row``."""
    for k in range(begin, end):
        t = token_ids[k]
        row[t >> 5] |= np.uint32(1) << np.uint32(t & 31)


@njit(inline="always", **NJIT_OPTIONS)
def set_terminal_bit(words, s):
    """Add terminal ``s`` to the ``uint64`` bitset ``words``."""
    words[s >> 6] |= np.uint64(1) << np.uint64(s & 63)


@njit(inline="always", **NJIT_OPTIONS)
def has_terminal_bit(words, s):
    """Whether terminal ``s`` is in the ``uint64`` bitset ``words``."""
    return (words[s >> 6] >> np.uint64(s & 63)) & np.uint64(1) != 0
