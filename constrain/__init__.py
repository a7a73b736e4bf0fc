"""constrain: constrained and structured generation from language models.

JSON Schemas, regexes and context-free grammars become token masks over a real tokenizer's
vocabulary::

    import constrain
    grammar = constrain.Grammar.from_regex(r"\\d{4}-\\d{2}-\\d{2}")
    compiled = constrain.compile(grammar, constrain.Vocabulary.from_transformers(tokenizer))
    matcher = constrain.Matcher(compiled)
    bitmask = constrain.allocate_token_bitmask(1, compiled.vocab_size)
    matcher.fill_next_token_bitmask(bitmask)

or, end to end, ``constrain.generate("Today's date:", regex=r"\\d{4}-\\d{2}-\\d{2}")``.

The torch-dependent names (``generate``, ``apply_token_bitmask_inplace``,
``ConstrainedLogitsProcessor``) are imported on first use, so compiling grammars and filling
masks never loads torch.
"""

from importlib import metadata as _metadata
from typing import Any as _Any

from .automata.compiled import CompiledGrammar
from .automata.compiler import compile, warm_up
from .automata.batch import BatchMatcher, fill_next_token_bitmasks
from .automata.matcher import Matcher
from .cache import caches, clear_caches
from .errors import (
    ConfigurationError,
    ConstrainError,
    ConstrainWarning,
    GrammarError,
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
    VocabularyError,
)
from .grammar import Grammar
from .masks.bitmask import allocate_token_bitmask, bitmask_to_bool, get_bitmask_shape
from .vocab import Vocabulary

try:
    __version__ = _metadata.version("constrain")
except _metadata.PackageNotFoundError:  # running from a checkout
    __version__ = "0.1.0"

_LAZY = {
    "generate": ("constrain.api", "generate"),
    "stream": ("constrain.api", "stream"),
    "ASAp": ("constrain.api", "ASAp"),
    "GenerationResult": ("constrain.api", "GenerationResult"),
    "apply_token_bitmask_inplace": ("constrain.masks.apply", "apply_token_bitmask_inplace"),
    "ConstrainedLogitsProcessor": ("constrain.integrations.transformers", "ConstrainedLogitsProcessor"),
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'constrain' has no attribute {name!r}")


__all__ = (
    "ASAp",
    "BatchMatcher",
    "CompiledGrammar",
    "ConfigurationError",
    "ConstrainError",
    "ConstrainWarning",
    "ConstrainedLogitsProcessor",
    "GenerationResult",
    "Grammar",
    "GrammarError",
    "InvalidGrammarError",
    "Matcher",
    "ResourceLimitError",
    "UnsatisfiableGrammarError",
    "UnsupportedFeatureError",
    "Vocabulary",
    "VocabularyError",
    "allocate_token_bitmask",
    "apply_token_bitmask_inplace",
    "bitmask_to_bool",
    "caches",
    "clear_caches",
    "compile",
    "fill_next_token_bitmasks",
    "generate",
    "get_bitmask_shape",
    "stream",
    "warm_up",
)
