"""Properties of the matcher, on walks and documents drawn by Hypothesis: rollback then accept
gives the same mask, forks are independent, every prefix of a valid document is accepted,
and try_token agrees with the mask bit of every token."""

from __future__ import annotations

import functools
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constrain
from constrain import Matcher, compile
from naive import unpack_bitmask
from test_matcher import BYTES, GRAMMARS, JSONISH, LADDER_VOCAB, TOY

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CASES = {
    "jsonish": (JSONISH, TOY),
    "sums": (GRAMMARS["sums"], TOY),
    "ladder": (GRAMMARS["ladder"], LADDER_VOCAB),
    "ambiguous": (GRAMMARS["ambiguous"], BYTES),
}


@functools.lru_cache(maxsize=None)
def compiled_case(name):
    """Compiled on first use, not at collection (the first compile also compiles the kernels)."""
    return compile(*CASES[name])


def _mask(m):
    size = m.compiled.vocab.size
    bitmask = constrain.allocate_token_bitmask(1, size)
    m.fill_next_token_bitmask(bitmask)
    return unpack_bitmask(bitmask[0], size)


def _walk(data, m, steps):
    """Accept up to ``steps`` allowed tokens drawn by Hypothesis; returns (tokens, masks
    before each token and after the last)."""
    tokens, masks = [], [_mask(m)]
    for _ in range(steps):
        allowed = np.flatnonzero(masks[-1]).tolist()
        if not allowed or m.is_terminated():
            break
        t = data.draw(st.sampled_from(allowed))
        assert m.accept_token(t)
        tokens.append(t)
        masks.append(_mask(m))
    return tokens, masks


@SETTINGS
@given(st.data(), st.sampled_from(sorted(CASES)))
def test_try_token_agrees_with_the_mask_bit_of_every_token(data, name):
    compiled = compiled_case(name)
    everything = np.arange(compiled.vocab.size)
    m = Matcher(compiled)
    tokens, masks = _walk(data, m, data.draw(st.integers(0, 10)))
    m2 = Matcher(compiled)
    for t, mask in zip(tokens + [None], masks):
        if m2.is_terminated():
            # The mask of a finished row allows EOS (the row is padded with it), but a
            # terminated matcher accepts no token, and try_token says what accept_token does.
            assert not m2.try_tokens(everything).any() and not m2.try_token(int(np.flatnonzero(mask)[0]))
            break
        assert [m2.try_token(int(x)) for x in everything] == mask.tolist()
        assert (m2.try_tokens(everything) == mask).all()
        if t is not None:
            assert m2.accept_token(t)


@SETTINGS
@given(st.data(), st.sampled_from(sorted(CASES)))
def test_rollback_then_accept_gives_the_same_masks(data, name):
    m = Matcher(compiled_case(name))
    tokens, masks = _walk(data, m, data.draw(st.integers(1, 12)))
    k = data.draw(st.integers(0, len(tokens)))
    m.rollback(k)
    assert (_mask(m) == masks[len(tokens) - k]).all()
    for i in range(len(tokens) - k, len(tokens)):
        assert m.accept_token(tokens[i])
        assert (_mask(m) == masks[i + 1]).all()
    m.rollback(k)
    assert m.accept_tokens(tokens[len(tokens) - k :]) == k
    assert (_mask(m) == masks[-1]).all()


@SETTINGS
@given(st.data(), st.sampled_from(sorted(CASES)))
def test_forks_are_independent(data, name):
    m = Matcher(compiled_case(name))
    _, masks = _walk(data, m, data.draw(st.integers(0, 6)))
    twin = m.fork()
    # Each goes its own way; neither sees the other's tokens, rollbacks or scratch sets.
    mine, my_masks = _walk(data, m, data.draw(st.integers(0, 6)))
    theirs, their_masks = _walk(data, twin, data.draw(st.integers(0, 6)))
    assert (_mask(m) == my_masks[-1]).all()
    m.rollback(len(mine))
    assert (_mask(twin) == their_masks[-1]).all()
    twin.rollback(len(theirs))
    assert (_mask(m) == masks[-1]).all() and (_mask(twin) == masks[-1]).all()


# JSONISH documents: strings without escapes, integers, true, null, arrays, objects keyed "a".
JSONISH_TEXT = st.text(
    st.characters(min_codepoint=0x20, blacklist_characters='"\\', blacklist_categories=("Cs",)), max_size=6
)
JSONISH_VALUES = st.recursive(
    st.one_of(JSONISH_TEXT, st.integers(-(10**6), 10**6), st.just(True), st.none()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, min_size=1, max_size=3).map(lambda values: [("a", v) for v in values])
    ),
    max_leaves=8,
)


def _jsonish(value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return "{" + ",".join(f'"a":{_jsonish(v)}' for _, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_jsonish(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@SETTINGS
@given(JSONISH_VALUES)
def test_every_prefix_of_a_valid_document_is_accepted(value):
    document = _jsonish(value).encode()
    for compiled in (compile(JSONISH, BYTES), compiled_case("jsonish")):
        m = Matcher(compiled)
        for i, b in enumerate(document):
            assert m.try_token(b) and m.accept_token(b), document[: i + 1]
            assert not m.is_accepting() or i + 1 == len(document) or _complete_prefix(document[: i + 1])
        assert m.is_accepting() and m.find_jump_forward_bytes() == b""
        fresh = Matcher(compiled)
        assert fresh.validate_tokens(list(document)) == len(document)
        assert fresh.accept_tokens(list(document) + [min(compiled.vocab.eos_token_ids)]) == len(document) + 1


def _complete_prefix(prefix: bytes) -> bool:
    """A document prefix that is itself a document (a number's leading digits)."""
    try:
        json.loads(prefix)
        return True
    except ValueError:
        return False
