"""The mask kernels against the plain-Python twin on a real 151,646-id vocabulary (Qwen2)."""

from __future__ import annotations

import random

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, compile
from constrain.config import DEFAULT_LIMITS
from naive import NaiveMatcher, naive_mask, unpack_bitmask
from test_matcher import JSONISH, SUMS

# (grammar, prefixes whose masks are compared token by token with the twin)
CASES = [
    ("date", Grammar.from_regex(r"\d{4}-\d{2}-\d{2}"), [b"", b"2024-0"]),
    ("words", Grammar.from_regex(r"(red|green|blue)( (red|green|blue))*"), [b"", b"green b"]),
    ("sums", SUMS, [b"(1 +", b"12"]),
    # string slice taken at once: bounded (a chain of states), then closed (a loop)
    ("bounded", Grammar.from_regex(r'"[^"\\]{0,5}"'), [b'"', b'"ab']),
    ("closed", Grammar.from_regex(r'"[^"\\]+"(,"[^"\\]*")*'), [b'"', b'"x', b'"x","']),
    ("jsonish", JSONISH, [b'{"a":[1,', b'{"a":["x y', b'{"a":[12']),
    # a long string in chunks of 32 characters: the short slice tokens are taken at once, the
    # long ones walked (slices.final_length)
    (
        "chunked",
        Grammar.from_json_schema({"type": "string", "maxLength": 200}),
        [b'"', b'"' + b"ab" * 10, b'"' + b"x" * 40],
    ),
    # a chunk that only a comma may follow: no slice token longer than the chunk's rest
    ("chunk then comma", Grammar.from_lark('start: CHUNK ","\nCHUNK: /"[^"\\\\]{32}/'), [b'"', b'"abc']),
]


@pytest.mark.parametrize("name,grammar,prefixes", CASES, ids=[c[0] for c in CASES])
def test_masks_equal_naive_twin_on_qwen2(qwen2_vocab, name, grammar, prefixes):
    compiled = compile(grammar, qwen2_vocab)
    bitmask = constrain.allocate_token_bitmask(1, qwen2_vocab.size)
    for prefix in prefixes:
        m, twin = Matcher(compiled), NaiveMatcher(compiled)
        assert m.accept_bytes(prefix) and twin.advance(prefix)
        m.fill_next_token_bitmask(bitmask)
        got = unpack_bitmask(bitmask[0], qwen2_vocab.size)
        want = naive_mask(twin, compiled)
        diff = np.nonzero(got != want)[0]
        assert diff.size == 0, (prefix, [qwen2_vocab.token_bytes[t] for t in diff[:10]])


def test_memoized_and_plain_walks_agree_along_random_walks(qwen2_vocab):
    """The memoized path (lexer-state masks + frontier) against the plain trie walk."""
    cached = compile(JSONISH, qwen2_vocab)
    plain = compile(JSONISH, qwen2_vocab, limits=DEFAULT_LIMITS.replace(max_mask_cache_bytes=0))
    rng = random.Random(0)
    a_mask = constrain.allocate_token_bitmask(1, qwen2_vocab.size)
    b_mask = constrain.allocate_token_bitmask(1, qwen2_vocab.size)
    steps = 0
    for _ in range(6):
        a, b = Matcher(cached), Matcher(plain)
        for _ in range(40):
            a.fill_next_token_bitmask(a_mask)
            b.fill_next_token_bitmask(b_mask)
            assert (a_mask == b_mask).all()
            allowed = np.nonzero(unpack_bitmask(a_mask[0], qwen2_vocab.size))[0]
            # Prefer short structural tokens so walks cover many grammar states.
            short = [t for t in allowed.tolist() if len(qwen2_vocab.token_bytes[t]) <= 2] or allowed.tolist()
            t = rng.choice(short)
            assert a.accept_token(t) and b.accept_token(t)
            steps += 1
            if a.is_terminated():
                break
    assert steps > 100
