"""The packed next-token bitmask shared with vLLM, XGrammar and llguidance: ``int32`` words of
shape ``(batch, ceil(vocab_size / 32))``; bit ``i`` of word ``w`` is token ``32 * w + i``,
1 = allowed."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigurationError


def get_bitmask_shape(batch_size: int, vocab_size: int) -> tuple:
    """``(batch_size, ceil(vocab_size / 32))``."""
    if batch_size < 1 or vocab_size < 1:
        raise ConfigurationError(
            f"`batch_size` and `vocab_size` must be positive, got {batch_size} and {vocab_size}"
        )
    return (batch_size, (vocab_size + 31) // 32)


def allocate_token_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A zeroed ``int32`` bitmask (numpy; ``torch.from_numpy`` shares its memory)."""
    return np.zeros(get_bitmask_shape(batch_size, vocab_size), dtype=np.int32)


def bitmask_to_bool(bitmask: np.ndarray, vocab_size: int) -> np.ndarray:
    """``bool`` array of shape ``(batch, vocab_size)`` from a bitmask."""
    bitmask = np.atleast_2d(np.asarray(bitmask))
    if bitmask.dtype != np.int32:
        raise ConfigurationError(f"Invalid bitmask dtype: expected int32, got {bitmask.dtype}")
    bits = np.unpackbits(np.ascontiguousarray(bitmask).view(np.uint8), axis=1, bitorder="little")
    return bits[:, :vocab_size].astype(bool)
