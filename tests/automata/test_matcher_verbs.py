"""The matcher's verbs for samplers and speculative decoding (try_token, try_tokens,
accept_tokens, validate_tokens, fill_next_token_bitmasks_for_draft, find_jump_forward_bytes)
against the plain-Python twin and brute force, on the byte-level and toy vocabularies."""

from __future__ import annotations

import random

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, compile
from naive import (
    NaiveMatcher,
    common_prefix,
    naive_accept_count,
    naive_completions,
    naive_forced_bytes,
    naive_mask,
    unpack_bitmask,
)
from test_matcher import BYTES, GRAMMARS, JSONISH, SUMS, TOY, grammar__accepted__rejected

EOS = next(iter(TOY.eos_token_ids))
SPECIAL = next(iter(TOY.special_token_ids))


def _states(name):
    """(prefix, vocabulary) pairs: every prefix of the grammar's accepted samples."""
    for grammar, accepted, _ in grammar__accepted__rejected:
        if grammar == name:
            for text in accepted:
                data = text.encode()
                for i in range(len(data) + 1):
                    yield data[:i]


def _mask(m, vocab):
    bitmask = constrain.allocate_token_bitmask(1, vocab.size)
    m.fill_next_token_bitmask(bitmask)
    return unpack_bitmask(bitmask[0], vocab.size)


@pytest.mark.parametrize("vocab", [BYTES, TOY], ids=["bytes", "toy"])
@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_try_token_and_try_tokens_equal_the_naive_mask(name, vocab):
    compiled = compile(GRAMMARS[name], vocab)
    everything = np.arange(vocab.size)
    for prefix in _states(name):
        m, twin = Matcher(compiled), NaiveMatcher(compiled)
        assert m.accept_bytes(prefix) and twin.advance(prefix)
        want = naive_mask(twin, compiled)
        before = (m._n_sets, m._lex_state, m.num_accepted_tokens)
        assert (m.try_tokens(everything) == want).all(), prefix
        assert [m.try_token(t) for t in range(vocab.size)] == want.tolist(), prefix
        assert (m._n_sets, m._lex_state, m.num_accepted_tokens) == before  # nothing changed
        assert (_mask(m, vocab) == want).all(), prefix


def test_try_tokens_takes_any_order_and_repeats():
    compiled = compile(JSONISH, TOY)
    m = Matcher(compiled)
    assert m.accept_bytes(b'{"a":[1')
    want = _mask(m, TOY)
    rng = random.Random(3)
    ids = [rng.randrange(TOY.size) for _ in range(300)] + [EOS, SPECIAL, EOS]
    assert m.try_tokens(ids).tolist() == [bool(want[t]) for t in ids]
    assert m.try_tokens([]).shape == (0,)


def test_try_token_after_eos_and_at_completion():
    compiled = compile(Grammar.from_regex("ab"), TOY)
    m = Matcher(compiled)
    ab = TOY.token_bytes.index(b"ab")
    assert not m.try_token(EOS) and m.try_token(ab) and not m.try_token(SPECIAL)
    assert m.accept_token(ab)
    assert m.try_token(EOS) and not m.try_token(ab)
    assert m.accept_token(EOS)
    assert not m.try_token(EOS) and not m.try_tokens([EOS, ab]).any()


def _random_walk(m, vocab, rng, steps):
    """Token ids a random walk of allowed tokens took (EOS last if it ended)."""
    taken = []
    for _ in range(steps):
        allowed = np.flatnonzero(_mask(m, vocab)).tolist()
        if not allowed:
            break
        t = rng.choice(allowed)
        assert m.accept_token(t)
        taken.append(t)
        if m.is_terminated():
            break
    return taken


@pytest.mark.parametrize("name,vocab", [("jsonish", TOY), ("sums", TOY), ("ladder", BYTES), ("ambiguous", TOY)])
def test_accept_tokens_and_validate_tokens_equal_the_twin(name, vocab):
    """Drafts: a walk's tokens, then a random token (often rejected), then more."""
    from test_matcher import LADDER_VOCAB

    if name == "ladder":
        vocab = LADDER_VOCAB
    compiled = compile(GRAMMARS[name], vocab)
    rng = random.Random(5)
    for _ in range(12):
        walker = Matcher(compiled)
        prefix = _random_walk(walker, vocab, rng, rng.randrange(0, 4))
        if walker.is_terminated():
            continue
        draft = _random_walk(walker.fork(), vocab, rng, rng.randrange(0, 8))
        draft = draft[: rng.randrange(len(draft) + 1)] + [rng.randrange(vocab.size)] + draft[:2]
        m = Matcher(compiled)
        assert m.accept_tokens(prefix) == len(prefix)
        twin = NaiveMatcher(compiled)
        assert twin.advance(b"".join(vocab.token_bytes[t] for t in prefix))
        want = naive_accept_count(twin, compiled, draft)
        state = (m._n_sets, m._lex_state, m.num_accepted_tokens)
        assert m.validate_tokens(draft) == want, draft
        assert (m._n_sets, m._lex_state, m.num_accepted_tokens) == state
        reference = Matcher(compiled)
        for t in prefix + draft[:want]:
            assert reference.accept_token(t)
        assert m.accept_tokens(np.asarray(draft)) == want
        assert m.num_accepted_tokens == len(prefix) + want
        assert m.is_terminated() == reference.is_terminated()
        assert (_mask(m, vocab) == _mask(reference, vocab)).all()
        m.rollback(want)
        assert (_mask(m, vocab) == naive_mask(twin, compiled)).all()


def test_accept_tokens_stops_after_eos_and_respects_max_rollback():
    compiled = compile(Grammar.from_regex("a+"), BYTES)
    eos = next(iter(BYTES.eos_token_ids))
    a = ord("a")
    m = Matcher(compiled, max_rollback_tokens=3)
    assert m.validate_tokens([a, a, eos, a]) == 3
    assert m.accept_tokens([a, a, a, a, a]) == 5 and m.num_accepted_tokens == 3
    assert m.accept_tokens([a, eos, a]) == 2 and m.is_terminated()
    assert m.accept_tokens([eos]) == 0 and m.validate_tokens([eos]) == 0
    m.rollback(1)
    assert not m.is_terminated() and m.accept_tokens([ord("b"), a]) == 0
    assert Matcher(compiled).validate_tokens([eos, a]) == 0


@pytest.mark.parametrize("name,vocab", [("jsonish", TOY), ("sums", TOY), ("atoms", BYTES)])
def test_draft_masks_equal_the_masks_along_the_draft(name, vocab):
    compiled = compile(GRAMMARS[name], vocab)
    rng = random.Random(11)
    for _ in range(10):
        m = Matcher(compiled)
        _random_walk(m, vocab, rng, rng.randrange(0, 3))
        if m.is_terminated():
            continue
        draft = _random_walk(m.fork(), vocab, rng, rng.randrange(0, 6))
        if rng.random() < 0.5:
            draft = draft[: rng.randrange(len(draft) + 1)] + [rng.randrange(vocab.size)] + draft
        index = rng.randrange(3)
        bitmask = constrain.allocate_token_bitmask(index + len(draft) + 2, vocab.size)
        bitmask[:] = 7  # rows not filled keep this
        before = _mask(m, vocab)
        state = (m._n_sets, m._lex_state, m.num_accepted_tokens, m.is_terminated())
        filled = m.fill_next_token_bitmasks_for_draft(bitmask, draft, index=index)
        assert (m._n_sets, m._lex_state, m.num_accepted_tokens, m.is_terminated()) == state
        assert (_mask(m, vocab) == before).all()
        assert filled == 1 + m.validate_tokens(draft)
        walker = m.fork()
        for i in range(filled):
            assert (unpack_bitmask(bitmask[index + i], vocab.size) == _mask(walker, vocab)).all(), (draft, i)
            if i < len(draft):
                assert walker.accept_token(draft[i]) == (i + 1 < filled)
        assert (bitmask[:index] == 7).all() and (bitmask[index + filled :] == 7).all()


def test_draft_masks_need_every_row():
    compiled = compile(SUMS, TOY)
    m = Matcher(compiled)
    with pytest.raises(constrain.ConfigurationError, match="index 3"):
        m.fill_next_token_bitmasks_for_draft(constrain.allocate_token_bitmask(3, TOY.size), [0, 1], index=1)


@pytest.mark.parametrize("vocab", [BYTES, TOY], ids=["bytes", "toy"])
@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_jump_forward_bytes_equal_the_twin(name, vocab):
    compiled = compile(GRAMMARS[name], vocab)
    for prefix in _states(name):
        m, twin = Matcher(compiled), NaiveMatcher(compiled)
        assert m.accept_bytes(prefix) and twin.advance(prefix)
        assert m.find_jump_forward_bytes() == naive_forced_bytes(twin), prefix


# Finite languages, so that every completion can be listed: (regex, prefixes).
FINITE = [
    (r"(abc|abd)e?f?", [b"", b"a", b"ab", b"abc", b"abde"]),
    (r"(red|green|blue)( (red|green|blue)){0,2}", [b"", b"g", b"green", b"green ", b"red bl"]),
    (r"\{\"name\":(true|false)\}", [b"", b"{", b'{"name":', b'{"name":t', b'{"name":true}']),
    (r"(é|è)x|çy", [b"", b"\xc3", b"\xc3\xa9"]),  # two choices share a lead byte
    (r"[0-9]{2}-[0-9]{2}", [b"1", b"12", b"12-3"]),
]


@pytest.mark.parametrize("regex,prefixes", FINITE, ids=[r for r, _ in FINITE])
def test_jump_forward_bytes_are_the_common_prefix_of_all_completions(regex, prefixes):
    compiled = compile(Grammar.from_regex(regex), BYTES)
    for prefix in prefixes:
        m, twin = Matcher(compiled), NaiveMatcher(compiled)
        assert m.accept_bytes(prefix) and twin.advance(prefix)
        completions = naive_completions(twin, 24)
        assert completions, prefix
        assert m.find_jump_forward_bytes() == common_prefix(completions), prefix


def test_jump_forward_bytes_bounds_and_terminated():
    compiled = compile(Grammar.from_regex("x{300}y?"), BYTES)
    m = Matcher(compiled)
    assert m.find_jump_forward_bytes() == b"x" * 300
    assert m.find_jump_forward_bytes(max_bytes=10) == b"x" * 10
    assert m.find_jump_forward_bytes(max_bytes=0) == b""
    assert m.accept_bytes(b"x" * 300) and m.find_jump_forward_bytes() == b""
    assert m.accept_token(next(iter(BYTES.eos_token_ids))) and m.find_jump_forward_bytes() == b""
