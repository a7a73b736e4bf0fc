"""Memoized parts of masks (see ``docs/design/engine.md``, "The mask").

What a lexer state allows by itself does not depend on the parser: the tokens whose bytes all
stay in the current lexeme (``inside``), the trie nodes where the lexeme ends and the parser
must decide (the frontier), and the tokens that end it before their first byte (``stop``).
:func:`lexeme_mask` computes them for a state of a grammar's lexer; :func:`terminal_lexeme_mask`
for a lexeme in which one terminal is alive, on that terminal's own DFA, memoized in an LRU
shared by every grammar of the process.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from ..cache import LRUCache
from ..config import SHARED_MASK_CACHE_BYTES
from ..kernels import earley as K
from ..kernels.records import make_trie_record
from ..vocab import TokenTrie, Vocabulary
from .fsm import ByteDFA
from .slices import (
    ALL_BYTES,
    Representatives,
    SliceMemo,
    ascii_alive,
    ascii_mixed,
    byte_representatives,
    final_length,
    read_only,
    safe_closed,
    safe_length_limit,
    string_slice,
)


class LexemeMask(NamedTuple):
    """What a lexer state allows by itself (``lexeme_mask_kernel``), ready for
    ``fill_mask_cached_kernel``."""

    #: ``uint32`` mask words: the tokens whose bytes all stay in the current lexeme.
    inside: np.ndarray
    #: ``int32``: the trie nodes where the lexeme ends and the parser decides, in runs that
    #: share a parser step.
    frontier_node: np.ndarray
    #: ``int32``, per frontier node: the lexer state before its byte (a memo of a grammar's
    #: lexer), or ``BYTE_ENDS_LEXEME`` / ``BYTE_STARTS_LEXEME`` (a memo of one terminal's DFA).
    frontier_key: np.ndarray
    #: ``int32``, per frontier node: the first entry past its run.
    run_end: np.ndarray
    #: ``uint32`` mask words: the tokens that end the lexeme before their first byte, or
    #: ``None`` when no token does.
    stop: Optional[np.ndarray]
    #: The trie the frontier indexes (the vocabulary's, or the rest of a JSON-string slice),
    #: and the same as the kernels' ``T`` record.
    trie: TokenTrie
    trie_record: Tuple[Any, ...]

    @property
    def nbytes(self) -> int:
        """The memory the memo holds (the trie is shared)."""
        arrays = (self.inside, self.stop, self.frontier_node, self.frontier_key, self.run_end)
        return sum(a.nbytes for a in arrays if a is not None)


class LexemeMemo(NamedTuple):
    """A grammar's memo of the mask at one lexer state (``CompiledGrammar.lexeme_mask``)."""

    mask: LexemeMask
    #: When one terminal is alive, the mask was made on its DFA (and is shared by every
    #: grammar with that terminal): the terminal, as a bitset of the grammar's terminals.
    #: ``None`` when the mask was made on the grammar's lexer.
    terminal: Optional[np.ndarray]


def trie_record(trie: TokenTrie) -> Tuple[Any, ...]:
    """The kernels' ``T`` record of ``trie``."""
    return make_trie_record(
        byte=trie.byte,
        depth=trie.depth,
        subtree_end=trie.subtree_end,
        token_offsets=trie.token_offsets,
        token_ids=trie.token_ids,
    )


def lexeme_mask(
    vocab: Vocabulary,
    trans: np.ndarray,
    accept: np.ndarray,
    final: np.ndarray,
    state: int,
    memo: SliceMemo,
    closed: bool = False,
    limit: Optional[int] = None,
    chunk: Optional[int] = None,
    reps: Optional[Representatives] = None,
) -> Tuple[np.ndarray, NDArray[np.int32], NDArray[np.int32], Optional[np.ndarray], TokenTrie]:
    """Run ``lexeme_mask_kernel``; frontier sorted by (state, byte). Returns
    (inside, frontier nodes, frontier states, stop or None, trie).

    Where JSON-string characters alone decide the string slice (``safe_length_limit``, or
    ``closed``: the caller knows the state keeps every slice token), the slice is taken at once
    and only the other tokens' trie is walked (see ``constrain.automata.slices``); the frontier
    then indexes that trie. Where they lead to a final state after ``m`` characters
    (``final_length``: a chunk of a long string), the slice tokens of at most ``m``
    characters are taken at once and the few longer ones walked with the others. ``limit`` and ``chunk``, when
    given, are the caller's ``safe_length_limit`` and ``final_length``; ``reps``, one byte per
    class of ``trans``'s columns (``byte_representatives``), speeds the tests up."""
    reps = reps if reps is not None else ALL_BYTES
    trie = vocab.trie
    slice_mask = None
    string = string_slice(vocab)
    if limit is None:
        limit = (
            string.max_length
            if closed
            else safe_length_limit(trans, final, accept, state, string.max_length, memo, reps)
        )
    if limit >= 0:
        trie, slice_mask = string.rest, string.up_to[limit]
    else:
        if chunk is None and not ascii_mixed(trans, state):
            chunk = final_length(trans, final, state, string.max_length, memo, reps)
        if chunk is not None and chunk >= string.long_from:
            # A token of exactly ``chunk`` characters ends the lexeme with the token, in a
            # final state of a terminal the parser expects: allowed, like the shorter ones.
            trie, slice_mask = string.long_rest, string.up_to[chunk]
    nodes, states, lex_at = _frontier_buffers(trie)
    inside = np.zeros((vocab.size + 31) // 32, dtype=np.uint32)
    stop = np.zeros_like(inside)
    count, root_end = K.lexeme_mask_kernel(
        read_only(trans), accept, final, state, trie_record(trie), inside, stop, lex_at, nodes, states
    )
    if slice_mask is not None:
        inside |= slice_mask
    order = np.lexsort((trie.byte[nodes[:count]], states[:count]))
    return (inside, nodes[:count][order].copy(), states[:count][order].copy(), (stop if root_end else None), trie)


_buffers = threading.local()


def _frontier_buffers(trie: TokenTrie) -> Tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
    """Per-thread work arrays for ``lexeme_mask_kernel`` on ``trie``: a frontier can hold every
    node, so they are trie-sized, and allocating (and zeroing) them at every call cost more
    than the walk of a short literal's state."""
    cache: Optional[Dict[int, Tuple[TokenTrie, NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]]]
    cache = getattr(_buffers, "by_trie", None)
    if cache is None:
        cache = _buffers.by_trie = {}
    key = id(trie)
    found = cache.get(key)
    if found is None or found[0] is not trie:
        n = trie.byte.shape[0]
        depth = int(trie.depth.max()) + 2 if n > 1 else 2
        if len(cache) >= 8:
            cache.clear()
        found = cache[key] = (
            trie,
            np.empty(n, dtype=np.int32),
            np.empty(n, dtype=np.int32),
            np.zeros(depth, dtype=np.int32),
        )
    return found[1], found[2], found[3]


def run_ends(keys: np.ndarray) -> NDArray[np.int32]:
    """For sorted ``keys``, the index of the first entry past each entry's run of equal keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], n]
    return np.repeat(ends, np.diff(np.r_[starts, n])).astype(np.int32)


def _terminal_mask_nbytes(entry: LexemeMask) -> int:
    return entry.nbytes  # (the trie belongs to the vocabulary)


#: Mask parts of (vocabulary, terminal DFA, state), shared by every compiled grammar. Bound:
#: ``SHARED_MASK_CACHE_BYTES`` (512 MiB unless ``CONSTRAIN_SHARED_MASK_CACHE_MB`` says
#: otherwise): a part holds two bitmasks of the vocabulary (19 kB each for 150k tokens), so
#: about 13,000 parts, the strings and numbers of hundreds of schemas.
TERMINAL_MASKS: LRUCache[Tuple[str, bytes, int], LexemeMask] = LRUCache(
    "automata.terminal_masks", max_entries=1 << 20, max_bytes=SHARED_MASK_CACHE_BYTES, nbytes=_terminal_mask_nbytes
)


def terminal_lexeme_mask(vocab: Vocabulary, dfa: ByteDFA, state: int) -> LexemeMask:
    """The :class:`LexemeMask` of a lexeme in which only ``dfa``'s terminal is alive, at
    ``state``; an LRU shared by all grammars of the process."""
    key = (vocab.fingerprint, _dfa_digest(dfa), state)
    return TERMINAL_MASKS.get_or_create(key, _terminal_lexeme_mask, vocab, dfa, state)


def _terminal_lexeme_mask(vocab: Vocabulary, dfa: ByteDFA, state: int) -> LexemeMask:
    trans = dfa.transitions
    accept = dfa.accepting.astype(np.uint64).reshape(-1, 1)
    final = dfa.accepting & (trans < 0).all(axis=1)
    inside, nodes, states, stop, trie = lexeme_mask(
        vocab,
        trans,
        accept,
        final,
        state,
        _successor_memo(dfa),
        limit=terminal_slice_limit(vocab, dfa, state),
        chunk=_terminal_final_length(vocab, dfa, state),
    )
    consumed = (trans[states, trie.byte[nodes]] >= 0) if len(nodes) else np.zeros(0, dtype=bool)
    order = np.lexsort((trie.byte[nodes], consumed))
    nodes, consumed = nodes[order].copy(), consumed[order]
    # The byte is the lexeme's last when the terminal's DFA takes it (the frontier holds
    # only bytes that end the lexeme or start the next one).
    keys = np.where(consumed, K.BYTE_ENDS_LEXEME, K.BYTE_STARTS_LEXEME).astype(np.int32)
    runs = run_ends(keys.astype(np.int64) * 256 + trie.byte[nodes])
    return LexemeMask(inside, nodes, keys, runs, stop, trie, trie_record(trie))


def terminal_slice_limit(vocab: Vocabulary, dfa: ByteDFA, state: int) -> int:
    """``safe_length_limit`` on a terminal's own DFA, memoized on the DFA."""
    if ascii_mixed(dfa.transitions, state):
        return -1  # the usual quick exit, before the costlier set-up below
    memo = _successor_memo(dfa)
    max_length = string_slice(vocab).max_length
    limit = memo.limits.get((max_length, state))
    if limit is None:
        final = _final_states(dfa, memo)
        reps = memo.reps
        if reps is None:
            reps = memo.reps = byte_representatives(dfa.byte_classes())
        if ascii_alive(dfa.transitions, state) and safe_closed(dfa.transitions, final, state, reps):
            limit = max_length  # (only a state every safe ASCII character continues can be)
        else:
            limit = safe_length_limit(
                dfa.transitions, final, dfa.accepting.reshape(-1, 1), state, max_length, memo, reps
            )
        memo.limits[(max_length, state)] = limit
    return limit


#: What the slice tests learned about each DFA, by the DFA's digest. Bound: 4096 DFAs, the
#: terminals of the grammars compiled lately (a memo holds a few small dicts per DFA state
#: tested).
SUCCESSOR_MEMOS: LRUCache[bytes, SliceMemo] = LRUCache("automata.successor_memos", max_entries=4096)


def _terminal_final_length(vocab: Vocabulary, dfa: ByteDFA, state: int) -> int:
    """``final_length`` on a terminal's own DFA, memoized on the DFA."""
    memo = _successor_memo(dfa)
    max_length = string_slice(vocab).max_length
    found = memo.final_lengths.get((max_length, state))
    if found is None:
        if ascii_mixed(dfa.transitions, state):
            found = -1
        else:
            found = final_length(dfa.transitions, _final_states(dfa, memo), state, max_length, memo)
        memo.final_lengths[(max_length, state)] = found
    return found


def _final_states(dfa: ByteDFA, memo: SliceMemo) -> np.ndarray:
    """``dfa``'s final states (accepting, no byte continues), memoized."""
    final = memo.final
    if final is None:
        final = memo.final = dfa.accepting & (dfa.transitions < 0).all(axis=1)
    return final


def _successor_memo(dfa: ByteDFA) -> SliceMemo:
    """What the slice tests learned about ``dfa`` (successors, limits, live states), shared by
    every equal DFA of the process: each schema compiles its own string and number DFAs, and
    the tests cost about a millisecond per DFA."""
    memo: Optional[SliceMemo] = getattr(dfa, "_constrain_successors", None)
    if memo is None:
        memo = SUCCESSOR_MEMOS.get_or_create(_dfa_digest(dfa), SliceMemo)
        object.__setattr__(dfa, "_constrain_successors", memo)
    return memo


def _dfa_digest(dfa: ByteDFA) -> bytes:
    """A digest of ``dfa``'s language and state numbering: its byte classes, one column per
    class and its accepting states (a fraction of the whole table, which can be megabytes)."""
    digest = getattr(dfa, "_constrain_digest", None)
    if digest is None:
        classes = dfa.byte_classes()
        _, first = np.unique(classes, return_index=True)
        h = hashlib.blake2b(digest_size=16)
        h.update(classes.tobytes())
        h.update(np.ascontiguousarray(dfa.transitions[:, first]).tobytes())
        h.update(np.ascontiguousarray(dfa.accepting).tobytes())
        digest = h.digest()
        object.__setattr__(dfa, "_constrain_digest", digest)
    return digest
