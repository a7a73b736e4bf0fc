"""Argument checks shared by the matcher's verbs and the bitmask helpers.

Python would coerce many wrong arguments silently (``int(1.5)`` is 1, ``int("5")`` is 5,
``True`` is 1) or fail deep inside with a bare ``TypeError``; every public verb checks its
arguments here first and raises :class:`~constrain.errors.ConfigurationError` naming the
argument and what it got.
"""

from __future__ import annotations

import reprlib
from typing import TYPE_CHECKING, Any, NoReturn, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigurationError

if TYPE_CHECKING:
    import torch

#: A bitmask argument: an ``int32`` numpy array or a CPU torch tensor (torch is never imported
#: here: a tensor is recognized by its ``numpy`` and ``device`` attributes).
BitmaskArray = Union[np.ndarray, "torch.Tensor"]
#: Token ids: a list or tuple of ints, or a 1-d integer numpy array or CPU torch tensor.
TokenIds = Union[Sequence[int], np.ndarray, "torch.Tensor"]

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def describe(value: object) -> str:
    """``type value`` for an error message, the value cut short."""
    return f"{type(value).__name__} {_short.repr(value)}"


def check_int(value: object, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as a Python int, within ``lo <= value < hi`` where given.

    Python ints and numpy integer scalars are ints; ``bool`` is not, nor is a float, a string or
    an array of one element.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigurationError(f"`{name}` must be an int, got {describe(value)}")
    number = int(value)
    if lo is not None and number < lo:
        raise ConfigurationError(f"`{name}` must be at least {lo}, got {number}")
    if hi is not None and number >= hi:
        raise ConfigurationError(f"`{name}` must be below {hi}, got {number}")
    return number


def check_token_ids(ids: object, name: str, vocab_size: int) -> NDArray[np.int64]:
    """``ids`` as a fresh ``int64`` array of token ids in ``0 .. vocab_size - 1``.

    Accepts a list or tuple of ints (Python or numpy integer scalars), or a 1-d integer numpy
    array or CPU torch tensor.
    """
    if isinstance(ids, (list, tuple, range)):
        values = list(ids)
        for i, t in enumerate(values):
            if type(t) is not int:  # the common case costs no call
                values[i] = check_int(t, f"{name}[{i}]")
        if values and (min(values) < 0 or max(values) >= vocab_size):
            _out_of_range(next(t for t in values if not 0 <= t < vocab_size), name, vocab_size)
        return np.array(values, dtype=np.int64)
    array = ids
    if not isinstance(ids, np.ndarray) and hasattr(ids, "numpy") and hasattr(ids, "device"):
        if ids.device.type != "cpu":
            raise ConfigurationError(f"`{name}` must be on the CPU, got a tensor on {ids.device}")
        tensor: Any = ids  # a torch tensor (torch is not imported here)
        array = tensor.detach().numpy()
    if not isinstance(array, np.ndarray):
        raise ConfigurationError(f"`{name}` must be a list of ints or a 1-d integer array, got {describe(ids)}")
    if array.ndim != 1 or array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ConfigurationError(f"`{name}` must be a 1-d integer array, got shape {array.shape} of {array.dtype}")
    out = array.astype(np.int64)  # a copy: the caller may change its array later
    if out.size and (out.min() < 0 or out.max() >= vocab_size):
        _out_of_range(int(out[(out < 0) | (out >= vocab_size)][0]), name, vocab_size)
    return out


def _out_of_range(token_id: int, name: str, vocab_size: int) -> NoReturn:
    raise ConfigurationError(f"`{name}` holds token id {token_id}, outside the vocabulary (size {vocab_size})")


def check_bytes(value: object, name: str) -> bytes:
    """``value`` as bytes: ``bytes``, ``bytearray`` or ``memoryview``; never a ``str``
    (which has no single byte encoding to guess)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    hint = " (encode the text first, e.g. text.encode())" if isinstance(value, str) else ""
    raise ConfigurationError(f"`{name}` must be bytes, got {describe(value)}{hint}")
