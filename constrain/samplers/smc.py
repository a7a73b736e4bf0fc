"""Sequential Monte Carlo (SMC) over whole outputs, with an AWRS or LCD token proposal.

``N`` particles advance one token per step in one batched forward pass. A particle's weight is
the product of its proposal's weights (AWRS's unbiased estimate of ``Z_t``, or LCD's exact
``Z_t``) and of an optional critic's potential. Because each step's weight is proper for the
local target, the weights telescope to ``p(x) 1[x in L]`` (times the critic): the weighted
particles target the exact constrained distribution ``pi``, and the mean final weight is an
unbiased estimate of its mass ``Z``.

When the effective sample size ``ESS = (sum w)^2 / sum w^2`` falls under
``ess_threshold * N`` the particles are resampled (multinomially or systematically) in
proportion to their weights, and every new particle carries the mean weight (so the mean weight
stays an unbiased estimate of ``Z``). Resampled copies share their parent's KV cache rows
(the batch dimension is re-indexed; nothing is recomputed). A particle whose weight is 0 (it
reached a point the grammar cannot continue, or the critic rejected it) stops. At
``max_new_tokens`` only EOS may follow, with weight ``p(EOS)`` if the text is complete (else
the particle dies), so the target is ``pi`` conditioned on at most ``max_new_tokens`` tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence

import numpy as np
import torch

from ..automata.matcher import Matcher
from ..errors import ConfigurationError
from .awrs import AWRS
from .base import Choice, Draw, TokenSampler
from .driver import decode
from .lcd import LCD

__all__ = ("SMC", "Population", "effective_sample_size")

#: ``critic(text, finished) -> float``: a log-potential of a particle's text.
Critic = Callable[[str, bool], float]


def effective_sample_size(log_weights: Sequence[float]) -> float:
    """``(sum w)^2 / sum w^2`` of the weights ``exp(log_weights)`` (0 when all are 0)."""
    lw = np.asarray(log_weights, dtype=np.float64)
    top = lw.max() if lw.size else -math.inf
    if top == -math.inf:
        return 0.0
    w = np.exp(lw - top)
    return float(w.sum() ** 2 / (w * w).sum())


@dataclass
class Population:
    """The particles after SMC.

    Attributes:
        particles: the final particles (draws with ``token_ids``, ``log_weight``,
            ``finish_reason``).
        log_ml: ``log`` of the mean final weight (``exp(log_ml)`` is unbiased for ``Z``).
        chosen: the particle chosen as the output (a posterior sample, or the mode).
        resamplings: how many times the particles were resampled.
        first_token_at: ``time.perf_counter()`` of the first token.
    """

    particles: List[Draw]
    log_ml: float
    chosen: Draw
    resamplings: int
    first_token_at: float

    def posterior(self, text_of: Callable[[Draw], str]) -> Dict[str, float]:
        """The finished particles' texts with their normalized weights (duplicates summed)."""
        finished = [p for p in self.particles if p.finish_reason == "eos" and p.log_weight > -math.inf]
        if not finished:
            return {}
        top = max(p.log_weight for p in finished)
        out: Dict[str, float] = {}
        for p in finished:
            text = text_of(p)
            out[text] = out.get(text, 0.0) + math.exp(p.log_weight - top)
        total = sum(out.values())
        return {k: v / total for k, v in out.items()}


class _Step(TokenSampler):
    """The proposal, with SMC's reweighting (critic) and resampling between steps."""

    uses_masks: bool
    forces_eos_at_limit = True

    def __init__(self, smc: "SMC", proposal: TokenSampler) -> None:
        self.smc = smc
        self.proposal = proposal
        self.uses_masks = proposal.uses_masks
        self.resamplings = 0

    def choose(
        self, draws: Sequence[Draw], logprobs: torch.Tensor, bitmask: Optional[np.ndarray], at_limit: Sequence[bool]
    ) -> List[Choice]:
        return self.proposal.choose(draws, logprobs, bitmask, at_limit)

    def resample(self, draws: List[Draw]) -> Optional[List[int]]:
        smc = self.smc
        if smc.critic is not None:
            for d in draws:
                self._criticize(d)
        for d in draws:
            if d.running and d.log_weight == -math.inf:
                d.finish_reason = "dead"
        if not any(d.running for d in draws):
            return None
        log_weights = [d.log_weight for d in draws]
        if effective_sample_size(log_weights) >= smc.ess_threshold * len(draws):
            return None
        parents = smc.resample_indices(log_weights)
        if parents is None:
            return None
        lw = np.asarray(log_weights)
        top = lw.max()
        log_mean = float(top + math.log(np.exp(lw - top).mean()))
        for d in draws:
            d.log_weight = log_mean  # copies are made after this: every new particle has the mean
        self.resamplings += 1
        return parents

    def _criticize(self, draw: Draw) -> None:
        """Apply the critic to a particle that just finished (or, with ``critic_partial``, to a
        running one): its new log-potential replaces the last one applied. ``draw.state`` holds
        ``(last value, final value applied)``."""
        last, done = draw.state if draw.state is not None else (0.0, False)
        if done or not (draw.finish_reason == "eos" or (self.smc.critic_partial and draw.running)):
            return
        assert self.smc.critic is not None
        text = draw.matcher.compiled.vocab.decode(draw.token_ids).decode("utf-8", "replace")
        value = float(self.smc.critic(text, draw.finish_reason == "eos"))
        if math.isnan(value):
            raise ConfigurationError(f"the critic returned NaN for {text!r}")
        draw.log_weight += value - last
        draw.state = (value, draw.finish_reason == "eos")


class SMC:
    """Sequential Monte Carlo with an AWRS or LCD proposal.

    Args:
        num_particles: particles per prompt.
        ess_threshold: resample when ``ESS < ess_threshold * num_particles`` (0: never).
        proposal: ``"awrs"`` (single-token checks, estimated weights) or ``"lcd"`` (full
            masks, exact ``Z_t`` weights).
        critic: ``critic(text, finished) -> float``, a log-potential (``-inf`` rejects). By
            default applied to finished particles only; with ``critic_partial=True`` also to
            running ones after every step (twisting: each new value replaces the last).
        resampling: ``"multinomial"`` or ``"systematic"``.
        select: the output is a ``"sample"`` from the posterior or its ``"mode"``.
        seed / generator: seeds the proposal and the resampling.
    """

    def __init__(
        self,
        num_particles: int = 5,
        *,
        ess_threshold: float = 0.5,
        proposal: Literal["awrs", "lcd"] = "awrs",
        critic: Optional[Critic] = None,
        critic_partial: bool = False,
        resampling: Literal["multinomial", "systematic"] = "multinomial",
        select: Literal["sample", "mode"] = "sample",
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        if not isinstance(num_particles, int) or isinstance(num_particles, bool) or num_particles < 1:
            raise ConfigurationError(f"num_particles must be a positive int, got {num_particles!r}")
        if not isinstance(ess_threshold, (int, float)) or not 0 <= ess_threshold <= 1:
            raise ConfigurationError(f"ess_threshold must be in [0, 1], got {ess_threshold!r}")
        if proposal not in ("awrs", "lcd"):
            raise ConfigurationError(f"proposal must be 'awrs' or 'lcd', got {proposal!r}")
        if resampling not in ("multinomial", "systematic"):
            raise ConfigurationError(f"resampling must be 'multinomial' or 'systematic', got {resampling!r}")
        if select not in ("sample", "mode"):
            raise ConfigurationError(f"select must be 'sample' or 'mode', got {select!r}")
        if critic is not None and not callable(critic):
            raise ConfigurationError("critic must be a callable critic(text, finished) -> float")
        if seed is None and generator is not None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        self.rng = np.random.default_rng(seed)
        self.num_particles = num_particles
        self.ess_threshold = float(ess_threshold)
        self.proposal = proposal
        self.critic = critic
        self.critic_partial = critic_partial
        self.resampling = resampling
        self.select = select

    def make_proposal(self, device: torch.device) -> TokenSampler:
        """A fresh proposal for one run; LCD draws with a generator on the model's device."""
        seed = int(self.rng.integers(2**62))
        if self.proposal == "awrs":
            return AWRS(seed=seed, forces_eos_at_limit=True)
        return LCD(1.0, generator=torch.Generator(device=device).manual_seed(seed), forces_eos_at_limit=True)

    def resample_indices(self, log_weights: Sequence[float]) -> Optional[List[int]]:
        """Parents of the next population, in proportion to the weights."""
        lw = np.asarray(log_weights, dtype=np.float64)
        top = lw.max()
        if top == -math.inf:
            return None
        w = np.exp(lw - top)
        w /= w.sum()
        n = lw.size
        cumulative = np.cumsum(w)
        cumulative[-1] = 1.0
        if self.resampling == "systematic":
            points = (self.rng.random() + np.arange(n)) / n
        else:
            points = self.rng.random(n)
        parents: List[int] = np.searchsorted(cumulative, points, side="right").clip(0, n - 1).tolist()
        return parents

    def run(
        self,
        model: Any,
        compiled: Any,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int,
        on_step: Optional[Callable[[List[Draw]], None]] = None,
    ) -> Population:
        """Run SMC for one prompt."""
        step = _Step(self, self.make_proposal(getattr(model, "device", torch.device("cpu"))))
        draws = [Draw(Matcher(compiled)) for _ in range(self.num_particles)]
        result = decode(
            model,
            compiled,
            [list(prompt_ids)] * self.num_particles,
            step,
            max_new_tokens=max_new_tokens,
            draws=draws,
            on_step=on_step,
        )
        particles = result.draws
        lw = np.asarray([p.log_weight for p in particles], dtype=np.float64)
        top = lw.max()
        log_ml = -math.inf if top == -math.inf else float(top + math.log(np.exp(lw - top).mean()))
        chosen = self._choose(particles)
        return Population(particles, log_ml, chosen, step.resamplings, result.first_token_at)

    def _choose(self, particles: List[Draw]) -> Draw:
        finished = [p for p in particles if p.finish_reason == "eos" and p.log_weight > -math.inf]
        if not finished:
            return max(particles, key=lambda p: len(p.token_ids))
        if self.select == "mode":  # the text with the most weight (tokenizations summed)
            vocab = finished[0].matcher.compiled.vocab
            totals: Dict[bytes, float] = {}
            for p in finished:
                key = vocab.decode(p.token_ids)
                totals[key] = float(np.logaddexp(totals.get(key, -math.inf), p.log_weight))
            best = max(totals, key=lambda k: totals[k])
            return next(p for p in finished if vocab.decode(p.token_ids) == best)
        lw = np.asarray([p.log_weight for p in finished])
        w = np.exp(lw - lw.max())
        return finished[int(self.rng.choice(len(finished), p=w / w.sum()))]
