"""``compile(grammar, vocab)``: the immutable, picklable artifact every matcher shares."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Optional

import numpy as np

from ..config import DEFAULT_LIMITS, SHARED_MASK_CACHE_BYTES, Limits
from ..kernels import earley as K
from ..errors import ConfigurationError, ResourceLimitError, VocabularyError
from ..grammar.ir import EMPTY, And, Grammar, Not, Repeat, Rule, Terminal, alt, seq
from ..vocab import Vocabulary
from .fsm import ByteDFA, regex_to_dfa
from .lexer import LexerCache
from .slices import ascii_mixed, byte_representatives, safe_length_limit, safe_live_states, string_slice
from .tables import ParserTables, build_parser_tables, terminal_bitset


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

    def __init__(self, grammar: Grammar, lowered: Grammar, vocab: Vocabulary, tables: ParserTables,
                 terminal_dfas: tuple, lexers: LexerCache, limits: Limits) -> None:
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
        #: The ``G`` tuple of the kernels.
        self.kernel_grammar = (
            t.dot_symbol, t.dot_rule, t.rule_lhs, t.rule_first_dot, t.nt_rule_start,
            t.nt_rule_end, t.nt_rules, t.nullable, t.ignore_mask, np.int64(t.num_terminals),
            np.int64(t.accept_dot), t.pred_offsets, t.pred_positions, t.pred_nt_offsets,
            t.pred_nonterminals,
        )
        eos = np.asarray(sorted(i for i in vocab.eos_token_ids if i < vocab.size), dtype=np.int64)
        self.eos_token_ids = eos
        self._max_token_length: Optional[int] = None
        self._lexeme_masks: dict = {}
        self._lexeme_mask_bytes = 0
        self._lexeme_lock = threading.Lock()
        self._thread_local = threading.local()
        self._terminal_bitsets: dict = {}
        self._successor_memo: dict = {}

    def lexeme_mask(self, lex_state: int):
        """The lexer-state-only part of the mask at ``lex_state``, or ``None`` once the memory
        budget is spent. Either ``("lexer", inside, frontier nodes, frontier states, run ends, stop, trie)``
        (see ``constrain.kernels.earley.lexeme_mask_kernel``), memoized per grammar within
        ``limits.max_mask_cache_bytes``; or, when one terminal is alive,
        ``("terminal", accepted, inside, frontier nodes, frontier consumed, run ends, stop, trie)`` computed on
        that terminal's DFA and shared process-wide (see ``fill_mask_terminal_kernel``)."""
        cached = self._lexeme_masks.get(lex_state)
        if cached is not None or self.limits.max_mask_cache_bytes <= 0:
            return cached
        single = self.lexers.single_component(lex_state)
        if single is not None:
            terminal, state = single
            entry = _terminal_lexeme_mask(self.vocab, self.terminal_dfas[terminal], state)
            cached = ("terminal", self._terminal_words(terminal)) + entry
            self._lexeme_masks[lex_state] = cached
            return cached
        if self._lexeme_mask_bytes >= self.limits.max_mask_cache_bytes:
            return None
        with self._lexeme_lock:
            cached = self._lexeme_masks.get(lex_state)
            if cached is not None:
                return cached
            trans, accept, _, _, final = self.lexers.tables
            # A state where one component keeps every slice token alive (a generic string
            # beside a key literal) keeps them all: the product lives while any part does.
            closed = any(
                _terminal_slice_limit(self.vocab, self.terminal_dfas[t], s) == string_slice(self.vocab).max_length
                for t, s in self.lexers.components(lex_state)
            )
            inside, nodes, states, stop, trie = _lexeme_mask(
                self.vocab, trans, accept, final, lex_state, self._successor_memo, closed)
            runs = _run_ends(states.astype(np.int64) * 256 + trie.byte[nodes])
            cached = ("lexer", inside, nodes, states, runs, stop, trie)
            self._lexeme_masks[lex_state] = cached
            self._lexeme_mask_bytes += inside.nbytes * (1 if stop is None else 2) + 12 * len(nodes)
            return cached

    def thread_scratch(self) -> "_Scratch":
        """Work arrays for the kernels, one set per thread: item stamps, the build counter,
        bitset buffers and the walk's stacks. Set building is never interleaved within a
        thread, and the counter numbers builds for all of the thread's matchers, so stamps
        never collide."""
        scratch = getattr(self._thread_local, "scratch", None)
        if scratch is None:
            scratch = self._thread_local.scratch = _Scratch(self)
        return scratch

    def _terminal_words(self, terminal: int) -> np.ndarray:
        words = self._terminal_bitsets.get(terminal)
        if words is None:
            words = self._terminal_bitsets[terminal] = terminal_bitset([terminal], self.tables.num_words)
        return words

    @property
    def max_token_length(self) -> int:
        """Bytes in the longest token (the depth of the token trie)."""
        if self._max_token_length is None:
            depth = self.vocab.trie.depth
            self._max_token_length = int(depth.max()) if depth.size else 0
        return self._max_token_length

    @property
    def warnings(self) -> tuple:
        return self.grammar.warnings

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    def __getstate__(self):
        state = self.__dict__.copy()
        # Memoized masks and scratch buffers are rebuilt on demand.
        del state["_lexeme_lock"]
        del state["_thread_local"]
        state["_lexeme_masks"] = {}
        state["_lexeme_mask_bytes"] = 0
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lexeme_lock = threading.Lock()
        self._thread_local = threading.local()

    def __repr__(self) -> str:
        return (f"CompiledGrammar(kind={self.grammar.kind!r}, terminals={self.tables.num_terminals}, "
                f"rules={len(self.tables.rule_lhs)}, vocab_size={self.vocab.size})")


class _Scratch:
    """Per-thread work arrays of the kernels (see :meth:`CompiledGrammar.thread_scratch`)."""

    def __init__(self, compiled: CompiledGrammar) -> None:
        tables = compiled.tables
        positions = tables.dot_symbol.shape[0]
        words = tables.num_words
        self.seen_build = np.zeros(positions, dtype=np.int64)
        self.seen_origin = np.zeros(positions, dtype=np.int64)
        self.counter = np.zeros(1, dtype=np.int64)
        self.nt_stamp = np.zeros(len(tables.nonterminal_names), dtype=np.int64)
        self.words = np.zeros(words, dtype=np.uint64)
        self.acc = np.zeros(words, dtype=np.uint64)
        self.need = np.zeros((64, words), dtype=np.uint64)
        depth = compiled.max_token_length + 2
        self.lex_at = np.zeros(depth, dtype=np.int32)
        self.sets_at = np.zeros(depth, dtype=np.int64)


def compile(grammar: Grammar, vocab: Vocabulary, *, limits: Optional[Limits] = None) -> CompiledGrammar:  # noqa: A001
    """Compile ``grammar`` against ``vocab``.

    Args:
        grammar: from any front end (``Grammar.from_regex``, ``from_lark``, ...).
        vocab: the tokenizer's vocabulary.
        limits: resource bounds; ``constrain.config.DEFAULT_LIMITS`` if omitted.

    Returns:
        The compiled grammar.

    Raises:
        UnsatisfiableGrammarError: the grammar's language is empty.
        VocabularyError: no token can start a string of the language.
        ResourceLimitError: a DFA, the grammar or the compile time exceeds ``limits``.
    """
    if not isinstance(grammar, Grammar):
        raise ConfigurationError(f"`grammar` must be a constrain Grammar, got {type(grammar).__name__}")
    if not isinstance(vocab, Vocabulary):
        raise ConfigurationError(f"`vocab` must be a constrain Vocabulary, got {type(vocab).__name__}")
    limits = limits or DEFAULT_LIMITS
    deadline = time.monotonic() + limits.max_compile_seconds
    grammar_for_tables, dfas = _terminal_dfas(grammar, limits, deadline)
    dead = {t.name for t, d in zip(grammar_for_tables.terminals, dfas) if d.num_states == 0}
    tables = build_parser_tables(grammar_for_tables, limits.max_grammar_symbols, dead_terminals=dead)
    lexers = LexerCache(dfas, tables.num_words, limits.max_lexer_states)
    compiled = CompiledGrammar(grammar, grammar_for_tables, vocab, tables, tuple(dfas), lexers, limits)

    from .matcher import Matcher

    matcher = Matcher(compiled)
    if not matcher.is_accepting():
        row = np.zeros((1, (vocab.size + 31) // 32), dtype=np.int32)
        matcher.fill_next_token_bitmask(row)
        if not row.any():
            raise VocabularyError(
                "no token of the vocabulary can start a string of the language "
                f"(grammar kind {grammar.kind!r}); the tokenizer cannot spell it"
            )
    if time.monotonic() > deadline:
        raise ResourceLimitError(f"compiling took longer than max_compile_seconds={limits.max_compile_seconds}")
    return compiled


def _first_bytes(dfa: ByteDFA) -> set:
    return set(np.flatnonzero(dfa.transitions[0] >= 0).tolist()) if dfa.num_states else set()


def _continuing_bytes(dfa: ByteDFA) -> set:
    """Bytes that extend some accepted string (where a greedy lexeme does not end)."""
    if not dfa.num_states:
        return set()
    return set(np.flatnonzero((dfa.transitions[dfa.accepting] >= 0).any(axis=0)).tolist())


def _absorb_ignored(terminals: list, dfas: list, ignore: set, limits: Limits):
    """Let terminals start with ignored material: ``T`` becomes ``A* T``, where ``A`` is the
    union of the *absorbable* ignored terminals: those that no other terminal can start with
    a byte they start with, or with a byte that would extend them where they could end.

    Greedy lexing then splits such material from the next lexeme exactly where ``A* T`` can
    (a split inside it could only be followed by a lexeme starting with a byte no other
    terminal starts with), so the language is unchanged; but a token such as `` foo`` (a space and a name, most
    of a BPE vocabulary) now stays within one lexeme, whose mask part is memoized, instead of
    crossing a lexeme boundary that sends the mask walk to the parser. Ignored terminals that
    are not absorbable (a ``/* comment */`` where ``/`` is also an operator) get the prefix too
    and stay lexemes of their own.
    """
    if not ignore:
        return terminals, dfas
    firsts = [_first_bytes(d) for d in dfas]
    absorbable = []
    for i, t in enumerate(terminals):
        if t.name in ignore and firsts[i]:
            own = firsts[i] | _continuing_bytes(dfas[i])
            if not any(own & firsts[j] for j in range(len(terminals)) if j != i):
                absorbable.append(i)
    if not absorbable:
        return terminals, dfas
    prefix = Repeat(alt(*(terminals[i].regex for i in absorbable)), 0, None)
    out_terminals, out_dfas = [], []
    for i, (terminal, dfa) in enumerate(zip(terminals, dfas)):
        if i not in absorbable and dfa.num_states:
            terminal = Terminal(terminal.name, seq(prefix, terminal.regex))
            dfa = regex_to_dfa(terminal.regex, max_states=limits.max_dfa_states)
        out_terminals.append(terminal)
        out_dfas.append(dfa)
    return out_terminals, out_dfas


def _terminal_dfas(grammar: Grammar, limits: Limits, deadline: float):
    """Byte DFAs of the terminals. A terminal that matches the empty string is split: the
    terminal keeps its non-empty strings and each use becomes an optional rule."""
    dfas: list[ByteDFA] = []
    terminals: list[Terminal] = []
    optional: dict = {}
    for terminal in grammar.terminals:
        if time.monotonic() > deadline:
            raise ResourceLimitError(
                f"compiling took longer than max_compile_seconds={limits.max_compile_seconds}"
            )
        dfa = regex_to_dfa(terminal.regex, max_states=limits.max_dfa_states)
        if dfa.num_states and dfa.accepting[0]:
            nonempty = Terminal(terminal.name, And((terminal.regex, Not(EMPTY))))
            dfa = regex_to_dfa(nonempty.regex, max_states=limits.max_dfa_states)
            optional[terminal.name] = f"{terminal.name}?"
            terminals.append(nonempty)
        else:
            terminals.append(terminal)
        dfas.append(dfa)
    terminals, dfas = _absorb_ignored(terminals, dfas, set(grammar.ignore), limits)
    if not optional and all(a is b for a, b in zip(terminals, grammar.terminals)):
        return grammar, dfas
    rules = [
        Rule(r.name, tuple(tuple(optional.get(s, s) for s in alt) for alt in r.alternatives))
        for r in grammar.rules
    ]
    rules += [Rule(opt, ((name,), ())) for name, opt in optional.items()]
    rewritten = Grammar(
        start=grammar.start, rules=tuple(rules), terminals=tuple(terminals),
        ignore=grammar.ignore, kind=grammar.kind, warnings=grammar.warnings,
    )
    return rewritten, dfas


def _lexeme_mask(vocab: Vocabulary, trans, accept, final, state: int, memo: dict, closed: bool = False,
                 limit: Optional[int] = None):
    """Run ``lexeme_mask_kernel``; frontier sorted by (state, byte). Returns
    (inside, frontier nodes, frontier states, stop or None, trie).

    Where JSON-string characters alone decide the string slice (``safe_length_limit``, or
    ``closed``: the caller knows the state keeps every slice token), the slice is taken at once
    and only the other tokens' trie is walked (see ``constrain.automata.slices``); the frontier
    then indexes that trie. ``limit``, when given, is the caller's ``safe_length_limit``."""
    trie = vocab.trie
    slice_mask = None
    string = string_slice(vocab)
    if limit is None:
        limit = string.max_length if closed else safe_length_limit(trans, final, accept, state, string.max_length, memo)
    if limit >= 0:
        trie, slice_mask = string.rest, string.up_to[limit]
    n = trie.byte.shape[0]
    nodes = np.zeros(n, dtype=np.int32)
    states = np.zeros(n, dtype=np.int32)
    lex_at = np.zeros(int(trie.depth.max()) + 2 if n > 1 else 2, dtype=np.int32)
    inside = np.zeros((vocab.size + 31) // 32, dtype=np.uint32)
    stop = np.zeros_like(inside)
    count, root_end = K.lexeme_mask_kernel(
        trans, accept, final, state, trie.byte, trie.depth, trie.subtree_end,
        trie.token_offsets, trie.token_ids, inside, stop, lex_at, nodes, states,
    )
    if slice_mask is not None:
        inside |= slice_mask
    order = np.lexsort((trie.byte[nodes[:count]], states[:count]))
    return (inside, nodes[:count][order].copy(), states[:count][order].copy(),
            (stop if root_end else None), trie)


def _run_ends(keys: np.ndarray) -> np.ndarray:
    """For sorted ``keys``, the index of the first entry past each entry's run of equal keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], n]
    return np.repeat(ends, np.diff(np.r_[starts, n])).astype(np.int32)


_shared_lock = threading.Lock()
_shared_masks: "OrderedDict" = OrderedDict()
_shared_bytes = [0]


def _terminal_lexeme_mask(vocab: Vocabulary, dfa: ByteDFA, state: int):
    """(inside, frontier nodes, frontier consumed, run ends, stop or None, trie) for a lexeme in which only
    ``dfa``'s terminal is alive, at ``state``; an LRU shared by all grammars of the process."""
    key = (vocab.fingerprint, _dfa_digest(dfa), state)
    with _shared_lock:
        entry = _shared_masks.get(key)
        if entry is not None:
            _shared_masks.move_to_end(key)
            return entry
    trans = dfa.transitions
    accept = dfa.accepting.astype(np.uint64).reshape(-1, 1)
    final = dfa.accepting & (trans < 0).all(axis=1)
    inside, nodes, states, stop, trie = _lexeme_mask(
        vocab, trans, accept, final, state, _successor_memo(dfa), limit=_terminal_slice_limit(vocab, dfa, state))
    consumed = (trans[states, trie.byte[nodes]] >= 0) if len(nodes) else np.zeros(0, dtype=bool)
    order = np.lexsort((trie.byte[nodes], consumed))
    nodes, consumed = nodes[order].copy(), consumed[order].astype(np.bool_)
    runs = _run_ends(consumed.astype(np.int64) * 256 + trie.byte[nodes])
    entry = (inside, nodes, consumed, runs, stop, trie)
    size = inside.nbytes * (1 if stop is None else 2) + 9 * len(nodes)
    with _shared_lock:
        _shared_masks[key] = entry
        _shared_bytes[0] += size
        while _shared_bytes[0] > SHARED_MASK_CACHE_BYTES and len(_shared_masks) > 1:
            _, old = _shared_masks.popitem(last=False)
            _shared_bytes[0] -= old[0].nbytes * (1 if old[4] is None else 2) + 9 * len(old[1])
    return entry


def _terminal_slice_limit(vocab: Vocabulary, dfa: ByteDFA, state: int) -> int:
    """``safe_length_limit`` on a terminal's own DFA, memoized on the DFA."""
    memo = _successor_memo(dfa)
    max_length = string_slice(vocab).max_length
    limits = memo.setdefault("limits", {})
    limit = limits.get((max_length, state))
    if limit is None and ascii_mixed(dfa.transitions, state):
        limit = limits[(max_length, state)] = -1  # before the costlier set-up below
    if limit is None:
        final = memo.get("final")
        if final is None:
            final = memo["final"] = dfa.accepting & (dfa.transitions < 0).all(axis=1)
        reps = memo.get("reps")
        if reps is None:
            reps = memo["reps"] = byte_representatives(dfa.byte_classes())
            memo["live_states"] = safe_live_states(dfa.transitions, final, reps)
        limit = limits[(max_length, state)] = safe_length_limit(
            dfa.transitions, final, dfa.accepting.reshape(-1, 1), state, max_length, memo, reps,
            memo["live_states"])
    return limit


def _successor_memo(dfa: ByteDFA) -> dict:
    memo = getattr(dfa, "_constrain_successors", None)
    if memo is None:
        memo = {}
        object.__setattr__(dfa, "_constrain_successors", memo)
    return memo


def _dfa_digest(dfa: ByteDFA) -> bytes:
    digest = getattr(dfa, "_constrain_digest", None)
    if digest is None:
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(dfa.transitions).tobytes())
        h.update(np.ascontiguousarray(dfa.accepting).tobytes())
        digest = h.digest()
        object.__setattr__(dfa, "_constrain_digest", digest)
    return digest
