import numpy as np
import pytest
import torch

from constrain.errors import ConfigurationError
from constrain.masks.apply import apply_token_bitmask, apply_token_bitmask_inplace, unpack_bitmask

torch.set_num_threads(1)


def pack(allowed: np.ndarray) -> np.ndarray:
    """Reference packing: bit t % 32 of word t // 32, least significant first."""
    rows, width = allowed.shape
    words = np.zeros((rows, (width + 31) // 32), dtype=np.uint32)
    for r in range(rows):
        for t in np.flatnonzero(allowed[r]):
            words[r, t // 32] |= np.uint32(1) << np.uint32(t % 32)
    return words.view(np.int32)


@pytest.mark.parametrize(
    "allowed_ids, width, expected",
    [
        ([0], 4, [True, False, False, False]),
        ([31], 33, [False] * 31 + [True, False]),  # bit 31 is the sign bit of an int32 word
        ([32], 33, [False] * 32 + [True]),
        ([], 5, [False] * 5),
        ([1, 2], 2, [False, True]),  # bits beyond the width are ignored
    ],
)
def test_unpack_table(allowed_ids, width, expected):
    allowed = np.zeros((1, max(width, 40)), dtype=bool)
    allowed[0, allowed_ids] = True
    got = unpack_bitmask(pack(allowed), width)
    assert got.tolist() == [expected]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("vocab", [1, 31, 32, 33, 100, 1000])
def test_inf_exactly_where_bit_is_zero(seed, vocab):
    rng = np.random.default_rng(seed)
    allowed = rng.random((3, vocab)) < 0.3
    logits = torch.randn(3, vocab, generator=torch.Generator().manual_seed(seed))
    before = logits.clone()
    apply_token_bitmask_inplace(logits, pack(allowed))
    is_inf = torch.isneginf(logits).numpy()
    assert np.array_equal(is_inf, ~allowed)
    assert torch.equal(logits[torch.from_numpy(allowed)], before[torch.from_numpy(allowed)])


def test_torch_bitmask_and_numpy_bitmask_agree():
    allowed = np.random.default_rng(0).random((2, 70)) < 0.5
    words = pack(allowed)
    a = apply_token_bitmask(torch.zeros(2, 70), words)
    b = apply_token_bitmask(torch.zeros(2, 70), torch.from_numpy(words))
    assert torch.equal(a, b)


def test_wider_logits_mask_the_padding_columns():
    allowed = np.ones((1, 40), dtype=bool)
    words = pack(allowed)[:, :2]  # covers 64 ids, all allowed up to 40 only
    logits = torch.zeros(1, 100)
    apply_token_bitmask_inplace(logits, words)
    assert torch.isneginf(logits[0, 40:]).all()
    assert (logits[0, :40] == 0).all()


def test_vocab_size_masks_ids_beyond_it():
    words = pack(np.ones((1, 64), dtype=bool))
    logits = torch.zeros(1, 64)
    apply_token_bitmask_inplace(logits, words, vocab_size=50)
    assert torch.isneginf(logits[0, 50:]).all() and (logits[0, :50] == 0).all()


def test_narrower_logits_ignore_extra_bits():
    words = pack(np.ones((1, 64), dtype=bool))
    logits = torch.zeros(1, 10)
    apply_token_bitmask_inplace(logits, words)
    assert (logits == 0).all()


def test_one_dimensional_logits():
    allowed = np.zeros((1, 10), dtype=bool)
    allowed[0, 3] = True
    logits = torch.zeros(10)
    apply_token_bitmask_inplace(logits, pack(allowed)[0])
    assert torch.isneginf(logits).tolist() == [i != 3 for i in range(10)]


def test_indices_select_rows():
    allowed = np.zeros((1, 8), dtype=bool)
    allowed[0, 5] = True
    logits = torch.zeros(3, 8)
    apply_token_bitmask_inplace(logits, pack(allowed), indices=[1])
    assert (logits[0] == 0).all() and (logits[2] == 0).all()
    assert torch.isneginf(logits[1]).tolist() == [i != 5 for i in range(8)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_dtypes(dtype):
    allowed = np.zeros((1, 8), dtype=bool)
    allowed[0, [0, 7]] = True
    logits = torch.ones(1, 8, dtype=dtype)
    apply_token_bitmask_inplace(logits, pack(allowed))
    assert logits.dtype == dtype
    assert torch.isneginf(logits).tolist() == [[i not in (0, 7) for i in range(8)]]


def test_apply_returns_new_tensor():
    logits = torch.zeros(1, 8)
    out = apply_token_bitmask(logits, pack(np.zeros((1, 8), dtype=bool)))
    assert (logits == 0).all() and torch.isneginf(out).all()


@pytest.mark.parametrize(
    "logits, bitmask",
    [
        (torch.zeros(2, 8), np.zeros((1, 1), dtype=np.int32)),  # row count mismatch
        (torch.zeros(2, 8), np.zeros((2, 1), dtype=np.int64)),  # wrong dtype
        (torch.zeros(2, 8, dtype=torch.int64), np.zeros((2, 1), dtype=np.int32)),  # integer logits
        (torch.zeros(2, 2, 8), np.zeros((2, 1), dtype=np.int32)),  # 3-d logits
        (torch.zeros(2, 8), [[0]]),  # not an array
    ],
)
def test_bad_arguments_raise(logits, bitmask):
    with pytest.raises(ConfigurationError):
        apply_token_bitmask_inplace(logits, bitmask)


def test_agrees_with_xgrammar_when_installed():
    xgr = pytest.importorskip("xgrammar")
    allowed = np.random.default_rng(1).random((4, 300)) < 0.4
    words = torch.from_numpy(pack(allowed))
    ours = torch.randn(4, 300, generator=torch.Generator().manual_seed(3))
    theirs = ours.clone()
    apply_token_bitmask_inplace(ours, words)
    xgr.apply_token_bitmask_inplace(theirs, words)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_strided_logits(dtype):
    # logits[:, -1, :] of a model's output is a strided view; the mask must land in place.
    allowed = np.random.default_rng(2).random((3, 70)) < 0.5
    full = torch.randn(3, 4, 70).to(dtype)
    before = full.clone()
    last = full[:, -1, :]
    assert not last.is_contiguous()
    apply_token_bitmask_inplace(last, pack(allowed))
    assert np.array_equal(torch.isneginf(full[:, -1, :]).numpy(), ~allowed)
    assert torch.equal(full[:, :-1], before[:, :-1])
    column = torch.zeros(70, 3, dtype=dtype).t()  # a transposed view
    apply_token_bitmask_inplace(column, pack(allowed))
    assert np.array_equal(torch.isneginf(column).numpy(), ~allowed)
