"""The model interface the decoding driver and the samplers stand on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import torch


class ModelBatch(ABC):
    """Rows of token sequences inside a model, with the next-token logits of each row ready.

    Row ``i`` is the prompt given to :meth:`LanguageModel.start` at index ``i`` (until
    :meth:`select` moves rows) followed by the tokens given to :meth:`extend` since.
    """

    @property
    @abstractmethod
    def num_rows(self) -> int:
        """How many rows the batch holds."""

    @abstractmethod
    def logits(self) -> torch.Tensor:
        """The raw next-token logits of every row: ``(num_rows, vocab_size)`` floats (``float32``,
        or ``float64`` for exact toy models) on the model's device (no temperature, no warpers; ``log_softmax`` gives ``log p(v | row)``)."""

    @abstractmethod
    def extend(self, tokens: Sequence[int]) -> None:
        """Append ``tokens[i]`` to row ``i`` (one forward pass for all rows)."""

    @abstractmethod
    def select(self, rows: Sequence[int]) -> None:
        """Keep rows ``rows`` in that order: row ``j`` becomes old row ``rows[j]``. Rows may be
        dropped, reordered or repeated (SMC resampling); the KV cache follows, nothing is
        recomputed."""

    def score(self, drafts: Sequence[Sequence[int]]) -> torch.Tensor:
        """``log p`` of each draft token given its row and the draft tokens before it.

        Args:
            drafts: one list of tokens per row, all of the same length ``k``.

        Returns:
            ``(num_rows, k)`` float32 log-probabilities. The batch is left as it was (the
            default implementation extends copies of the rows token by token).
        """
        k = len(drafts[0]) if drafts else 0
        if any(len(d) != k for d in drafts) or len(drafts) != self.num_rows:
            raise ValueError("score() needs one draft per row, all of the same length")
        out = torch.empty((self.num_rows, k), dtype=torch.float32)
        probe = self.clone()
        for j in range(k):
            logp = torch.log_softmax(probe.logits(), dim=-1).cpu()
            column = torch.tensor([d[j] for d in drafts], dtype=torch.long)
            out[:, j] = logp.gather(1, column[:, None])[:, 0]
            if j + 1 < k:
                probe.extend([d[j] for d in drafts])
        return out

    def clone(self) -> "ModelBatch":
        """An independent batch at the same rows (the default: not supported)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be cloned")


class LanguageModel(ABC):
    """A causal language model: prompts in, a :class:`ModelBatch` out.

    Attributes:
        vocab_size: the width of the logits (padding ids included).
        device: where logits live (masks are applied there).
    """

    vocab_size: int
    device: torch.device

    @abstractmethod
    def start(self, prompts: Sequence[Sequence[int]]) -> ModelBatch:
        """Run the prompts (token ids, one list per row) and return the batch with the logits of
        each row's first generated token ready."""

    @property
    def identity(self) -> Any:
        """Something that tells this model's distributions apart from another model's (used in
        cache keys, e.g. by samplers that keep state across calls)."""
        return id(self)
