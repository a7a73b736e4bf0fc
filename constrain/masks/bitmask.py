"""The packed next-token bitmask shared with vLLM, XGrammar and llguidance: ``int32`` words of
shape ``(batch, ceil(vocab_size / 32))``; bit ``i`` of word ``w`` is token ``32 * w + i``,
1 = allowed."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..automata.arguments import check_int
from ..errors import ConfigurationError


def get_bitmask_shape(batch_size: int, vocab_size: int) -> Tuple[int, int]:
    """``(batch_size, ceil(vocab_size / 32))``; both must be positive ints."""
    batch_size = check_int(batch_size, "batch_size", lo=1)
    vocab_size = check_int(vocab_size, "vocab_size", lo=1)
    return (batch_size, (vocab_size + 31) // 32)


def allocate_token_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A zeroed ``int32`` bitmask (numpy; ``torch.from_numpy`` shares its memory)."""
    return np.zeros(get_bitmask_shape(batch_size, vocab_size), dtype=np.int32)


def bitmask_to_bool(bitmask: np.ndarray, vocab_size: int) -> np.ndarray:
    """``bool`` array of shape ``(batch, vocab_size)`` from a bitmask."""
    vocab_size = check_int(vocab_size, "vocab_size", lo=1)
    bitmask = np.atleast_2d(np.asarray(bitmask))
    if bitmask.dtype != np.int32:
        raise ConfigurationError(f"Invalid bitmask dtype: expected int32, got {bitmask.dtype}")
    if bitmask.ndim != 2 or 32 * bitmask.shape[1] < vocab_size:
        raise ConfigurationError(
            f"Invalid bitmask shape {bitmask.shape} for vocab_size {vocab_size}: expected (batch, >= {(vocab_size + 31) // 32})"
        )
    bits = np.unpackbits(np.ascontiguousarray(bitmask).view(np.uint8), axis=1, bitorder="little")
    return bits[:, :vocab_size].astype(bool)
