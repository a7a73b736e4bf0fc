"""The check on Qwen2's real vocabulary: slot canvases cut from tokenized texts, judged against
a token-level brute force (every token of the vocabulary in the one masked slot, each text
judged by the ``Matcher``)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

import constrain
from constrain.config import Limits
from constrain.errors import ResourceLimitError
from constrain.infill import Gap, InfillChecker
from constrain.testing import qwen2_hf_tokenizer, qwen2_vocabulary

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "n": {"type": "integer"},
        "tags": {"type": "array", "items": {"enum": ["a", "bc"]}},
    },
    "required": ["name", "n"],
    "additionalProperties": False,
}
DOCS = [
    {"name": "Ada Lovelace", "n": 36, "tags": ["a", "bc"]},
    {"name": "x", "n": -7},
    {"name": "héllo wörld", "n": 120, "tags": []},
]


@pytest.fixture(scope="module")
def setup():
    vocab = qwen2_vocabulary()
    compiled = constrain.compile(constrain.Grammar.from_json_schema(SCHEMA), vocab)
    return vocab, compiled, InfillChecker(compiled), qwen2_hf_tokenizer()


def accepted(compiled, text: bytes) -> bool:
    m = constrain.Matcher(compiled)
    return m.accept_bytes(text) and m.is_accepting()


def one_slot_brute_force(compiled, vocab, canvas, position) -> bool:
    """Whether some token (or EOS) in the masked ``position`` completes the row, the other
    masked slots being filled from the original tokens (the callers mask one slot only)."""
    before = vocab.decode(canvas[:position])
    after = vocab.decode([t for t in canvas[position + 1 :] if t not in vocab.eos_token_ids])
    m = constrain.Matcher(compiled)
    if not m.accept_bytes(before):
        return False
    row = constrain.allocate_token_bitmask(1, vocab.size)
    m.fill_next_token_bitmask(row)  # a token outside the prefix mask cannot complete it
    allowed = np.flatnonzero(constrain.bitmask_to_bool(row, vocab.size)[0])
    for t in allowed.tolist():
        if t in vocab.eos_token_ids:
            if not after and m.is_accepting():
                return True
            continue
        if accepted(compiled, before + vocab.token_bytes[t] + after):
            return True
    return False


def test_masked_tokenized_documents_are_admissible(setup):
    vocab, compiled, checker, tokenizer = setup
    rng = random.Random(0)
    for doc in DOCS:
        ids = tokenizer.encode(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
        for _ in range(6):
            slots = list(ids) + [min(vocab.eos_token_ids)] * 3
            for p in rng.sample(range(len(slots)), k=rng.randint(1, max(1, len(slots) // 2))):
                slots[p] = None
            canvas = checker.slot_canvas(slots, vocab)
            found = checker.complete(canvas)
            assert found is not None, slots
            it = iter(found)
            text = b"".join(next(it) if isinstance(p, Gap) else p for p in canvas)
            assert accepted(compiled, text)


def test_one_slot_canvases_against_token_brute_force(setup):
    """A canvas with one masked slot and one fixed token replaced by a random token: if some
    Qwen2 token completes it, the check admits it (slots count as up to the longest token's
    bytes, so the converse holds only as: the check's refusal means no token completes it)."""
    vocab, compiled, checker, tokenizer = setup
    rng = random.Random(1)
    answers = {True: 0, False: 0, "limit": 0}
    limited = InfillChecker(compiled, limits=Limits(max_infill_seconds=1.0))
    for doc in DOCS:
        ids = tokenizer.encode(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
        for trial in range(5):
            slots = list(ids)
            hole = rng.randrange(len(slots))
            if trial % 2:
                other = rng.choice([p for p in range(len(slots)) if p != hole])
                slots[other] = rng.choice(tokenizer.encode('{}[]",:0123 abc'))
            slots[hole] = None
            truth = one_slot_brute_force(compiled, vocab, slots, hole)
            try:
                admitted = limited.is_admissible(checker.slot_canvas(slots, vocab))
            except ResourceLimitError:
                # A slot of up to 128 bytes (Qwen2's longest token) before an impossible
                # suffix: thousands of configurations to rule out in Python. The limit never
                # stands for "admissible"; here it only ever meets canvases no token completes.
                assert not truth, slots
                answers["limit"] += 1
                continue
            if truth:
                assert admitted, slots
            if not admitted:
                assert not truth, slots
            answers[admitted] += 1
    assert answers[True] and answers[False] and answers["limit"] <= 3, answers


def test_table_judged_by_the_qwen2_matcher(setup):
    """The byte-level table of test_check, with the brute force judged by matchers compiled
    for Qwen2's vocabulary and the checker built from that compile."""
    from test_check import CASES, GRAMMARS, alphabet, brute_force, fill

    vocab = setup[0]
    compiled_by_name = {}
    for name, parts, expected in CASES:
        compiled = compiled_by_name.get(name)
        if compiled is None:
            compiled = compiled_by_name[name] = constrain.compile(GRAMMARS[name], vocab)
        found = InfillChecker(compiled).complete(parts)
        assert (found is not None) == expected, (name, parts)
        twin = brute_force(compiled, parts, alphabet(compiled), 3)
        assert (twin is not None) == expected, (name, parts)
        if found is not None:
            assert accepted(compiled, fill(parts, found))
