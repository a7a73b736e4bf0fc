"""``ToyLM``: a language model whose next-token distribution is a Python function, for exact
tests of samplers (every probability is known, nothing is learned)."""

from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import numpy as np
import torch
from numpy.typing import NDArray

from ..errors import ConfigurationError
from .base import LanguageModel, ModelBatch

NextLogprobs = Callable[[Tuple[int, ...]], "np.ndarray | Sequence[float]"]


class ToyLM(LanguageModel):
    """Next-token log-probabilities from ``next_logprobs(prefix)``.

    Args:
        vocab_size: the width of the logits.
        next_logprobs: maps the token prefix (prompt and generated tokens, a tuple of ints) to
            ``vocab_size`` log-probabilities (or unnormalized log-weights; ``-inf`` allowed).
            Called once per row per step.

    Example: a model that spells uniform random bits over tokens ``0``, ``1`` and EOS ``2``::

        lm = ToyLM(3, lambda prefix: np.log([0.45, 0.45, 0.1]))
    """

    def __init__(self, vocab_size: int, next_logprobs: NextLogprobs) -> None:
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ConfigurationError(f"vocab_size must be a positive int, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.device = torch.device("cpu")
        self.next_logprobs = next_logprobs
        self.forward_calls = 0

    def logprobs_of(self, prefix: Tuple[int, ...]) -> np.ndarray:
        """The normalized next-token log-probabilities after ``prefix`` (float64)."""
        raw = np.asarray(self.next_logprobs(tuple(prefix)), dtype=np.float64)
        if raw.shape != (self.vocab_size,):
            raise ConfigurationError(f"next_logprobs returned shape {raw.shape}, expected ({self.vocab_size},)")
        top = raw.max()
        if not np.isfinite(top):
            raise ConfigurationError(f"next_logprobs gave no finite value after {prefix}")
        logprobs: NDArray[np.float64] = raw - (top + np.log(np.exp(raw - top).sum()))
        return logprobs

    def start(self, prompts: Sequence[Sequence[int]]) -> "ToyBatch":
        return ToyBatch(self, [tuple(int(t) for t in p) for p in prompts])


class ToyBatch(ModelBatch):
    def __init__(self, lm: ToyLM, rows: List[Tuple[int, ...]]) -> None:
        self.lm = lm
        self.rows = rows

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    def logits(self) -> torch.Tensor:
        self.lm.forward_calls += 1
        table = (
            np.stack([self.lm.logprobs_of(r) for r in self.rows]) if self.rows else np.zeros((0, self.lm.vocab_size))
        )
        return torch.from_numpy(table)  # float64: exact tests compare probabilities closely

    def extend(self, tokens: Sequence[int]) -> None:
        if len(tokens) != len(self.rows):
            raise ValueError(f"extend() needs one token per row ({len(self.rows)}), got {len(tokens)}")
        self.rows = [r + (int(t),) for r, t in zip(self.rows, tokens)]

    def select(self, rows: Sequence[int]) -> None:
        self.rows = [self.rows[int(r)] for r in rows]

    def clone(self) -> "ToyBatch":
        return ToyBatch(self.lm, list(self.rows))
