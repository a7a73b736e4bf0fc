"""``CompiledGrammar``: the immutable, picklable artifact every matcher shares (made by
:func:`constrain.automata.compiler.compile`)."""

from __future__ import annotations

import itertools
import threading
from typing import Any, Dict, FrozenSet, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from ..config import Limits
from ..grammar.ir import Grammar
from ..kernels.earley import TOKEN_EOS, TOKEN_NEVER
from ..kernels.records import (
    COUNTER_BUDGET,
    COUNTER_BUILD,
    COUNTER_PAIRS_FULL,
    LEXER_ACCEPT,
    LEXER_FINAL,
    LEXER_TRANS,
    make_grammar_record,
)
from ..vocab import Vocabulary
from .lexeme_masks import (
    LexemeMask,
    LexemeMemo,
    lexeme_mask,
    run_ends,
    terminal_lexeme_mask,
    terminal_slice_limit,
    trie_record,
)
from .fsm import ByteDFA
from .lexer import LexerCache
from .slices import Representatives, SliceMemo, ascii_alive, ascii_mixed, byte_representatives, string_slice
from .tables import ParserTables, terminal_bitset


class TokenTable(NamedTuple):
    """Every token's bytes, for the kernels that take tokens by id."""

    #: ``uint8``: every token's bytes end to end.
    token_bytes: np.ndarray
    #: ``int64[size + 1]``: token ``t``'s bytes are ``token_bytes[token_starts[t]:token_starts[t + 1]]``.
    token_starts: np.ndarray
    #: ``int8[size]``: ``TOKEN_TEXT``, ``TOKEN_EOS`` or ``TOKEN_NEVER`` of ``constrain.kernels.earley``.
    token_kind: np.ndarray


class CompiledGrammar:
    """A grammar compiled against a vocabulary: parser tables, terminal DFAs and the lazily
    grown lexer tables. Immutable in meaning (the lexer cache only memoizes); share one between
    any number of :class:`~constrain.automata.matcher.Matcher` objects and threads; pickling
    keeps everything.

    Attributes:
        grammar: the grammar it was compiled from.
        vocab: the vocabulary.
        tables: the parser tables.
        warnings: what a lenient front end dropped, from ``grammar.warnings``.
    """

    def __init__(
        self,
        grammar: Grammar,
        lowered: Grammar,
        vocab: Vocabulary,
        tables: ParserTables,
        terminal_dfas: Sequence[ByteDFA],
        lexers: LexerCache,
        limits: Limits,
    ) -> None:
        self.grammar = grammar
        #: ``grammar`` with terminals that match the empty string made optional rules; what the
        #: tables and ``terminal_dfas`` (one per terminal, same order) describe.
        self.lowered = lowered
        self.vocab = vocab
        self.tables = tables
        self.terminal_dfas = terminal_dfas
        self.lexers = lexers
        self.limits = limits
        t = tables
        #: The kernels' ``G`` record.
        self.kernel_grammar = make_grammar_record(
            dot_symbol=t.dot_symbol,
            dot_rule=t.dot_rule,
            rule_lhs=t.rule_lhs,
            rule_first_dot=t.rule_first_dot,
            nt_rule_start=t.nt_rule_start,
            nt_rule_end=t.nt_rule_end,
            nt_rules=t.nt_rules,
            nullable=t.nullable,
            ignore_mask=t.ignore_mask,
            num_terminals=np.int64(t.num_terminals),
            accept_dot=np.int64(t.accept_dot),
            pred_offsets=t.pred_offsets,
            pred_positions=t.pred_positions,
            pred_nt_offsets=t.pred_nt_offsets,
            pred_nonterminals=t.pred_nonterminals,
        )
        self._kernel_trie: Optional[Tuple[Any, ...]] = None
        eos = np.asarray(sorted(i for i in vocab.eos_token_ids if i < vocab.size), dtype=np.int64)
        self.eos_token_ids = eos
        self._max_token_length: Optional[int] = None
        self._lexeme_masks: Dict[int, LexemeMemo] = {}
        self._lexeme_mask_bytes = 0
        self._lexeme_lock = threading.Lock()
        self._thread_local = threading.local()
        self._terminal_bitsets: Dict[int, NDArray[np.uint64]] = {}
        self._successor_memo = SliceMemo()
        self._lexer_reps: Dict[FrozenSet[int], Representatives] = {}
        self._token_table: Optional[TokenTable] = None

    @property
    def kernel_trie(self) -> Tuple[Any, ...]:
        """The kernels' ``T`` record of the vocabulary's trie (built on first use; not pickled,
        like the trie)."""
        record = self._kernel_trie
        if record is None:
            record = self._kernel_trie = trie_record(self.vocab.trie)
        return record

    def token_table(self) -> TokenTable:
        """The :class:`TokenTable` of the vocabulary. Built on first use; not pickled."""
        table = self._token_table
        if table is None:
            vocab = self.vocab
            flat = np.frombuffer(b"".join(vocab.token_bytes), dtype=np.uint8)
            starts = np.zeros(vocab.size + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, vocab.token_bytes), dtype=np.int64, count=vocab.size), out=starts[1:])
            kind = np.zeros(vocab.size, dtype=np.int8)
            kind[list(vocab.special_token_ids)] = TOKEN_NEVER
            kind[list(vocab.eos_token_ids)] = TOKEN_EOS
            table = self._token_table = TokenTable(flat, starts, kind)
        return table

    def lexeme_mask(self, lex_state: int) -> Optional[LexemeMemo]:
        """The lexer-state-only part of the mask at ``lex_state`` (see
        ``constrain.kernels.earley.lexeme_mask_kernel``), or ``None`` once the memory budget is
        spent: made on the grammar's lexer and memoized per grammar within
        ``limits.max_mask_cache_bytes``, or, when one terminal is alive, made on that
        terminal's DFA and shared process-wide."""
        cached = self._lexeme_masks.get(lex_state)
        if cached is not None or self.limits.max_mask_cache_bytes <= 0:
            return cached
        single = self.lexers.single_component(lex_state)
        if single is not None:
            terminal, state = single
            mask = terminal_lexeme_mask(self.vocab, self.terminal_dfas[terminal], state)
            cached = LexemeMemo(mask, self._terminal_words(terminal))
            self._lexeme_masks[lex_state] = cached
            return cached
        if self._lexeme_mask_bytes >= self.limits.max_mask_cache_bytes:
            return None
        with self._lexeme_lock:
            cached = self._lexeme_masks.get(lex_state)
            if cached is not None:
                return cached
            L = self.lexers.tables
            trans, accept, final = L[LEXER_TRANS], L[LEXER_ACCEPT], L[LEXER_FINAL]
            # A state where one component keeps every slice token alive (a generic string
            # beside a key literal) keeps them all: the product lives while any part does.
            # (Only a component that every safe ASCII character continues can.)
            max_length = string_slice(self.vocab).max_length
            closed = any(
                ascii_alive(self.terminal_dfas[t].transitions, s)
                and terminal_slice_limit(self.vocab, self.terminal_dfas[t], s) == max_length
                for t, s in self.lexers.components(lex_state)
            )
            reps = None if closed or ascii_mixed(trans, lex_state) else self._lexer_byte_representatives(lex_state)
            inside, nodes, states, stop, trie = lexeme_mask(
                self.vocab, trans, accept, final, lex_state, self._successor_memo, closed, reps=reps
            )
            runs = run_ends(states.astype(np.int64) * 256 + trie.byte[nodes])
            cached = LexemeMemo(LexemeMask(inside, nodes, states, runs, stop, trie, trie_record(trie)), None)
            self._lexeme_masks[lex_state] = cached
            self._lexeme_mask_bytes += cached.mask.nbytes
            return cached

    def _lexer_byte_representatives(self, lex_state: int) -> Representatives:
        """One byte per class of ``lex_state``'s columns, and of every state it leads to, for
        the slice tests: bytes that each of its terminals' DFAs treats alike are alike there
        (a lexer moves each terminal on its own). Trying one continuation byte instead of 64
        keeps the tests of a lexer state in the tens of microseconds."""
        terminals = frozenset(t for t, _ in self.lexers.components(lex_state))
        reps = self._lexer_reps.get(terminals)
        if reps is None:
            classes = np.zeros(256, dtype=np.int64)
            for t in sorted(terminals):
                _, classes = np.unique(classes * 256 + self.terminal_dfas[t].byte_classes(), return_inverse=True)
            reps = self._lexer_reps[terminals] = byte_representatives(classes)
        return reps

    def thread_scratch(self) -> "_Scratch":
        """Work arrays for the kernels, one set per thread: item stamps, the build counter,
        bitset buffers and the walk's stacks. Set building is never interleaved within a
        thread, and the counter numbers builds for all of the thread's matchers, so stamps
        never collide."""
        scratch = getattr(self._thread_local, "scratch", None)
        if scratch is None:
            scratch = self._thread_local.scratch = _Scratch(self)
        return scratch

    def _terminal_words(self, terminal: int) -> NDArray[np.uint64]:
        words = self._terminal_bitsets.get(terminal)
        if words is None:
            words = self._terminal_bitsets[terminal] = terminal_bitset([terminal], self.tables.num_words)
        return words

    @property
    def max_token_length(self) -> int:
        """Bytes in the longest token (the depth of the token trie)."""
        if self._max_token_length is None:
            self._max_token_length = self.vocab.trie.max_depth
        return self._max_token_length

    @property
    def warnings(self) -> Tuple[str, ...]:
        return self.grammar.warnings

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        # Memoized masks and scratch buffers are rebuilt on demand.
        del state["_lexeme_lock"]
        del state["_thread_local"]
        state["_lexeme_masks"] = {}
        state["_lexeme_mask_bytes"] = 0
        state["_token_table"] = None
        state["_kernel_trie"] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lexeme_lock = threading.Lock()
        self._thread_local = threading.local()

    def __repr__(self) -> str:
        return (
            f"CompiledGrammar(kind={self.grammar.kind!r}, terminals={self.tables.num_terminals}, "
            f"rules={len(self.tables.rule_lhs)}, vocab_size={self.vocab.size})"
        )


_THREAD_RANGES = itertools.count(1)


class _Scratch:
    """Per-thread work arrays of the kernels (see :meth:`CompiledGrammar.thread_scratch`)."""

    def __init__(self, compiled: CompiledGrammar) -> None:
        tables = compiled.tables
        positions = tables.dot_symbol.shape[0]
        words = tables.num_words
        self.seen_build = np.zeros(positions, dtype=np.int64)
        self.seen_origin = np.zeros(positions, dtype=np.int64)
        # Build numbers are unique in the process (a matcher's sets remember theirs, and a
        # matcher may move between threads): each thread counts in its own range.
        self.counter = np.zeros(4, dtype=np.int64)  # see constrain.kernels.records.COUNTER_*
        self.counter[COUNTER_BUILD] = next(_THREAD_RANGES) << 40
        self.counter[COUNTER_BUDGET] = compiled.limits.max_earley_work
        self.nt_stamp = np.zeros(len(tables.nonterminal_names), dtype=np.int64)
        self.pairs = np.zeros((4096, 2), dtype=np.int64)  # grown by grow_pairs
        self.leo = np.full((4096, 4), -1, dtype=np.int64)  # a cache of Leo items: no build is -1
        self.symbol_count = np.zeros(len(tables.nonterminal_names) + 1, dtype=np.int64)
        self.live_words = np.zeros(words, dtype=np.uint64)
        self.acc = np.zeros(words, dtype=np.uint64)
        self.need = np.zeros((64, words), dtype=np.uint64)
        depth = compiled.max_token_length + 2
        self.lex_at = np.zeros(depth, dtype=np.int32)
        self.sets_at = np.zeros(depth, dtype=np.int64)

    def grow_pairs(self) -> None:
        """Double the item de-duplication table (``constrain.kernels.earley._add_item`` asked:
        a set with many origins of one position). Its slots are stamped with build numbers,
        so the new table needs no copy; parser records made over the old one are renewed (see
        ``Matcher._parser``)."""
        self.pairs = np.zeros((2 * self.pairs.shape[0], 2), dtype=np.int64)
        self.counter[COUNTER_PAIRS_FULL] = 0
