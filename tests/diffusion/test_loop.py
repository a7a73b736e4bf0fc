"""The diffusion decoding loop and its plugin, on mock denoisers over real vocabularies."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch

import constrain
from constrain.diffusion import DiffusionConstraint, generate
from constrain.errors import ConfigurationError
from tiny_lm import tiny_tokenizer

MASK = 257
SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}},
    "required": ["id", "ok"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def vocab():
    """The 256 bytes, EOS = 256 and a mask token, 257."""
    return constrain.Vocabulary(
        [bytes([b]) for b in range(256)], eos_token_ids=[256], special_token_ids=[MASK], size=258
    )


class TargetDenoiser:
    """A mock masked diffusion LM: at every generated position it prefers the byte of
    ``target`` there (EOS past its end), by ``margin`` logits over seeded noise."""

    mask_token_id = MASK

    def __init__(
        self,
        target: bytes,
        length: int,
        margin: float = 8.0,
        seed: int = 0,
        vocab_size: int = 258,
        token_of=lambda b: b,
        eos: int = 256,
    ):
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(length, vocab_size, generator=g)
        for i in range(length):
            tok = token_of(target[i]) if i < len(target) else eos
            self.table[i, tok] += margin
        self.length = length

    def __call__(self, input_ids):
        n = input_ids.shape[1]
        logits = torch.zeros(1, n, self.table.shape[1])
        logits[0, n - self.length :] = self.table
        return logits


def valid(text: str) -> bool:
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
        return True
    except (ValueError, jsonschema.ValidationError):
        return False


@pytest.mark.parametrize("order", ["confidence", "entropy"])
def test_constrained_repairs_what_the_model_breaks(vocab, order):
    target = b'{"id":12,"ok":tru}'  # a syntax error the model is sure of
    model = TargetDenoiser(target, 24)
    free = generate([], vocab=vocab, model=model, length=24, order=order)
    assert free.text == target.decode() and not valid(free.text)
    result = generate([], schema=SCHEMA, vocab=vocab, model=model, length=24, order=order)
    assert result.finish_reason == "eos", result
    assert valid(result.text), result.text
    assert result.value == json.loads(result.text)
    assert result.rejected > 0
    assert result.text.startswith('{"id":12,"ok":')


def test_error_rate_goes_to_zero(vocab):
    """Noisy denoisers around a valid object: unconstrained they make syntax errors at a
    measurable rate; constrained, every finished output is valid."""
    target = b'{"id":7,"ok":false}'
    free_errors, finished = 0, 0
    for seed in range(6):
        model = TargetDenoiser(target, 24, margin=2.5, seed=seed)
        free = generate([], vocab=vocab, model=model, length=24, seed=seed, temperature=0.5)
        free_errors += not valid(free.text)
        result = generate(
            [],
            schema=SCHEMA,
            vocab=vocab,
            model=model,
            length=24,
            seed=seed,
            temperature=0.5,
            steps=12,
            block_length=8,
            max_retries=400,
        )
        if result.finish_reason == "eos":
            finished += 1
            assert valid(result.text), result.text
    assert free_errors > 0
    assert finished >= 4


def test_bpe_vocabulary_with_merges():
    """The tiny GPT-2 tokenizer: tokens of several bytes, and its EOS."""
    tok = tiny_tokenizer()
    vocab = constrain.Vocabulary.from_transformers(tok)
    mask = vocab.size  # one more row than the tokenizer: the mask token
    vocab = constrain.Vocabulary(
        list(vocab.token_bytes) + [b""],
        eos_token_ids=vocab.eos_token_ids,
        special_token_ids=set(vocab.special_token_ids) | {mask},
        size=vocab.size + 1,
    )
    ids = tok.encode("1920-01-19")
    eos = min(vocab.eos_token_ids)

    class Model(TargetDenoiser):
        mask_token_id = mask

    # the model wants "1920-01-19" but the regex wants a month from February. A slot is
    # counted as up to 3 bytes (the longest token), an over-approximation: a run can end in
    # "retries" when a slot would need a 2-byte string no token spells. Finished ones are valid.
    import re

    finished = 0
    for seed in range(4):
        model = Model(bytes(range(len(ids))), 8, vocab_size=vocab.size, token_of=lambda i: ids[i], eos=eos, seed=seed)
        # and, second to that, any token of digits and dashes
        plausible = [i for i, tb in enumerate(vocab.token_bytes) if tb and all(c in b"0123456789-" for c in tb)]
        model.table[:, plausible] += 4.0
        result = generate([], regex=r"1920-0[2-9]-\d\d", vocab=vocab, model=model, length=8, max_retries=300)
        assert result.finish_reason in ("eos", "retries")
        if result.finish_reason == "eos":
            finished += 1
            assert re.fullmatch(r"1920-0[2-9]-\d\d", result.text), result
    assert finished >= 1


def test_plugin(vocab):
    compiled = constrain.compile(constrain.Grammar.from_regex(r"ab{2,3}"), vocab)
    plugin = DiffusionConstraint(compiled)
    a, b, eos = ord("a"), ord("b"), 256
    assert plugin.bytes_per_slot == 1
    assert plugin.is_admissible([a, None, None, None])
    assert plugin.admits([a, None, None, None], 3, eos)  # "ab" + "b" + EOS
    assert not plugin.admits([a, None, None, None], 1, eos)  # "a" alone
    assert not plugin.admits([None, None, None, None], 0, b)
    assert not plugin.is_admissible([a, b, b, b, b])
    mask = plugin.candidate_mask([a, b, None, None], 2)
    assert mask[b] and not mask[eos] and not mask[a]  # "ab" is not complete yet
    assert plugin.candidate_mask([None, b, None], 2).sum() == 257  # unknown prefix: no filter
    with pytest.raises(ConfigurationError, match="not masked"):
        plugin.admits([a, None], 0, b)


def test_arguments(vocab):
    model = TargetDenoiser(b"x", 4)
    with pytest.raises(ConfigurationError, match="without model"):
        generate([], regex="x", vocab=vocab)
    with pytest.raises(ConfigurationError, match="order"):
        generate([], regex="x", vocab=vocab, model=model, length=4, order="random")
    with pytest.raises(ConfigurationError, match="at most one"):
        generate([], regex="x", schema={}, vocab=vocab, model=model, length=4)
    with pytest.raises(ConfigurationError, match="shape"):
        generate([], regex="x", vocab=vocab, model=lambda ids: torch.zeros(1, 3), length=4, mask_token_id=MASK)


def test_retry_cap_is_a_clear_outcome(vocab):
    """A model that only ever proposes 'z' where the grammar wants digits: the cap ends it."""
    model = TargetDenoiser(b"zzzz", 4, margin=50.0)
    result = generate([], regex=r"\d{4}", vocab=vocab, model=model, length=4, max_retries=3)
    assert result.finish_reason == "retries" and result.rejected == 4


def test_candidate_mask_is_necessary_and_witness_is_admissible(vocab):
    """Every admissible proposal is inside the candidate mask; the witness token of a masked
    position keeps the canvas admissible."""
    import random

    compiled = constrain.compile(constrain.Grammar.from_json_schema(SCHEMA), vocab)
    plugin = DiffusionConstraint(compiled)
    text = list(b'{"id":42,"ok":true}') + [256] * 3
    rng = random.Random(0)
    letters = sorted(set(b'{}":,idoktruefals0123456789')) + [256]
    for _ in range(12):
        canvas = [None if rng.random() < 0.5 else t for t in text]
        masked = [p for p, t in enumerate(canvas) if t is None]
        if not masked or not plugin.is_admissible(canvas):
            continue
        pos = masked[0]
        mask = plugin.candidate_mask(canvas, pos)
        for token in letters:
            if plugin.admits(canvas, pos, token):
                assert mask[token], (canvas, pos, token)
        for pos in masked:
            token = plugin.witness_token(canvas, pos)
            assert token is not None and plugin.admits(canvas, pos, token), (canvas, pos, token)


def test_single_byte_slots_need_every_byte():
    tok = tiny_tokenizer()
    vocab = constrain.Vocabulary.from_transformers(tok)
    compiled = constrain.compile(constrain.Grammar.from_regex(r"\d+"), vocab)
    assert DiffusionConstraint(compiled, bytes_per_slot=1).bytes_per_slot == 1  # every byte is a token
    bpe_only = constrain.Vocabulary([b"ab", b"a", b"b"], eos_token_ids=[3], size=4)
    compiled = constrain.compile(constrain.Grammar.from_regex(r"(ab)+"), bpe_only)
    with pytest.raises(ConfigurationError, match="every byte"):
        DiffusionConstraint(compiled, bytes_per_slot=1)
