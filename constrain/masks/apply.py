"""Apply a packed token bitmask to a tensor of logits, on the logits' device.

The bitmask layout is the one vLLM, XGrammar and llguidance share: ``int32`` words of shape
``(batch, ceil(V / 32))``; token ``t`` is allowed when bit ``t % 32`` of word ``t // 32`` is
set (bit 0 is the least significant). Unpacking happens on the device with shifts and
``& 1``, so only the packed words cross from the CPU.

Width mismatches are resolved towards *disallowing*: logits wider than the bitmask (a model
whose embedding has padding rows beyond the vocabulary) get ``-inf`` in the extra columns;
bits beyond the logits' width are ignored.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..cache import LRUCache
from ..errors import ConfigurationError

BitmaskLike = Union[torch.Tensor, np.ndarray]

#: ``0..31`` on each device, for unpacking. Bound: 16 devices, more than one machine has
#: (a tensor of 128 bytes each).
BIT_SHIFTS: LRUCache[str, torch.Tensor] = LRUCache("masks.bit_shifts", max_entries=16)


def _shifts(device: torch.device) -> torch.Tensor:
    return BIT_SHIFTS.get_or_create(str(device), _arange_32, device)


def _arange_32(device: torch.device) -> torch.Tensor:
    return torch.arange(32, dtype=torch.int32, device=device)


def _as_tensor(bitmask: BitmaskLike, device: torch.device) -> torch.Tensor:
    if isinstance(bitmask, np.ndarray):
        if bitmask.dtype != np.int32:
            raise ConfigurationError(f"the bitmask must be int32, got {bitmask.dtype}")
        bitmask = torch.from_numpy(np.ascontiguousarray(bitmask))
    elif not isinstance(bitmask, torch.Tensor):
        raise ConfigurationError(f"the bitmask must be a torch.Tensor or numpy array, got {type(bitmask).__name__}")
    if bitmask.dtype != torch.int32:
        raise ConfigurationError(f"the bitmask must be int32, got {bitmask.dtype}")
    if bitmask.device != device:
        bitmask = bitmask.to(device, non_blocking=True)
    return bitmask


def unpack_bitmask(bitmask: BitmaskLike, width: int, device: Optional[torch.device] = None) -> torch.Tensor:
    """Unpack a packed bitmask into booleans.

    Args:
        bitmask: ``int32`` words, shape ``(words,)`` or ``(batch, words)``.
        width: number of token columns wanted. Columns beyond ``32 * words`` are ``False``.
        device: where to unpack; defaults to the bitmask's own device.

    Returns:
        A ``bool`` tensor of shape ``(..., width)``: ``True`` where the token is allowed.
    """
    if device is None:
        device = bitmask.device if isinstance(bitmask, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    words = _as_tensor(bitmask, device)
    if words.dim() not in (1, 2):
        raise ConfigurationError(f"the bitmask must have 1 or 2 dimensions, got shape {tuple(words.shape)}")
    if device.type == "cpu" and sys.byteorder == "little":
        # numpy's unpackbits is one cheap pass, with no thread pool to wake up; on a
        # little-endian machine byte k of a word holds its bits 8k..8k+7.
        unpacked = np.unpackbits(words.contiguous().numpy().view(np.uint8), axis=-1, bitorder="little")
        bits = torch.from_numpy(unpacked.view(np.bool_))
    else:
        bits = ((words.unsqueeze(-1) >> _shifts(device)) & 1).bool()
    bits = bits.reshape(*words.shape[:-1], words.shape[-1] * 32)
    covered = bits.shape[-1]
    if covered >= width:
        return bits[..., :width]
    pad = torch.zeros(*bits.shape[:-1], width - covered, dtype=torch.bool, device=device)
    return torch.cat([bits, pad], dim=-1)


def apply_token_bitmask_inplace(
    logits: torch.Tensor,
    bitmask: BitmaskLike,
    *,
    vocab_size: Optional[int] = None,
    indices: Optional[Sequence[int]] = None,
) -> None:
    """Set ``logits`` to ``-inf`` wherever the bitmask disallows a token, in place.

    Args:
        logits: floating tensor of shape ``(batch, V)`` or ``(V,)``, on any device.
        bitmask: ``int32`` words of shape ``(rows, ceil(V'/32))`` or ``(words,)``, as a torch
            tensor (any device) or a numpy array; moved to the logits' device.
        vocab_size: if given, token ids ``>= vocab_size`` are disallowed too (padding rows).
        indices: which logits rows to mask; row ``i`` of the bitmask applies to logits row
            ``indices[i]``. By default row ``i`` applies to row ``i`` and the batch sizes must
            agree.

    Raises:
        ConfigurationError: on mismatched shapes or dtypes.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise ConfigurationError("logits must be a floating-point torch.Tensor")
    if logits.dim() not in (1, 2):
        raise ConfigurationError(f"logits must have 1 or 2 dimensions, got shape {tuple(logits.shape)}")
    words = _as_tensor(bitmask, logits.device)
    squeeze = logits.dim() == 1
    rows = logits.unsqueeze(0) if squeeze else logits
    if words.dim() == 1:
        words = words.unsqueeze(0)
    if words.dim() != 2:
        raise ConfigurationError(f"the bitmask must have 1 or 2 dimensions, got shape {tuple(words.shape)}")
    width = rows.shape[-1]
    if indices is None:
        if words.shape[0] != rows.shape[0]:
            raise ConfigurationError(
                f"the bitmask has {words.shape[0]} rows but the logits have {rows.shape[0]}; pass indices="
            )
        allowed = unpack_bitmask(words, width, logits.device)
        if vocab_size is not None and vocab_size < width:
            allowed[:, vocab_size:] = False
        _fill_disallowed(rows, allowed)
        return
    index = torch.as_tensor(list(indices), dtype=torch.long, device=logits.device)
    if index.numel() != words.shape[0]:
        raise ConfigurationError(f"{index.numel()} indices for a bitmask of {words.shape[0]} rows")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= rows.shape[0]):
        raise ConfigurationError(f"indices out of range for {rows.shape[0]} logits rows")
    allowed = unpack_bitmask(words, width, logits.device)
    if vocab_size is not None and vocab_size < width:
        allowed[:, vocab_size:] = False
    selected = rows.index_select(0, index)
    _fill_disallowed(selected, allowed)
    rows.index_copy_(0, index, selected)


# The bit patterns of -inf, for writing through an integer view of the same width.
_NEG_INF_BITS = {torch.bfloat16: (torch.int16, np.int16(-128)), torch.float16: (torch.int16, np.int16(-1024))}


def _fill_disallowed(rows: torch.Tensor, allowed: torch.Tensor) -> None:
    """``rows[~allowed] = -inf`` in place.

    On the CPU this is one numpy pass over a view of the same memory: torch would run it on
    its intra-op thread pool, whose start-up costs more than the work (tens of ms, not tenths,
    on a busy 2-core machine).
    """
    if rows.device.type != "cpu" or sys.byteorder != "little":
        rows.masked_fill_(~allowed, float("-inf"))
        return
    disallowed = np.logical_not(allowed.numpy())
    view = rows.detach()
    if view.dtype in _NEG_INF_BITS:
        int_dtype, bits = _NEG_INF_BITS[view.dtype]
        np.copyto(view.view(int_dtype).numpy(), bits, where=disallowed)
    else:
        np.copyto(view.numpy(), -np.inf, where=disallowed)


def apply_token_bitmask(
    logits: torch.Tensor,
    bitmask: BitmaskLike,
    *,
    vocab_size: Optional[int] = None,
    indices: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Like :func:`apply_token_bitmask_inplace`, but returns a new tensor and leaves ``logits`` alone."""
    out = logits.clone()
    apply_token_bitmask_inplace(out, bitmask, vocab_size=vocab_size, indices=indices)
    return out


__all__ = ("apply_token_bitmask", "apply_token_bitmask_inplace", "unpack_bitmask")
