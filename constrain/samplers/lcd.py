"""Locally constrained decoding (LCD): sample from the model's next-token distribution
restricted to the tokens the grammar allows.

Per step, with ``M_t`` the allowed tokens (the mask) and ``Z_t = sum_{v in M_t} p(v | x_<t)``
the allowed mass, LCD draws ``v ~ p(v | x_<t) 1[v in M_t] / Z_t``. Each step is exact, but over
whole outputs LCD follows ``q_LCD(x) = prod_t p(x_t | x_<t) / Z_t``, not the constrained
distribution ``pi(x) = p(x) 1[x in L] / Z``: ``q_LCD(x) / pi(x)`` is proportional to
``1 / prod_t Z_t``. The log-weight increment ``log Z_t`` makes LCD samples properly weighted
for ``pi`` (``E_q[prod_t Z_t f(x)] = sum_{x in L} p(x) f(x)``), which SMC uses.

Temperature, top-k and top-p apply to the *masked* logits, in that order, so top-k and top-p
choose among allowed tokens only and never leave a row empty. With any of them the samples no
longer follow ``q_LCD`` and the weights are not proper (reported as NaN).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..errors import VocabularyError
from .base import Choice, Draw, TokenSampler
from .driver import masked_logprobs

__all__ = ("LCD", "sample_logits")


def sample_logits(
    logits: torch.Tensor,
    temperature: float,
    top_k: Optional[int],
    top_p: Optional[float],
    generator: Optional[torch.Generator],
) -> torch.Tensor:
    """Pick one token per row of (already masked) logits: temperature, then top-k, then top-p;
    ``temperature=0`` is argmax."""
    if not temperature:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each token
        drop = before >= top_p  # never drops the most likely token
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class LCD(TokenSampler):
    """Locally constrained decoding.

    Args:
        temperature: ``0`` for greedy decoding, ``1`` for the model's distribution.
        top_k: sample among the ``top_k`` most likely allowed tokens.
        top_p: nucleus sampling among allowed tokens.
        generator: the torch random generator (on the model's device).
        forces_eos_at_limit: see :class:`~constrain.samplers.base.TokenSampler` (``False``: cut
            at the limit, as plain generation does; SMC sets ``True``).
    """

    def __init__(
        self,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
        *,
        forces_eos_at_limit: bool = False,
    ) -> None:
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.generator = generator
        self.forces_eos_at_limit = forces_eos_at_limit
        self.warped = temperature != 1 or top_k is not None or (top_p is not None and top_p < 1)

    def choose(
        self, draws: Sequence[Draw], logprobs: torch.Tensor, bitmask: Optional[np.ndarray], at_limit: Sequence[bool]
    ) -> List[Choice]:
        assert bitmask is not None
        masked = masked_logprobs(logprobs, bitmask)
        log_z = torch.logsumexp(masked.double(), dim=-1).tolist()  # log Z_t, unwarped
        empty = [i for i, z in enumerate(log_z) if z == -math.inf]
        for i in empty:
            if not at_limit[i]:
                text = draws[i].matcher.compiled.vocab.decode(draws[i].token_ids).decode("utf-8", "replace")
                raise VocabularyError(
                    f"no token can continue the output {text!r}: the grammar needs bytes that the "
                    "vocabulary cannot spell from here"
                )
            masked[i, 0] = 0.0  # placeholder so the row can be sampled; the draw dies below
        picked = sample_logits(masked, self.temperature, self.top_k, self.top_p, self.generator).tolist()
        dead = set(empty)
        return [
            Choice(None, -math.inf) if i in dead else Choice(int(t), math.nan if self.warped else z)
            for i, (t, z) in enumerate(zip(picked, log_z))
        ]
