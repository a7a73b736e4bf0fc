"""Templates with gaps for autoregressive models (multi-region infilling).

A template is fixed text with gaps, such as ``{"name": "<gap>", "age": <gap>}``; a grammar
constrains the whole filled template. Each gap is generated left to right by the model. At
every step the candidates are the tokens the grammar's mask allows plus *closing the gap*
(scored by the model's best token that starts writing the text after the gap, or EOS after
the last gap); they are tried best first (greedy) or in Gumbel order (sampling: the first
admissible candidate in Gumbel order is a sample of the model's distribution restricted to the
admissible candidates, when one is among the first ``max_retries``), and a candidate is taken
only if the rest of the template can still be completed
(:class:`~constrain.infill.check.InfillChecker`).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Literal, Optional, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from ..automata.compiled import CompiledGrammar
from ..automata.compiler import compile_constraint
from ..automata.matcher import Matcher
from ..errors import ConfigurationError, ResourceLimitError
from ..masks.bitmask import allocate_token_bitmask, bitmask_to_bool
from ..vocab import Vocabulary, tokenizer_vocabulary
from .check import Gap, InfillChecker, Part, spells_every_byte

if TYPE_CHECKING:
    import torch

GAP_MARKER = "<gap>"

#: What a step of a gap takes: a token, ``None`` (close the gap) or ``"stuck"``.
_Choice = Union[int, None, Literal["stuck"]]


@dataclass(frozen=True)
class TemplateGap:
    """A gap of a template; ``max_tokens`` bounds the tokens the model may write in it
    (``None``: the ``max_gap_tokens`` of the call)."""

    max_tokens: Optional[int] = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens < 0):
            raise ConfigurationError(f"TemplateGap.max_tokens must be None or an int >= 0, got {self.max_tokens!r}")


@dataclass
class TemplateResult:
    """The filled template.

    Attributes:
        text: the whole template with its gaps filled.
        fills: the text of each gap, in order.
        finish_reason: ``"eos"`` when the template was filled and the text is complete (it then
            satisfies the grammar), ``"stuck"`` when at some step neither the ``max_retries``
            best candidates nor the tokens that begin the check's own filling were admissible
            (or the check ran past its limits; the text is then cut at that point).
        value: the parsed JSON for a schema constraint and ``finish_reason == "eos"``.
        rejected: candidates the check rejected, over the whole generation.
    """

    text: str
    fills: List[str]
    finish_reason: str
    value: Any = None
    rejected: int = 0
    token_ids: List[List[int]] = field(default_factory=list)


def parse_template(template: Union[str, Sequence[Union[str, TemplateGap]]]) -> List[Union[str, TemplateGap]]:
    """The parts of a template: a string in which each ``<gap>`` marks a gap, or a list of
    strings and :class:`TemplateGap` objects."""
    if isinstance(template, str):
        pieces = template.split(GAP_MARKER)
        parts: List[Union[str, TemplateGap]] = []
        for i, piece in enumerate(pieces):
            if i:
                parts.append(TemplateGap())
            if piece:
                parts.append(piece)
        return parts
    parts = []
    for index, part in enumerate(template):
        if isinstance(part, TemplateGap):
            parts.append(part)
        elif isinstance(part, str):
            if part:
                parts.append(part)
        else:
            raise ConfigurationError(f"template part {index} must be a str or TemplateGap, got {type(part).__name__}")
    if not any(isinstance(p, TemplateGap) for p in parts):
        raise ConfigurationError("the template has no gap")
    return parts


def _constraint(vocab: Vocabulary, regex: Optional[str], schema: Any, grammar: Any) -> CompiledGrammar:
    compiled = compile_constraint(vocab, regex=regex, schema=schema, grammar=grammar)
    if compiled is None:
        raise ConfigurationError("give exactly one of regex=, schema= or grammar=")
    return compiled


def _follow_witness(
    checker: InfillChecker,
    here: Matcher,
    room: int,
    longest: int,
    after: List[Part],
    scores: "torch.Tensor",
    allowed: NDArray[np.bool_],
    vocab: Vocabulary,
    starter_tokens: Callable[[bytes], NDArray[np.int64]],
    max_seconds: float,
) -> _Choice:
    """When no candidate the model ranks high is admissible: the check's own filling of the
    gap shows the way. ``None`` (close the gap) if it is empty, else the
    best-scored allowed token that begins it and keeps the canvas admissible; ``"stuck"`` if
    there is none (or the check ran past its limits)."""
    try:
        found = checker.complete([Gap(0, room * longest)] + after, start=here, max_seconds=max_seconds)
    except ResourceLimitError:
        return "stuck"
    if found is None:
        return "stuck"
    if not found[0]:
        return None
    starters: List[int]
    if room == 1:
        # The last slot: every allowed token, best first (the check is a plain parse then).
        starters = np.flatnonzero(allowed).tolist()
    else:
        starters = [int(t) for t in starter_tokens(found[0]) if allowed[t]]
    for token in sorted(starters, key=lambda t: -float(scores[t])):
        head: List[Part] = [vocab.token_bytes[token], Gap(0, (room - 1) * longest)]
        try:
            if checker.is_admissible(head + after, start=here, max_seconds=max_seconds):
                return token
        except ResourceLimitError:
            continue
    return "stuck"


def _logits_width(model: Any) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    return int(weight.shape[0]) if weight is not None else int(model.config.vocab_size)


def generate_template(
    prompt: str,
    template: Union[str, Sequence[Union[str, TemplateGap]]],
    *,
    model: Any,
    tokenizer: Any,
    regex: Optional[str] = None,
    schema: Any = None,
    grammar: Any = None,
    max_gap_tokens: int = 32,
    temperature: float = 0.0,
    seed: Optional[int] = None,
    max_retries: int = 64,
    chat_template: Optional[bool] = None,
    max_check_seconds: float = 1.0,
) -> TemplateResult:
    """Fill the gaps of ``template`` with ``model`` so that the whole text satisfies the
    constraint.

    Args:
        prompt: the instruction the model sees before the template.
        template: a string with ``<gap>`` markers, or a list of strings and
            :class:`TemplateGap` objects.
        model, tokenizer: a ``transformers`` causal LM and its tokenizer.
        regex, schema, grammar: the constraint on the filled template (exactly one; ``grammar``
            a :class:`~constrain.Grammar` or a ``CompiledGrammar`` for this tokenizer).
        max_gap_tokens: the token budget of a gap without its own ``max_tokens``.
        temperature: ``0``: greedy; else sampling at this temperature.
        seed: seeds the sampler.
        max_retries: candidates tried at one step before giving up (``finish_reason="stuck"``).
        chat_template: wrap the prompt in the tokenizer's chat template (``None``: when it has
            one).
        max_check_seconds: the time one check may take (``Limits.max_infill_seconds``); past
            it the candidate is rejected. The first check, of the whole template, has the
            compiled grammar's own limit.

    Raises:
        ConfigurationError: bad arguments, or a template that no filling within the gaps'
            budgets can complete.
    """
    import torch

    parts = parse_template(template)
    if max_gap_tokens < 1 or max_retries < 1 or temperature < 0:
        raise ConfigurationError("max_gap_tokens and max_retries must be >= 1 and temperature >= 0")
    vocab = tokenizer_vocabulary(tokenizer, _logits_width(model))
    compiled = _constraint(vocab, regex, schema, grammar)
    checker = InfillChecker(compiled)
    # What one token slot may hold in the check: with every byte a token, one byte (a canvas
    # the check admits can then always be finished byte by byte, so the loop never gets
    # stuck); otherwise the longest token (an over-approximation that can).
    longest = 1 if spells_every_byte(vocab) else checker.max_token_bytes
    budgets = [
        p.max_tokens if p.max_tokens is not None else max_gap_tokens for p in parts if isinstance(p, TemplateGap)
    ]

    def canvas(from_part: int, first_gap_room: Optional[int] = None) -> List[Part]:
        """The canvas of the template from part ``from_part`` on; the gap there, if any, has
        ``first_gap_room`` tokens left."""
        out: List[Part] = []
        g = sum(isinstance(p, TemplateGap) for p in parts[:from_part])
        for k, p in enumerate(parts[from_part:]):
            if isinstance(p, TemplateGap):
                room = first_gap_room if k == 0 and first_gap_room is not None else budgets[g]
                out.append(Gap(0, room * longest))
                g += 1
            else:
                out.append(p.encode("utf-8"))
        return out

    def admissible(parts_: List[Part], start: Matcher) -> bool:
        try:
            return checker.is_admissible(parts_, start=start, max_seconds=max_check_seconds)
        except ResourceLimitError:
            return False  # past the limits: rejected (safe: the text stays valid)

    here = checker.start()
    if not checker.is_admissible(canvas(0), start=here):
        raise ConfigurationError(
            "no filling of the template's gaps (within their token budgets) satisfies the constraint"
        )

    if chat_template is None:
        chat_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template:
        context = list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
    else:
        context = list(tokenizer.encode(prompt, add_special_tokens=False)) if prompt else []
    if not context:
        context = [min(vocab.eos_token_ids)]
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(int(seed))
    else:
        generator.seed()

    matcher = Matcher(compiled)  # the grammar's own mask over the model's vocabulary
    bitmask = allocate_token_bitmask(1, vocab.size)
    eos_ids = sorted(vocab.eos_token_ids)
    starts_cache: Dict[bytes, NDArray[np.int64]] = {}

    def starter_tokens(text: bytes) -> np.ndarray:
        """Token ids whose bytes are a non-empty prefix of ``text``: the model writing them
        starts the text after a gap."""
        ids = starts_cache.get(text)
        if ids is None:
            ids = np.asarray(
                [i for i, tb in enumerate(vocab.token_bytes) if tb and text.startswith(tb)], dtype=np.int64
            )
            starts_cache[text] = ids
        return ids

    past, fed = None, 0  # the model's KV cache, and how many context tokens it holds
    # transformers 5 names the cache argument `cache`; older models `past_key_values`
    cache_keyword = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out_text: List[bytes] = []
    fills: List[str] = []
    token_ids: List[List[int]] = []
    rejected = 0
    gap_index = 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i, part in enumerate(parts):
            if not isinstance(part, TemplateGap):
                data = part.encode("utf-8")
                if not (here.accept_bytes(data) and matcher.accept_bytes(data)):
                    raise RuntimeError("internal error: a template segment the check admitted was rejected")
                out_text.append(data)
                context.extend(tokenizer.encode(part, add_special_tokens=False))
                continue
            budget = budgets[gap_index]
            after = canvas(i + 1)
            following = after[0] if after and isinstance(after[0], bytes) else None
            written: List[int] = []
            while True:
                room = budget - len(written)
                # Only the tokens added since the last step are run; the rest is in the cache.
                out = model(
                    input_ids=torch.tensor([context[fed:]], device=device), use_cache=True, **{cache_keyword: past}
                )
                past = getattr(out, "cache", None)
                past = past if past is not None else getattr(out, "past_key_values", None)
                fed = len(context)
                logits = out.logits[0, -1].float().cpu()
                logits = logits[: vocab.size]
                if temperature:
                    gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator).clamp_min(1e-20)))
                    scores = logits / temperature + gumbel
                else:
                    scores = logits.clone()
                matcher.fill_next_token_bitmask(bitmask)
                allowed = bitmask_to_bool(bitmask, vocab.size)[0]
                allowed[eos_ids] = False
                if room == 0:
                    allowed[:] = False
                # closing the gap: the model's best token that starts the following text
                if following is not None:
                    starters = starter_tokens(following)
                    close_score = float(scores[starters].max()) if starters.size else float("-inf")
                else:
                    close_score = float(scores[eos_ids].max())
                masked = scores.masked_fill(~torch.from_numpy(allowed), float("-inf"))
                order = torch.argsort(masked, descending=True)[:max_retries].tolist()
                candidates = [(float(masked[t]), t) for t in order if masked[t] != float("-inf")]
                candidates.append((close_score, None))
                candidates.sort(key=lambda c: -c[0])
                chosen: _Choice = "stuck"
                for score, token in candidates[:max_retries]:
                    if token is None:
                        if admissible(after, here):
                            chosen = None
                            break
                    else:
                        tb = vocab.token_bytes[token]
                        if admissible([tb, Gap(0, (room - 1) * longest)] + after, here):
                            chosen = token
                            break
                    rejected += 1
                if chosen == "stuck":
                    chosen = _follow_witness(
                        checker, here, room, longest, after, scores, allowed, vocab, starter_tokens, max_check_seconds
                    )
                if isinstance(chosen, str):  # "stuck"
                    fills.append(vocab.decode(written).decode("utf-8", errors="replace"))
                    token_ids.append(written)
                    text = b"".join(out_text).decode("utf-8", errors="replace")
                    return TemplateResult(text, fills, "stuck", None, rejected, token_ids)
                if chosen is None:
                    break
                if not (here.accept_bytes(vocab.token_bytes[chosen]) and matcher.accept_token(chosen)):
                    raise RuntimeError("internal error: a token the check admitted was rejected")
                written.append(chosen)
                out_text.append(vocab.token_bytes[chosen])
                context.append(chosen)
            fills.append(vocab.decode(written).decode("utf-8", errors="replace"))
            token_ids.append(written)
            gap_index += 1
    if not matcher.is_accepting():
        raise RuntimeError("internal error: the filled template is not complete")
    text = b"".join(out_text).decode("utf-8")
    value = json.loads(text) if schema is not None else None
    return TemplateResult(text, fills, "eos", value, rejected, token_ids)
