"""``compile``: a grammar met with a vocabulary becomes a :class:`CompiledGrammar`.

The compiler builds the terminals' DFAs and the parser tables, then checks with a
:class:`~constrain.automata.matcher.Matcher` that some token can start the language; it is
the one module that needs both the compiled grammar and the matcher.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Hashable, Optional, Tuple, Union

import numpy as np

from ..cache import LRUCache
from ..config import DEFAULT_LIMITS, Limits
from ..errors import ConfigurationError, ResourceLimitError, VocabularyError
from ..grammar.ir import Grammar
from ..vocab import Vocabulary
from .compiled import CompiledGrammar
from .lexer import LexerCache
from .lowering import terminal_dfas
from .matcher import Matcher
from .tables import build_parser_tables

__all__ = (
    "COMPILED_GRAMMARS",
    "compile",
    "compile_cached",
    "compile_constraint",
    "grammar_key",
    "schema_key",
    "warm_up",
)


def compile(grammar: Grammar, vocab: Vocabulary, *, limits: Optional[Limits] = None) -> CompiledGrammar:  # noqa: A001
    """Compile ``grammar`` against ``vocab``.

    Args:
        grammar: from any front end (``Grammar.from_regex``, ``from_lark``, ...).
        vocab: the tokenizer's vocabulary.
        limits: resource bounds; ``constrain.config.DEFAULT_LIMITS`` if omitted.

    Returns:
        The compiled grammar.

    Raises:
        UnsatisfiableGrammarError: the grammar's language is empty.
        VocabularyError: no token can start a string of the language.
        ResourceLimitError: a DFA, the grammar or the compile time exceeds ``limits``.
    """
    if not isinstance(grammar, Grammar):
        raise ConfigurationError(f"`grammar` must be a constrain Grammar, got {type(grammar).__name__}")
    if not isinstance(vocab, Vocabulary):
        raise ConfigurationError(f"`vocab` must be a constrain Vocabulary, got {type(vocab).__name__}")
    limits = limits or DEFAULT_LIMITS
    _warm_kernels()
    return _compile(grammar, vocab, limits, time.monotonic() + limits.max_compile_seconds)


def _compile(grammar: Grammar, vocab: Vocabulary, limits: Limits, deadline: float) -> CompiledGrammar:
    grammar_for_tables, dfas = terminal_dfas(grammar, limits, deadline)
    dead = {t.name for i, t in enumerate(grammar_for_tables.terminals) if not dfas.nonempty(i)}
    tables = build_parser_tables(grammar_for_tables, limits.max_grammar_symbols, dead_terminals=dead)
    lexers = LexerCache(dfas, tables.num_words, limits.max_lexer_states)
    compiled = CompiledGrammar(grammar, grammar_for_tables, vocab, tables, dfas, lexers, limits)

    matcher = Matcher(compiled)
    if not matcher.is_accepting():
        row = np.zeros((1, (vocab.size + 31) // 32), dtype=np.int32)
        matcher.fill_next_token_bitmask(row)
        if not row.any():
            raise VocabularyError(
                "no token of the vocabulary can start a string of the language "
                f"(grammar kind {grammar.kind!r}); the tokenizer cannot spell it"
            )
    if time.monotonic() > deadline:
        raise ResourceLimitError(f"compiling took longer than max_compile_seconds={limits.max_compile_seconds}")
    return compiled


_WARM_LOCK = threading.Lock()
_warm = False


def _warm_kernels() -> None:
    """Compile the Numba kernels that ``compile`` and a first mask use (or load them from
    Numba's on-disk cache: about half a second) once per process, before a compile's
    deadline starts: on an empty cache that takes tens of seconds, which is no grammar's
    cost and must not use up ``Limits.max_compile_seconds``. A small JSON Schema over a
    small vocabulary of multi-byte tokens reaches the DFA, product, lexer, Earley, mask and
    JSON-string slice kernels."""
    global _warm
    if _warm:
        return
    with _WARM_LOCK:
        if _warm:
            return
        from ..grammar.json_schema import grammar_from_json_schema

        tokens = [bytes([b]) for b in range(128)] + [b'{"', b'":', b'"a', b"ab", b'",', b"12", b'"}', b"true"]
        vocab = Vocabulary(tokens, eos_token_ids=[len(tokens)], size=len(tokens) + 1)
        schema = {
            "type": "object",
            "properties": {
                "a": {"type": "string", "maxLength": 40},
                "b": {"type": "integer", "minimum": 3, "not": {"const": 7}},
                "c": {"type": "string", "pattern": "^[a-z]+$"},
                "d": {"type": "array", "items": {"type": "boolean"}},
            },
            "required": ["a"],
        }
        compiled = _compile(grammar_from_json_schema(schema), vocab, DEFAULT_LIMITS, float("inf"))
        matcher = Matcher(compiled)
        row = np.zeros((1, (vocab.size + 31) // 32), dtype=np.int32)
        for chunk in (b'{"a":"ab', b'","b":12,"d":[true', b"]}"):
            matcher.fill_next_token_bitmask(row)
            matcher.accept_bytes(chunk)
        matcher.fill_next_token_bitmask(row)
        _warm = True


def warm_up() -> float:
    """Compile (or load from Numba's on-disk cache) every Numba kernel that compiling and
    matching use, and return the seconds it took.

    On a fresh install the kernels are compiled on first use, which takes tens of seconds
    once; Numba caches them on disk beside the package, so later processes load them in
    about a second. Run this (``constrain warm-up``) once after installing, so that no user
    request pays that first compilation. It exercises the front ends' and the matcher's
    kernel signatures on tiny grammars: every ``compile`` path, masks, the matcher verbs
    (``try_tokens``, ``accept_tokens``, draft masks, jump-forward, ``rollback``, ``fork``) and
    the batch filler.
    """
    from ..grammar.ir import Grammar as _Grammar  # the front ends are reached through Grammar
    from .batch import fill_next_token_bitmasks

    start = time.perf_counter()
    _warm_kernels()
    tokens = [bytes([b]) for b in range(256)] + [b'{"', b'":"', b"true", b"12", b"abc", b" x", b'"}', b"=1;"]
    vocab = Vocabulary(tokens, eos_token_ids=[len(tokens)], size=len(tokens) + 1)
    grammars = (
        _Grammar.from_json_schema(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "k": {"enum": ["x", "y"]},
                        "v": {"type": "integer", "maximum": 99},
                        "s": {"type": "string", "pattern": "^[a-c]+$", "minLength": 2},
                    },
                },
            }
        ),
        _Grammar.from_lark('start: item+\nitem: NAME "=" NUMBER ";"\nNAME: /[a-z]+/\nNUMBER: /[0-9]+/\n%ignore " "\n'),
        _Grammar.from_regex(r"(\w+@\w+\.com|\d{2,4})"),
        _Grammar.from_gbnf('root ::= "(" root ")" | [a-z]*'),
    )
    bitmask = np.zeros((2, (vocab.size + 31) // 32), dtype=np.int32)
    everything = np.arange(vocab.size)
    for grammar in grammars:
        compiled = compile(grammar, vocab)
        # Two walks: the second meets the memos (lexeme masks) that the first one built.
        for _ in range(2):
            matcher = Matcher(compiled)
            for _ in range(6):
                matcher.fill_next_token_bitmask(bitmask, 0)
                allowed = [t for t in np.flatnonzero(matcher.try_tokens(everything)) if t < len(tokens)]
                if not allowed:
                    break
                token = int(allowed[len(allowed) // 2])
                matcher.try_token(token)
                matcher.validate_tokens([token])
                matcher.fill_next_token_bitmasks_for_draft(bitmask, [token])
                matcher.accept_tokens([token])
                matcher.find_jump_forward_bytes()
            other = matcher.fork()
            matcher.rollback(min(2, matcher.num_accepted_tokens))
            fill_next_token_bitmasks([matcher, other], bitmask)
    return time.perf_counter() - start


#: Compiled grammars by (how the grammar was given, vocabulary, limits), shared by
#: ``constrain.generate``, the transformers logits processor, infilling and diffusion. Bound:
#: 32 grammars, the constraints a server alternates between; one holds its parser and lexer
#: tables and up to ``Limits.max_mask_cache_bytes`` of memoized masks, which its matchers
#: keep alive after eviction for as long as they live.
COMPILED_GRAMMARS: LRUCache[Tuple[Hashable, ...], CompiledGrammar] = LRUCache(
    "automata.compiled_grammars", max_entries=32
)


def compile_cached(
    key: Tuple[Hashable, ...], make_grammar: Callable[[], Grammar], vocab: Vocabulary, limits: Optional[Limits] = None
) -> CompiledGrammar:
    """``compile(make_grammar(), vocab, limits=limits)``, kept in :data:`COMPILED_GRAMMARS`.

    Args:
        key: what determines the grammar exactly: its source (``("regex", pattern)``), or the
            :class:`Grammar` itself (``grammar_key(grammar)``).
        make_grammar: builds the grammar on a miss (once, however many threads ask).
        vocab: the vocabulary; part of the key by identity (the compiled grammar holds it, so
            its id is not reused while the entry lives).
        limits: part of the key.
    """
    return COMPILED_GRAMMARS.get_or_create(key + (id(vocab), limits), _compile_made, make_grammar, vocab, limits)


def _compile_made(make_grammar: Callable[[], Grammar], vocab: Vocabulary, limits: Optional[Limits]) -> CompiledGrammar:
    return compile(make_grammar(), vocab, limits=limits)


def grammar_key(grammar: Grammar) -> Tuple[Hashable, ...]:
    """The :func:`compile_cached` key of a :class:`Grammar` object: its value (equal grammars
    compile alike) and its warnings (not part of its equality, but of the compiled grammar's)."""
    return ("grammar", grammar, grammar.warnings)


def schema_key(schema: Any) -> Optional[Tuple[Hashable, ...]]:
    """The :func:`compile_cached` key of a JSON Schema given as a dict, a bool or JSON text;
    ``None`` for anything else (a pydantic model class, a schema JSON cannot write)."""
    if isinstance(schema, str):
        return ("schema", schema)
    if isinstance(schema, (dict, bool)):
        try:
            return ("schema", json.dumps(schema, sort_keys=True))
        except (TypeError, ValueError):
            return None
    return None


def compile_constraint(
    vocab: Vocabulary,
    *,
    regex: Optional[str] = None,
    schema: Any = None,
    grammar: Union[Grammar, CompiledGrammar, None] = None,
) -> Optional[CompiledGrammar]:
    """Compile at most one of ``regex``, ``schema`` (a JSON Schema) or ``grammar`` (a
    :class:`Grammar`, or a :class:`CompiledGrammar` for ``vocab``); ``None`` if none is given.
    Compiled grammars come from :data:`COMPILED_GRAMMARS` when they are there.

    Raises:
        ConfigurationError: more than one is given, or ``grammar`` has the wrong type or vocabulary.
    """
    if sum(x is not None for x in (regex, schema, grammar)) > 1:
        raise ConfigurationError("give at most one of regex=, schema= or grammar=")
    if regex is not None:
        if not isinstance(regex, str):
            raise ConfigurationError(f"regex= must be a str, got {type(regex).__name__}")
        return compile_cached(("regex", regex), lambda: Grammar.from_regex(regex), vocab)
    if schema is not None:
        key = schema_key(schema)
        if key is None:
            return compile(Grammar.from_json_schema(schema), vocab)
        return compile_cached(key, lambda: Grammar.from_json_schema(schema), vocab)
    if isinstance(grammar, CompiledGrammar):
        if grammar.vocab != vocab:
            raise ConfigurationError("the compiled grammar was compiled for another vocabulary")
        return grammar
    if isinstance(grammar, Grammar):
        return compile_cached(grammar_key(grammar), lambda: grammar, vocab)
    if grammar is not None:
        raise ConfigurationError(f"grammar= must be a Grammar or CompiledGrammar, got {type(grammar).__name__}")
    return None
