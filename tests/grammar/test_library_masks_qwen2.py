"""Every library grammar: full Qwen2 masks at a sampled state equal the plain-Python twin's."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

import constrain
from constrain import Matcher
from constrain.grammar.loader import load_grammar
from naive import NaiveMatcher, naive_mask, unpack_bitmask

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem for p in (ROOT / "grammars").iterdir() if p.suffix in (".lark", ".gbnf"))


@pytest.mark.parametrize("name", NAMES)
def test_mask_at_a_sampled_state_equals_the_twin(qwen2_vocab, name):
    samples = json.loads((ROOT / "tests" / "data" / "grammars" / f"{name}.json").read_text())["accept"]
    text = max(samples, key=len).encode()
    prefix = text[: len(text) // 2]  # mid-sample: usually inside a lexeme, after several
    compiled = constrain.compile(load_grammar(name), qwen2_vocab)
    m, twin = Matcher(compiled), NaiveMatcher(compiled)
    assert m.accept_bytes(prefix) and twin.advance(prefix)
    bitmask = constrain.allocate_token_bitmask(1, qwen2_vocab.size)
    m.fill_next_token_bitmask(bitmask)
    got = unpack_bitmask(bitmask[0], qwen2_vocab.size)
    want = naive_mask(twin, compiled)
    diff = np.nonzero(got != want)[0]
    assert diff.size == 0, (prefix, [qwen2_vocab.token_bytes[t] for t in diff[:10]])
