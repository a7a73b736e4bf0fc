"""``TransformersLM``: any ``transformers`` causal LM behind :class:`LanguageModel`.

Prompts are left-padded into one batch with explicit position ids, so every row's next token
sits in the last column; the forward pass keeps only the last position's logits
(``logits_to_keep=1``) when the model supports it. Rows are dropped, reordered and repeated by
indexing the batch dimension of the KV cache (``Cache.reorder_cache``); for caches that cannot,
rows are dropped by feeding padding to the rows nobody reads any more.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..errors import ConfigurationError
from .base import LanguageModel, ModelBatch


def model_device(model: Any) -> torch.device:
    """The device of a torch module's parameters (or its ``device`` attribute)."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    parameter: torch.Tensor = next(model.parameters())
    return parameter.device


def logits_width(model: Any) -> int:
    """The width of a causal LM's logits: its output embedding rows (padding ids included)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    return int(model.config.vocab_size)


def _output_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


class TransformersLM(LanguageModel):
    """A ``transformers`` causal LM.

    Args:
        model: the model (``AutoModelForCausalLM``), in eval mode, on any device.
        pad_token_id: the id fed in padding positions (never attended to); by default the
            model's ``pad_token_id``, else 0.
    """

    def __init__(self, model: Any, *, pad_token_id: Optional[int] = None) -> None:
        if not callable(getattr(model, "forward", None)):
            raise ConfigurationError(f"model must be a transformers causal LM, got {type(model).__name__}")
        self.model = model
        self.vocab_size = logits_width(model)
        self.device = model_device(model)
        if pad_token_id is None:
            pad_token_id = getattr(getattr(model, "config", None), "pad_token_id", None)
            if isinstance(pad_token_id, (list, tuple)):
                pad_token_id = pad_token_id[0] if pad_token_id else None
        self.pad_token_id = int(pad_token_id) if pad_token_id is not None else 0
        params = inspect.signature(model.forward).parameters
        self._cache_keyword = "cache" if "cache" in params else "past_key_values"
        self._keeps_logits = "logits_to_keep" in params
        self._identity: Any = None

    @property
    def identity(self) -> Any:
        """The model's class, name, logits width and a digest of a sample of its output
        embedding weights: the same in every process that loads the same weights."""
        if self._identity is None:
            import hashlib

            head = self.model.get_output_embeddings() if hasattr(self.model, "get_output_embeddings") else None
            weight = getattr(head, "weight", None)
            digest = ""
            if weight is not None:
                with torch.no_grad():
                    sample = weight.detach().flatten()[::997].float().cpu().numpy()
                digest = hashlib.sha256(sample.tobytes()).hexdigest()
            self._identity = (
                type(self.model).__name__,
                getattr(self.model.config, "_name_or_path", ""),
                self.vocab_size,
                digest,
            )
        return self._identity

    def forward(
        self, input_ids: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor, cache: Any, keep: int
    ) -> Any:
        kwargs: Dict[str, Any] = {"logits_to_keep": keep} if self._keeps_logits else {}
        if cache is not None:
            kwargs[self._cache_keyword] = cache
        with torch.inference_mode():
            return self.model(
                input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True, **kwargs
            )

    def start(self, prompts: Sequence[Sequence[int]]) -> "TransformersBatch":
        if not prompts or any(len(p) == 0 for p in prompts):
            raise ConfigurationError("every prompt needs at least one token")
        # Rows with the same prompt (ASAp's samples, SMC's particles) share one prefill: the
        # distinct prompts run once and their cache rows are repeated.
        distinct: Dict[Tuple[int, ...], int] = {}
        rows = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
        if len(distinct) < len(prompts):
            batch = self._prefill([list(p) for p in distinct])
            if batch._reorders:
                batch.select(rows)
                return batch
        return self._prefill(prompts)

    def _prefill(self, prompts: Sequence[Sequence[int]]) -> "TransformersBatch":
        rows, longest = len(prompts), max(len(p) for p in prompts)
        input_ids = torch.full((rows, longest), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((rows, longest), dtype=torch.long)
        for r, ids in enumerate(prompts):  # left padding: every row's next token is in the last column
            input_ids[r, longest - len(ids) :] = torch.as_tensor(list(ids), dtype=torch.long)
            attention[r, longest - len(ids) :] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        input_ids, attention, positions = (t.to(self.device) for t in (input_ids, attention, positions))
        out = self.forward(input_ids, attention, positions, None, 1)
        return TransformersBatch(self, out.logits[:, -1, :], _output_cache(out), attention, positions[:, -1:])


class TransformersBatch(ModelBatch):
    """Rows inside a transformers model's KV cache.

    ``_rows[j]`` is the position in the model's batch of logical row ``j``. It is the identity
    unless the cache cannot reorder its rows; then dropped rows stay in the model's batch (fed
    padding) until the batch ends.
    """

    def __init__(
        self,
        lm: TransformersLM,
        logits: torch.Tensor,
        cache: Any,
        attention: torch.Tensor,
        last_positions: torch.Tensor,
    ) -> None:
        self.lm = lm
        self._logits = logits
        self._cache = cache
        self._attention = attention
        self._last_positions = last_positions
        self._rows: List[int] = list(range(logits.shape[0]))
        self._reorders = hasattr(cache, "reorder_cache")

    @property
    def num_rows(self) -> int:
        return len(self._rows)

    def logits(self) -> torch.Tensor:
        logits = self._logits
        if self._rows != list(range(logits.shape[0])):
            logits = logits.index_select(0, torch.tensor(self._rows, device=logits.device))
        return logits.float()

    def select(self, rows: Sequence[int]) -> None:
        rows = [int(r) for r in rows]
        if any(not 0 <= r < len(self._rows) for r in rows):
            raise IndexError(f"select(): rows must be in 0..{len(self._rows) - 1}")
        physical = [self._rows[r] for r in rows]
        if self._reorders:
            index = torch.tensor(physical, dtype=torch.long, device=self.lm.device)
            self._cache.reorder_cache(index)
            self._attention = self._attention.index_select(0, index)
            self._last_positions = self._last_positions.index_select(0, index)
            self._logits = self._logits.index_select(0, index)
            self._rows = list(range(len(physical)))
        elif len(set(physical)) != len(physical):
            raise ConfigurationError(
                f"this model's cache ({type(self._cache).__name__}) cannot repeat rows; "
                "samplers that resample (SMC) need a cache with reorder_cache"
            )
        else:
            self._rows = physical

    def clone(self) -> "TransformersBatch":
        """An independent copy (the KV cache is copied)."""
        import copy

        twin = TransformersBatch(
            self.lm,
            self._logits.clone(),
            copy.deepcopy(self._cache),
            self._attention.clone(),
            self._last_positions.clone(),
        )
        twin._rows = list(self._rows)
        return twin

    def extend(self, tokens: Sequence[int]) -> None:
        if len(tokens) != len(self._rows):
            raise ValueError(f"extend() needs one token per row ({len(self._rows)}), got {len(tokens)}")
        width = self._attention.shape[0]
        fed = [self.lm.pad_token_id] * width
        for r, token in zip(self._rows, tokens):
            fed[r] = int(token)
        input_ids = torch.tensor(fed, dtype=torch.long, device=self.lm.device)[:, None]
        self._attention = torch.cat([self._attention, self._attention.new_ones((width, 1))], dim=-1)
        self._last_positions = self._last_positions + 1
        out = self.lm.forward(input_ids, self._attention, self._last_positions, self._cache, 1)
        self._cache = _output_cache(out)
        self._logits = out.logits[:, -1, :]

    def score(self, drafts: Sequence[Sequence[int]]) -> torch.Tensor:
        """One forward pass over the drafts, then the cache is cropped back (no clone)."""
        if len(drafts) != len(self._rows):
            raise ValueError("score() needs one draft per row")
        k = len(drafts[0]) if drafts else 0
        if any(len(d) != k for d in drafts):
            raise ValueError("score() needs drafts of one length")
        if k == 0:
            return torch.empty((len(self._rows), 0))
        first = torch.log_softmax(self.logits(), dim=-1)
        out = torch.empty((len(self._rows), k), dtype=torch.float32, device=first.device)
        out[:, 0] = first.gather(1, torch.tensor([[d[0]] for d in drafts], device=first.device))[:, 0]
        if k == 1:
            return out.cpu()
        if not hasattr(self._cache, "crop"):
            return super().score(drafts)
        width = self._attention.shape[0]
        fed = torch.full((width, k - 1), self.lm.pad_token_id, dtype=torch.long)
        for r, d in zip(self._rows, drafts):
            fed[r] = torch.tensor(list(d[:-1]), dtype=torch.long)
        length = self._attention.shape[1]
        attention = torch.cat([self._attention, self._attention.new_ones((width, k - 1))], dim=-1)
        positions = self._last_positions + torch.arange(1, k, device=self.lm.device)[None, :]
        result = self.lm.forward(fed.to(self.lm.device), attention, positions, self._cache, k - 1)
        self._cache = _output_cache(result)
        self._cache.crop(length)
        logp = torch.log_softmax(result.logits.float(), dim=-1)
        rows = torch.tensor(self._rows, device=logp.device)
        logp = logp.index_select(0, rows)
        later = torch.tensor([list(d[1:]) for d in drafts], device=logp.device)
        out[:, 1:] = logp.gather(2, later[:, :, None])[:, :, 0]
        return out.cpu()
