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

EXERCISE = textwrap.dedent(
    r"""
    import numpy as np
    import constrain
    from constrain import Grammar, Vocabulary

    tokens = [bytes([b]) for b in range(256)] + [b'{"', b'":"', b'true', b'12', b'abc', b' x', b'"}']
    vocab = Vocabulary(tokens, eos_token_ids=[len(tokens)], size=len(tokens) + 1)
    grammars = [
        Grammar.from_json_schema({"type": "array", "items": {"type": "object", "properties": {
            "k": {"enum": ["x", "y"]}, "v": {"type": "integer", "maximum": 99},
            "s": {"type": "string", "pattern": "^[a-c]+$", "minLength": 2}}}}),
        Grammar.from_lark('start: item+\nitem: NAME "=" NUMBER ";"\nNAME: /[a-z]+/\nNUMBER: /[0-9]+/\n%ignore " "\n'),
        Grammar.from_regex(r"(\w+@\w+\.com|\d{2,4})"),
        Grammar.from_gbnf('root ::= "(" root ")" | [a-z]*'),
    ]
    bitmask = constrain.allocate_token_bitmask(3, vocab.size)
    for grammar in grammars:
        m = constrain.Matcher(constrain.compile(grammar, vocab))
        for _ in range(6):
            m.fill_next_token_bitmask(bitmask, 0)
            allowed = np.flatnonzero(m.try_tokens(np.arange(vocab.size)))
            allowed = [t for t in allowed if t not in vocab.eos_token_ids]
            if not allowed:
                break
            t = int(allowed[len(allowed) // 2])
            m.validate_tokens([t]); m.fill_next_token_bitmasks_for_draft(bitmask, [t])
            m.accept_tokens([t]); m.find_jump_forward_bytes()
        other = m.fork(); m.rollback(2)
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
