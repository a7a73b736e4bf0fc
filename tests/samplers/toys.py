"""Toy languages and models whose probabilities are known, for exact sampler tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

import constrain
from constrain.models import ToyLM

#: Multi-byte tokens, so one string has several tokenizations; id 6 is EOS.
BIT_TOKENS = [b"0", b"1", b"00", b"01", b"10", b"11", b""]
EOS = 6


def bit_vocabulary() -> constrain.Vocabulary:
    return constrain.Vocabulary(BIT_TOKENS, eos_token_ids=[EOS])


def skewed_model(seed: int = 0) -> ToyLM:
    """Next-token probabilities that depend on the prefix (a seeded random table per prefix
    length and last token), so that LCD's bias is visible."""
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(len(BIT_TOKENS), 0.8), size=(16, len(BIT_TOKENS) + 1))

    def next_logprobs(prefix):
        last = prefix[-1] if prefix else len(BIT_TOKENS)
        return np.log(table[min(len(prefix), 15), last])

    return ToyLM(len(BIT_TOKENS), next_logprobs)


def uniform_bits_model() -> ToyLM:
    """The GAD paper's motivating model: single bits with equal probability, EOS likely only
    after three bits; multi-bit tokens improbable."""

    def next_logprobs(prefix):
        p = np.array([0.45, 0.45, 1e-3, 1e-3, 1e-3, 1e-3, 0.1 if len(prefix) >= 4 else 1e-3])
        return np.log(p)

    return ToyLM(len(BIT_TOKENS), next_logprobs)


@pytest.fixture(scope="module")
def bits():
    return bit_vocabulary()


def compile_regex(pattern: str, vocab) -> constrain.CompiledGrammar:
    return constrain.compile(constrain.Grammar.from_regex(pattern), vocab)


def tv_floor(probs, n: int) -> float:
    """The expected TV distance of ``n`` exact samples from ``probs`` (normal approximation)."""
    return 0.5 * sum(math.sqrt(2 * p * (1 - p) / (math.pi * n)) for p in probs)
