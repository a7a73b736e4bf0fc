"""Every matcher verb refuses arguments of the wrong type or range with a ConfigurationError
that names the argument, and changes nothing; ints and numpy integer scalars are accepted,
bools, floats and strings never coerced."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import constrain
from constrain import Grammar, Matcher, compile
from constrain.automata.batch import BatchMatcher, fill_next_token_bitmasks
from constrain.errors import ConfigurationError
from test_matcher import BYTES

SIZE = BYTES.size
FIVE = ord("5")


@functools.lru_cache(maxsize=None)
def compiled():
    """Compiled on first use, not at collection (the first compile also compiles the kernels)."""
    return compile(Grammar.from_regex("[0-9]+"), BYTES)


def bitmask(rows=2):
    return constrain.allocate_token_bitmask(rows, SIZE)


# (call on a fresh matcher m, words the message must contain)
BAD_CALLS = [
    (lambda m: m.accept_token(None), "`token_id` must be an int, got NoneType"),
    (lambda m: m.accept_token(1.5), "`token_id` must be an int, got float"),
    (lambda m: m.accept_token(str(FIVE)), "`token_id` must be an int, got str"),
    (lambda m: m.accept_token(True), "`token_id` must be an int, got bool"),
    (lambda m: m.accept_token(np.bool_(True)), "got bool"),
    (lambda m: m.accept_token(np.array([FIVE])), "got ndarray"),
    (lambda m: m.accept_token(np.float64(FIVE)), "got float64"),
    (lambda m: m.accept_token(torch.tensor(FIVE)), "got Tensor"),
    (lambda m: m.accept_token(-1), "outside the vocabulary"),
    (lambda m: m.accept_token(SIZE), "outside the vocabulary"),
    (lambda m: m.accept_token(2**70), "outside the vocabulary"),
    (lambda m: m.try_token(None), "`token_id` must be an int"),
    (lambda m: m.try_token(1.5), "`token_id` must be an int"),
    (lambda m: m.try_token(False), "`token_id` must be an int, got bool"),
    (lambda m: m.try_token(SIZE), "outside the vocabulary"),
    (lambda m: m.try_tokens(None), "`token_ids` must be a list of ints"),
    (lambda m: m.try_tokens("55"), "`token_ids` must be a list of ints"),
    (lambda m: m.try_tokens({FIVE}), "`token_ids` must be a list of ints"),
    (lambda m: m.try_tokens([FIVE, 1.5]), "`token_ids[1]` must be an int, got float"),
    (lambda m: m.try_tokens([True]), "`token_ids[0]` must be an int, got bool"),
    (lambda m: m.try_tokens(np.array([[FIVE]])), "1-d integer array"),
    (lambda m: m.try_tokens(np.array([5.0])), "1-d integer array"),
    (lambda m: m.try_tokens(np.array([True])), "1-d integer array"),
    (lambda m: m.try_tokens(torch.tensor([5.0])), "1-d integer array"),
    (lambda m: m.try_tokens([FIVE, -1]), "token id -1, outside the vocabulary"),
    (lambda m: m.try_tokens(np.array([SIZE])), f"token id {SIZE}, outside the vocabulary"),
    (lambda m: m.accept_tokens(FIVE), "`token_ids` must be a list of ints or a 1-d integer array, got int"),
    (lambda m: m.accept_tokens([FIVE, "5"]), "`token_ids[1]` must be an int, got str"),
    (lambda m: m.accept_tokens([FIVE, SIZE]), "outside the vocabulary"),
    (lambda m: m.validate_tokens(None), "`token_ids` must be a list of ints"),
    (lambda m: m.validate_tokens([1.0]), "`token_ids[0]` must be an int"),
    (lambda m: m.rollback("1"), "`num_tokens` must be an int, got str"),
    (lambda m: m.rollback(1.0), "`num_tokens` must be an int, got float"),
    (lambda m: m.rollback(True), "`num_tokens` must be an int, got bool"),
    (lambda m: m.rollback(None), "`num_tokens` must be an int"),
    (lambda m: m.rollback(-1), "cannot roll back -1"),
    (lambda m: m.rollback(2), "cannot roll back 2"),
    (lambda m: m.accept_bytes("5"), "`data` must be bytes, got str '5' (encode the text first"),
    (lambda m: m.accept_bytes(None), "`data` must be bytes"),
    (lambda m: m.accept_bytes(5), "`data` must be bytes"),
    (lambda m: m.accept_bytes([FIVE]), "`data` must be bytes"),
    (lambda m: m.find_jump_forward_bytes(1.5), "`max_bytes` must be an int"),
    (lambda m: m.find_jump_forward_bytes(-1), "`max_bytes` must be at least 0"),
    (lambda m: m.fill_next_token_bitmask(bitmask(), None), "`index` must be an int, got NoneType"),
    (lambda m: m.fill_next_token_bitmask(bitmask(), 1.0), "`index` must be an int, got float"),
    (lambda m: m.fill_next_token_bitmask(bitmask(), True), "`index` must be an int, got bool"),
    (lambda m: m.fill_next_token_bitmask(bitmask(), "0"), "`index` must be an int, got str"),
    (lambda m: m.fill_next_token_bitmask(bitmask(), 2), "Invalid bitmask index 2"),
    (lambda m: m.fill_next_token_bitmask(bitmask(), -1), "Invalid bitmask index -1"),
    (lambda m: m.fill_next_token_bitmask(None), "Invalid bitmask type"),
    (lambda m: m.fill_next_token_bitmask([[0] * 9]), "Invalid bitmask type"),
    (lambda m: m.fill_next_token_bitmask(bitmask().astype(np.int64)), "dtype"),
    (lambda m: m.fill_next_token_bitmask(torch.zeros((1, 9), requires_grad=True)), "requires grad"),
    (lambda m: m.fill_next_token_bitmask(torch.zeros((1, 9), dtype=torch.int64)), "dtype"),
    (lambda m: m.fill_next_token_bitmasks_for_draft(bitmask(3), None), "`draft_token_ids` must be a list"),
    (lambda m: m.fill_next_token_bitmasks_for_draft(bitmask(3), [FIVE], index=0.0), "`index` must be an int"),
    (lambda m: m.fill_next_token_bitmasks_for_draft(bitmask(3), [FIVE], index=-1), "`index` must be at least 0"),
    (lambda m: m.fill_next_token_bitmasks_for_draft(bitmask(3), [FIVE] * 3), "Invalid bitmask index 3"),
    (lambda m: m.fill_next_token_bitmasks_for_draft(None, [FIVE]), "Invalid bitmask type"),
    (lambda m: Matcher(compiled(), max_rollback_tokens=1.5), "`max_rollback_tokens` must be an int"),
    (lambda m: Matcher(compiled(), max_rollback_tokens="3"), "`max_rollback_tokens` must be an int"),
    (lambda m: Matcher(compiled(), max_rollback_tokens=-1), "`max_rollback_tokens` must be at least 0"),
    (lambda m: Matcher("grammar"), "`compiled` must be a CompiledGrammar"),
    (lambda m: fill_next_token_bitmasks([m, m], bitmask()), "lists one matcher twice"),
    (lambda m: fill_next_token_bitmasks(m, bitmask()), "`matchers` must be a list of Matcher"),
    (lambda m: fill_next_token_bitmasks([m, None], bitmask()), "`matchers[1]` must be a Matcher"),
    (lambda m: fill_next_token_bitmasks([m], bitmask(), [0.0]), "`indices[0]` must be an int"),
    (lambda m: fill_next_token_bitmasks([m], bitmask(), 0), "`indices` must be a list of ints"),
    (lambda m: fill_next_token_bitmasks([m], bitmask(), [0, 1]), "2 rows for 1 matchers"),
    (lambda m: fill_next_token_bitmasks([m, m.fork()], bitmask(), [1, 1]), "names one row twice"),
    (lambda m: fill_next_token_bitmasks([m], bitmask(), [2]), "Invalid bitmask index 2"),
    (lambda m: fill_next_token_bitmasks([m], None), "Invalid bitmask"),
    (lambda m: fill_next_token_bitmasks([m], bitmask(), num_threads=0), "`num_threads` must be at least 1"),
    (lambda m: fill_next_token_bitmasks([m], bitmask(), num_threads=2.0), "`num_threads` must be an int"),
]


@pytest.mark.parametrize("call,message", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_arguments_raise_configuration_error_and_change_nothing(call, message):
    m = Matcher(compiled())
    assert m.accept_token(FIVE)
    before = (m._n_sets, m._lex_state, m.num_accepted_tokens, m.is_terminated())
    with pytest.raises(ConfigurationError) as info:
        call(m)
    assert message in str(info.value)
    assert (m._n_sets, m._lex_state, m.num_accepted_tokens, m.is_terminated()) == before


@pytest.mark.parametrize(
    "token", [FIVE, np.int64(FIVE), np.int32(FIVE), np.uint8(FIVE)], ids=["int", "int64", "int32", "uint8"]
)
def test_integer_scalars_are_token_ids(token):
    m = Matcher(compiled())
    assert m.try_token(token) and m.validate_tokens([token, token]) == 2
    assert m.accept_token(token) and m.accept_tokens([token]) == 1
    m.rollback(np.int64(1))
    assert m.num_accepted_tokens == 1
    bm = bitmask()
    m.fill_next_token_bitmask(bm, np.int64(1))
    assert bm[1].any() and not bm[0].any()


@pytest.mark.parametrize(
    "ids",
    [
        [FIVE, FIVE],
        (FIVE, FIVE),
        np.array([FIVE, FIVE], dtype=np.int32),
        torch.tensor([FIVE, FIVE]),
        np.array([FIVE, FIVE], dtype=np.uint16),
    ],
    ids=["list", "tuple", "int32 array", "tensor", "uint16 array"],
)
def test_token_id_lists(ids):
    m = Matcher(compiled())
    assert m.try_tokens(ids).tolist() == [True, True]
    assert m.validate_tokens(ids) == 2 and m.accept_tokens(ids) == 2
    bm = bitmask(3)
    assert m.fill_next_token_bitmasks_for_draft(bm, ids) == 3


def test_bytes_like_data_and_a_torch_bitmask():
    m = Matcher(compiled())
    assert m.accept_bytes(bytearray(b"1")) and m.accept_bytes(memoryview(b"2"))
    bm = torch.zeros((1, (SIZE + 31) // 32), dtype=torch.int32)
    m.fill_next_token_bitmask(bm)
    assert constrain.bitmask_to_bool(bm.numpy(), SIZE)[0, FIVE]


def test_closed_batch_matcher_refuses_threaded_batches():
    m, n = Matcher(compiled()), Matcher(compiled())
    batch = BatchMatcher(2)
    assert "not started" in repr(batch)
    batch.fill_next_token_bitmasks([m, n], bitmask())
    assert "started" in repr(batch)
    batch.close()
    with pytest.raises(ConfigurationError, match="closed"):
        batch.fill_next_token_bitmasks([m, n], bitmask())
    with pytest.raises(ConfigurationError, match="`num_threads` must be an int"):
        BatchMatcher(True)


# Found by the fuzzer's misuse cases: sizes past what numpy can allocate raised numpy's
# ValueError ("maximum allowed dimension exceeded").
@pytest.mark.parametrize("rows", [2**64, 10**30, 2**40])
def test_a_bitmask_too_large_to_allocate_is_a_resource_limit(rows):
    with pytest.raises(constrain.ResourceLimitError, match="bitmask of shape"):
        constrain.allocate_token_bitmask(rows, SIZE)


@pytest.mark.parametrize("max_bytes, expected", [(10**30, 5001), (2**64, 5001), (4097, 4097), (3, 3), (0, 0)])
def test_jump_forward_bound_is_a_bound_not_an_allocation(max_bytes, expected):
    m = Matcher(compile(Grammar.from_regex("a{5000}b"), BYTES))
    assert m.find_jump_forward_bytes(max_bytes) == (b"a" * 5000 + b"b")[:expected]
