"""The JSON-string slice of a vocabulary: tokens made only of characters that may stand
unescaped inside a JSON string (every code point but ``"``, ``\\`` and U+0000..U+001F, as
complete UTF-8).

Inside a string, a lexer state usually loops on every such character (or every such
character leads it to one state that does). At such a *closed* state every slice token stays
in the lexeme without passing a final state, so the mask walk can take the whole slice at once
and walk only the other tokens (a much smaller trie). This
is llguidance's slicer idea, with an exact closure test instead of a regex containment check.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..cache import LRUCache
from ..kernels.slices import ALL_DEAD as KERNEL_ALL_DEAD
from ..kernels.slices import SEVERAL, safe_closed_kernel, safe_successor_kernel
from ..vocab import TokenTrie, Vocabulary

# Byte ranges of one safe character, as UTF-8 (RFC 3629, surrogates excluded).
_SAFE_ASCII = np.asarray([b for b in range(0x20, 0x80) if b not in (0x22, 0x5C)], dtype=np.intp)
_MULTIBYTE = [
    [(0xC2, 0xDF), (0x80, 0xBF)],
    [(0xE0, 0xE0), (0xA0, 0xBF), (0x80, 0xBF)],
    [(0xE1, 0xEC), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xED, 0xED), (0x80, 0x9F), (0x80, 0xBF)],
    [(0xEE, 0xEF), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xF0, 0xF0), (0x90, 0xBF), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xF1, 0xF3), (0x80, 0xBF), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xF4, 0xF4), (0x80, 0x8F), (0x80, 0xBF), (0x80, 0xBF)],
]


_ALL_RANGES = sorted({r for ranges in _MULTIBYTE for r in ranges})

#: Per byte range of :data:`_MULTIBYTE` (and ``"ascii"``): the bytes to try, an int array;
#: under ``"_flat"``, memoized, the kernel's flat form of them all (``_flat_representatives``).
Representatives = Dict[Union[Tuple[int, int], str], Any]
FlatRepresentatives = Tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


def byte_representatives(byte_classes: Optional[ArrayLike] = None) -> Representatives:
    """For each byte range the safe-character walk uses (and ``"ascii"``), the bytes to try:
    one per class of ``byte_classes`` (bytes in one class behave alike in every state), or
    all of them."""

    def reps(candidates: NDArray[np.intp]) -> NDArray[np.intp]:
        if byte_classes is None:
            return candidates
        _, first = np.unique(np.asarray(byte_classes)[candidates], return_index=True)
        chosen: NDArray[np.intp] = candidates[np.sort(first)]
        return chosen

    out: Representatives = {r: reps(np.arange(r[0], r[1] + 1)) for r in _ALL_RANGES}
    out["ascii"] = reps(np.asarray(_SAFE_ASCII))
    return out


#: Every byte of every range (no classes): representatives valid for any table.
ALL_BYTES = byte_representatives()


#: One or more JSON-string-safe characters (no quote, backslash or control character).
_SAFE_TEXT = re.compile(r'[^"\\\x00-\x1f]+')


def is_safe_text(data: bytes) -> bool:
    """Whether ``data`` is complete UTF-8 of JSON-string-safe characters only."""
    return _safe_length(data) > 0


def _safe_length(data: bytes) -> int:
    """The characters of ``data`` when it is complete UTF-8 of safe characters only, else 0."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return len(text) if _SAFE_TEXT.fullmatch(text) else 0


def _flat_representatives(reps: Representatives) -> FlatRepresentatives:
    """``reps`` as the kernel's (rep_values, rep_offsets, level_offsets), memoized in it."""
    flat: Optional[FlatRepresentatives] = reps.get("_flat")
    if flat is None:
        levels = [reps["ascii"]] + [reps[r] for ranges in _MULTIBYTE for r in ranges]
        rep_offsets = np.zeros(len(levels) + 1, dtype=np.int64)
        rep_offsets[1:] = np.cumsum([len(x) for x in levels])
        level_offsets = np.zeros(len(_MULTIBYTE) + 1, dtype=np.int64)
        level_offsets[0] = 1
        level_offsets[1:] = 1 + np.cumsum([len(ranges) for ranges in _MULTIBYTE])
        flat = reps["_flat"] = (np.concatenate(levels).astype(np.int64), rep_offsets, level_offsets)
    return flat


_ALL_DEAD = -2
_scratch = threading.local()


@dataclass(eq=False)
class SliceMemo:
    """What the slice tests learned about one transition table: a terminal's DFA (shared by
    every equal DFA of the process) or a grammar's lexer."""

    #: state -> the one state every safe character leads it to (:func:`_successor_or_dead`).
    successor: Dict[int, int] = field(default_factory=dict)
    #: state -> the same with no state final (:func:`final_length`'s last step).
    successor_past_final: Dict[int, int] = field(default_factory=dict)
    #: (max_length, state) -> ``safe_length_limit`` of a terminal's DFA.
    limits: Dict[Tuple[int, int], int] = field(default_factory=dict)
    #: (max_length, state) -> ``final_length`` of a terminal's DFA.
    final_lengths: Dict[Tuple[int, int], int] = field(default_factory=dict)
    #: A terminal DFA's final states, and its byte representatives (``byte_representatives``).
    final: Optional[np.ndarray] = None
    reps: Optional[Representatives] = None


def _kernel_scratch(num_states: int) -> List[Any]:
    """The kernels' work arrays for tables of ``num_states`` rows, one set per thread (memos
    are shared by threads; the kernels run without the GIL): [current, following, mark, next
    mark, stack, visited]."""
    found = getattr(_scratch, "arrays", None)
    if found is None or found[0].shape[0] < num_states:
        n = max(num_states, 1024)
        found = _scratch.arrays = [
            np.zeros(n, dtype=np.int32),
            np.zeros(n, dtype=np.int32),
            np.zeros(n, dtype=np.int64),
            1,
            np.zeros(n, dtype=np.int32),
            np.zeros(n, dtype=np.int64),
        ]
    return found


def read_only(array: np.ndarray) -> np.ndarray:
    """``array`` as a read-only view, the one kind of table the kernels are compiled for:
    terminal DFAs' tables are read-only and the lexer's growing ones are not, and a Numba
    specialization for each would load twice the code at a process's first compile."""
    if not array.flags.writeable:
        return array
    view: np.ndarray = array.view()
    view.setflags(write=False)
    return view


def safe_closed(trans: np.ndarray, final: np.ndarray, state: int, reps: Representatives = ALL_BYTES) -> bool:
    """Whether no string of safe characters leads ``state`` to a dead or final state (so
    every slice token stays inside the lexeme), found by a search from ``state`` (``constrain.kernels.slices.safe_closed_kernel``)."""
    values, rep_offsets, level_offsets = _flat_representatives(reps)
    scratch = _kernel_scratch(trans.shape[0])
    closed, scratch[3] = safe_closed_kernel(
        read_only(trans),
        final,
        state,
        values,
        rep_offsets,
        level_offsets,
        scratch[4],
        scratch[0],
        scratch[1],
        scratch[2],
        scratch[5],
        scratch[3],
    )
    return bool(closed)


def _successor_or_dead(trans: np.ndarray, final: np.ndarray, state: int, reps: Representatives = ALL_BYTES) -> int:
    """The one state every safe character leads ``state`` to; -1 when they lead to several,
    or through a dead or final state; ``_ALL_DEAD`` when every safe character is dead
    (``constrain.kernels.slices.safe_successor_kernel``; its twin is in the tests)."""
    values, rep_offsets, level_offsets = _flat_representatives(reps)
    scratch = _kernel_scratch(trans.shape[0])
    found = int(
        safe_successor_kernel(
            read_only(trans),
            final,
            state,
            values,
            rep_offsets,
            level_offsets,
            scratch[0],
            scratch[1],
            scratch[2],
            scratch[3],
        )
    )
    scratch[3] += len(rep_offsets)
    if found == KERNEL_ALL_DEAD:
        return _ALL_DEAD
    return -1 if found == SEVERAL else found


def _successor(trans: np.ndarray, final: np.ndarray, state: int, reps: Representatives = ALL_BYTES) -> int:
    """Like :func:`_successor_or_dead`, with -1 for "all dead" too."""
    found = _successor_or_dead(trans, final, state, reps)
    return -1 if found == _ALL_DEAD else found


def ascii_mixed(trans: np.ndarray, state: int) -> bool:
    """Whether some safe ASCII characters continue ``state`` and others do not (a literal, a
    pattern): then :func:`safe_length_limit` is -1."""
    alive = trans[state, _SAFE_ASCII] >= 0
    return bool(alive.any() and not alive.all())


def ascii_alive(trans: np.ndarray, state: int) -> bool:
    """Whether every safe ASCII character continues ``state``."""
    return bool((trans[state, _SAFE_ASCII] >= 0).all())


def ascii_dead(trans: np.ndarray, state: int) -> bool:
    """Whether no safe ASCII character continues ``state`` (the end of a literal)."""
    return bool((trans[state, _SAFE_ASCII] < 0).all())


def safe_length_limit(
    trans: np.ndarray,
    final: np.ndarray,
    accept: np.ndarray,
    state: int,
    max_length: int,
    memo: SliceMemo,
    reps: Representatives = ALL_BYTES,
) -> int:
    """How many safe characters a lexeme at ``state`` can take, when that alone decides every
    slice token. Returns ``max_length`` (every slice token stays) when they lead through a
    chain of single states, none final, to a state that loops on all of them; ``m`` when the
    chain ends, after ``m`` characters, in a non-accepting state where they are all dead
    (slice tokens of at most ``m`` characters stay, longer ones die: a ``maxLength`` string);
    -1 otherwise (walk the whole trie; :func:`safe_closed` finds the closed states that are
    not chains). ``memo`` must belong to this ``trans`` only; ``reps``
    (from :func:`byte_representatives`) may name one byte per class of ``trans``'s columns."""
    if ascii_mixed(trans, state):
        return -1  # some safe characters live, some die: neither case (the usual quick exit)
    current = state
    for length in range(max_length + 1):
        nxt = memo.successor.get(current)
        if nxt is None:
            nxt = memo.successor[current] = _successor_or_dead(trans, final, current, reps)
        if nxt == _ALL_DEAD:
            return -1 if accept[current].any() else length
        if nxt < 0:
            return -1
        if nxt == current:
            return max_length
        current = nxt
    return max_length


def final_length(
    trans: np.ndarray,
    final: np.ndarray,
    state: int,
    max_length: int,
    memo: SliceMemo,
    reps: Representatives = ALL_BYTES,
) -> int:
    """``m`` when every string of safe characters leads ``state`` through a chain of single
    states, none final, to one final state after exactly ``m`` characters (a chunk of a long
    string: slice tokens shorter than ``m`` stay in the lexeme, longer ones end it); -1
    otherwise. ``memo`` as for :func:`safe_length_limit`."""
    current = state
    for length in range(1, max_length + 1):
        nxt = memo.successor.get(current)
        if nxt is None:
            nxt = memo.successor[current] = _successor_or_dead(trans, final, current, reps)
        if nxt >= 0:
            current = nxt
            continue
        if nxt == _ALL_DEAD:
            return -1
        target = memo.successor_past_final.get(current)
        if target is None:
            target = memo.successor_past_final[current] = _successor(trans, np.zeros_like(final), current, reps)
        return length if target >= 0 and final[target] else -1
    return -1


class StringSlice:
    """The slice of one vocabulary: its tokens as a bitmask, and the trie of all others.

    Attributes:
        mask: ``uint32[ceil(size / 32)]``, the slice tokens.
        rest: the :class:`~constrain.vocab.TokenTrie` of the text tokens outside the slice.
        max_length: the most characters in one slice token.
        up_to: ``uint32[max_length + 1, words]``; row ``m`` holds the slice tokens of at most
            ``m`` characters.
        long_from: slice tokens of more characters than this are few (690 of Qwen2's).
        long_rest: the trie of the tokens outside the slice and of the slice tokens longer
            than ``long_from`` characters: where a chunk ends after ``m >= long_from``
            characters, ``up_to[m]`` is taken at once and this trie walked.
    """

    long_from = 16

    def __init__(self, vocab: Vocabulary) -> None:
        specials = set(vocab.special_token_ids) | set(vocab.eos_token_ids)
        safe: List[int] = []
        safe_lengths: List[int] = []
        for i, data in enumerate(vocab.token_bytes):
            n = _safe_length(data) if data and i not in specials else 0
            if n:
                safe.append(i)
                safe_lengths.append(n)
        lengths = np.asarray(safe_lengths, dtype=np.int64)
        self.max_length = int(lengths.max()) if len(lengths) else 0
        words = (vocab.size + 31) // 32
        self.up_to = np.zeros((self.max_length + 1, words), dtype=np.uint32)
        ids = np.asarray(safe, dtype=np.int64)
        np.bitwise_or.at(self.up_to, (lengths, ids >> 5), (np.uint32(1) << (ids & 31).astype(np.uint32)))
        np.bitwise_or.accumulate(self.up_to, axis=0, out=self.up_to)
        self.mask = self.up_to[self.max_length].copy()
        self.rest = TokenTrie.build(vocab.token_bytes, excluded=specials | set(safe))
        short = {i for i, n in zip(safe, lengths.tolist()) if n <= self.long_from}
        self.long_rest = TokenTrie.build(vocab.token_bytes, excluded=specials | short)


#: The string slice of each vocabulary, by fingerprint. Bound: 4 vocabularies, as many as the
#: vocabulary cache keeps (a slice holds two tries of nearly the whole vocabulary: tens of MB
#: for 150k tokens).
STRING_SLICES: LRUCache[str, StringSlice] = LRUCache("automata.string_slices", max_entries=4)


def string_slice(vocab: Vocabulary) -> StringSlice:
    """The (cached) slice of ``vocab``."""
    return STRING_SLICES.get_or_create(vocab.fingerprint, StringSlice, vocab)
