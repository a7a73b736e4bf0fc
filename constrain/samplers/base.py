"""What every sampler shares: the draw (one sequence being generated) and the sampler interface.

A sampler decides, at every step and for every running draw, which token comes next and with
what importance weight. The driver (:mod:`constrain.samplers.driver`) owns everything else: the
model's batch and KV cache, masks on the model's device, the worker thread that advances the
matchers and fills the next masks while the model runs, the length limit and finishing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import numpy as np
import torch

from ..automata.matcher import Matcher

#: ``Draw.finish_reason`` values: the grammar's text is complete and EOS was drawn; the length
#: limit cut the draw; the draw reached a point where the sampler found no allowed token.
FINISH_REASONS = ("eos", "length", "dead")


@dataclass(eq=False)
class Draw:
    """One sequence being drawn.

    Attributes:
        matcher: where the sequence stands in the grammar. While the driver's worker thread has
            not yet caught up it lags the last token of ``token_ids`` (``lagging``).
        token_ids: the tokens drawn so far (EOS excluded).
        logprob: ``log p(token_ids [+ EOS])`` under the unconstrained model at temperature 1,
            EOS included once drawn.
        log_weight: the sum of the sampler's log-weight increments (``log prod_t w_t``): for
            LCD ``sum_t log Z_t``, so that LCD samples weighted by ``exp(log_weight)`` are
            properly weighted for the exact constrained distribution.
        finish_reason: ``None`` while running, else one of :data:`FINISH_REASONS`.
        state: the sampler's own per-draw state (e.g. an ASAp trie node).
        first_token_at: ``time.perf_counter()`` when the decoding run that drew it produced
            its first token, for samplers that return draws of several runs (ASAp); NaN
            where unset.
    """

    matcher: Matcher
    token_ids: List[int] = field(default_factory=list)
    logprob: float = 0.0
    log_weight: float = 0.0
    finish_reason: Optional[str] = None
    state: Any = None
    lagging: bool = False
    first_token_at: float = math.nan

    @property
    def running(self) -> bool:
        return self.finish_reason is None

    def fork(self) -> "Draw":
        """An independent copy (SMC resampling); the matcher is forked."""
        return Draw(
            self.matcher.fork(),
            list(self.token_ids),
            self.logprob,
            self.log_weight,
            self.finish_reason,
            self.state,
            self.lagging,
        )


@dataclass
class Choice:
    """A sampler's decision for one draw: the token (``None``: the draw dies) and the log of its
    importance-weight increment (``-inf`` for a draw that dies)."""

    token: Optional[int]
    log_weight: float = 0.0


class TokenSampler:
    """Chooses the next token of every running draw.

    Attributes:
        uses_masks: whether the driver must fill each running draw's next-token bitmask row
            before :meth:`choose` (LCD, ASAp: yes; AWRS checks single tokens and needs none).
        forces_eos_at_limit: ``True``: a draw that reached ``max_new_tokens`` gets one more step
            in which only EOS is allowed (its row allows EOS if the text is complete, else
            nothing, and the draw dies), so that every finished draw is a string of the grammar
            and the weights target the distribution conditioned on the length limit. ``False``:
            the draw is cut with ``finish_reason="length"``.
    """

    uses_masks: bool = True
    forces_eos_at_limit: bool = False

    def choose(
        self, draws: Sequence[Draw], logprobs: torch.Tensor, bitmask: Optional[np.ndarray], at_limit: Sequence[bool]
    ) -> List[Choice]:
        """Choose a token for each running draw.

        Args:
            draws: the running draws, in batch order.
            logprobs: ``(len(draws), vocab_size)`` ``log p(v | draw)`` of the unconstrained
                model (temperature 1) on the model's device.
            bitmask: the draws' next-token masks (row ``i`` for ``draws[i]``) when
                :attr:`uses_masks`, else ``None``.
            at_limit: per draw, whether only EOS may follow (``forces_eos_at_limit``).
        """
        raise NotImplementedError

    def resample(self, draws: List[Draw]) -> Optional[List[int]]:
        """After a step: the parents of a new population (indices into ``draws``), or ``None``
        to keep the draws as they are. Only population samplers (SMC) resample."""
        return None


def log_sum_exp(values: np.ndarray) -> float:
    """``log sum exp(values)`` in float64; ``-inf`` for an empty or all ``-inf`` input."""
    if values.size == 0:
        return -math.inf
    top = float(np.max(values))
    if top == -math.inf:
        return -math.inf
    return top + math.log(float(np.sum(np.exp(values - top))))
