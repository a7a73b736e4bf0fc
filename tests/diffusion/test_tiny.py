"""The shipped tiny diffusion model: unconstrained it makes syntax errors; constrained, every
finished output is in the language."""

from __future__ import annotations

import torch

import constrain
from constrain.diffusion import generate
from constrain.diffusion.tiny import MASK_ID, VOCAB_SIZE, WEIGHTS, load_tiny_model, tiny_vocabulary
from constrain.grammar.loader import load_grammar


def accepted(grammar, text: str) -> bool:
    m = constrain.Matcher(constrain.compile(grammar, tiny_vocabulary()))
    return m.accept_bytes(text.encode()) and m.is_accepting()


def test_weights_are_small_and_load():
    assert WEIGHTS.stat().st_size < 5 * 2**20
    model = load_tiny_model()
    ids = torch.tensor([list(b"json:") + [MASK_ID] * 8])
    assert model(ids).shape == (1, 13, VOCAB_SIZE)


def test_free_errors_constrained_none():
    cases = [
        ("json:", {"schema": {"type": "object"}}, constrain.Grammar.from_json_schema({"type": "object"})),
        ("expr:", {"grammar": load_grammar("arithmetic")}, load_grammar("arithmetic")),
    ]
    free_errors, finished = 0, 0
    for tag, constraint, grammar in cases:
        for seed in range(4):
            free = generate(tag, length=40, seed=seed, temperature=1.0)
            free_errors += not accepted(grammar, free.text)
            result = generate(tag, length=40, seed=seed, temperature=1.0, max_retries=400, **constraint)
            if result.finish_reason == "eos":
                finished += 1
                assert accepted(grammar, result.text), result
    assert free_errors > 0
    assert finished >= 6
