"""``Matcher``: the cheap, mutable per-sequence cursor over a :class:`CompiledGrammar`."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ConfigurationError, ResourceLimitError
from ..kernels import earley as K
from .compiled import CompiledGrammar

_MAX_NEED = 64
_NO_TERMINAL = np.zeros(0, dtype=np.uint64)
_NO_EOS = np.zeros(0, dtype=np.int64)


class Matcher:
    """Where one sequence stands in the grammar.

    A rejected token is not an exception: :meth:`accept_token` returns ``False`` and leaves the
    matcher as it was, so speculative decoding can try another. Exceptions mean API misuse.

    Args:
        compiled: the compiled grammar (shared, never modified in meaning).
        max_rollback_tokens: how many accepted tokens :meth:`rollback` can undo (``None``:
            all of them).
    """

    def __init__(self, compiled: CompiledGrammar, *, max_rollback_tokens: Optional[int] = None) -> None:
        if not isinstance(compiled, CompiledGrammar):
            raise ConfigurationError(
                f"`compiled` must be a CompiledGrammar (from constrain.compile), got {type(compiled).__name__}"
            )
        self.compiled = compiled
        self._max_rollback = max_rollback_tokens
        self._items = np.zeros((1024, 2), dtype=np.int32)
        self._set_starts = np.zeros(257, dtype=np.int32)
        self._set_lexstart = np.zeros(256, dtype=np.int32)
        self._items_by_symbol = np.zeros_like(self._items)
        self._set_build = np.zeros((256, 4), dtype=np.int64)
        self._set_scan = np.zeros((256, compiled.tables.num_words), dtype=np.uint64)
        self._history: list = []
        self._terminated = False
        #: (state key, mask words) of the last mask filled inside a lexeme; see
        #: fill_next_token_bitmask.
        self._last_mask = None
        self._run(lambda L, P: (K.init_parser_kernel(self.compiled.kernel_grammar, L, P), 1, 0))
        self._n_sets = 1
        self._lex_state = int(self._set_lexstart[0])

    # -- plumbing ------------------------------------------------------------------------

    def _parser(self) -> tuple:
        """The kernels' ``P``: this sequence's Earley sets, and this thread's scratch arrays
        (shared by every matcher of the grammar in the thread, so a matcher stays small and
        ``fork`` copies only the sets)."""
        scratch = self.compiled.thread_scratch()
        return (self._items, self._set_starts, self._set_lexstart, scratch.seen_build,
                scratch.seen_origin, scratch.counter, scratch.words, scratch.acc, scratch.nt_stamp,
                self._set_build, self._set_scan, self._items_by_symbol, scratch.symbol_count, scratch.pairs)

    def _grow(self) -> None:
        limit = self.compiled.limits.max_earley_items * 64
        if self._items.shape[0] >= limit:
            raise ResourceLimitError(
                f"the parser needs more than {limit} Earley items (max_earley_items x 64); "
                "the grammar is too ambiguous or the text too long"
            )
        self._items = np.concatenate([self._items, np.zeros_like(self._items)])
        self._items_by_symbol = np.concatenate([self._items_by_symbol, np.zeros_like(self._items_by_symbol)])
        n = self._set_lexstart.shape[0]
        self._set_starts = np.concatenate([self._set_starts, np.zeros(n, dtype=np.int32)])
        self._set_lexstart = np.concatenate([self._set_lexstart, np.zeros(n, dtype=np.int32)])
        self._set_build = np.concatenate([self._set_build, np.zeros_like(self._set_build)])
        self._set_scan = np.concatenate([self._set_scan, np.zeros_like(self._set_scan)])

    def _run(self, call):
        """Run ``call(L, P)`` until it needs no new lexer and no more room."""
        while True:
            L = self.compiled.lexers.tables
            P = self._parser()
            result = call(L, P)
            status = result[0]
            if status == K.NEED_LEXER:
                self.compiled.lexers.ensure(P[6].copy())  # the kernels leave the live set there
            elif status == K.OVERFLOW:
                self._grow()
            else:
                return result

    # -- the public verbs ----------------------------------------------------------------

    def accept_bytes(self, data: bytes) -> bool:
        """Advance by raw bytes (not a token). Returns whether they were accepted; if not, the
        matcher is unchanged. Not recorded for :meth:`rollback` and not for terminated matchers."""
        if self._terminated:
            return False
        arr = np.frombuffer(bytes(data), dtype=np.uint8)
        G = self.compiled.kernel_grammar
        status, n_sets, lex_state = self._run(
            lambda L, P: K.advance_kernel(G, L, P, self._n_sets, self._lex_state, arr)
        )
        if status != K.OK:
            return False
        self._n_sets, self._lex_state = int(n_sets), int(lex_state)
        return True

    def accept_token(self, token_id: int) -> bool:
        """Advance by one token. EOS is accepted exactly when the text so far is complete, and
        terminates the matcher. Returns ``False`` (matcher unchanged) for a token that does not
        fit, a special token, or any token after termination."""
        vocab = self.compiled.vocab
        token_id = int(token_id)
        if not 0 <= token_id < vocab.size:
            raise ConfigurationError(f"token id {token_id} is outside the vocabulary (size {vocab.size})")
        if self._terminated:
            return False
        before = (self._n_sets, self._lex_state)
        if token_id in vocab.eos_token_ids:
            if not self.is_accepting():
                return False
            self._terminated = True
        elif token_id in vocab.special_token_ids or not vocab.token_bytes[token_id]:
            return False
        elif not self.accept_bytes(vocab.token_bytes[token_id]):
            return False
        self._history.append(before)
        if self._max_rollback is not None and len(self._history) > self._max_rollback:
            del self._history[0]
        return True

    def is_accepting(self) -> bool:
        """Whether the text so far is a complete string of the language (EOS is allowed)."""
        if self._terminated:
            return True
        G = self.compiled.kernel_grammar
        status, accepting = self._run(
            lambda L, P: K.is_accepting_kernel(G, L, P, self._n_sets, self._lex_state)
        )
        return bool(accepting)

    def is_terminated(self) -> bool:
        """Whether EOS has been accepted."""
        return self._terminated

    def fill_next_token_bitmask(self, bitmask, index: int = 0) -> None:
        """Write the allowed next tokens into row ``index`` of ``bitmask``.

        Args:
            bitmask: ``int32`` array (numpy, or a CPU torch tensor) of shape
                ``(batch, ceil(vocab_size / 32))``, bit ``i`` of word ``w`` = token ``32 w + i``.
                Words past the vocabulary are zeroed.
            index: the row to fill.

        A terminated matcher allows only EOS.
        """
        row = _bitmask_row(bitmask, index, self.compiled.vocab.size)
        if self._terminated:
            row[:] = 0
            for t in self.compiled.eos_token_ids:
                row[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
            return
        # The mask is a function of the state, and the state of (lexer state, number of sets,
        # build number of the last set): build numbers are unique, and a set is rebuilt (a new
        # number) whenever one below it changes. Inside a lexeme (a string's characters) the
        # state often repeats from one token to the next; then the last mask is copied.
        key = (self._lex_state, self._n_sets, int(self._set_build[self._n_sets - 1, 0]))
        last = self._last_mask
        if last is not None and last[0] == key:
            row[:] = last[1]
            return
        self._fill_from(self.compiled.kernel_grammar, self.compiled.vocab.trie, row,
                        self._n_sets, self._lex_state, self.compiled.eos_token_ids)
        if self._lex_state != self._set_lexstart[self._n_sets - 1]:
            buffer = last[1] if last is not None else np.empty_like(row)
            buffer[:] = row
            self._last_mask = (key, buffer)

    def _fill_from(self, G, trie, row, n_sets: int, lex_state: int, eos_ids) -> None:
        """Fill ``row`` for the state (``n_sets``, ``lex_state``); EOS bits from ``eos_ids``
        when complete (the inner fill of a merge passes none)."""
        scratch = self.compiled.thread_scratch()
        lex_at, sets_at, need = scratch.lex_at, scratch.sets_at, scratch.need
        entry = self.compiled.lexeme_mask(lex_state)
        merge = False
        if entry is not None and entry[-2] is not None:
            # Tokens that end the current lexeme before their first byte: the mask of the
            # state after that step (a lexeme start, itself memoized), restricted below.
            if entry[0] == "terminal":
                accepted = entry[1]
                end = lambda L, P: K.end_with_kernel(G, L, P, n_sets, accepted)  # noqa: E731
            else:
                end = lambda L, P: K.end_lexeme_kernel(G, L, P, n_sets, lex_state)  # noqa: E731
            status, n2, start = self._run(end)
            if status == K.OK:
                self._fill_from(G, trie, row, int(n2), int(start), _NO_EOS)
                merge = True
            else:
                row[:] = 0
        while True:
            L = self.compiled.lexers.tables
            if entry is None:
                status, n_need = K.fill_mask_kernel(
                    G, L, self._parser(), n_sets, lex_state, trie.byte, trie.depth,
                    trie.subtree_end, trie.token_offsets, trie.token_ids, row, lex_at, sets_at,
                    need, _MAX_NEED, eos_ids,
                )
            else:
                if entry[0] == "terminal":
                    _, accepted, inside, nodes, keys, runs, stop, walked = entry
                else:
                    _, inside, nodes, keys, runs, stop, walked = entry
                    accepted = _NO_TERMINAL
                status, n_need = K.fill_mask_cached_kernel(
                    G, L, self._parser(), n_sets, lex_state, accepted, inside, nodes, keys, runs,
                    walked.byte, walked.depth, walked.subtree_end, walked.token_offsets, walked.token_ids,
                    row, merge, inside if stop is None else stop, lex_at, sets_at, need, _MAX_NEED,
                    eos_ids,
                )
            if status == K.NEED_LEXER:
                for j in range(n_need):
                    self.compiled.lexers.ensure(need[j].copy())
            elif status == K.OVERFLOW:
                self._grow()
            else:
                return

    def rollback(self, num_tokens: int = 1) -> None:
        """Undo the last ``num_tokens`` accepted tokens (EOS included)."""
        if num_tokens < 0 or num_tokens > len(self._history):
            raise ConfigurationError(
                f"cannot roll back {num_tokens} tokens: {len(self._history)} can be undone"
            )
        if num_tokens == 0:
            return
        self._n_sets, self._lex_state = self._history[-num_tokens]
        del self._history[-num_tokens:]
        self._terminated = False

    def reset(self) -> None:
        """Back to the start of the grammar."""
        self._n_sets = 1
        self._lex_state = int(self._set_lexstart[0])
        self._history.clear()
        self._terminated = False

    def fork(self) -> "Matcher":
        """An independent copy at the same position (its own rollback history)."""
        twin = Matcher.__new__(Matcher)
        twin.__dict__.update(self.__dict__)
        used_items = int(self._set_starts[self._n_sets])
        keep = self._items.shape[0] if used_items * 2 > self._items.shape[0] else max(1024, 2 * used_items)
        twin._items = self._items[:keep].copy()
        twin._items_by_symbol = self._items_by_symbol[:keep].copy()
        twin._set_starts = self._set_starts.copy()
        twin._set_lexstart = self._set_lexstart.copy()
        # The twin keeps only the committed sets' items: forget how the others were built.
        twin._set_build = self._set_build.copy()
        twin._set_build[self._n_sets:] = 0
        twin._set_scan = self._set_scan.copy()
        twin._history = list(self._history)
        twin._last_mask = None  # its buffer is this matcher's
        return twin

    @property
    def num_accepted_tokens(self) -> int:
        """Tokens accepted and still undoable."""
        return len(self._history)


def _bitmask_row(bitmask, index: int, vocab_size: int) -> np.ndarray:
    if not isinstance(bitmask, np.ndarray):
        if hasattr(bitmask, "numpy") and hasattr(bitmask, "device"):
            if bitmask.device.type != "cpu":
                raise ConfigurationError(
                    f"Invalid bitmask device: expected a CPU tensor, got {bitmask.device}; "
                    "fill on the CPU, then move it"
                )
            bitmask = bitmask.numpy()
        else:
            raise ConfigurationError(f"Invalid bitmask type: expected numpy array or torch tensor, got {type(bitmask).__name__}")
    if bitmask.dtype != np.int32:
        raise ConfigurationError(f"Invalid bitmask dtype: expected int32, got {bitmask.dtype}")
    if bitmask.ndim == 1:
        bitmask = bitmask[None, :]
    if bitmask.ndim != 2:
        raise ConfigurationError(f"Invalid bitmask shape: expected (batch, words), got {bitmask.shape}")
    need = (vocab_size + 31) // 32
    if bitmask.shape[1] < need:
        raise ConfigurationError(
            f"Invalid bitmask width: expected at least {need} words for vocab_size {vocab_size}, got {bitmask.shape[1]}"
        )
    if not 0 <= index < bitmask.shape[0]:
        raise ConfigurationError(f"Invalid bitmask index {index} for batch size {bitmask.shape[0]}")
    row = bitmask[index]
    if not row.flags.c_contiguous:
        raise ConfigurationError("Invalid bitmask: rows must be contiguous")
    if not row.flags.writeable:
        raise ConfigurationError("Invalid bitmask: it is read-only")
    if row.shape[0] > need:
        row[need:] = 0  # words past the vocabulary; the kernels see exactly `need` words
    return row[:need].view(np.uint32)
