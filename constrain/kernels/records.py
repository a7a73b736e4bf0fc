"""The records the kernels take: plain tuples of arrays and scalars, each field named.

The kernels take a grammar (``G``), a lexer (``L``), a parser state (``P``) and a token trie
(``T``) as tuples, and read a field as ``G[GRAMMAR_DOT_SYMBOL]``. The index constants are
module-level integers, which Numba freezes at compile time, so each read is a static tuple
index, exactly as a literal digit was. (Numba namedtuples would read better but cost a third
more compile time; a plain tuple is what the kernels were tuned with.) The Python side builds
every record with one function here, taking each field by keyword, so the order is written
once; ``tests/kernels/test_records.py`` checks that the builders and the constants agree.
"""

from __future__ import annotations

# --- G: the grammar (read-only); see constrain.automata.tables.ParserTables ----------------

#: ``int32[positions]``: the symbol after the dot (terminal id, ``num_terminals + nonterminal``,
#: or -1 at the end of a rule).
GRAMMAR_DOT_SYMBOL = 0
#: ``int32[positions]``: the rule a dotted position belongs to.
GRAMMAR_DOT_RULE = 1
#: ``int32[rules]``: the nonterminal a rule defines.
GRAMMAR_RULE_LHS = 2
#: ``int32[rules]``: a rule's first dotted position.
GRAMMAR_RULE_FIRST_DOT = 3
#: ``int32[nonterminals]``: ``nt_rules[nt_rule_start[n]:nt_rule_end[n]]`` are ``n``'s rules.
GRAMMAR_NT_RULE_START = 4
GRAMMAR_NT_RULE_END = 5
GRAMMAR_NT_RULES = 6
#: ``bool[nonterminals]``: derives the empty string.
GRAMMAR_NULLABLE = 7
#: ``uint64[num_words]``: the ignored terminals.
GRAMMAR_IGNORE_MASK = 8
#: ``int64``: the number of terminals (symbols from it on are nonterminals).
GRAMMAR_NUM_TERMINALS = 9
#: ``int64``: the dotted position of ``$start -> start .``.
GRAMMAR_ACCEPT_DOT = 10
#: Prediction closures (empty when too large): nonterminal ``n`` predicts the positions
#: ``pred_positions[pred_offsets[n]:pred_offsets[n + 1]]`` and the nonterminals
#: ``pred_nonterminals[pred_nt_offsets[n]:pred_nt_offsets[n + 1]]``.
GRAMMAR_PRED_OFFSETS = 11
GRAMMAR_PRED_POSITIONS = 12
GRAMMAR_PRED_NT_OFFSETS = 13
GRAMMAR_PRED_NONTERMINALS = 14


def make_grammar_record(
    *,
    dot_symbol,
    dot_rule,
    rule_lhs,
    rule_first_dot,
    nt_rule_start,
    nt_rule_end,
    nt_rules,
    nullable,
    ignore_mask,
    num_terminals,
    accept_dot,
    pred_offsets,
    pred_positions,
    pred_nt_offsets,
    pred_nonterminals,
) -> tuple:
    """The ``G`` tuple."""
    return (
        dot_symbol,
        dot_rule,
        rule_lhs,
        rule_first_dot,
        nt_rule_start,
        nt_rule_end,
        nt_rules,
        nullable,
        ignore_mask,
        num_terminals,
        accept_dot,
        pred_offsets,
        pred_positions,
        pred_nt_offsets,
        pred_nonterminals,
    )


# --- L: the lexer (read-only during a call); see constrain.automata.lexer -----------------

#: ``int32[states, 256]``: the next state, -1 when no live terminal continues.
LEXER_TRANS = 0
#: ``uint64[states, num_words]``: the terminals that accept in a state.
LEXER_ACCEPT = 1
#: An open-addressing table from a live-terminal bitset (``uint64[slots, num_words]``) to the
#: start state of the lexer built for exactly those terminals (``int32[slots]``, -1: empty).
LEXER_START_KEYS = 2
LEXER_START_VALS = 3
#: ``bool[states]``: accepting, and no byte continues.
LEXER_FINAL = 4


def make_lexer_record(*, trans, accept, start_keys, start_vals, final) -> tuple:
    """The ``L`` tuple."""
    return (trans, accept, start_keys, start_vals, final)


# --- P: the parser state (mutated); see constrain.kernels.earley ---------------------------

#: ``int32[capacity, 2]``: Earley items, (dotted position, origin set).
PARSER_ITEMS = 0
#: ``int32[sets + 1]``: set ``k`` is ``items[set_starts[k]:set_starts[k + 1]]``.
PARSER_SET_STARTS = 1
#: ``int32[sets]``: the lexer start state after set ``k`` (-1: lexer not built).
PARSER_SET_LEXSTART = 2
#: ``int64[positions]``: stamps of the items of the set being built, for de-duplication.
PARSER_SEEN_BUILD = 3
PARSER_SEEN_ORIGIN = 4
#: ``int64[4]``: the build counter, the Earley work of the current step, the work budget of a
#: step and a flag (the ``COUNTER_*`` fields below).
PARSER_COUNTER = 5
#: ``uint64[num_words]``: the live terminals of the last set finished (what a NEED_LEXER
#: status asks to build).
PARSER_LIVE_WORDS = 6
#: ``uint64[num_words]``: the terminals a lexeme is ended as.
PARSER_ACCEPTED = 7
#: ``int64[nonterminals]``: the nonterminals already predicted in the set being built.
PARSER_NT_STAMP = 8
#: ``int64[sets, 4]``: how each set was built (the ``SET_*`` columns below).
PARSER_SET_BUILD = 9
#: ``uint64[sets, num_words]``: the terminals each set was scanned over.
PARSER_SET_SCAN = 10
#: ``int32[capacity, 2]``: items that wait for a nonterminal, sorted by it, per indexed set.
PARSER_BY_SYMBOL = 11
#: ``int64[nonterminals + 1]``: the counting sort's buffer.
PARSER_SYMBOL_COUNT = 12
#: ``int64[2^n, 2]``: the de-duplication table of (position, origin) pairs.
PARSER_PAIRS = 13
#: ``int64[2^n, 4]``: the table of Leo items by (set build, symbol) (``earley._leo_top``).
PARSER_LEO = 14

#: Columns of ``set_build``: the set's build number, the build number of the set it was
#: scanned from, the build number its index was made at, and the index's length.
SET_BUILD_ID = 0
SET_SCANNED_FROM = 1
SET_INDEXED_AT = 2
SET_INDEX_LENGTH = 3

#: Fields of ``counter``: the last build number (numbers every set build in the thread), the
#: Earley work (items closed, plus items examined to complete them) spent in the current step,
#: and a step's budget (``Limits.max_earley_work``). A *step* is one mask, one token or byte
#: accepted, or one completeness check; entry kernels start each step at zero work. The
#: flag ``COUNTER_PAIRS_FULL`` tells an ``OVERFLOW`` of the de-duplication table ``pairs`` (the
#: wrapper doubles it and clears the flag) from one of the items.
COUNTER_BUILD = 0
COUNTER_WORK = 1
COUNTER_BUDGET = 2
COUNTER_PAIRS_FULL = 3


def make_parser_record(
    *,
    items,
    set_starts,
    set_lexstart,
    seen_build,
    seen_origin,
    counter,
    live_words,
    accepted,
    nt_stamp,
    set_build,
    set_scan,
    by_symbol,
    symbol_count,
    pairs,
    leo,
) -> tuple:
    """The ``P`` tuple."""
    return (
        items,
        set_starts,
        set_lexstart,
        seen_build,
        seen_origin,
        counter,
        live_words,
        accepted,
        nt_stamp,
        set_build,
        set_scan,
        by_symbol,
        symbol_count,
        pairs,
        leo,
    )


# --- T: a token trie (read-only); see constrain.vocab.TokenTrie -----------------------------

#: ``uint8[nodes]``: the byte into each node (preorder; node 0 is the root).
TRIE_BYTE = 0
#: ``int32[nodes]``: each node's depth.
TRIE_DEPTH = 1
#: ``int32[nodes]``: the node past each node's subtree.
TRIE_SUBTREE_END = 2
#: ``int32[nodes + 1]``: node ``i``'s tokens are ``token_ids[token_offsets[i]:token_offsets[i + 1]]``.
TRIE_TOKEN_OFFSETS = 3
TRIE_TOKEN_IDS = 4


def make_trie_record(*, byte, depth, subtree_end, token_offsets, token_ids) -> tuple:
    """The ``T`` tuple."""
    return (byte, depth, subtree_end, token_offsets, token_ids)
