"""Run-time limits of the matcher: the Earley work of one step is bounded
(``Limits.max_earley_work``), a step over the budget raises and changes nothing, and a set
with many origins of one position never costs a scan per item."""

from __future__ import annotations

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.config import DEFAULT_LIMITS
from constrain.errors import ResourceLimitError
from constrain.kernels.records import COUNTER_WORK
from tests.naive import NaiveMatcher, naive_mask, unpack_bitmask

BYTES = Vocabulary.byte_level()
#: Every split of the text into two non-empty parts is a parse: Earley set k holds k items
#: of each position (one per origin), and completing them costs O(k^2): the worst case.
CATALAN = 'start: s\ns: s s | "a"'


def compile_with(source: str, **limits: int) -> constrain.CompiledGrammar:
    return constrain.compile(Grammar.from_lark(source), BYTES, limits=DEFAULT_LIMITS.replace(**limits))


def step_work(compiled: constrain.CompiledGrammar) -> int:
    """The Earley work of the last step in this thread."""
    return int(compiled.thread_scratch().counter[COUNTER_WORK])


def test_a_step_over_the_budget_raises_and_changes_nothing():
    compiled = compile_with(CATALAN, max_earley_work=200_000)
    m = Matcher(compiled)
    accepted = 0
    with pytest.raises(ResourceLimitError, match="max_earley_work=200000"):
        for _ in range(1000):
            assert m.accept_token(ord("a"))
            accepted += 1
    assert 10 < accepted < 1000
    assert m.num_accepted_tokens == accepted
    bitmask = constrain.allocate_token_bitmask(1, BYTES.size)
    # Every step that needs the next set is over the budget too ...
    for step in (lambda: m.fill_next_token_bitmask(bitmask), lambda: m.try_token(ord("a"))):
        with pytest.raises(ResourceLimitError, match="max_earley_work"):
            step()
    # ... and one that needs none is not: the text so far is complete.
    assert m.is_accepting()
    # The matcher is where it was, and usable: its masks are a fresh matcher's.
    m.rollback(5)
    fresh = Matcher(compiled)
    assert fresh.accept_bytes(b"a" * (accepted - 5))
    expected = constrain.allocate_token_bitmask(1, BYTES.size)
    fresh.fill_next_token_bitmask(expected)
    m.fill_next_token_bitmask(bitmask)
    assert np.array_equal(bitmask, expected)
    assert m.accept_token(ord("a"))


def test_the_default_budget_reads_what_a_small_one_cannot():
    text = b"a" * 400  # the last step costs about 80,000 units (k^2 / 2)
    with pytest.raises(ResourceLimitError):
        Matcher(compile_with(CATALAN, max_earley_work=50_000)).accept_bytes(text)
    m = Matcher(compile_with(CATALAN))
    assert m.accept_bytes(text) and m.is_accepting()


def test_the_budget_is_per_step_not_per_call():
    # accept_bytes steps byte by byte: a long unambiguous text fits a small budget.
    compiled = compile_with('start: item+\nitem: "a" | "b"', max_earley_work=100)
    m = Matcher(compiled)
    assert m.accept_bytes(b"ab" * 5000)
    assert m.is_accepting()
    assert step_work(compiled) <= 100


def last_set(m: Matcher) -> list:
    k = m._n_sets - 1
    return [tuple(item) for item in m._items[m._set_starts[k] : m._set_starts[k + 1]].tolist()]


@pytest.mark.parametrize("length", [1, 2, 7, 40, 300])
def test_sets_with_many_origins_of_a_position(length):
    # Set k of CATALAN holds about k origins of each position. Started at 16 slots, the
    # de-duplication table is crowded from k = 2 on and grows mid-build (from 4,096 slots, as
    # a thread's table starts, it would at about k = 2,000). The sets and masks are those
    # built with a table large enough from the start, without a duplicate item, and (where
    # the plain-Python parser is fast enough) its mask.
    growing = compile_with(CATALAN, max_earley_work=10**12)
    growing.thread_scratch().pairs = np.zeros((16, 2), dtype=np.int64)
    roomy = compile_with(CATALAN, max_earley_work=10**12)
    roomy.thread_scratch().pairs = np.zeros((1 << 16, 2), dtype=np.int64)
    masks = []
    sets = []
    for compiled in (growing, roomy):
        m = Matcher(compiled)
        assert m.accept_bytes(b"a" * length)
        sets.append(last_set(m))
        masks.append(constrain.allocate_token_bitmask(1, BYTES.size))
        m.fill_next_token_bitmask(masks[-1])
    assert len(set(sets[0])) == len(sets[0])
    assert sorted(sets[0]) == sorted(sets[1])
    assert np.array_equal(masks[0], masks[1])
    if length <= 40:
        naive = NaiveMatcher(growing)
        assert naive.advance(b"a" * length)
        assert np.array_equal(unpack_bitmask(masks[0][0], BYTES.size), naive_mask(naive, growing))
    if length >= 40:
        assert growing.thread_scratch().pairs.shape[0] > 16  # grown, as far as probes failed


def test_work_counts_the_completions():
    # Set k of CATALAN completes about k items against sets of about k items: the work of a
    # step grows as k^2, where the items closed alone grow as k.
    compiled = compile_with(CATALAN, max_earley_work=10**12)
    m = Matcher(compiled)
    works = {}
    for k in range(1, 401):
        assert m.accept_token(ord("a"))
        works[k] = step_work(compiled)
    assert 3.5 * works[200] < works[400] < 4.5 * works[200]
    assert 3.5 * works[100] < works[200] < 4.5 * works[100]
