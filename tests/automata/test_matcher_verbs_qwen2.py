"""The matcher's verbs and the batch filler on Qwen2's vocabulary, against the twin and the
masks, along random walks of a JSON Schema's documents."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, compile
from constrain.automata.batch import BatchMatcher, fill_next_token_bitmasks
from naive import NaiveMatcher, naive_accept_count, naive_forced_bytes, unpack_bitmask
from test_matcher import JSONISH

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "maxItems": 3},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def compiled(qwen2_vocab):
    return compile(Grammar.from_json_schema(SCHEMA), qwen2_vocab)


def _mask(m, size):
    bitmask = constrain.allocate_token_bitmask(1, size)
    m.fill_next_token_bitmask(bitmask)
    return unpack_bitmask(bitmask[0], size)


def _walk(compiled, rng, steps):
    """The tokens of a random walk of allowed tokens (short ones preferred, so walks reach
    many grammar states), up to EOS or ``steps`` tokens."""
    vocab = compiled.vocab
    m = Matcher(compiled)
    tokens = []
    for _ in range(steps):
        allowed = np.flatnonzero(_mask(m, vocab.size)).tolist()
        short = [t for t in allowed if len(vocab.token_bytes[t]) <= 3] or allowed
        t = rng.choice(short)
        assert m.accept_token(t)
        tokens.append(t)
        if m.is_terminated():
            break
    return tokens


def _whole_walks(compiled, seed, count, steps):
    rng = random.Random(seed)
    return [_walk(compiled, rng, steps) for _ in range(count)]


def _walks(compiled, seed, count, steps):
    """(tokens so far, matcher there) at every position of ``count`` random walks."""
    for tokens in _whole_walks(compiled, seed, count, steps):
        m = Matcher(compiled)
        for i, t in enumerate(tokens):
            yield tokens[:i], m
            assert m.accept_token(t)


def test_try_tokens_equal_the_mask_and_the_twin(compiled, qwen2_vocab):
    size = qwen2_vocab.size
    everything = np.arange(size)
    rng = random.Random(1)
    positions = 0
    for tokens, m in _walks(compiled, 1, 3, 30):
        mask = _mask(m, size)
        assert (m.try_tokens(everything) == mask).all(), tokens
        twin = NaiveMatcher(compiled)
        assert twin.advance(b"".join(qwen2_vocab.token_bytes[t] for t in tokens))
        sample = rng.sample(range(size), 100) + rng.sample(np.flatnonzero(mask).tolist(), min(50, int(mask.sum())))
        for t in sample:
            assert m.try_token(t) == bool(naive_accept_count(twin, compiled, [t])), (tokens, t)
        positions += 1
    assert positions > 40


def test_accept_validate_and_draft_masks(compiled, qwen2_vocab):
    size = qwen2_vocab.size
    rng = random.Random(2)
    walks = _whole_walks(compiled, 3, 4, 40)
    for full in walks:
        for _ in range(4):
            cut = rng.randrange(len(full))
            prefix, draft = full[:cut], full[cut : cut + rng.randrange(1, 9)]
            if rng.random() < 0.5:
                draft = draft[: rng.randrange(len(draft) + 1)] + [rng.randrange(size)] + draft
            m = Matcher(compiled)
            assert m.accept_tokens(prefix) == len(prefix)
            twin = NaiveMatcher(compiled)
            assert twin.advance(b"".join(qwen2_vocab.token_bytes[t] for t in prefix))
            want = naive_accept_count(twin, compiled, draft)
            assert m.validate_tokens(draft) == want
            bitmask = constrain.allocate_token_bitmask(len(draft) + 1, size)
            assert m.fill_next_token_bitmasks_for_draft(bitmask, draft) == want + 1
            walker = m.fork()
            for i in range(want + 1):
                assert (bitmask[i] == _packed(walker, size)).all()
                if i < want:
                    assert walker.accept_token(draft[i])
            assert m.accept_tokens(draft) == want and m.num_accepted_tokens == cut + want


def _packed(m, size):
    bitmask = constrain.allocate_token_bitmask(1, size)
    m.fill_next_token_bitmask(bitmask)
    return bitmask[0]


def test_jump_forward_bytes_equal_the_twin(compiled, qwen2_vocab):
    seen = set()
    for tokens, m in _walks(compiled, 5, 3, 40):
        twin = NaiveMatcher(compiled)
        assert twin.advance(b"".join(qwen2_vocab.token_bytes[t] for t in tokens))
        forced = m.find_jump_forward_bytes()
        assert forced == naive_forced_bytes(twin, 4096), tokens
        seen.add(forced)
    # Keys have one spelling (string_escapes="minimal", the default) and come in the schema's
    # order, so whole keys are forced: '{"name":"' at the start, '","age":' after the name...
    assert b'{"name":"' in seen and b'","age":' in seen and len(seen - {b""}) >= 3, seen


@pytest.mark.parametrize("num_threads", [1, 4])
def test_batch_fill_equals_one_by_one_on_one_compiled_grammar(compiled, qwen2_vocab, num_threads):
    """Matchers of one compiled grammar (and of a second one) at many positions, filled from a
    pool, several rounds: the rows equal the masks filled one by one in this thread."""
    size = qwen2_vocab.size
    other = compile(JSONISH, qwen2_vocab)
    matchers = []
    for tokens, m in _walks(compiled, 6, 2, 24):
        matchers.append(m.fork())
    for tokens, m in _walks(other, 7, 1, 12):
        matchers.append(m.fork())
    expected = np.stack([_packed(m.fork(), size) for m in matchers])
    rows = list(range(len(matchers)))
    random.Random(8).shuffle(rows)
    with BatchMatcher(num_threads) as batch:
        for _ in range(3):
            bitmask = constrain.allocate_token_bitmask(len(matchers) + 2, size)
            batch.fill_next_token_bitmasks(matchers, bitmask, rows)
            assert (bitmask[rows] == expected).all()
            assert not bitmask[len(matchers) :].any()
    bitmask = constrain.allocate_token_bitmask(len(matchers), size)
    fill_next_token_bitmasks(matchers, bitmask, num_threads=num_threads)
    assert (bitmask == expected).all()


def test_fresh_grammar_filled_from_many_threads_at_once(qwen2_vocab):
    """A new compiled grammar: its lexers and memos are built while four threads fill masks
    of its matchers (each thread its own matcher, several walks each) at the same time."""
    size = qwen2_vocab.size
    reference = compile(Grammar.from_json_schema(SCHEMA), qwen2_vocab)
    walks = _whole_walks(reference, 9, 4, 20)
    expected = []
    for tokens in walks:
        m = Matcher(reference)
        masks = []
        for t in tokens:
            masks.append(_packed(m, size))
            assert m.accept_token(t)
        expected.append(masks)
    shared = compile(Grammar.from_json_schema(SCHEMA), qwen2_vocab)
    errors = []

    def run(i):
        try:
            m = Matcher(shared)
            for step, t in enumerate(walks[i]):
                if not (_packed(m, size) == expected[i][step]).all():
                    errors.append((i, step))
                assert m.accept_token(t)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(walks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(walks) >= 3 and not errors
