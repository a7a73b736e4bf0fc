"""``Matcher``: the cheap, mutable per-sequence cursor over a :class:`CompiledGrammar`."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigurationError, ResourceLimitError
from ..kernels import earley as K
from ..kernels.records import COUNTER_PAIRS_FULL, PARSER_LIVE_WORDS, PARSER_PAIRS, SET_BUILD_ID, make_parser_record
from .arguments import BitmaskArray, TokenIds, check_bytes, check_int, check_token_ids, describe
from .compiled import CompiledGrammar

#: A kernel call ``call(L, P)`` on the lexer tables and the parser arrays; its result
#: starts with a status (``OK``, ``NEED_LEXER``, ``OVERFLOW``...).
KernelCall = Callable[[Tuple[Any, ...], Tuple[Any, ...]], Tuple[Any, ...]]

_MAX_NEED = 64
_NO_TERMINAL = np.zeros(0, dtype=np.uint64)
_NO_EOS = np.zeros(0, dtype=np.int64)
#: Default bound of :meth:`Matcher.find_jump_forward_bytes`.
MAX_JUMP_FORWARD_BYTES = 4096


class Matcher:
    """Where one sequence stands in the grammar.

    A rejected token is not an exception: :meth:`accept_token` returns ``False`` and leaves the
    matcher as it was, so speculative decoding can try another. Exceptions mean API misuse:
    every verb raises :class:`~constrain.errors.ConfigurationError` for an argument of the
    wrong type (token ids are Python ints or numpy integer scalars; ``bool``, floats and
    strings are refused, not coerced) or out of range.

    A matcher is used by one thread at a time; matchers of one compiled grammar may run in
    different threads at once (see :mod:`constrain.automata.batch`).

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
        if max_rollback_tokens is not None:
            max_rollback_tokens = check_int(max_rollback_tokens, "max_rollback_tokens", lo=0)
        self.compiled = compiled
        self._max_rollback = max_rollback_tokens
        self._items = np.zeros((1024, 2), dtype=np.int32)
        self._set_starts = np.zeros(257, dtype=np.int32)
        self._set_lexstart = np.zeros(256, dtype=np.int32)
        self._items_by_symbol = np.zeros_like(self._items)
        self._set_build = np.zeros((256, 4), dtype=np.int64)
        self._set_scan = np.zeros((256, compiled.tables.num_words), dtype=np.uint64)
        self._history: List[Tuple[int, int]] = []
        self._terminated = False
        #: (state key, mask words) of the last mask filled inside a lexeme; see
        #: fill_next_token_bitmask.
        self._last_mask: Optional[Tuple[Tuple[int, int, int], NDArray[np.uint32]]] = None
        #: (thread scratch, the ``P`` record over it and this matcher's arrays); see _parser.
        self._parser_record: Optional[Tuple[object, Tuple[Any, ...]]] = None
        self._run(lambda L, P: (K.init_parser_kernel(self.compiled.kernel_grammar, L, P), 1, 0))
        self._n_sets = 1
        self._lex_state = int(self._set_lexstart[0])

    # -- plumbing ------------------------------------------------------------------------

    def _parser(self) -> Tuple[Any, ...]:
        """The kernels' ``P``: this sequence's Earley sets, and this thread's scratch arrays
        (shared by every matcher of the grammar in the thread, so a matcher stays small and
        ``fork`` copies only the sets)."""
        scratch = self.compiled.thread_scratch()
        cached = self._parser_record
        if cached is not None and cached[0] is scratch and cached[1][PARSER_PAIRS] is scratch.pairs:
            return cached[1]  # kept until an array is replaced (_grow, fork, grow_pairs) or the thread changes
        P = make_parser_record(
            items=self._items,
            set_starts=self._set_starts,
            set_lexstart=self._set_lexstart,
            seen_build=scratch.seen_build,
            seen_origin=scratch.seen_origin,
            counter=scratch.counter,
            live_words=scratch.live_words,
            accepted=scratch.acc,
            nt_stamp=scratch.nt_stamp,
            set_build=self._set_build,
            set_scan=self._set_scan,
            by_symbol=self._items_by_symbol,
            symbol_count=scratch.symbol_count,
            pairs=scratch.pairs,
            leo=scratch.leo,
        )
        self._parser_record = (scratch, P)
        return P

    def _grow(self) -> None:
        """Make room after an ``OVERFLOW``: in the thread's de-duplication table when the
        kernel asked for it, else in this matcher's sets."""
        scratch = self.compiled.thread_scratch()
        if scratch.counter[COUNTER_PAIRS_FULL]:
            scratch.grow_pairs()
            return
        limit = self.compiled.limits.max_earley_items * 64
        if self._items.shape[0] >= limit:
            raise ResourceLimitError(
                f"the parser needs more than {limit} Earley items (max_earley_items x 64); "
                "the grammar is too ambiguous or the text too long"
            )
        self._parser_record = None
        self._items = np.concatenate([self._items, np.zeros_like(self._items)])
        self._items_by_symbol = np.concatenate([self._items_by_symbol, np.zeros_like(self._items_by_symbol)])
        n = self._set_lexstart.shape[0]
        self._set_starts = np.concatenate([self._set_starts, np.zeros(n, dtype=np.int32)])
        self._set_lexstart = np.concatenate([self._set_lexstart, np.zeros(n, dtype=np.int32)])
        self._set_build = np.concatenate([self._set_build, np.zeros_like(self._set_build)])
        self._set_scan = np.concatenate([self._set_scan, np.zeros_like(self._set_scan)])

    def _over_budget(self) -> ResourceLimitError:
        limit = self.compiled.limits.max_earley_work
        return ResourceLimitError(
            f"one step (a mask, a token accepted or a completeness check) needs more than "
            f"max_earley_work={limit} units of Earley work: the grammar is too ambiguous here "
            "(its Earley sets grow with the text); the matcher is unchanged. Rewrite the "
            "ambiguous rules, or raise Limits.max_earley_work"
        )

    def _run(self, call: KernelCall) -> Tuple[Any, ...]:
        """Run ``call(L, P)`` until it needs no new lexer and no more room."""
        while True:
            L = self.compiled.lexers.tables
            P = self._parser()
            result = call(L, P)
            status = result[0]
            if status == K.NEED_LEXER:
                self.compiled.lexers.ensure(P[PARSER_LIVE_WORDS].copy())  # the kernels leave the live set there
            elif status == K.OVERFLOW:
                self._grow()
            elif status == K.OVER_BUDGET:
                raise self._over_budget()
            else:
                return result

    # -- the public verbs ----------------------------------------------------------------

    def _token_id(self, token_id: int, name: str = "token_id") -> int:
        size = self.compiled.vocab.size
        token_id = check_int(token_id, name)
        if not 0 <= token_id < size:
            raise ConfigurationError(f"`{name}` {token_id} is outside the vocabulary (size {size})")
        return token_id

    def accept_bytes(self, data: bytes) -> bool:
        """Advance by raw bytes (not a token). Returns whether they were accepted; if not, the
        matcher is unchanged. Not recorded for :meth:`rollback` and not for terminated matchers."""
        data = check_bytes(data, "data")
        if self._terminated:
            return False
        return self._advance_bytes(data)

    def _advance_bytes(self, data: bytes) -> bool:
        arr = np.frombuffer(data, dtype=np.uint8)
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
        token_id = self._token_id(token_id)
        if self._terminated:
            return False
        before = (self._n_sets, self._lex_state)
        if not self._step_token(token_id):
            return False
        self._history.append(before)
        if self._max_rollback is not None and len(self._history) > self._max_rollback:
            del self._history[0]
        return True

    def _step_token(self, token_id: int) -> bool:
        """:meth:`accept_token` of a checked id on a matcher not terminated, without history."""
        vocab = self.compiled.vocab
        if token_id in vocab.eos_token_ids:
            if not self.is_accepting():
                return False
            self._terminated = True
            return True
        data = vocab.token_bytes[token_id]
        return bool(data) and self._advance_bytes(data)

    def accept_tokens(self, token_ids: TokenIds) -> int:
        """Accept ``token_ids`` in order, stopping at the first one rejected (or after EOS), as
        speculative decoding accepts a draft. Returns how many were accepted; each is undone by
        :meth:`rollback` like one :meth:`accept_token`.

        Args:
            token_ids: a list of ints or a 1-d integer array (numpy, or a CPU torch tensor).
        """
        ids = check_token_ids(token_ids, "token_ids", self.compiled.vocab.size)
        if self._terminated or ids.size == 0:
            return 0
        count, states = self._advance_tokens(ids)
        history = self._history
        for j in range(count):
            history.append((int(states[j, 0]), int(states[j, 1])))
        self._n_sets, self._lex_state = int(states[count, 0]), int(states[count, 1])
        if count and int(ids[count - 1]) in self.compiled.vocab.eos_token_ids:
            self._terminated = True
        if self._max_rollback is not None and len(history) > self._max_rollback:
            del history[: len(history) - self._max_rollback]
        return count

    def validate_tokens(self, token_ids: TokenIds) -> int:
        """How many of ``token_ids``, accepted in order, would be accepted before the first
        rejected one: :meth:`accept_tokens` without changing anything.

        Args:
            token_ids: a list of ints or a 1-d integer array (numpy, or a CPU torch tensor).
        """
        ids = check_token_ids(token_ids, "token_ids", self.compiled.vocab.size)
        if self._terminated or ids.size == 0:
            return 0
        return self._advance_tokens(ids)[0]

    def _advance_tokens(self, ids: NDArray[np.int64]) -> Tuple[int, NDArray[np.int64]]:
        """(number accepted, states): ``states[i]`` is (n_sets, lex_state) before ``ids[i]``,
        ``states[count]`` after the last one accepted. Commits nothing."""
        G = self.compiled.kernel_grammar
        flat, starts, kind = self.compiled.token_table()
        states = np.empty((ids.shape[0] + 1, 2), dtype=np.int64)
        states[0, 0], states[0, 1] = self._n_sets, self._lex_state
        start = 0
        while True:
            P = self._parser()
            status, start = K.advance_tokens_kernel(
                G, self.compiled.lexers.tables, P, flat, starts, kind, ids, start, states
            )
            if status == K.NEED_LEXER:
                self.compiled.lexers.ensure(P[PARSER_LIVE_WORDS].copy())
            elif status == K.OVERFLOW:
                self._grow()
            elif status == K.OVER_BUDGET:
                raise self._over_budget()
            else:
                return int(start), states

    def try_token(self, token_id: int) -> bool:
        """Whether :meth:`accept_token` would accept ``token_id`` now; changes nothing (no
        history entry, no copy: the token is fed to sets past the committed ones, which are
        scratch). EOS: whether the text so far is complete. The single-candidate check of
        rejection sampling; equal to the token's bit in :meth:`fill_next_token_bitmask`,
        except after EOS: a terminated matcher's mask allows EOS (so a finished row can be
        padded with it), but it accepts no token."""
        token_id = self._token_id(token_id)
        if self._terminated:
            return False
        vocab = self.compiled.vocab
        if token_id in vocab.eos_token_ids:
            return self.is_accepting()
        data = vocab.token_bytes[token_id]
        if not data:
            return False
        arr = np.frombuffer(data, dtype=np.uint8)
        G = self.compiled.kernel_grammar
        n_sets, lex_state = self._n_sets, self._lex_state
        # The kernel call is most of the cost (its dispatch and the unboxing of the tuples):
        # call it once directly, and go through _run only when it needs a lexer or room.
        status = K.advance_kernel(G, self.compiled.lexers.tables, self._parser(), n_sets, lex_state, arr)[0]
        if status >= K.NEED_LEXER:
            status = self._run(lambda L, P: K.advance_kernel(G, L, P, n_sets, lex_state, arr))[0]
        accepted: bool = status == K.OK
        return accepted

    def try_tokens(self, token_ids: TokenIds) -> NDArray[np.bool_]:
        """:meth:`try_token` of each of ``token_ids``, each alone from the current state, in one
        kernel call. Returns a ``bool`` array of the same length; changes nothing.

        Args:
            token_ids: a list of ints or a 1-d integer array (numpy, or a CPU torch tensor).
        """
        ids = check_token_ids(token_ids, "token_ids", self.compiled.vocab.size)
        out = np.zeros(ids.shape[0], dtype=np.bool_)
        if self._terminated or ids.size == 0:
            return out
        G = self.compiled.kernel_grammar
        flat, starts, kind = self.compiled.token_table()
        n_sets, lex_state = self._n_sets, self._lex_state
        start = 0
        while True:
            P = self._parser()
            status, start = K.try_tokens_kernel(
                G, self.compiled.lexers.tables, P, n_sets, lex_state, flat, starts, kind, ids, start, out
            )
            if status == K.NEED_LEXER:
                self.compiled.lexers.ensure(P[PARSER_LIVE_WORDS].copy())
            elif status == K.OVERFLOW:
                self._grow()
            elif status == K.OVER_BUDGET:
                raise self._over_budget()
            else:
                return out

    def find_jump_forward_bytes(self, max_bytes: int = MAX_JUMP_FORWARD_BYTES) -> bytes:
        """The bytes the grammar forces next: the longest string that every continuation of the
        text starts with (XGrammar's jump-forward string, llguidance's forced bytes). Empty when
        there is a choice of next byte, when the text so far is complete (ending is a choice),
        and after EOS. The bytes may end inside a UTF-8 character when every choice shares its
        lead byte. Changes nothing; feed the bytes to :meth:`accept_bytes` or tokenize them.

        Args:
            max_bytes: stop after this many bytes (a grammar may force a long run).
        """
        max_bytes = check_int(max_bytes, "max_bytes", lo=0)
        if self._terminated or max_bytes == 0:
            return b""
        # The buffer grows as the forced run does: ``max_bytes`` is a bound, not a size to
        # allocate (``find_jump_forward_bytes(10**12)`` on a short run needs a few bytes).
        out = np.zeros(min(max_bytes, 4096), dtype=np.uint8)
        G = self.compiled.kernel_grammar
        n_out, n_sets, lex_state = 0, self._n_sets, self._lex_state
        while True:
            P = self._parser()
            status, n_out, n_sets, lex_state = K.forced_bytes_kernel(
                G, self.compiled.lexers.tables, P, n_sets, lex_state, out, n_out
            )
            if status == K.NEED_LEXER:
                self.compiled.lexers.ensure(P[PARSER_LIVE_WORDS].copy())
            elif status == K.OVERFLOW:
                self._grow()
            elif status == K.OVER_BUDGET:
                raise self._over_budget()
            elif n_out == out.shape[0] and n_out < max_bytes:
                out = np.concatenate([out, np.zeros(min(max_bytes, 2 * n_out) - n_out, dtype=np.uint8)])
            else:
                return out[:n_out].tobytes()

    def is_accepting(self) -> bool:
        """Whether the text so far is a complete string of the language (EOS is allowed)."""
        if self._terminated:
            return True
        G = self.compiled.kernel_grammar
        status, accepting = self._run(lambda L, P: K.is_accepting_kernel(G, L, P, self._n_sets, self._lex_state))
        return bool(accepting)

    def is_terminated(self) -> bool:
        """Whether EOS has been accepted."""
        return self._terminated

    def fill_next_token_bitmask(self, bitmask: BitmaskArray, index: int = 0) -> None:
        """Write the allowed next tokens into row ``index`` of ``bitmask``.

        Args:
            bitmask: ``int32`` array (numpy, or a CPU torch tensor) of shape
                ``(batch, ceil(vocab_size / 32))``, bit ``i`` of word ``w`` = token ``32 w + i``.
                Words past the vocabulary are zeroed.
            index: the row to fill.

        A terminated matcher allows only EOS.
        """
        row = _bitmask_row(bitmask, check_int(index, "index"), self.compiled.vocab.size)
        if self._terminated:
            row[:] = 0
            for t in self.compiled.eos_token_ids:
                row[t >> 5] |= np.uint32(1) << np.uint32(t & 31)  # the mask layout: see constrain.kernels.bits
            return
        # The mask is a function of the state, and the state of (lexer state, number of sets,
        # build number of the last set): build numbers are unique, and a set is rebuilt (a new
        # number) whenever one below it changes. Inside a lexeme (a string's characters) the
        # state often repeats from one token to the next; then the last mask is copied.
        key = (self._lex_state, self._n_sets, int(self._set_build[self._n_sets - 1, SET_BUILD_ID]))
        last = self._last_mask
        if last is not None and last[0] == key:
            row[:] = last[1]
            return
        self._fill_from(self.compiled.kernel_grammar, row, self._n_sets, self._lex_state, self.compiled.eos_token_ids)
        if self._lex_state != self._set_lexstart[self._n_sets - 1]:
            buffer = last[1] if last is not None else np.empty_like(row)
            buffer[:] = row
            self._last_mask = (key, buffer)

    def fill_next_token_bitmasks_for_draft(
        self, bitmask: BitmaskArray, draft_token_ids: TokenIds, index: int = 0
    ) -> int:
        """The masks along a draft, for speculative decoding: row ``index + i`` gets the mask
        after the first ``i`` tokens of ``draft_token_ids``, for ``i = 0 .. len(draft)``,
        stopping at the first draft token rejected (its row and those after it are not
        written). Returns the number of rows filled; the matcher is left where it was.

        Args:
            bitmask: as :meth:`fill_next_token_bitmask`, with rows ``index .. index + len(draft)``.
            draft_token_ids: a list of ints or a 1-d integer array.
            index: the row of the mask before the draft.
        """
        draft = check_token_ids(draft_token_ids, "draft_token_ids", self.compiled.vocab.size)
        index = check_int(index, "index", lo=0)
        _bitmask_row(bitmask, index + draft.shape[0], self.compiled.vocab.size)  # every row exists
        saved = (self._n_sets, self._lex_state, self._terminated)
        try:
            self.fill_next_token_bitmask(bitmask, index)
            filled = 1
            for t in draft.tolist():
                # Accepting commits the draft's sets (a mask writes only past them); restoring
                # the saved state below turns them back into scratch.
                if self._terminated or not self._step_token(t):
                    break
                self.fill_next_token_bitmask(bitmask, index + filled)
                filled += 1
        finally:
            self._n_sets, self._lex_state, self._terminated = saved
        return filled

    def _fill_from(
        self, G: Tuple[Any, ...], row: NDArray[np.uint32], n_sets: int, lex_state: int, eos_ids: NDArray[np.int64]
    ) -> None:
        """Fill ``row`` for the state (``n_sets``, ``lex_state``); EOS bits from ``eos_ids``
        when complete (the inner fill of a merge passes none)."""
        scratch = self.compiled.thread_scratch()
        lex_at, sets_at, need = scratch.lex_at, scratch.sets_at, scratch.need
        memo = self.compiled.lexeme_mask(lex_state)
        merge = False
        if memo is not None and memo.mask.stop is not None:
            # Tokens that end the current lexeme before their first byte: the mask of the
            # state after that step (a lexeme start, itself memoized), restricted below.
            terminal = memo.terminal
            if terminal is not None:
                end = lambda L, P: K.end_with_kernel(G, L, P, n_sets, terminal)  # noqa: E731
            else:
                end = lambda L, P: K.end_lexeme_kernel(G, L, P, n_sets, lex_state)  # noqa: E731
            status, n2, start = self._run(end)
            if status == K.OK:
                self._fill_from(G, row, int(n2), int(start), _NO_EOS)
                merge = True
            else:
                row[:] = 0
        while True:
            L = self.compiled.lexers.tables
            if memo is None:
                status, n_need = K.fill_mask_kernel(
                    G,
                    L,
                    self._parser(),
                    self.compiled.kernel_trie,
                    n_sets,
                    lex_state,
                    row,
                    lex_at,
                    sets_at,
                    need,
                    _MAX_NEED,
                    eos_ids,
                )
            else:
                mask = memo.mask
                status, n_need = K.fill_mask_cached_kernel(
                    G,
                    L,
                    self._parser(),
                    mask.trie_record,
                    n_sets,
                    lex_state,
                    _NO_TERMINAL if memo.terminal is None else memo.terminal,
                    mask.inside,
                    mask.frontier_node,
                    mask.frontier_key,
                    mask.run_end,
                    row,
                    merge,
                    mask.inside if mask.stop is None else mask.stop,
                    lex_at,
                    sets_at,
                    need,
                    _MAX_NEED,
                    eos_ids,
                )
            if status == K.NEED_LEXER:
                for j in range(n_need):
                    self.compiled.lexers.ensure(need[j].copy())
            elif status == K.OVERFLOW:
                self._grow()
            elif status == K.OVER_BUDGET:
                raise self._over_budget()
            else:
                return

    def rollback(self, num_tokens: int = 1) -> None:
        """Undo the last ``num_tokens`` accepted tokens (EOS included)."""
        num_tokens = check_int(num_tokens, "num_tokens")
        if num_tokens < 0 or num_tokens > len(self._history):
            raise ConfigurationError(f"cannot roll back {num_tokens} tokens: {len(self._history)} can be undone")
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
        twin._set_build[self._n_sets :] = 0
        twin._set_scan = self._set_scan.copy()
        twin._history = list(self._history)
        twin._last_mask = None  # its buffer is this matcher's
        twin._parser_record = None  # it holds this matcher's arrays
        return twin

    @property
    def num_accepted_tokens(self) -> int:
        """Tokens accepted and still undoable."""
        return len(self._history)


def _bitmask_row(bitmask: BitmaskArray, index: int, vocab_size: int) -> NDArray[np.uint32]:
    if not isinstance(bitmask, np.ndarray):
        if hasattr(bitmask, "numpy") and hasattr(bitmask, "device"):
            if getattr(bitmask, "requires_grad", False):
                raise ConfigurationError(
                    "Invalid bitmask: a tensor that requires grad; allocate it without requires_grad"
                )
            if bitmask.device.type != "cpu":
                raise ConfigurationError(
                    f"Invalid bitmask device: expected a CPU tensor, got {bitmask.device}; "
                    "fill on the CPU, then move it"
                )
            bitmask = bitmask.numpy()
        else:
            raise ConfigurationError(
                f"Invalid bitmask type: expected numpy array or torch tensor, got {describe(bitmask)}"
            )
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
    words: NDArray[np.uint32] = row[:need].view(np.uint32)
    return words
