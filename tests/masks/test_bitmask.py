"""The bitmask helpers refuse arguments of the wrong type or range."""

from __future__ import annotations

import numpy as np
import pytest

from constrain import allocate_token_bitmask, bitmask_to_bool, get_bitmask_shape
from constrain.errors import ConfigurationError

# (call, words the message must contain)
BAD_CALLS = [
    (lambda: allocate_token_bitmask(1.5, 100), "`batch_size` must be an int, got float"),
    (lambda: allocate_token_bitmask(1, 100.0), "`vocab_size` must be an int, got float"),
    (lambda: allocate_token_bitmask(True, 100), "`batch_size` must be an int, got bool"),
    (lambda: allocate_token_bitmask("2", 100), "`batch_size` must be an int, got str"),
    (lambda: allocate_token_bitmask(0, 100), "`batch_size` must be at least 1"),
    (lambda: allocate_token_bitmask(1, -5), "`vocab_size` must be at least 1"),
    (lambda: get_bitmask_shape(None, 100), "`batch_size` must be an int"),
    (lambda: bitmask_to_bool(np.zeros((1, 4), dtype=np.int32), 128.0), "`vocab_size` must be an int"),
    (lambda: bitmask_to_bool(np.zeros((1, 4), dtype=np.int32), 129), "Invalid bitmask shape"),
    (lambda: bitmask_to_bool(np.zeros((1, 4), dtype=np.int64), 100), "dtype"),
]


@pytest.mark.parametrize("call,message", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_arguments(call, message):
    with pytest.raises(ConfigurationError) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize("batch,vocab,shape", [(1, 1, (1, 1)), (np.int64(2), 33, (2, 2)), (3, np.int32(64), (3, 2))])
def test_shapes(batch, vocab, shape):
    assert get_bitmask_shape(batch, vocab) == shape
    bitmask = allocate_token_bitmask(batch, vocab)
    assert bitmask.shape == shape and bitmask.dtype == np.int32 and not bitmask.any()
    assert bitmask_to_bool(bitmask, vocab).shape == (shape[0], int(vocab))
