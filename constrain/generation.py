"""Constrained generation with a transformers model: the front door's machinery.

``generate`` resolves the model and the constraint, encodes the prompts and runs the decoding
driver (:mod:`constrain.samplers.driver`) with the chosen sampler:

* ``"lcd"`` (default): locally constrained decoding; greedy at ``temperature=0``;
* ``"asap"``: grammar-aligned decoding (ASAp), ``num_samples`` samples sharing one trie, which
  converge to the exact constrained distribution;
* ``"awrs"``: adaptive weighted rejection sampling, exact per step without a full mask;
* ``"smc"``: sequential Monte Carlo over ``num_particles`` particles with an AWRS or LCD proposal.

Every result carries ``logprob``, the log-probability of its tokens (EOS included when drawn)
under the unconstrained model, and ``log_weight``, the sampler's importance weight.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Literal, Optional, Sequence, Set, Tuple, Union

import torch

from .errors import ConfigurationError
from .models.transformers import TransformersLM, logits_width
from .samplers.base import Draw
from .samplers.driver import decode
from .samplers.lcd import LCD

if TYPE_CHECKING:
    from .automata.compiled import CompiledGrammar
    from .config import Limits
    from .grammar.ir import Grammar
    from .vocab import Vocabulary

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
        logprob: ``log p(token_ids [+ EOS])`` under the unconstrained model at temperature 1
            (EOS included when the output ended with it).
        log_weight: the sampler's log importance weight. LCD at temperature 1 without top-k/p:
            ``sum_t log Z_t`` (allowed mass per step), so that ``exp(log_weight)`` weights make
            LCD samples properly weighted for the exact constrained distribution; NaN when
            warpers changed the sampled distribution; ``0`` for ASAp (unweighted); the AWRS
            weight estimate for AWRS and SMC particles.
        particles: SMC only: every particle as a result (``text``, ``token_ids``,
            ``log_weight``, ``finish_reason``).
        posterior: SMC only: the weighted particles' texts with their normalized weights
            (duplicates summed; only finished particles).
        log_ml: SMC only: the log of the mean final weight, an unbiased estimate (in
            ``exp``) of the constrained mass ``Z``.
        token_logprobs: ``log p(token)`` of each of ``token_ids`` under the unconstrained
            model at temperature 1 (LCD and AWRS; the EOS term is ``logprob`` minus their sum).
        parsed: for a pydantic model class as ``schema=``, the finished output as an instance.
        reasoning: with ``reasoning=True``, the text inside ``<think>...</think>`` (``None``
            while the block is unfinished); ``value`` then parses only the part after it.

    ``finish_reason`` may also be ``"stop"`` (the output reached one of ``stop=``; the text
    ends before it, and is not necessarily complete) or, for ``template=``, ``"stuck"`` (see
    :class:`~constrain.infill.TemplateResult`).
    """

    text: str
    token_ids: List[int]
    finish_reason: str
    value: Any = None
    num_prompt_tokens: int = 0
    compile_s: float = 0.0
    time_to_first_token_s: float = 0.0
    time_s: float = 0.0
    logprob: float = 0.0
    log_weight: float = 0.0
    particles: Optional[List["GenerationResult"]] = None
    posterior: Optional[Dict[str, float]] = None
    log_ml: Optional[float] = None
    token_logprobs: Optional[List[float]] = None
    parsed: Any = None
    reasoning: Optional[str] = None

    @property
    def finished(self) -> bool:
        """Whether the output ended by EOS, i.e. is a complete string of the grammar."""
        return self.finish_reason == "eos"


# --- resolving the constraint ------------------------------------------------------------


def resolve_constraint(
    vocab: Vocabulary,
    *,
    regex: Optional[str] = None,
    schema: Any = None,
    grammar: Any = None,
    limits: Optional[Limits] = None,
    reasoning: bool = False,
    think_max_chars: Optional[int] = None,
) -> CompiledGrammar:
    """Compile exactly one of ``regex``, ``schema`` or ``grammar`` against ``vocab``.

    Args:
        vocab: the :class:`~constrain.Vocabulary` of the model.
        regex: a regular expression the whole output must match.
        schema: a JSON Schema (dict, JSON text, pydantic model class, or a ``pathlib.Path`` to a
            JSON file).
        grammar: a :class:`~constrain.Grammar`, a :class:`~constrain.CompiledGrammar` (for the
            same vocabulary), or a ``.lark``/``.gbnf`` file path or the name of a grammar in
            ``grammars/``.
        limits: the :class:`~constrain.config.Limits` to compile with (default
            ``DEFAULT_LIMITS``); part of the compile cache's key.
        reasoning: precede the constraint with a free ``<think>...</think>`` block
            (:func:`constrain.reasoning.with_reasoning`).
        think_max_chars: at most this many characters of thoughts (with ``reasoning``).

    Returns:
        The :class:`~constrain.CompiledGrammar`.

    Raises:
        ConfigurationError: if not exactly one constraint is given, or it has the wrong type.
    """
    from .automata.compiled import CompiledGrammar
    from .automata.compiler import compile as compile_grammar
    from .automata.compiler import compile_cached, grammar_key, schema_key
    from .config import Limits
    from .grammar.ir import Grammar
    from .reasoning import with_reasoning

    given = [name for name, v in (("regex", regex), ("schema", schema), ("grammar", grammar)) if v is not None]
    if len(given) != 1:
        raise ConfigurationError(
            "give exactly one of regex=, schema= or grammar=" + (f" (got {', '.join(given)})" if given else "")
        )
    if limits is not None and not isinstance(limits, Limits):
        raise ConfigurationError(f"limits= must be a constrain.config.Limits, got {type(limits).__name__}")
    if think_max_chars is not None and not reasoning:
        raise ConfigurationError("think_max_chars= bounds the <think> block of reasoning=True")

    def wrap(make: Callable[[], Grammar]) -> Callable[[], Grammar]:
        return (lambda: with_reasoning(make(), think_max_chars)) if reasoning else make

    think_key = ("think", think_max_chars) if reasoning else ()
    if regex is not None:
        if not isinstance(regex, str):
            raise ConfigurationError(f"regex= must be a str, got {type(regex).__name__}")
        return compile_cached(
            ("regex", regex) + think_key, wrap(lambda: Grammar.from_regex(regex)), vocab, limits=limits
        )
    if schema is not None:
        if isinstance(schema, os.PathLike):
            try:
                schema = Path(schema).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"cannot read the schema file {os.fspath(schema)}: {exc}") from exc
        key = schema_key(schema)
        if key is None:  # a pydantic model class: no content key, so no cache
            return compile_grammar(wrap(lambda: Grammar.from_json_schema(schema))(), vocab, limits=limits)
        return compile_cached(key + think_key, wrap(lambda: Grammar.from_json_schema(schema)), vocab, limits=limits)
    if isinstance(grammar, CompiledGrammar):
        if grammar.vocab != vocab:
            raise ConfigurationError("the CompiledGrammar was compiled for another vocabulary than the model's")
        if limits is not None:
            raise ConfigurationError(
                "limits= cannot apply to a grammar that is already compiled; "
                "pass the Grammar, or give limits to constrain.compile"
            )
        if reasoning:
            return compile_grammar(with_reasoning(grammar.grammar, think_max_chars), vocab, limits=grammar.limits)
        return grammar
    if isinstance(grammar, Grammar):
        return compile_cached(grammar_key(grammar) + think_key, wrap(lambda: grammar), vocab, limits=limits)
    if isinstance(grammar, (str, os.PathLike)):
        from .grammar.loader import find_grammar, load_grammar

        path = find_grammar(grammar)
        key = ("grammar-file", str(path.resolve()), path.stat().st_mtime_ns)
        return compile_cached(key + think_key, wrap(lambda: load_grammar(path)), vocab, limits=limits)
    raise ConfigurationError(
        f"grammar= must be a Grammar, a CompiledGrammar, a file path or a grammar name, got {type(grammar).__name__}"
    )


def choice_regex(choices: Sequence[str]) -> str:
    """A regex matching exactly the strings of ``choices``: an alternation of the strings
    with every regex metacharacter escaped (so ``"a.b"`` matches only ``a.b``)."""
    if isinstance(choices, str) or not isinstance(choices, (list, tuple)) or not choices:
        raise ConfigurationError("choice= must be a non-empty list of strings")
    pieces = []
    for index, text in enumerate(choices):
        if not isinstance(text, str):
            raise ConfigurationError(f"choice {index} must be a str, got {type(text).__name__}")
        pieces.append("".join(_escape_char(c) for c in text))
    return "(" + "|".join(pieces) + ")"


_REGEX_META = set("\\.^$|?*+()[]{}")


def _escape_char(c: str) -> str:
    if c in _REGEX_META:
        return "\\" + c
    if not c.isprintable() or c.isspace():
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
    return c


# --- model plumbing ----------------------------------------------------------------------


def model_vocabulary(model: Any, tokenizer: Any) -> Vocabulary:
    """The :class:`~constrain.Vocabulary` for a model and its tokenizer (built once, kept in
    ``constrain.vocab.VOCABULARIES``).

    Its size is the width of the model's logits (padding ids included, never allowed); its EOS
    ids are the tokenizer's plus the model's ``generation_config.eos_token_id``.
    """
    from .vocab import tokenizer_vocabulary

    vocab = tokenizer_vocabulary(tokenizer, max(logits_width(model), len(tokenizer)))
    extra = _generation_eos_ids(model) - set(vocab.eos_token_ids)
    extra = {i for i in extra if 0 <= i < vocab.size}
    if extra:
        vocab = tokenizer_vocabulary(tokenizer, vocab.size, eos_token_ids=set(vocab.eos_token_ids) | extra)
    return vocab


def _generation_eos_ids(model: Any) -> Set[int]:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        return set()
    if isinstance(eos, int):
        return {eos}
    return {int(i) for i in eos}


def encode_prompts(
    tokenizer: Any, prompts: Sequence[str], *, chat_template: Optional[bool] = None, system_prompt: Optional[str] = None
) -> List[List[int]]:
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


def encode_messages(
    tokenizer: Any, conversations: Sequence[Sequence[Dict[str, Any]]], *, chat_template: Optional[bool] = None
) -> List[List[int]]:
    """Token ids of each conversation (a list of ``{"role": ..., "content": ...}`` messages)
    through the tokenizer's chat template, with the generation prompt of the next turn."""
    if chat_template is False:
        raise ConfigurationError("messages= are rendered by the chat template; chat_template=False cannot apply")
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError("messages= need a tokenizer with a chat template; give prompt= instead")
    encoded = []
    for c, conversation in enumerate(conversations):
        if not isinstance(conversation, (list, tuple)) or not conversation:
            raise ConfigurationError(f"conversation {c} must be a non-empty list of messages")
        for m, message in enumerate(conversation):
            if (
                not isinstance(message, dict)
                or not isinstance(message.get("role"), str)
                or not isinstance(message.get("content"), str)
            ):
                raise ConfigurationError(
                    f"conversation {c}, message {m}: a message is a dict with str 'role' and 'content'"
                )
        text = tokenizer.apply_chat_template(list(conversation), tokenize=False, add_generation_prompt=True)
        encoded.append([int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]])
    return encoded


def _validate_sampling(max_new_tokens: int, temperature: float, top_k: Optional[int], top_p: Optional[float]) -> None:
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 1:
        raise ConfigurationError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if (
        temperature is None
        or not isinstance(temperature, (int, float))
        or not temperature >= 0
        or temperature == float("inf")
    ):
        raise ConfigurationError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ConfigurationError(f"top_k must be None or an int >= 1, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ConfigurationError(f"top_p must be None or in (0, 1], got {top_p!r}")


# --- the loop ----------------------------------------------------------------------------


SamplerName = Literal["lcd", "asap", "awrs", "smc"]
SAMPLERS = ("lcd", "asap", "awrs", "smc")


def generate(
    prompt: Optional[Prompt] = None,
    *,
    messages: Optional[Sequence[Any]] = None,
    regex: Optional[str] = None,
    schema: Any = None,
    grammar: Any = None,
    choice: Optional[Sequence[str]] = None,
    tools: Optional[Sequence[Any]] = None,
    template: Any = None,
    max_gap_tokens: int = 32,
    reasoning: bool = False,
    think_max_chars: Optional[int] = None,
    model: Any = None,
    tokenizer: Any = None,
    max_new_tokens: int = 256,
    temperature: Optional[float] = None,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
    chat_template: Optional[bool] = None,
    system_prompt: Optional[str] = None,
    num_return_sequences: int = 1,
    stop: Optional[Union[str, Sequence[str]]] = None,
    limits: Any = None,
    threads: Optional[int] = None,
    stream: bool = False,
    callback: Optional[Callable[[str], None]] = None,
    progress: bool = False,
    sampler: SamplerName = "lcd",
    num_samples: Optional[int] = None,
    num_particles: int = 5,
    ess_threshold: float = 0.5,
    proposal: Literal["awrs", "lcd"] = "awrs",
    critic: Any = None,
    select: Literal["sample", "mode"] = "sample",
    batch_size: Optional[int] = None,
) -> Any:
    """Generate text that the constraint allows.

    Args:
        prompt: a prompt, or a list of prompts to run as one batch.
        messages: instead of ``prompt``: a conversation, a list of ``{"role": ..., "content":
            ...}`` messages rendered by the tokenizer's chat template (or a list of
            conversations, as a batch).
        regex: the whole output must match this regular expression.
        schema: the output must be JSON valid against this JSON Schema (dict, JSON text,
            pydantic model class or ``pathlib.Path``); the result's ``value`` is the parsed JSON
            (and ``parsed`` the model instance for a pydantic class).
        grammar: a :class:`~constrain.Grammar`, :class:`~constrain.CompiledGrammar`, grammar
            file path or name of a grammar in ``grammars/``. A grammar made from a JSON Schema
            fills ``value`` too.
        choice: the output is exactly one of these strings (a regex alternation of them,
            escaped).
        tools: functions; the output is one call ``{"name": ..., "arguments": {...}}`` of one
            of them, its arguments valid for the function's signature
            (:func:`constrain.tools.tool_call_schema`); ``value`` is the call.
        template: a template with gaps (``<gap>`` markers in a string, or a list of strings and
            :class:`~constrain.infill.TemplateGap`): the model fills the gaps so that the
            whole text satisfies the constraint (:func:`constrain.infill.generate_template`;
            LCD only, one prompt); ``text`` is the filled template, ``token_ids`` the tokens
            the model wrote in the gaps, ``logprob``/``log_weight`` NaN (not tracked);
            ``max_new_tokens`` does not apply (``max_gap_tokens`` does).
        max_gap_tokens: with ``template``: the token budget of a gap without its own.
        reasoning: first a free ``<think>...</think>`` block and a newline, then the
            constrained output, in one generation; ``value`` parses the part after the block,
            ``reasoning`` holds the thoughts.
        think_max_chars: with ``reasoning``: at most this many characters of thoughts.
        model: a ``transformers`` causal LM (with ``tokenizer``), or a local model directory or
            ``.gguf`` file; ``None`` loads the default SmolLM2-135M-Instruct (once per process,
            offline).
        tokenizer: the model's tokenizer (required with a model object).
        max_new_tokens: at most this many tokens are generated per output.
        temperature: LCD only: ``0`` for greedy decoding (LCD's default), else the sampling
            temperature. The other samplers target the model's own distribution (temperature 1)
            and refuse any other.
        top_k: LCD only: sample among the ``top_k`` most likely *allowed* tokens.
        top_p: LCD only: nucleus sampling among allowed tokens.
        seed: seeds the sampler; the same seed gives the same output.
        chat_template: use the tokenizer's chat template (``None``: when it has one).
        system_prompt: a system message for the chat template.
        num_return_sequences: LCD and AWRS: outputs per prompt, drawn as rows of one batch.
        stop: a string or strings; an output ends at the first one (``finish_reason="stop"``),
            which is not part of its text. Meant for free-text constraints: a stopped text is a
            prefix of the constraint's language, not necessarily a complete string of it.
        limits: the :class:`~constrain.config.Limits` to compile the constraint with.
        threads: torch CPU threads for this call (restored after it).
        stream: return an iterator of text pieces (complete characters only) that ends with the
            :class:`GenerationResult` (see :func:`stream`); one prompt, one sequence.
        callback: ``callback(piece)`` for each new piece of text (one prompt, one sequence).
        progress: show a progress bar of finished sequences (tqdm if installed, else lines on
            stderr).
        sampler: ``"lcd"`` (locally constrained decoding, the default), ``"asap"``
            (grammar-aligned decoding: ``num_samples`` samples that converge to the exact
            constrained distribution), ``"awrs"`` (adaptive weighted rejection sampling: exact
            per step, weighted) or ``"smc"`` (sequential Monte Carlo over ``num_particles``).
        num_samples: ASAp: how many samples to draw (one prompt only; default 1).
        num_particles: SMC: particles per prompt.
        ess_threshold: SMC: resample when the effective sample size falls under this fraction
            of the particles.
        proposal: SMC: the token proposal, ``"awrs"`` or ``"lcd"``.
        critic: SMC: ``critic(text, finished) -> float``, a log-potential that re-weights
            particles (see :class:`~constrain.samplers.smc.SMC`).
        select: SMC: the result's ``text`` is a ``"sample"`` from the posterior or its ``"mode"``.
        batch_size: ASAp: samples in flight at once (default: up to 8).

    Returns:
        A :class:`GenerationResult` for a single prompt (or conversation), a list of them for a
        list of prompts; with ``num_return_sequences=n > 1``, ``n`` results per prompt, grouped
        by prompt in one flat list; with ``sampler="asap"``, the list of ``num_samples``
        results in the order they were drawn; with ``stream=True``, an iterator. A result with
        ``finish_reason == "eos"`` always matches the constraint.

    Raises:
        ConfigurationError: bad arguments.
        GrammarError: the constraint cannot be compiled (see ``constrain.errors``).
        VocabularyError: the grammar reached a point that no token can continue.
    """
    options = dict(locals())
    del options["stream"]
    if stream:
        return globals()["stream"](**options)
    if threads is None:
        return _generate(**options)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ConfigurationError(f"threads must be a positive int, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _generate(**options)
    finally:
        torch.set_num_threads(before)


def stream(prompt: Optional[str] = None, **kwargs: Any) -> Iterator[Union[str, GenerationResult]]:
    """Generate as :func:`generate` does, as an iterator: the pieces of text (``str``, complete
    characters only, also where a multi-byte character spans tokens) as they are generated,
    then the :class:`GenerationResult`.

    One prompt (or conversation) and one sequence; LCD or AWRS. The generation runs in a
    worker thread; leaving the loop early stops it at the next step.

    Example::

        for piece in constrain.stream("Count to five:", regex=r"[1-5]( [1-5]){4}"):
            print(piece if isinstance(piece, str) else "", end="")
    """
    if kwargs.get("callback") is not None:
        raise ConfigurationError("stream() yields the pieces; give callback= to generate() instead")
    kwargs.pop("stream", None)
    kwargs.pop("callback", None)
    _check_streamable(
        prompt,
        kwargs.get("messages"),
        kwargs.get("num_return_sequences", 1),
        kwargs.get("sampler", "lcd"),
        kwargs.get("template"),
    )
    pieces: "queue.Queue[Tuple[str, Any]]" = queue.Queue()  # (kind, item)
    cancelled = threading.Event()

    def on_piece(piece: str) -> None:
        if cancelled.is_set():
            raise _Cancelled()
        pieces.put(("piece", piece))

    def work() -> None:
        try:
            pieces.put(("result", generate(prompt, callback=on_piece, **kwargs)))
        except _Cancelled:
            pieces.put(("cancelled", None))
        except BaseException as exc:  # handed to the consumer's thread
            pieces.put(("error", exc))

    def iterate() -> Iterator[Union[str, GenerationResult]]:
        worker = threading.Thread(target=work, name="constrain-stream", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = pieces.get()
                if kind == "piece":
                    yield item
                elif kind == "result":
                    yield item
                    return
                elif kind == "error":
                    raise item
                else:
                    return
        finally:
            cancelled.set()
            worker.join()

    return iterate()


class _Cancelled(Exception):
    """The consumer of a stream left early."""


def _check_streamable(
    prompt: Optional[Prompt], messages: Optional[Sequence[Any]], num_return_sequences: int, sampler: str, template: Any
) -> None:
    if template is not None:
        raise ConfigurationError("streaming is not available with template=")
    if sampler not in ("lcd", "awrs"):
        raise ConfigurationError("streaming works with sampler='lcd' or 'awrs'")
    if num_return_sequences != 1:
        raise ConfigurationError("streaming follows one sequence: num_return_sequences must be 1")
    if messages is not None:
        if messages and not isinstance(messages[0], dict):
            raise ConfigurationError("streaming follows one sequence: give one conversation")
    elif not isinstance(prompt, str):
        raise ConfigurationError("streaming follows one sequence: give one prompt (a str)")


def _generate(
    prompt: Optional[Prompt],
    *,
    messages: Optional[Sequence[Any]],
    regex: Optional[str],
    schema: Any,
    grammar: Any,
    choice: Optional[Sequence[str]],
    tools: Optional[Sequence[Any]],
    template: Any,
    max_gap_tokens: int,
    reasoning: bool,
    think_max_chars: Optional[int],
    model: Any,
    tokenizer: Any,
    max_new_tokens: int,
    temperature: Optional[float],
    top_k: Optional[int],
    top_p: Optional[float],
    seed: Optional[int],
    chat_template: Optional[bool],
    system_prompt: Optional[str],
    num_return_sequences: int,
    stop: Optional[Union[str, Sequence[str]]],
    limits: Any,
    threads: Optional[int],
    callback: Optional[Callable[[str], None]],
    progress: bool,
    sampler: SamplerName,
    num_samples: Optional[int],
    num_particles: int,
    ess_threshold: float,
    proposal: Literal["awrs", "lcd"],
    critic: Any,
    select: Literal["sample", "mode"],
    batch_size: Optional[int],
) -> Any:
    del threads  # applied by generate()
    if sampler not in SAMPLERS:
        raise ConfigurationError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if temperature is None:
        temperature = 0.0 if sampler == "lcd" else 1.0
    _validate_sampling(max_new_tokens, temperature, top_k, top_p)
    if sampler != "lcd" and (temperature != 1.0 or top_k is not None or top_p is not None):
        raise ConfigurationError(
            f"sampler={sampler!r} samples the model's own distribution: temperature must be 1 and "
            "top_k/top_p unset (they would change the target distribution)"
        )
    if sampler != "asap" and (num_samples is not None or batch_size is not None):
        raise ConfigurationError("num_samples= and batch_size= are for sampler='asap'")
    if not isinstance(num_return_sequences, int) or isinstance(num_return_sequences, bool) or num_return_sequences < 1:
        raise ConfigurationError(f"num_return_sequences must be a positive int, got {num_return_sequences!r}")
    if num_return_sequences > 1 and sampler not in ("lcd", "awrs"):
        raise ConfigurationError(
            "num_return_sequences= is for sampler='lcd' or 'awrs' (asap: num_samples=, smc: num_particles=)"
        )
    stops = _stop_strings(stop)
    if stops and sampler not in ("lcd", "awrs"):
        raise ConfigurationError("stop= is for sampler='lcd' or 'awrs'")
    if progress and sampler not in ("lcd", "awrs"):
        raise ConfigurationError("progress= is for sampler='lcd' or 'awrs'")
    if callback is not None:
        if not callable(callback):
            raise ConfigurationError("callback= must be callable")
        _check_streamable(prompt, messages, num_return_sequences, sampler, template)

    # the constraint: choice= and tools= are spelled as a regex and a schema
    if choice is not None:
        if regex is not None or schema is not None or grammar is not None or tools is not None:
            raise ConfigurationError("choice= is the constraint: give no regex=, schema=, grammar= or tools=")
        regex = choice_regex(choice)
    if tools is not None:
        if regex is not None or schema is not None or grammar is not None:
            raise ConfigurationError("tools= is the constraint: give no regex=, schema= or grammar=")
        from .tools import tool_call_schema

        schema = tool_call_schema(tools)
    pydantic_model = schema if isinstance(schema, type) and hasattr(schema, "model_validate") else None

    # the prompts
    if (prompt is None) == (messages is None):
        raise ConfigurationError("give either prompt= or messages=")
    conversations: List[Any] = []
    prompts: List[str] = []
    if messages is not None:
        if system_prompt is not None:
            raise ConfigurationError("with messages=, put the system message in the conversation")
        if not isinstance(messages, (list, tuple)) or not messages:
            raise ConfigurationError("messages= must be a non-empty list of messages (or of conversations)")
        single = isinstance(messages[0], dict)
        conversations = [messages] if single else list(messages)
    else:
        assert prompt is not None  # one of prompt= and messages= (checked above)
        single = isinstance(prompt, str)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ConfigurationError("no prompts given")

    if template is not None:
        return _generate_template(
            prompt if messages is None else None,
            template,
            single=single,
            regex=regex,
            schema=schema,
            grammar=grammar,
            model=model,
            tokenizer=tokenizer,
            max_gap_tokens=max_gap_tokens,
            temperature=temperature,
            seed=seed,
            chat_template=chat_template,
            limits=limits,
            sampler=sampler,
            other=dict(
                top_k=top_k,
                top_p=top_p,
                stop=stops,
                reasoning=reasoning,
                think_max_chars=think_max_chars,
                system_prompt=system_prompt,
                num_return_sequences=num_return_sequences,
                progress=progress,
            ),
            pydantic_model=pydantic_model,
        )

    model, tokenizer = _resolve_model(model, tokenizer)
    started = time.perf_counter()
    vocab = model_vocabulary(model, tokenizer)
    compile_started = time.perf_counter()
    compiled = resolve_constraint(
        vocab,
        regex=regex,
        schema=schema,
        grammar=grammar,
        limits=limits,
        reasoning=reasoning,
        think_max_chars=think_max_chars,
    )
    compile_s = time.perf_counter() - compile_started
    if messages is not None:
        encoded = encode_messages(tokenizer, conversations, chat_template=chat_template)
    else:
        encoded = encode_prompts(tokenizer, prompts, chat_template=chat_template, system_prompt=system_prompt)
    lm = TransformersLM(model, pad_token_id=_pad_id(tokenizer, vocab))
    generator = _generator(lm.device, seed) if temperature else None
    timing = dict(compile_s=compile_s, started=started)
    inner_kind = compiled.grammar.kind.removeprefix("reasoning+")
    output = _Output(parse_json=inner_kind == "json_schema", pydantic_model=pydantic_model, reasoning=reasoning)

    if sampler == "asap":
        from .samplers.asap import ASApSampler, ASApTrie

        if not single:
            raise ConfigurationError("sampler='asap' takes one prompt (its trie is for one prompt)")
        trie = ASApTrie(key=asap_key(lm, compiled, encoded[0], max_new_tokens))
        draws = ASApSampler(trie, seed=seed).sample(
            lm,
            compiled,
            encoded[0],
            num_samples if num_samples is not None else 1,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )
        return [_result(d, vocab, encoded[0], output, timing, d.first_token_at) for d in draws]
    if sampler == "smc":
        from .samplers.smc import SMC

        smc = SMC(
            num_particles=num_particles,
            ess_threshold=ess_threshold,
            proposal=proposal,
            critic=critic,
            generator=_generator(lm.device, seed),
            select=select,
        )
        results = []
        for ids in encoded:
            population = smc.run(lm, compiled, ids, max_new_tokens=max_new_tokens)
            chosen = population.chosen
            result = _result(chosen, vocab, ids, output, timing, population.first_token_at)
            result.particles = [
                _result(p, vocab, ids, output, timing, population.first_token_at) for p in population.particles
            ]
            result.posterior = population.posterior(lambda d: vocab.decode(d.token_ids).decode("utf-8", "replace"))
            result.log_ml = population.log_ml
            results.append(result)
        return results[0] if single else results
    if sampler == "awrs":
        from .samplers.awrs import AWRS

        token_sampler: Any = AWRS(generator=_generator(lm.device, seed))
    else:
        token_sampler = LCD(temperature, top_k, top_p, generator)
    rows = [ids for ids in encoded for _ in range(num_return_sequences)]
    watcher = _StepWatcher(vocab, len(rows), stops, callback, progress)
    try:
        run = decode(lm, compiled, rows, token_sampler, max_new_tokens=max_new_tokens, on_step=watcher)
    finally:
        watcher.close()
    results = []
    for i, (d, ids) in enumerate(zip(run.draws, rows)):
        result = _result(d, vocab, ids, output, timing, run.first_token_at, text=watcher.final_text(i, d))
        result.token_logprobs = watcher.token_logprobs[i]
        results.append(result)
    return results[0] if single and num_return_sequences == 1 else results


def _stop_strings(stop: Optional[Union[str, Sequence[str]]]) -> List[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop) if isinstance(stop, (list, tuple)) else None
    if stops is None or not all(isinstance(s, str) and s for s in stops):
        raise ConfigurationError("stop= must be a non-empty string or a list of them")
    return stops


class _StepWatcher:
    """The driver's ``on_step`` consumer: per-token log-probabilities, stop strings, the
    streamed text pieces and the progress bar.

    Text is decoded incrementally (a UTF-8 decoder holds the bytes of an unfinished
    character), so a piece is always whole characters. With stop strings, the last
    ``max(len(stop)) - 1`` characters are held back until the output ends, since they may be
    the start of a stop string."""

    def __init__(
        self, vocab: Vocabulary, rows: int, stops: List[str], callback: Optional[Callable[[str], None]], progress: bool
    ) -> None:
        self.vocab = vocab
        self.stops = stops
        self.callback = callback
        self.token_logprobs: List[List[float]] = [[] for _ in range(rows)]
        self._logprob = [0.0] * rows
        self._decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in range(rows)]
        self._text = [""] * rows
        self._cut: List[Optional[int]] = [None] * rows
        self._emitted = 0
        self._hold = max((len(s) for s in stops), default=1) - 1
        self._finished = 0
        self._bar = _progress_bar(rows) if progress else None

    def __call__(self, draws: List[Draw]) -> None:
        finished = 0
        for i, draw in enumerate(draws):
            have = len(self.token_logprobs[i])
            if len(draw.token_ids) > have:  # one new token this step
                self.token_logprobs[i].append(draw.logprob - self._logprob[i])
                self._text[i] += self._decoders[i].decode(self.vocab.token_bytes[draw.token_ids[-1]])
                if self.stops and draw.running:
                    at = self._find_stop(self._text[i])
                    if at is not None:
                        self._cut[i] = at
                        draw.finish_reason = "stop"
            self._logprob[i] = draw.logprob
            if not draw.running:
                finished += 1
        if self.callback is not None:
            draw = draws[0]
            text = self.final_text(0, draw) if not draw.running else self._text[0]
            end = len(text) if not draw.running else max(self._emitted, len(text) - self._hold)
            if end > self._emitted:
                piece, self._emitted = text[self._emitted : end], end
                self.callback(piece)
        if self._bar is not None and finished > self._finished:
            self._bar.update(finished - self._finished)
        self._finished = finished

    def _find_stop(self, text: str) -> Optional[int]:
        """Where the first stop string in ``text`` begins (``None``: none yet)."""
        found = [text.find(s) for s in self.stops]
        found = [f for f in found if f >= 0]
        return min(found) if found else None

    def final_text(self, i: int, draw: Draw) -> str:
        """The row's text: cut before the stop string when one ended it."""
        if self._cut[i] is not None:
            return self._text[i][: self._cut[i]]
        return self.vocab.decode(draw.token_ids).decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _PlainProgress:
    """Progress lines on stderr when tqdm is not installed."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def update(self, n: int) -> None:
        self.done += n
        print(f"constrain: {self.done}/{self.total} sequences finished", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _progress_bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainProgress(total)
    return tqdm(total=total, desc="constrain", unit="seq")


def _generate_template(
    prompt: Optional[Prompt],
    template: Any,
    *,
    single: bool,
    regex: Optional[str],
    schema: Any,
    grammar: Any,
    model: Any,
    tokenizer: Any,
    max_gap_tokens: int,
    temperature: float,
    seed: Optional[int],
    chat_template: Optional[bool],
    limits: Any,
    sampler: str,
    other: Dict[str, Any],
    pydantic_model: Any,
) -> GenerationResult:
    from .infill.template import generate_template
    from .vocab import tokenizer_vocabulary

    if sampler != "lcd":
        raise ConfigurationError("template= fills gaps with its own left-to-right search: sampler must be 'lcd'")
    defaults: Dict[str, Any] = dict(
        top_k=None,
        top_p=None,
        stop=[],
        reasoning=False,
        think_max_chars=None,
        system_prompt=None,
        num_return_sequences=1,
        progress=False,
    )
    refused = [
        name
        for name, value in other.items()
        if not (value is defaults[name] or value == defaults[name] and type(value) is type(defaults[name]))
    ]
    if refused:
        raise ConfigurationError(f"template= does not take {', '.join(refused)}")
    if not isinstance(prompt, str) or not single:
        raise ConfigurationError("template= takes one prompt (a str), not messages= or a list")
    model, tokenizer = _resolve_model(model, tokenizer)
    started = time.perf_counter()
    # the vocabulary generate_template builds, so that the compiled grammar is for it
    vocab = tokenizer_vocabulary(tokenizer, logits_width(model))
    compiled = resolve_constraint(vocab, regex=regex, schema=schema, grammar=grammar, limits=limits)
    compile_s = time.perf_counter() - started
    filled = generate_template(
        prompt,
        template,
        model=model,
        tokenizer=tokenizer,
        grammar=compiled,
        max_gap_tokens=max_gap_tokens,
        temperature=temperature,
        seed=seed,
        chat_template=chat_template,
    )
    output = _Output(parse_json=compiled.grammar.kind == "json_schema", pydantic_model=pydantic_model, reasoning=False)
    value, parsed = output.parse(filled.text, filled.finish_reason)
    elapsed = time.perf_counter() - started
    return GenerationResult(
        text=filled.text,
        token_ids=[t for gap in filled.token_ids for t in gap],
        finish_reason=filled.finish_reason,
        value=value,
        parsed=parsed,
        compile_s=compile_s,
        time_to_first_token_s=elapsed,
        time_s=elapsed,
        # the template's search does not track the model's probabilities
        logprob=math.nan,
        log_weight=math.nan,
    )


class ASAp:
    """Grammar-aligned decoding (ASAp) for one prompt: a sampler object that keeps its trie.

    Each call of :meth:`sample` draws more samples and tightens the trie's bounds, so the
    distribution of the samples converges to the exact constrained distribution
    ``pi(x) = p(x) 1[x in L] / Z`` (at temperature 1, outputs of at most ``max_new_tokens``
    tokens). Single samples are biased (the first is an LCD sample); ASAp is a many-sample
    algorithm. See :mod:`constrain.samplers.asap`.

    Args:
        constraint: a :class:`~constrain.CompiledGrammar` or :class:`~constrain.Grammar` (or use
            ``regex=``, ``schema=``, ``grammar=`` as in :func:`generate`).
        model, tokenizer: as in :func:`generate` (default: SmolLM2).
        prompt: the prompt (the user message of the chat template, as in :func:`generate`).
        max_new_tokens: the length limit (part of the target: longer outputs are outside it).
        max_trie_nodes: the trie's node cap (about 270 bytes a node).
        when_full: ``"error"`` or ``"freeze"`` past the cap (see
            :class:`~constrain.samplers.asap.ASApTrie`).
        seed: seeds the sampler.

    Example::

        sampler = ASAp(regex="000|1[01]{2}", prompt="Write a 3-bit string.", max_new_tokens=8)
        results = sampler.sample(100)
        sampler.save("bits.npz")
    """

    def __init__(
        self,
        constraint: Any = None,
        *,
        regex: Optional[str] = None,
        schema: Any = None,
        grammar: Any = None,
        model: Any = None,
        tokenizer: Any = None,
        prompt: str,
        max_new_tokens: int = 256,
        chat_template: Optional[bool] = None,
        system_prompt: Optional[str] = None,
        max_trie_nodes: int = 1_000_000,
        when_full: Literal["error", "freeze"] = "error",
        seed: Optional[int] = None,
        _trie: Any = None,
    ) -> None:
        from .samplers.asap import ASApSampler, ASApTrie

        _validate_sampling(max_new_tokens, 1.0, None, None)
        if constraint is not None:
            if grammar is not None:
                raise ConfigurationError("give the constraint once: as the first argument or as grammar=")
            grammar = constraint
        self.model, self.tokenizer = _resolve_model(model, tokenizer)
        vocab = model_vocabulary(self.model, self.tokenizer)
        self.compiled = resolve_constraint(vocab, regex=regex, schema=schema, grammar=grammar)
        self.prompt_ids = encode_prompts(
            self.tokenizer, [prompt], chat_template=chat_template, system_prompt=system_prompt
        )[0]
        self.lm = TransformersLM(self.model, pad_token_id=_pad_id(self.tokenizer, vocab))
        self.max_new_tokens = max_new_tokens
        self._output = _Output(
            parse_json=self.compiled.grammar.kind == "json_schema",
            pydantic_model=schema if isinstance(schema, type) else None,
        )
        key = asap_key(self.lm, self.compiled, self.prompt_ids, max_new_tokens)
        self.trie = _trie if _trie is not None else ASApTrie(key, max_nodes=max_trie_nodes, when_full=when_full)
        if self.trie.key != key:
            raise ConfigurationError("the ASAp trie was made for another model, prompt, grammar or length limit")
        self._sampler = ASApSampler(self.trie, seed=seed)

    def sample(self, n: int = 1, *, batch_size: Optional[int] = None) -> List[GenerationResult]:
        """Draw ``n`` samples (``batch_size`` in flight at once, sharing the trie), in the order
        drawn."""
        started = time.perf_counter()
        timing = dict(compile_s=0.0, started=started)
        draws = self._sampler.sample(
            self.lm, self.compiled, self.prompt_ids, n, max_new_tokens=self.max_new_tokens, batch_size=batch_size
        )
        return [_result(d, self.compiled.vocab, self.prompt_ids, self._output, timing, d.first_token_at) for d in draws]

    def save(self, path: "str | os.PathLike[str]") -> None:
        """Save the trie (load it back with :meth:`load` and the same arguments)."""
        self.trie.save(path)

    @classmethod
    def load(cls, path: "str | os.PathLike[str]", constraint: Any = None, **kwargs: Any) -> "ASAp":
        """An ASAp sampler with the trie saved at ``path``; the other arguments are the
        constructor's, and must describe the same model, prompt, grammar and length limit."""
        from .samplers.asap import ASApTrie

        return cls(constraint, _trie=ASApTrie.load(path), **kwargs)

    @property
    def num_nodes(self) -> int:
        """Nodes in the trie."""
        return len(self.trie)


def asap_key(lm: Any, compiled: Any, prompt_ids: Sequence[int], max_new_tokens: int) -> str:
    """The identity of an ASAp trie: the model, the prompt, the grammar and its vocabulary, and
    the length limit (a trie is valid for exactly these)."""
    import hashlib

    parts = [
        repr(lm.identity),
        repr(list(prompt_ids)),
        repr(compiled.grammar),
        compiled.vocab.fingerprint,
        repr(sorted(compiled.vocab.eos_token_ids)),
        str(max_new_tokens),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _pad_id(tokenizer: Any, vocab: Any) -> int:
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        pad_id = min(vocab.eos_token_ids) if vocab.eos_token_ids else 0
    return int(pad_id)


def _generator(device: torch.device, seed: Optional[int]) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


@dataclass
class _Output:
    """How a finished text is read: JSON (``value``), a pydantic instance (``parsed``), and
    whether a ``<think>`` block comes first."""

    parse_json: bool
    pydantic_model: Any = None
    reasoning: bool = False

    def parse(self, text: str, reason: str) -> "tuple[Any, Any]":
        if not self.parse_json or reason != "eos":
            return None, None
        if self.reasoning:
            from .reasoning import split_reasoning

            text = split_reasoning(text)[1]
        value = json.loads(text)
        parsed = self.pydantic_model.model_validate(value) if self.pydantic_model is not None else None
        return value, parsed


def _result(
    draw: Draw,
    vocab: Vocabulary,
    prompt_ids: Sequence[int],
    output: _Output,
    timing: Dict[str, float],
    first_token_at: float,
    text: Optional[str] = None,
) -> GenerationResult:
    if text is None:
        text = vocab.decode(draw.token_ids).decode("utf-8", errors="replace")
    reason = draw.finish_reason or "length"
    if reason == "dead":  # the sampler found no way on: like a cut, the text is not complete
        reason = "length"
    value, parsed = output.parse(text, reason)
    thoughts = None
    if output.reasoning:
        from .reasoning import split_reasoning

        thoughts = split_reasoning(text)[0]
    started = timing["started"]
    return GenerationResult(
        text=text,
        token_ids=list(draw.token_ids),
        finish_reason=reason,
        value=value,
        num_prompt_tokens=len(prompt_ids),
        compile_s=timing["compile_s"],
        time_to_first_token_s=first_token_at - started,
        time_s=time.perf_counter() - started,
        logprob=draw.logprob,
        log_weight=draw.log_weight,
        parsed=parsed,
        reasoning=thoughts,
    )


def _resolve_model(model: Any, tokenizer: Any) -> Tuple[Any, Any]:
    from . import lm

    if model is None:
        if tokenizer is not None:
            raise ConfigurationError("tokenizer= was given without model=")
        return lm.load_default_model()
    if isinstance(model, (str, os.PathLike)):
        loaded_model, loaded_tokenizer = lm.load_model_once(model)
        return loaded_model, tokenizer if tokenizer is not None else loaded_tokenizer
    if tokenizer is None:
        raise ConfigurationError("model= was given as an object without tokenizer=")
    return model, tokenizer


__all__ = (
    "ASAp",
    "GenerationResult",
    "choice_regex",
    "encode_messages",
    "encode_prompts",
    "generate",
    "model_vocabulary",
    "resolve_constraint",
    "stream",
)
