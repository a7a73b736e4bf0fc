"""Adaptive weighted rejection sampling (AWRS) of the next token.

Lipkin, LeBrun, Vigly, Loula, MacIver, Du, Eisner, Cotterell, Mansinghka, O'Donnell, Lew and
Vieira, "Fast Controlled Generation from Language Models with Adaptive Weighted Rejection
Sampling", COLM 2025.

Local target: ``pi_t(v) = p(v | x) c(x v) / Z_t`` with ``c`` the grammar's check (a token is
allowed; EOS when the text is complete) and ``Z_t = sum_v p(v | x) c(x v)``.

**Adaptive rejection.** Gumbel keys ``log p(v) + G_v`` are drawn once; testing tokens in
decreasing key order is sampling without replacement from ``p``, so the first token that passes
the check is an exact sample from ``pi_t``, and a rejected token is never tested again. No full
mask is computed: each test is one :meth:`Matcher.try_token`.

**The weight** (the "recursive" estimator). Let ``q`` be ``p`` renormalized over the tokens not
yet rejected. Rejecting ``u`` multiplies the weight by ``1 - q(u)``; after accepting ``v`` one
more token ``u'`` (the next in key order, a draw from ``q`` without ``v``) is tested, and the
weight is multiplied by ``1`` if it passes and by ``q(v)`` if not. Then
``E[w 1[token = v]] = p(v) c(v)`` for every ``v`` (proper weighting, ``E[w] = Z_t``):

    E[W(q) | v accepted first] = q(v) + (1 - q(v)) Z_{q without v} = Z_q                (1)

because ``P(u' passes) = Z_{q without v}``, and a rejection of ``u`` turns the problem into the
same one over ``q`` without ``u``, scaled by ``1 - q(u)`` (``Z_q = (1 - q(u)) Z_{q without u}``
when ``c(u) = 0``). ``tests/samplers/test_awrs.py`` checks (1) by exact enumeration of every
rejection order on small distributions.

**Fallback to the full mask.** Where the check rejects most of the mass (inside a number, after a
key), testing token after token costs more than one mask. After ``max_rejections`` rejections the
sampler fills the mask, draws from ``q`` restricted to the allowed tokens and multiplies the
weight by their exact mass under ``q``: still an exact draw and a proper weight (the exact ``Z``
of the remaining problem replaces its estimate).
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..masks.bitmask import allocate_token_bitmask
from .base import Choice, Draw, TokenSampler

__all__ = ("AWRS", "DEFAULT_MAX_REJECTIONS", "DescendingOrder", "weighted_rejection_step")

#: Rejections after which the full mask is cheaper than more single-token checks. Measured on
#: Qwen2 along the library grammars' documents (docs/benchmarks.md, "Matcher verbs"): a mask
#: that is not a memo copy costs a p50 of 304 us, a ``try_token`` 6 to 9 us, so the break-even
#: is 30 to 50 checks; past 32 rejections the mask is the cheaper bet.
DEFAULT_MAX_REJECTIONS = 32


class AWRS(TokenSampler):
    """The AWRS token sampler.

    Args:
        proper_weights: also estimate ``Z_t`` (one more check per step): the log-weight
            increments make the draws properly weighted for the exact constrained distribution.
            ``False``: plain adaptive rejection (exact per step, globally biased like LCD),
            weight increments 0.
        max_rejections: rejections after which the full mask is used for the rest of the step
            (``None``: never).
        seed: seeds the Gumbel keys (a ``numpy`` generator).
        forces_eos_at_limit: see :class:`~constrain.samplers.base.TokenSampler` (SMC sets it).

    Attributes:
        checks: single-token checks made so far; ``masks``: full masks filled; ``steps``: tokens
            chosen (so ``checks / steps`` is the checks per token).
    """

    uses_masks = False

    def __init__(
        self,
        *,
        proper_weights: bool = True,
        max_rejections: Optional[int] = DEFAULT_MAX_REJECTIONS,
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        forces_eos_at_limit: bool = False,
    ) -> None:
        if seed is None and generator is not None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        self.rng = np.random.default_rng(seed)
        self.proper_weights = proper_weights
        self.max_rejections = max_rejections
        self.forces_eos_at_limit = forces_eos_at_limit
        self.checks = 0
        self.masks = 0
        self.steps = 0
        self._bitmask: Optional[np.ndarray] = None

    def choose(
        self, draws: Sequence[Draw], logprobs: torch.Tensor, bitmask: Optional[np.ndarray], at_limit: Sequence[bool]
    ) -> List[Choice]:
        table = logprobs.double().cpu().numpy()
        return [self.choose_one(d, table[i], bool(at_limit[i])) for i, d in enumerate(draws)]

    def choose_one(self, draw: Draw, logp: np.ndarray, at_limit: bool) -> Choice:
        """One AWRS step for one draw from its next-token log-probabilities (float64)."""
        matcher = draw.matcher
        vocab = matcher.compiled.vocab
        self.steps += 1
        if at_limit:  # only EOS may follow: its exact mass is the weight
            eos = [t for t in sorted(vocab.eos_token_ids) if logp[t] > -math.inf]
            if not eos or not matcher.is_accepting():
                return Choice(None, -math.inf)
            masses = np.exp(logp[eos])
            pick = eos[int(self._draw(masses))]
            return Choice(pick, float(np.log(masses.sum())))
        candidates = np.flatnonzero(logp > -np.inf)
        keys = logp[candidates] + self.rng.gumbel(size=candidates.size)
        order = DescendingOrder(candidates, keys)

        def allowed_by_mask() -> np.ndarray:
            self.masks += 1
            if self._bitmask is None:
                self._bitmask = allocate_token_bitmask(1, vocab.size)
            matcher.fill_next_token_bitmask(self._bitmask, 0)
            return np.unpackbits(self._bitmask[0].view(np.uint8), bitorder="little")[: vocab.size].astype(bool)

        token, log_weight, checks = weighted_rejection_step(
            order.next,
            logp,
            matcher.try_token,
            proper_weights=self.proper_weights,
            max_rejections=self.max_rejections,
            allowed_by_mask=allowed_by_mask,
            uniform=self.rng.random,
        )
        self.checks += checks
        return Choice(token, log_weight if token is not None else -math.inf)

    def _draw(self, masses: np.ndarray) -> int:
        return _pick(masses, self.rng.random())


def _pick(masses: np.ndarray, u: float) -> int:
    """The index ``i`` with probability ``masses[i] / sum(masses)``, from a uniform ``u``."""
    cumulative = np.cumsum(masses)
    pick = int(np.searchsorted(cumulative, u * cumulative[-1], side="right"))
    return min(pick, masses.size - 1)


def weighted_rejection_step(
    next_token: Callable[[], Optional[int]],
    logp: np.ndarray,
    check: Callable[[int], bool],
    *,
    proper_weights: bool = True,
    max_rejections: Optional[int] = None,
    allowed_by_mask: Optional[Callable[[], np.ndarray]] = None,
    uniform: Callable[[], float] = np.random.random,
) -> Tuple[Optional[int], float, int]:
    """One AWRS step.

    Args:
        next_token: the tokens in sampling-without-replacement order from ``p`` (Gumbel keys in
            decreasing order), ``None`` when exhausted.
        logp: normalized ``log p`` (float64) over the vocabulary.
        check: the constraint ``c``.
        proper_weights: estimate ``Z`` (the module's estimator, one extra check).
        max_rejections: after this many rejections, finish from ``allowed_by_mask()`` (a bool
            array over the vocabulary: the exact allowed set).
        uniform: a source of uniform numbers in ``[0, 1)`` (for the fallback's draw).

    Returns:
        ``(token, log weight, checks made)``; ``token`` is ``None`` when nothing is allowed.
    """
    remaining = 1.0  # p-mass of the tokens not yet rejected
    log_weight = 0.0
    checks = 0
    rejections = 0
    while True:
        token = next_token()
        if token is None:
            return None, -math.inf, checks
        p = math.exp(logp[token])
        checks += 1
        if check(token):
            break
        rejections += 1
        if remaining > 0:
            log_weight += math.log1p(-min(p / remaining, 1.0)) if p < remaining else -math.inf
        remaining = max(remaining - p, 0.0)
        if max_rejections is not None and allowed_by_mask is not None and rejections >= max_rejections:
            allowed = np.flatnonzero(allowed_by_mask() & (logp > -np.inf))
            if allowed.size == 0 or remaining <= 0:
                return None, -math.inf, checks
            masses = np.exp(logp[allowed])
            token = int(allowed[_pick(masses, uniform())])
            if not proper_weights:
                return token, 0.0, checks
            return token, log_weight + math.log(min(float(masses.sum()) / remaining, 1.0)), checks
    if not proper_weights:
        return token, 0.0, checks
    q_accepted = min(p / remaining, 1.0) if remaining > 0 else 1.0
    following = next_token()
    if following is not None and logp[following] > -math.inf:
        checks += 1
        if not check(following):
            log_weight += math.log(q_accepted)
    return token, log_weight, checks


class DescendingOrder:
    """Indices in decreasing key order, sorted lazily in growing chunks (most steps need one
    or two tokens of a 100k-token vocabulary)."""

    def __init__(self, items: np.ndarray, keys: np.ndarray) -> None:
        self.items, self.keys = items, keys
        self.done = 0  # items[order[:done]] were returned
        self.sorted: np.ndarray = np.zeros(0, dtype=np.int64)
        self.chunk = 16
        self.rest = np.arange(items.size)

    def next(self) -> Optional[int]:
        if self.done == self.sorted.size:
            if self.rest.size == 0:
                return None
            k = min(self.chunk, self.rest.size)
            self.chunk *= 8
            if k < self.rest.size:
                part = np.argpartition(-self.keys[self.rest], k - 1)
                top, self.rest = self.rest[part[:k]], self.rest[part[k:]]
            else:
                top, self.rest = self.rest, self.rest[:0]
            self.sorted = top[np.argsort(-self.keys[top], kind="stable")]
            self.done = 0
        index = self.sorted[self.done]
        self.done += 1
        return int(self.items[index])
