"""Constrained decoding for masked diffusion LMs.

A masked diffusion LM (LLaDA, Dream, MDLM) fills a canvas of ``length`` mask tokens after the
prompt in any order: at each step the model scores every position, ``model(input_ids) ->
logits`` of shape ``(1, T, V)``, and some masked positions are unmasked. Constrained, each
proposed (position, token) is checked: the canvas with the token placed must still be
completable to a string of the grammar (:class:`~constrain.infill.InfillChecker`). A rejected
proposal is excluded and the next best taken.

Schedules: LLaDA's (the canvas in blocks of ``block_length``, left to right; in each block
``steps / num_blocks`` steps; at each step the most confident masked positions, by the
probability of their best token, are unmasked; the rest stay masked, "low-confidence
remasking"), or Dream's entropy ordering (``order="entropy"``: lowest entropy first).
Placing EOS at a position makes every later slot EOS.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, AbstractSet, Any, Dict, List, Literal, Optional, Sequence, Set, Union

import numpy as np
from numpy.typing import NDArray

from ..automata.compiled import CompiledGrammar
from ..automata.compiler import compile_constraint
from ..automata.matcher import Matcher
from ..errors import ConfigurationError, ResourceLimitError
from ..masks.bitmask import allocate_token_bitmask, bitmask_to_bool
from ..vocab import Vocabulary, tokenizer_vocabulary
from ..infill.check import InfillChecker, spells_every_byte

if TYPE_CHECKING:
    import torch


class DiffusionConstraint:
    """The check for a diffusion canvas, for use from any decoding loop.

    A canvas is a list of token ids with ``None`` for masked slots (the generated part only,
    not the prompt).

    Args:
        compiled: the grammar compiled for the model's vocabulary.
        bytes_per_slot: what one masked slot may hold in the check (see
            :meth:`InfillChecker.slot_canvas`); by default the longest token (the canvas may
            then admit a gap that only a string no k tokens spell could fill, and a loop can
            run out of retries). ``1``, with a vocabulary that spells every byte, is the
            opposite: every admitted canvas can be finished byte by byte (and
            :meth:`witness_token` can say how), but text longer than its slots is refused.
        max_check_seconds: overrides ``Limits.max_infill_seconds`` for each check (a check
            past it counts as a rejection).
    """

    def __init__(
        self,
        compiled: CompiledGrammar,
        *,
        bytes_per_slot: Optional[int] = None,
        max_check_seconds: Optional[float] = None,
    ) -> None:
        if not isinstance(compiled, CompiledGrammar):
            raise ConfigurationError(f"DiffusionConstraint needs a CompiledGrammar, got {type(compiled).__name__}")
        self.compiled = compiled
        self.vocab = compiled.vocab
        limits = compiled.limits
        if max_check_seconds is not None:
            limits = limits.replace(max_infill_seconds=float(max_check_seconds))
        self.checker = InfillChecker(compiled, limits=limits)
        if bytes_per_slot is not None and bytes_per_slot == 1 and not spells_every_byte(self.vocab):
            raise ConfigurationError("bytes_per_slot=1 needs a vocabulary with every byte as a token")
        if bytes_per_slot is None:
            bytes_per_slot = max(1, compiled.max_token_length)
        self.bytes_per_slot = bytes_per_slot
        self._byte_token: Dict[int, int] = {}
        for i, tb in enumerate(self.vocab.token_bytes):
            if len(tb) == 1:
                self._byte_token.setdefault(tb[0], i)
        self._bitmask = allocate_token_bitmask(1, self.vocab.size)

    def is_admissible(self, canvas: Sequence[Optional[int]]) -> bool:
        """Whether the masked slots of ``canvas`` can be filled so that its text (up to the
        first EOS) is a complete string of the grammar. A check past ``Limits`` counts as
        not admissible (the safe answer: the proposal is rejected, never a wrong text)."""
        parts = self.checker.slot_canvas(canvas, self.vocab, bytes_per_slot=self.bytes_per_slot)
        if parts is None:
            return False
        try:
            return self.checker.is_admissible(parts)
        except ResourceLimitError:
            return False

    def admits(self, canvas: Sequence[Optional[int]], position: int, token: int) -> bool:
        """Whether placing ``token`` at the masked ``position`` keeps ``canvas`` admissible
        (EOS makes every later masked slot EOS)."""
        if canvas[position] is not None:
            raise ConfigurationError(f"position {position} is not masked")
        proposed = list(canvas)
        proposed[position] = int(token)
        return self.is_admissible(proposed)

    def witness_token(self, canvas: Sequence[Optional[int]], position: int) -> Optional[int]:
        """A token for the masked ``position`` taken from a filling of the whole canvas that
        the check found (so placing it keeps the canvas admissible), or ``None`` when the
        canvas is not admissible or slots are not counted as single bytes
        (``bytes_per_slot != 1``, where a filling does not map to slots)."""
        if self.bytes_per_slot != 1 or canvas[position] is not None:
            return None
        parts = self.checker.slot_canvas(canvas, self.vocab, bytes_per_slot=1)
        if parts is None:
            return None
        try:
            fills = self.checker.complete(parts)
        except ResourceLimitError:
            return None
        if fills is None:
            return None
        # Masked runs before the first EOS are the gaps, in order; a run of k slots holds
        # k bytes of its filling, one per slot, or fewer then EOS when EOS may pad it.
        runs, start = [], None
        for i, t in enumerate(list(canvas) + [0]):
            if i < len(canvas) and t is not None and int(t) in self.vocab.eos_token_ids:
                if start is not None:
                    runs.append((start, i))
                    start = None
                break
            if t is None and i < len(canvas):
                start = i if start is None else start
            elif start is not None:
                runs.append((start, i))
                start = None
        for (a, b), fill in zip(runs, fills):
            if a <= position < b:
                k = position - a
                if k < len(fill):
                    return self._byte_token[fill[k]]
                return min(self.vocab.eos_token_ids)
        return min(self.vocab.eos_token_ids)  # past the first EOS: EOS

    def candidate_mask(self, canvas: Sequence[Optional[int]], position: int) -> np.ndarray:
        """A cheap necessary condition: ``bool[vocab.size]``, ``False`` for tokens that cannot
        be admissible at ``position``. Exact only as a prefix filter: when every slot before
        ``position`` is known, it is the grammar's next-token mask after them (plus EOS where
        the text so far is complete); otherwise it allows every text token and EOS."""
        prefix = list(canvas[:position])
        allowed = np.zeros(self.vocab.size, dtype=bool)
        if any(t is None for t in prefix):
            allowed[:] = True
            allowed[list(self.vocab.special_token_ids)] = False
            return allowed
        known = [t for t in prefix if t is not None]  # all of prefix (no None, checked above)
        matcher = Matcher(self.compiled)
        for t in known:
            if t in self.vocab.eos_token_ids:
                allowed[list(self.vocab.eos_token_ids)] = True
                return allowed
            if not matcher.accept_token(t):
                return allowed
        matcher.fill_next_token_bitmask(self._bitmask)
        candidates: NDArray[np.bool_] = bitmask_to_bool(self._bitmask, self.vocab.size)[0].copy()
        return candidates


@dataclass
class DiffusionResult:
    """The result of :func:`generate`.

    Attributes:
        text: the canvas's text up to its first EOS.
        token_ids: the canvas's tokens (EOS included, masked slots left are dropped).
        finish_reason: ``"eos"`` when the canvas was filled and its text is complete (it then
            satisfies the grammar), ``"retries"`` when ``max_retries`` rejections were spent
            first (the text is then the part decoded so far, masked slots removed).
        value: the parsed JSON for a schema constraint and ``finish_reason == "eos"``.
        rejected: proposals rejected by the check.
        steps: model calls.
        forced: tokens taken from the check's filling after ``fallback_after`` rejections.
    """

    text: str
    token_ids: List[int]
    finish_reason: str
    value: Any = None
    rejected: int = 0
    steps: int = 0
    forced: int = 0


def _compiled(vocab: Vocabulary, regex: Optional[str], schema: Any, grammar: Any) -> Optional[CompiledGrammar]:
    return compile_constraint(vocab, regex=regex, schema=schema, grammar=grammar)


def _place(canvas: List[Optional[int]], pos: int, token: int, eos_ids: AbstractSet[int], eos_id: int) -> None:
    """Put ``token`` at ``pos``; an EOS fills every open slot after it with EOS."""
    canvas[pos] = token
    if token in eos_ids:
        for q in range(pos + 1, len(canvas)):
            if canvas[q] is None:
                canvas[q] = eos_id


def _logits(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """The model's logits for every position, on the CPU (the canvas's bookkeeping is there)."""
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    if parameter is not None:
        input_ids = input_ids.to(parameter.device)
    out = model(input_ids)
    logits = getattr(out, "logits", out)
    if logits.dim() != 3 or logits.shape[1] != input_ids.shape[1]:
        raise ConfigurationError(
            f"a diffusion model must return logits of shape (1, {input_ids.shape[1]}, vocab), got {tuple(logits.shape)}"
        )
    cpu_logits: torch.Tensor = logits[0].float().cpu()
    return cpu_logits


def generate(
    prompt: Union[str, Sequence[int]],
    *,
    regex: Optional[str] = None,
    schema: Any = None,
    grammar: Any = None,
    model: Any = None,
    tokenizer: Any = None,
    vocab: Optional[Vocabulary] = None,
    mask_token_id: Optional[int] = None,
    length: int = 64,
    steps: Optional[int] = None,
    block_length: Optional[int] = None,
    order: Literal["confidence", "entropy"] = "confidence",
    temperature: float = 0.0,
    seed: Optional[int] = None,
    max_retries: int = 100,
    fallback_after: int = 4,
    max_check_seconds: float = 1.0,
) -> DiffusionResult:
    """Decode a canvas of ``length`` tokens with a masked diffusion LM, under a constraint
    (or none, to measure the model's own error rate).

    Args:
        prompt: text (encoded with ``tokenizer``) or token ids.
        regex, schema, grammar: the constraint on the canvas's text (at most one).
        model: ``model(input_ids) -> logits`` (or an object with ``.logits``) of shape
            ``(1, T, V)`` for every position; ``None``: the shipped tiny byte-level model
            (:mod:`constrain.diffusion.tiny`; its prompts are the tags ``"json:"`` and
            ``"expr:"``, a text prompt is read as bytes).
        tokenizer: the model's ``transformers`` tokenizer, or ``vocab=`` a
            :class:`~constrain.Vocabulary`.
        mask_token_id: the model's mask token (default: ``model.mask_token_id`` or
            ``model.config.mask_token_id``).
        length: slots in the canvas.
        steps: model calls in all (default ``length``: one token per step).
        block_length: LLaDA's semi-autoregressive blocks (default: one block).
        order: ``"confidence"`` (LLaDA's low-confidence remasking) or ``"entropy"`` (Dream).
        temperature: ``0``: each position proposes its best token; else Gumbel noise at
            this temperature.
        seed: seeds the noise.
        max_retries: rejected proposals allowed over the whole generation.
        fallback_after: after this many rejections at one position, the position takes its
            token from a filling of the canvas the check found (when slots count as single
            bytes, see :class:`DiffusionConstraint`); such tokens are counted in ``forced``.
        max_check_seconds: the time one check may take; past it the proposal is rejected.
    """
    import torch

    if model is None:
        if tokenizer is not None or vocab is not None:
            raise ConfigurationError("tokenizer=/vocab= were given without model=")
        from .tiny import CANVAS, load_tiny_model, tiny_vocabulary

        model, vocab = load_tiny_model(), tiny_vocabulary()
        if length > CANVAS:
            raise ConfigurationError(
                f"the tiny diffusion model was trained on canvases of {CANVAS} slots; length={length}"
            )
        if isinstance(prompt, str):
            prompt = list(prompt.encode("utf-8"))
    if vocab is None:
        if tokenizer is None:
            raise ConfigurationError("give tokenizer= or vocab=")
        vocab = tokenizer_vocabulary(tokenizer)
    if mask_token_id is None:
        mask_token_id = getattr(model, "mask_token_id", None)
        if mask_token_id is None:
            mask_token_id = getattr(getattr(model, "config", None), "mask_token_id", None)
    if mask_token_id is None:
        raise ConfigurationError("the model has no mask_token_id; pass mask_token_id=")
    if length < 1 or max_retries < 0 or temperature < 0:
        raise ConfigurationError("length must be >= 1, max_retries >= 0 and temperature >= 0")
    if order not in ("confidence", "entropy"):
        raise ConfigurationError(f"order must be 'confidence' or 'entropy', got {order!r}")
    steps = length if steps is None else int(steps)
    block_length = length if block_length is None else int(block_length)
    if steps < 1 or block_length < 1:
        raise ConfigurationError("steps and block_length must be >= 1")
    num_blocks = math.ceil(length / block_length)
    steps_per_block = max(1, steps // num_blocks)

    compiled = _compiled(vocab, regex, schema, grammar)
    constraint = DiffusionConstraint(compiled, max_check_seconds=max_check_seconds) if compiled is not None else None
    if isinstance(prompt, str):
        if tokenizer is None:
            raise ConfigurationError("a text prompt needs tokenizer=; or pass token ids")
        prompt_ids = list(tokenizer.encode(prompt, add_special_tokens=False))
    else:
        prompt_ids = [int(t) for t in prompt]
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(int(seed))
    else:
        generator.seed()

    eos_ids = sorted(vocab.eos_token_ids)
    eos_id = eos_ids[0]
    banned = torch.zeros(vocab.size, dtype=torch.bool)
    banned[list(vocab.special_token_ids)] = True
    canvas: List[Optional[int]] = [None] * length
    excluded: Dict[int, Set[int]] = {}  # position -> token ids rejected there
    rejected = 0
    forced = 0
    calls = 0
    failed = False
    with torch.inference_mode():
        for block in range(num_blocks):
            lo, hi = block * block_length, min(length, (block + 1) * block_length)
            for step in range(steps_per_block):
                masked = [p for p in range(lo, hi) if canvas[p] is None]
                if not masked:
                    break
                # LLaDA: spread the block's tokens evenly over its steps
                quota = math.ceil(len(masked) / (steps_per_block - step))
                ids = torch.tensor([prompt_ids + [mask_token_id if t is None else t for t in canvas]])
                logits = _logits(model, ids)[len(prompt_ids) :, : vocab.size].clone()
                calls += 1
                logits[:, banned] = float("-inf")
                if mask_token_id < vocab.size:
                    logits[:, mask_token_id] = float("-inf")
                for pos, tokens in excluded.items():
                    logits[pos, list(tokens)] = float("-inf")
                if temperature:
                    noise = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator).clamp_min(1e-20)))
                    scores = logits / temperature + noise
                else:
                    scores = logits
                placed = 0
                while placed < quota:
                    masked = [p for p in range(lo, hi) if canvas[p] is None]
                    if not masked:
                        break
                    sub = scores[masked]
                    probs = torch.softmax(logits[masked], dim=-1)
                    best = sub.argmax(dim=-1)
                    if order == "confidence":
                        key = probs.gather(1, best[:, None])[:, 0]
                    else:
                        key = (probs * torch.log(probs.clamp_min(1e-30))).sum(-1)  # -entropy
                    key = torch.where(torch.isfinite(sub.max(dim=-1).values), key, torch.full_like(key, -1.0e9))
                    j = int(key.argmax())
                    pos, token = masked[j], int(best[j])
                    if not torch.isfinite(sub[j, token]):
                        failed = True  # every token of every masked slot was excluded
                        break
                    if constraint is None or constraint.admits(canvas, pos, token):
                        _place(canvas, pos, token, vocab.eos_token_ids, eos_id)
                        placed += 1
                        continue
                    # Excluded for good: placing tokens only removes completions, so a
                    # proposal rejected now stays inadmissible.
                    rejected += 1
                    excluded.setdefault(pos, set()).add(token)
                    scores[pos, token] = float("-inf")
                    logits[pos, token] = float("-inf")
                    if rejected > max_retries:
                        failed = True
                        break
                    if len(excluded[pos]) >= fallback_after:
                        # the model's best few are all wrong here: take the check's own filling
                        witness = constraint.witness_token(canvas, pos)
                        if witness is not None:
                            _place(canvas, pos, witness, vocab.eos_token_ids, eos_id)
                            placed += 1
                            forced += 1
                if failed:
                    break
            if failed or any(canvas[p] is None for p in range(lo, hi)):
                failed = True  # a block is finished before the next one starts
                break
    filled = [t for t in canvas if t is not None]
    cut = next((i for i, t in enumerate(filled) if t in vocab.eos_token_ids), len(filled))
    data = vocab.decode(filled[:cut])
    text = data.decode("utf-8", errors="replace")
    if failed or any(t is None for t in canvas):
        return DiffusionResult(text, filled, "retries", None, rejected, calls, forced)
    complete = True
    if compiled is not None:
        checker = Matcher(compiled)
        complete = checker.accept_bytes(data) and checker.is_accepting()
        if not complete:
            raise RuntimeError("internal error: a canvas the check kept admissible ended incomplete")
    value = json.loads(text) if schema is not None else None
    return DiffusionResult(text, filled, "eos", value, rejected, calls, forced)
