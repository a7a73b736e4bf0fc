"""The decoding driver: the one step loop every sampler runs in.

Per step, for the running draws (one row each in the model's batch):

1. the model's forward pass for the previous step's tokens runs in the calling thread while a
   worker thread advances each draw's matcher by that token and fills its next-token bitmask
   row (the engine's kernels release the GIL, and both need only the sampled tokens);
2. the sampler chooses each draw's token from the logits (and masks, when it uses them);
3. draws that drew EOS, died or reached the length limit finish and leave the batch (and the
   KV cache); a population sampler may resample, and the batch's rows follow its choice.

The driver knows nothing of the sampler's algorithm, and the sampler nothing of the model.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from ..automata.compiled import CompiledGrammar
from ..automata.matcher import Matcher
from ..errors import ConfigurationError
from ..masks.apply import apply_token_bitmask_inplace
from ..masks.bitmask import allocate_token_bitmask
from ..models.base import LanguageModel
from .base import Draw, TokenSampler

__all__ = ("DecodeRun", "decode", "masked_logprobs")


@dataclass
class DecodeRun:
    """What :func:`decode` returns: the draws (in prompt order, or the sampler's final population)
    and the time the first token was chosen (``time.perf_counter``)."""

    draws: List[Draw]
    first_token_at: float


def masked_logprobs(logprobs: torch.Tensor, bitmask: np.ndarray) -> torch.Tensor:
    """A copy of ``logprobs`` with the tokens the bitmask rows do not allow set to ``-inf``."""
    masked = logprobs.clone()
    apply_token_bitmask_inplace(masked, torch.from_numpy(bitmask[: masked.shape[0]]))
    return masked


def decode(
    model: LanguageModel,
    compiled: CompiledGrammar,
    prompts: Sequence[Sequence[int]],
    sampler: TokenSampler,
    *,
    max_new_tokens: int,
    draws: Optional[List[Draw]] = None,
    on_step: Optional[Callable[[List[Draw]], None]] = None,
) -> DecodeRun:
    """Draw one sequence per prompt with ``sampler``.

    Args:
        model: the language model.
        compiled: the grammar, compiled for the model's vocabulary.
        prompts: token ids of each row's prompt.
        sampler: chooses the tokens (LCD, ASAp, AWRS, SMC's proposal...).
        max_new_tokens: at most this many tokens per draw (EOS excluded).
        draws: the draws to continue (default: a fresh draw per prompt).
        on_step: called with all draws after each step (progress, streaming). It may end a
            running draw by setting its ``finish_reason`` (e.g. ``"stop"`` at a stop string);
            the draw then leaves the batch like one that drew EOS.
    """
    vocab = compiled.vocab
    if vocab.size != model.vocab_size:
        raise ConfigurationError(
            f"the grammar was compiled for {vocab.size} token ids but the model scores {model.vocab_size}"
        )
    if draws is None:
        draws = [Draw(Matcher(compiled)) for _ in prompts]
    if len(draws) != len(prompts):
        raise ConfigurationError("decode() needs one draw per prompt")
    eos_ids = sorted(vocab.eos_token_ids)
    capacity = len(draws)
    bitmask = allocate_token_bitmask(capacity, vocab.size) if sampler.uses_masks else None

    def catch_up(running: List[Draw], at_limit: List[bool]) -> None:
        """Worker thread: advance lagging matchers by their last token, then fill masks."""
        for i, draw in enumerate(running):
            if draw.lagging:
                if not draw.matcher.accept_token(draw.token_ids[-1]):
                    raise RuntimeError(
                        f"internal error: the matcher rejected token {draw.token_ids[-1]} that the sampler chose"
                    )
                draw.lagging = False
            if bitmask is None:
                continue
            if at_limit[i]:
                bitmask[i] = 0
                if draw.matcher.is_accepting():
                    for t in eos_ids:
                        bitmask[i, t >> 5] |= np.int32(np.uint32(1 << (t & 31)).view(np.int32))
            else:
                draw.matcher.fill_next_token_bitmask(bitmask, i)

    first_token_at: Optional[float] = None
    running = [d for d in draws if d.running]
    rows = [i for i, d in enumerate(draws) if d.running]  # draws[rows[j]] is batch row j
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="constrain-mask") as pool:
        limit = [sampler.forces_eos_at_limit and len(d.token_ids) >= max_new_tokens for d in running]
        pending = pool.submit(catch_up, running, limit)
        try:
            batch = model.start([prompts[i] for i in rows]) if rows else None
        finally:
            pending.result()
        while running:
            assert batch is not None
            logprobs = torch.log_softmax(batch.logits(), dim=-1)
            choices = sampler.choose(running, logprobs, bitmask, limit)
            if first_token_at is None:
                first_token_at = time.perf_counter()
            index = torch.tensor([[c.token if c.token is not None else 0] for c in choices], device=logprobs.device)
            token_logprobs = logprobs.gather(1, index)[:, 0].tolist()
            for draw, choice, lp, at_limit in zip(running, choices, token_logprobs, limit):
                draw.log_weight += choice.log_weight
                if choice.token is None:
                    draw.finish_reason = "length" if at_limit else "dead"
                    continue
                draw.logprob += lp
                if choice.token in vocab.eos_token_ids:
                    if draw.lagging or not draw.matcher.accept_token(choice.token):
                        raise RuntimeError("internal error: EOS was chosen where the grammar is not complete")
                    draw.finish_reason = "eos"
                    continue
                draw.token_ids.append(int(choice.token))
                draw.lagging = True
                if not sampler.forces_eos_at_limit and len(draw.token_ids) >= max_new_tokens:
                    draw.finish_reason = "length"
            row_of = {id(d): j for j, d in enumerate(running)}
            parents = sampler.resample(draws)
            if parents is None:
                going = [d for d in running if d.running]
                keep = [row_of[id(d)] for d in going]
            else:
                # A copy of a running draw reads its parent's row of the batch.
                before = list(draws)
                draws[:] = [before[p].fork() for p in parents]
                pairs = [(d, before[p]) for d, p in zip(draws, parents) if d.running]
                going = [d for d, _ in pairs]
                keep = [row_of[id(parent)] for _, parent in pairs]
            if on_step is not None:
                on_step(draws)
                if any(not d.running for d in going):  # the consumer ended some draws
                    kept = [(d, k) for d, k in zip(going, keep) if d.running]
                    going, keep = [d for d, _ in kept], [k for _, k in kept]
            if not going:
                break
            if keep != list(range(batch.num_rows)):
                batch.select(keep)
            limit = [sampler.forces_eos_at_limit and len(d.token_ids) >= max_new_tokens for d in going]
            pending = pool.submit(catch_up, going, limit)
            try:
                batch.extend([d.token_ids[-1] for d in going])
            finally:
                pending.result()
            running = going
    return DecodeRun(draws, first_token_at if first_token_at is not None else time.perf_counter())
