"""The packed next-token bitmask shared with vLLM, XGrammar and llguidance: ``int32`` words of
shape ``(batch, ceil(vocab_size / 32))``; bit ``i`` of word ``w`` is token ``32 * w + i``,
1 = allowed."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..automata.arguments import check_int
from ..errors import ConfigurationError, ResourceLimitError


def get_bitmask_shape(batch_size: int, vocab_size: int) -> Tuple[int, int]:
    """``(batch_size, ceil(vocab_size / 32))``; both must be positive ints."""
    batch_size = check_int(batch_size, "batch_size", lo=1)
    vocab_size = check_int(vocab_size, "vocab_size", lo=1)
    return (batch_size, (vocab_size + 31) // 32)


def allocate_token_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A zeroed ``int32`` bitmask (numpy; ``torch.from_numpy`` shares its memory).

    Raises:
        ConfigurationError: a size is not a positive int.
        ResourceLimitError: the bitmask does not fit in memory.
    """
    shape = get_bitmask_shape(batch_size, vocab_size)
    try:
        return np.zeros(shape, dtype=np.int32)
    except (MemoryError, ValueError):  # ValueError: numpy's "maximum allowed dimension exceeded"
        raise ResourceLimitError(
            f"a token bitmask of shape {shape} needs {4 * shape[0] * shape[1]:,} bytes, more than can be allocated"
        ) from None


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
