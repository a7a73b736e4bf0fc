"""Locally constrained decoding on the torch model loop.

``generate`` runs a causal language model with a KV cache and, at every step, lets only the
tokens the grammar allows be sampled. Per step, for each sequence still running:

1. the :class:`~constrain.Matcher` writes its row of a packed ``int32`` bitmask on the CPU,
2. the bitmask moves to the model's device and disallowed logits become ``-inf``,
3. temperature, then top-k, then top-p are applied to the *masked* logits (so top-k and top-p
   choose among allowed tokens only, and never leave a row empty), and a token is sampled
   (``temperature=0``: argmax),
4. the matcher accepts the token; EOS ends the row (it is allowed only where the text so far
   is complete), and so does ``max_new_tokens``.

Step 4 and the next step's step 1 run in a worker thread while the model's forward pass for
the same token runs in the calling thread: both need only the sampled token, and the engine's
Numba kernels release the GIL.

When a row's mask allows nothing but EOS, the row ends there without another forward pass:
the model could only have picked EOS. Rows that have ended leave the batch and the KV cache.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch

from .errors import ConfigurationError, VocabularyError
from .masks.apply import apply_token_bitmask_inplace

Prompt = Union[str, Sequence[str]]


@dataclass
class GenerationResult:
    """One generated sequence.

    Attributes:
        text: the generated text (the EOS token is not part of it).
        token_ids: the generated token ids, without the final EOS.
        finish_reason: ``"eos"`` (the grammar's text is complete and the sequence ended) or
            ``"length"`` (cut by ``max_new_tokens``; the text is then a prefix of a valid
            output, not necessarily a complete one).
        value: for ``schema=``, the parsed JSON value of a finished output; else ``None``.
        num_prompt_tokens: tokens in the (chat-templated) prompt.
        compile_s: seconds spent compiling the constraint (about 0 when it came from the cache).
        time_to_first_token_s: seconds from the start of ``generate`` to the first sampled
            token: compiling, prompt encoding and prefill included (model loading excluded).
        time_s: seconds for the whole call (the whole batch; model loading excluded).
    """

    text: str
    token_ids: List[int]
    finish_reason: str
    value: Any = None
    num_prompt_tokens: int = 0
    compile_s: float = 0.0
    time_to_first_token_s: float = 0.0
    time_s: float = 0.0

    @property
    def finished(self) -> bool:
        """Whether the output ended by EOS, i.e. is a complete string of the grammar."""
        return self.finish_reason == "eos"


# --- resolving the constraint ------------------------------------------------------------


_COMPILE_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_COMPILE_CACHE_SIZE = 32
_cache_lock = threading.Lock()


def _cached_compile(key: tuple, make_grammar, vocab, grammar_object=None) -> Any:
    from .automata.compiled import compile as compile_grammar

    key = key + (id(vocab),)
    with _cache_lock:
        hit = _COMPILE_CACHE.get(key)
        if hit is not None and hit.vocab is vocab and (grammar_object is None or hit.grammar is grammar_object):
            _COMPILE_CACHE.move_to_end(key)
            return hit
    compiled = compile_grammar(make_grammar(), vocab)
    with _cache_lock:
        _COMPILE_CACHE[key] = compiled
        while len(_COMPILE_CACHE) > _COMPILE_CACHE_SIZE:
            _COMPILE_CACHE.popitem(last=False)
    return compiled


def resolve_constraint(vocab, *, regex=None, schema=None, grammar=None) -> Any:
    """Compile exactly one of ``regex``, ``schema`` or ``grammar`` against ``vocab``.

    Args:
        vocab: the :class:`~constrain.Vocabulary` of the model.
        regex: a regular expression the whole output must match.
        schema: a JSON Schema (dict, JSON text, pydantic model class, or a ``pathlib.Path`` to a
            JSON file).
        grammar: a :class:`~constrain.Grammar`, a :class:`~constrain.CompiledGrammar` (for the
            same vocabulary), or a ``.lark``/``.gbnf`` file path or the name of a grammar in
            ``grammars/``.

    Returns:
        The :class:`~constrain.CompiledGrammar`.

    Raises:
        ConfigurationError: if not exactly one constraint is given, or it has the wrong type.
    """
    from .automata.compiled import CompiledGrammar
    from .grammar.ir import Grammar

    given = [name for name, v in (("regex", regex), ("schema", schema), ("grammar", grammar)) if v is not None]
    if len(given) != 1:
        raise ConfigurationError(
            "give exactly one of regex=, schema= or grammar=" + (f" (got {', '.join(given)})" if given else "")
        )
    if regex is not None:
        if not isinstance(regex, str):
            raise ConfigurationError(f"regex= must be a str, got {type(regex).__name__}")
        return _cached_compile(("regex", regex), lambda: Grammar.from_regex(regex), vocab)
    if schema is not None:
        if isinstance(schema, os.PathLike):
            try:
                schema = Path(schema).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"cannot read the schema file {os.fspath(schema)}: {exc}") from exc
        if isinstance(schema, (dict, bool)):
            key = ("schema", json.dumps(schema, sort_keys=True))
        elif isinstance(schema, str):
            key = ("schema", schema)
        else:  # a pydantic model class: no content key, so no cache
            from .automata.compiled import compile as compile_grammar

            return compile_grammar(Grammar.from_json_schema(schema), vocab)
        return _cached_compile(key, lambda: Grammar.from_json_schema(schema), vocab)
    if isinstance(grammar, CompiledGrammar):
        if grammar.vocab != vocab:
            raise ConfigurationError("the CompiledGrammar was compiled for another vocabulary than the model's")
        return grammar
    if isinstance(grammar, Grammar):
        # The compiled grammar keeps the Grammar alive, so its id is not reused while cached.
        return _cached_compile(("grammar-object", id(grammar)), lambda: grammar, vocab, grammar)
    if isinstance(grammar, (str, os.PathLike)):
        from .grammar.loader import find_grammar, load_grammar

        path = find_grammar(grammar)
        key = ("grammar-file", str(path.resolve()), path.stat().st_mtime_ns)
        return _cached_compile(key, lambda: load_grammar(path), vocab)
    raise ConfigurationError(
        f"grammar= must be a Grammar, a CompiledGrammar, a file path or a grammar name, got {type(grammar).__name__}"
    )


# --- model plumbing ----------------------------------------------------------------------

_VOCAB_CACHE: "dict[int, tuple]" = {}


def model_vocabulary(model, tokenizer) -> Any:
    """The :class:`~constrain.Vocabulary` for a model and its tokenizer, cached per pair.

    Its size is the width of the model's logits (padding ids included, never allowed); its EOS
    ids are the tokenizer's plus the model's ``generation_config.eos_token_id``.
    """
    from .vocab import Vocabulary

    key = id(tokenizer)
    width = _logits_width(model)
    hit = _VOCAB_CACHE.get(key)
    if hit is not None and hit[0] is tokenizer and hit[1] == width:
        return hit[2]
    vocab = Vocabulary.from_transformers(tokenizer, vocab_size=max(width, len(tokenizer)))
    extra = _generation_eos_ids(model) - set(vocab.eos_token_ids)
    extra = {i for i in extra if 0 <= i < vocab.size}
    if extra:
        vocab = Vocabulary.from_transformers(
            tokenizer, vocab_size=vocab.size, eos_token_ids=set(vocab.eos_token_ids) | extra
        )
    _VOCAB_CACHE[key] = (tokenizer, width, vocab)
    return vocab


def _logits_width(model) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    return int(model.config.vocab_size)


def _generation_eos_ids(model) -> set:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        return set()
    if isinstance(eos, int):
        return {eos}
    return {int(i) for i in eos}


def _model_device(model) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    return next(model.parameters()).device


def _cache_keyword(model) -> str:
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _output_cache(out) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def encode_prompts(tokenizer, prompts: Sequence[str], *, chat_template: Optional[bool] = None,
                   system_prompt: Optional[str] = None) -> List[List[int]]:
    """Token ids of each prompt, through the tokenizer's chat template when it has one.

    Args:
        tokenizer: a ``transformers`` tokenizer.
        prompts: the user messages (or raw prompts).
        chat_template: ``True`` to require the chat template, ``False`` to encode the prompts
            as they are, ``None`` to use the template when the tokenizer has one.
        system_prompt: an optional system message (chat template only).

    Returns:
        One list of token ids per prompt.
    """
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template and not has_template:
        raise ConfigurationError("chat_template=True, but the tokenizer has no chat template")
    use_template = has_template if chat_template is None else bool(chat_template)
    if system_prompt is not None and not use_template:
        raise ConfigurationError("system_prompt= needs a chat template")
    encoded = []
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise ConfigurationError(f"a prompt must be a str, got {type(prompt).__name__}")
        if use_template:
            messages = [{"role": "user", "content": prompt}]
            if system_prompt is not None:
                messages.insert(0, {"role": "system", "content": system_prompt})
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        else:
            ids = list(tokenizer(prompt)["input_ids"])
            if not ids and getattr(tokenizer, "bos_token_id", None) is not None:
                ids = [int(tokenizer.bos_token_id)]
        if not ids:
            raise ConfigurationError("the prompt is empty and the tokenizer has no BOS token to start from")
        encoded.append([int(i) for i in ids])
    return encoded


def _sample(logits: torch.Tensor, temperature: float, top_k: Optional[int], top_p: Optional[float],
            generator: Optional[torch.Generator]) -> torch.Tensor:
    """Pick one token per row of already-masked float32 logits."""
    if not temperature:
        return logits.argmax(dim=-1)
    logits = logits / temperature
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


def _validate_sampling(max_new_tokens, temperature, top_k, top_p) -> None:
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 1:
        raise ConfigurationError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if temperature is None or not isinstance(temperature, (int, float)) or not temperature >= 0 or temperature == float("inf"):
        raise ConfigurationError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ConfigurationError(f"top_k must be None or an int >= 1, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ConfigurationError(f"top_p must be None or in (0, 1], got {top_p!r}")


# --- the loop ----------------------------------------------------------------------------


def generate(
    prompt: Prompt,
    *,
    regex: Optional[str] = None,
    schema: Any = None,
    grammar: Any = None,
    model: Any = None,
    tokenizer: Any = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
    chat_template: Optional[bool] = None,
    system_prompt: Optional[str] = None,
) -> Union[GenerationResult, List[GenerationResult]]:
    """Generate text that the constraint allows, with locally constrained decoding.

    Args:
        prompt: a prompt, or a list of prompts to run as one batch.
        regex: the whole output must match this regular expression.
        schema: the output must be JSON valid against this JSON Schema (dict, JSON text,
            pydantic model class or ``pathlib.Path``); the result's ``value`` is the parsed JSON.
        grammar: a :class:`~constrain.Grammar`, :class:`~constrain.CompiledGrammar`, grammar
            file path or name of a grammar in ``grammars/``.
        model: a ``transformers`` causal LM (with ``tokenizer``), or a local model directory or
            ``.gguf`` file; ``None`` loads the default SmolLM2-135M-Instruct (once per process,
            offline).
        tokenizer: the model's tokenizer (required with a model object).
        max_new_tokens: at most this many tokens are generated per prompt.
        temperature: ``0`` for greedy decoding (the default), else the sampling temperature.
        top_k: sample among the ``top_k`` most likely *allowed* tokens.
        top_p: nucleus sampling among allowed tokens.
        seed: seeds the sampler; the same seed gives the same output.
        chat_template: use the tokenizer's chat template (``None``: when it has one).
        system_prompt: a system message for the chat template.

    Returns:
        A :class:`GenerationResult` for a single prompt, a list of them for a list of prompts.
        A result with ``finish_reason == "eos"`` always matches the constraint.

    Raises:
        ConfigurationError: bad arguments.
        GrammarError: the constraint cannot be compiled (see ``constrain.errors``).
        VocabularyError: the grammar reached a point that no token can continue.
    """
    _validate_sampling(max_new_tokens, temperature, top_k, top_p)
    single = isinstance(prompt, str)
    prompts = [prompt] if single else list(prompt)
    if not prompts:
        raise ConfigurationError("no prompts given")
    model, tokenizer = _resolve_model(model, tokenizer)
    started = time.perf_counter()
    vocab = model_vocabulary(model, tokenizer)
    compile_started = time.perf_counter()
    compiled = resolve_constraint(vocab, regex=regex, schema=schema, grammar=grammar)
    compile_s = time.perf_counter() - compile_started
    encoded = encode_prompts(tokenizer, prompts, chat_template=chat_template, system_prompt=system_prompt)
    generator = None
    if temperature:
        generator = torch.Generator(device=_model_device(model))
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
    outputs, reasons, first_token_at = _decode(
        model, compiled, encoded, tokenizer, max_new_tokens, temperature, top_k, top_p, generator
    )
    elapsed = time.perf_counter() - started
    results = []
    for ids, reason, prompt_ids in zip(outputs, reasons, encoded):
        text = vocab.decode(ids).decode("utf-8", errors="replace")
        value = json.loads(text) if schema is not None and reason == "eos" else None
        results.append(GenerationResult(
            text=text, token_ids=ids, finish_reason=reason, value=value,
            num_prompt_tokens=len(prompt_ids), compile_s=compile_s, time_to_first_token_s=first_token_at - started,
            time_s=elapsed,
        ))
    return results[0] if single else results


_MODEL_CACHE: dict = {}
_model_lock = threading.Lock()


def _resolve_model(model, tokenizer):
    from . import lm

    if model is None:
        if tokenizer is not None:
            raise ConfigurationError("tokenizer= was given without model=")
        return lm.load_default_model()
    if isinstance(model, (str, os.PathLike)):
        key = os.fspath(model)
        with _model_lock:
            if key not in _MODEL_CACHE:
                if not Path(key).exists():
                    raise ConfigurationError(f"no model at {key}: give a local model directory or .gguf file")
                _MODEL_CACHE[key] = lm._quietly(lm.load_model, key)
            loaded_model, loaded_tokenizer = _MODEL_CACHE[key]
        return loaded_model, tokenizer if tokenizer is not None else loaded_tokenizer
    if tokenizer is None:
        raise ConfigurationError("model= was given as an object without tokenizer=")
    return model, tokenizer


def _decode(model, compiled, encoded, tokenizer, max_new_tokens, temperature, top_k, top_p, generator):
    """The constrained decoding loop; returns (token ids per row, finish reasons, time of first token)."""
    from .automata.matcher import Matcher
    from .masks.bitmask import allocate_token_bitmask

    vocab = compiled.vocab
    device = _model_device(model)
    batch = len(encoded)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        pad_id = min(vocab.eos_token_ids) if vocab.eos_token_ids else 0
    longest = max(len(ids) for ids in encoded)
    input_ids = torch.full((batch, longest), int(pad_id), dtype=torch.long)
    attention = torch.zeros((batch, longest), dtype=torch.long)
    for r, ids in enumerate(encoded):  # left padding
        input_ids[r, longest - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attention[r, longest - len(ids):] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    input_ids, attention, positions = input_ids.to(device), attention.to(device), positions.to(device)

    matchers = [Matcher(compiled) for _ in range(batch)]
    bitmask = allocate_token_bitmask(batch, vocab.size)
    eos_only = allocate_token_bitmask(1, vocab.size)[0]
    for t in vocab.eos_token_ids:
        eos_only.view(np.uint32)[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
    eos_id = min(vocab.eos_token_ids)
    outputs: List[List[int]] = [[] for _ in range(batch)]
    reasons: List[Optional[str]] = [None] * batch
    active = list(range(batch))

    def advance(rows: List[int], tokens: Optional[List[int]]) -> List[int]:
        """Accept each row's token (if any), fill its next mask; return rows that may only end."""
        ending = []
        for i, r in enumerate(rows):
            if tokens is not None and not matchers[r].accept_token(tokens[i]):
                raise RuntimeError(
                    f"internal error: the matcher rejected token {tokens[i]} that its own mask allowed"
                )
            matchers[r].fill_next_token_bitmask(bitmask, r)
            if np.array_equal(bitmask[r], eos_only):
                ending.append(r)
        return ending

    cache_kw = _cache_keyword(model)
    takes_logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters
    first_token_at = None
    # in_batch[i] is the row that occupies position i of the model's batch. Rows that end are
    # dropped from the batch (and the KV cache) when the cache supports it.
    in_batch = list(range(batch))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="constrain-mask") as pool, torch.inference_mode():
        pending = pool.submit(advance, active, None)
        kwargs = {"logits_to_keep": 1} if takes_logits_to_keep else {}
        try:
            out = model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True, **kwargs)
        finally:
            ending = pending.result()
        step = 0
        while True:
            for r in ending:
                if not matchers[r].accept_token(eos_id):
                    raise RuntimeError("internal error: EOS was the only allowed token but the matcher rejected it")
                reasons[r] = "eos"
            active = [r for r in active if reasons[r] is None]
            if not active:
                break
            slot = {r: i for i, r in enumerate(in_batch)}
            logits = out.logits[:, -1, :]
            if len(active) < logits.shape[0]:
                logits = logits.index_select(0, torch.tensor([slot[r] for r in active], device=logits.device))
            logits = logits.float()
            apply_token_bitmask_inplace(logits, torch.from_numpy(bitmask[active]))
            empty = torch.isneginf(logits).all(dim=-1)
            if bool(empty.any()):
                r = active[int(empty.nonzero()[0, 0])]
                raise VocabularyError(
                    f"no token can continue the output {vocab.decode(outputs[r]).decode('utf-8', 'replace')!r}: "
                    "the grammar needs bytes "
                    "that the vocabulary cannot spell from here"
                )
            picked = _sample(logits, temperature, top_k, top_p, generator).tolist()
            if first_token_at is None:
                first_token_at = time.perf_counter()
            step += 1
            going, going_tokens = [], []
            for r, token in zip(active, picked):
                if token in vocab.eos_token_ids:
                    if not matchers[r].accept_token(token):
                        raise RuntimeError("internal error: EOS was sampled where the matcher does not accept it")
                    reasons[r] = "eos"
                    continue
                outputs[r].append(int(token))
                if step >= max_new_tokens:
                    reasons[r] = "length"
                else:
                    going.append(r)
                    going_tokens.append(int(token))
            if not going:
                break
            pending = pool.submit(advance, going, going_tokens)
            try:
                cache = _output_cache(out)
                if len(going) < len(in_batch) and hasattr(cache, "batch_select_indices"):
                    keep = torch.tensor([slot[r] for r in going], dtype=torch.long, device=device)
                    cache.batch_select_indices(keep)
                    attention, positions = attention.index_select(0, keep), positions.index_select(0, keep)
                    in_batch = list(going)
                feed = dict(zip(going, going_tokens))
                next_tokens = torch.tensor([[feed.get(r, int(pad_id))] for r in in_batch], dtype=torch.long)
                attention = torch.cat([attention, attention.new_ones((len(in_batch), 1))], dim=-1)
                positions = positions[:, -1:] + 1
                out = model(input_ids=next_tokens.to(device), attention_mask=attention, position_ids=positions,
                            use_cache=True, **{cache_kw: cache})
            finally:
                ending = pending.result()
            active = going
    if first_token_at is None:
        first_token_at = time.perf_counter()
    return outputs, reasons, first_token_at


__all__ = ("GenerationResult", "encode_prompts", "generate", "model_vocabulary", "resolve_constraint")
