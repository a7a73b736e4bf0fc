"""``constrain.warm_up`` leaves nothing for a later process to compile: after it, a fresh
process that compiles grammars of every front end and calls every matcher verb finds all its
kernels in Numba's on-disk cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Other grammars, another vocabulary and longer random walks than the warm-up's own.
EXERCISE = textwrap.dedent(
    r"""
    import random
    import numpy as np
    import constrain
    from constrain import Grammar, Vocabulary

    tokens = [bytes([b]) for b in range(256)] + [b'{"d":"', b'2024-', b'null', b'", "', b'(1', b'+2)', b' Bo']
    vocab = Vocabulary(tokens, eos_token_ids=[len(tokens)], size=len(tokens) + 1)
    grammars = [
        Grammar.from_json_schema({"type": "object", "required": ["d"], "properties": {
            "d": {"type": "string", "format": "date"},
            "n": {"anyOf": [{"type": "number", "minimum": -5}, {"type": "null"}]},
            "t": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2}}}),
        Grammar.from_lark('start: expr\nexpr: term (("+"|"-") term)*\nterm: NUMBER | "(" expr ")"\n'
                          '%import common.NUMBER\n%import common.WS\n%ignore WS\n'),
        Grammar.from_regex(r"[A-Z][a-z]{1,8}( [A-Z][a-z]{1,8})?"),
        Grammar.from_gbnf('root ::= "[" ws (num ("," ws num)*)? "]"\nnum ::= [0-9]+\nws ::= [ ]?'),
    ]
    rng = random.Random(0)
    bitmask = constrain.allocate_token_bitmask(3, vocab.size)
    everything = np.arange(vocab.size)
    for grammar in grammars:
        compiled = constrain.compile(grammar, vocab)
        for walk in range(3):
            m = constrain.Matcher(compiled)
            for _ in range(12):
                m.fill_next_token_bitmask(bitmask, walk)
                allowed = [t for t in np.flatnonzero(m.try_tokens(everything)) if t < len(tokens)]
                if not allowed:
                    break
                t = int(rng.choice(allowed))
                m.try_token(t); m.validate_tokens([t]); m.fill_next_token_bitmasks_for_draft(bitmask, [t])
                m.accept_tokens([t]); m.find_jump_forward_bytes()
            other = m.fork(); m.rollback(min(3, m.num_accepted_tokens))
            constrain.fill_next_token_bitmasks([m, other], bitmask[:2])
    """
)


def _numba_cache_files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*.nbc")}


@pytest.mark.slow  # compiles every kernel into an empty Numba cache: a minute or more
def test_a_process_after_warm_up_compiles_nothing(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", "import constrain; constrain.warm_up()"], env=env, check=True)
    after_warm_up = _numba_cache_files(tmp_path)
    assert after_warm_up
    subprocess.run([sys.executable, "-c", EXERCISE], env=env, check=True)
    assert _numba_cache_files(tmp_path) == after_warm_up


SIGNATURES = EXERCISE + textwrap.dedent(
    r"""
    # other keys beside a pattern: "not the declared names" is a set of literals built as a
    # trie (whose acceptance flags, from np.frombuffer, once made minimize_kernel compile a
    # second specialization at run time)
    schema = {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue", "cyan"]},
                                               "size": {"enum": ["S", "M", "L"]}},
              "patternProperties": {"^x-": {"type": "integer"}}}
    m = constrain.Matcher(constrain.compile(Grammar.from_json_schema(schema), vocab))
    for chunk in (b'{"color":"', b'green', b'","size":"M"}'):
        m.fill_next_token_bitmask(bitmask, 0)
        m.accept_bytes(chunk)

    import importlib, pkgutil
    import constrain.kernels
    from numba.core.registry import CPUDispatcher

    several = []
    for info in pkgutil.iter_modules(constrain.kernels.__path__):
        module = importlib.import_module(f"constrain.kernels.{info.name}")
        for name, kernel in vars(module).items():
            if isinstance(kernel, CPUDispatcher) and kernel.__module__ == module.__name__:
                if len(kernel.signatures) > 1:
                    several.append(f"{info.name}.{name}: {kernel.signatures}")
    assert not several, several
    """
)


def test_every_kernel_is_loaded_for_one_signature():
    # Each specialization is code that a process's first compile loads from Numba's cache
    # (about 30 ms each): the wrappers pass one kind of array (read-only tables, int64
    # scalars) wherever a grammar, a lexer or a terminal DFA is behind them.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", SIGNATURES], env=env, check=True, timeout=600)
