"""Process-wide settings: Numba flags and default resource limits.

Numba flags are read once, when ``constrain.kernels`` is first imported; set the
environment variables ``CONSTRAIN_NUMBA_CACHE`` / ``CONSTRAIN_NUMBA_FASTMATH`` before that.
fastmath stays off by default: log-space kernels need ``-inf`` to survive.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import ConfigurationError


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("", "0", "false", "no", "off")


NUMBA_CACHE: bool = _env_flag("CONSTRAIN_NUMBA_CACHE", True)
NUMBA_FASTMATH: bool = _env_flag("CONSTRAIN_NUMBA_FASTMATH", False)

#: Keyword arguments every ``@njit`` in ``constrain.kernels`` takes, and nothing else.
#: The kernels never allocate, so they run without Numba's reference-counting runtime
#: (``_nrt=False``): with it, every array taken out of an argument tuple costs an atomic
#: increment and decrement, which made the trie walk's slow path 40x slower. ``nogil``
#: lets mask filling overlap the model's forward pass in another thread.
NJIT_OPTIONS = {"cache": NUMBA_CACHE, "fastmath": NUMBA_FASTMATH, "nogil": True, "_nrt": False}


#: Memory for the per-terminal-state masks shared by all compiled grammars of a process
#: (a lexeme in which one terminal is alive has a mask part that depends on that terminal's
#: DFA and the vocabulary alone).
SHARED_MASK_CACHE_BYTES: int = int(os.environ.get("CONSTRAIN_SHARED_MASK_CACHE_MB", "512")) * 2**20


#: The deepest nesting of groups (parentheses, brackets) that the regex, ECMAScript-pattern,
#: Lark and GBNF front ends accept, and of regular rules one GBNF terminal may inline: their
#: parsers, and the automaton builder after them, recurse along it. Deeper input raises
#: ``ResourceLimitError`` before anything recurses.
MAX_NESTING = 50


#: The largest value of a ``Limits`` bound.
MAX_LIMIT = 2**62


@dataclass(frozen=True)
class Limits:
    """Bounds that keep compiling and matching within time and memory.

    Attributes:
        max_dfa_states: states of one terminal's byte DFA, or of one lexer DFA.
        max_grammar_symbols: total symbols on the right-hand sides of all rules.
        max_schema_depth: nesting depth of JSON Schema subschemas followed while compiling;
            the schema document itself may nest at most twice as many objects and arrays.
            The default, 40, is what Python's default frame limit (1000) leaves room for
            when the caller's own stack is 300 frames deep (the meta-schema check and
            the validator recurse along the document); JSONSchemaBench's deepest
            schema nests 63 levels.
        max_compile_seconds: wall-clock budget for one compile.
        max_earley_items: Earley items one matcher may hold, all sets together, is 64 times
            this (it bounds ambiguity and text length at run time; 12.8 million items, about
            100 MB, by default).
        max_earley_work: Earley work one *step* may cost: one mask, one token (or one byte of
            ``accept_bytes``) accepted, one completeness check. Work counts the items each
            Earley set built in the step closes and scans, and the items examined to complete
            them; it bounds the time of a step in an ambiguous grammar, whose sets grow with
            the text (about 20 ns a unit: the default, 20 million, is about 0.4 s; the largest
            step of the Lark grammars of ``grammars/`` on Qwen2's vocabulary is 0.2 million,
            of MaskBench schemas 5,000). Past it the step raises ``ResourceLimitError`` and the
            matcher is unchanged.
        max_lexer_states: states of all lexer DFAs of one compiled grammar (about 1 KiB each).
        max_mask_cache_bytes: memory one compiled grammar may spend on memoized per-lexer-state
            masks (past it, masks are computed by a full walk).
        max_infill_states: parser configurations one infilling admissibility check may visit
            (``constrain.infill``); past it the check raises ``ResourceLimitError``.
        max_infill_seconds: wall-clock budget of one infilling admissibility check.
        max_automaton_bytes: working memory of one automaton construction while compiling
            (the subset construction's tables of NFA state sets grow with the input).
    """

    max_dfa_states: int = 20_000
    max_grammar_symbols: int = 2_000_000
    max_schema_depth: int = 40
    max_compile_seconds: float = 30.0
    max_earley_items: int = 200_000
    max_earley_work: int = 20_000_000
    max_lexer_states: int = 250_000
    max_mask_cache_bytes: int = 128 * 2**20
    max_infill_states: int = 50_000
    max_infill_seconds: float = 10.0
    max_automaton_bytes: int = 512 * 2**20

    def __post_init__(self) -> None:
        # Fail at construction, not deep inside a kernel: every bound is a whole number from 0
        # to MAX_LIMIT (the kernels keep them in int64), and a time a positive number of
        # seconds (``inf``: no deadline).
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_seconds"):
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value <= 0:
                    raise ConfigurationError(f"Limits.{field.name} must be a positive number of seconds, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= MAX_LIMIT:
                raise ConfigurationError(f"Limits.{field.name} must be an int from 0 to 2**62, got {value!r}")

    def replace(self, **changes: Any) -> "Limits":
        return replace(self, **changes)


DEFAULT_LIMITS = Limits()
