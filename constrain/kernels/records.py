"""The named records the matcher's kernels take (``constrain.kernels.earley``).

In compiled code a named tuple is a plain one whose fields have names, so a field read by
name costs what an index did. From Python the records travel as plain tuples in the fields'
order, because Numba's dispatcher types a plain tuple in C and a named one in Python (about
3 us more per kernel call); the kernels name them on entry. Each is built in one place:
:class:`KernelGrammar` by ``constrain.automata.compiled``, :class:`LexerTables` by
``constrain.automata.lexer``, :class:`ParserState` by ``Matcher._parser`` and
:class:`TrieArrays` by ``constrain.vocab.TokenTrie``.
"""

from collections import namedtuple

#: The grammar, read-only; see ``constrain.automata.tables.ParserTables`` for each array.
#: ``num_terminals`` and ``accept_dot`` are ``int64`` scalars.
KernelGrammar = namedtuple("KernelGrammar", (
    "dot_symbol", "dot_rule", "rule_lhs", "rule_first_dot", "nt_rule_start", "nt_rule_end", "nt_rules",
    "nullable", "ignore_mask", "num_terminals", "accept_dot", "pred_offsets", "pred_positions",
    "pred_nt_offsets", "pred_nonterminals",
))

#: The lexer, read-only during a call: ``trans`` ``int32[num_states, 256]`` (-1: no live
#: terminal continues), ``accept`` ``uint64[num_states, num_words]`` (the terminals that
#: accept in each state), ``final`` ``bool[num_states]`` (accepting and no byte continues),
#: and the open-addressing table ``keys``/``vals`` from a bitset of live terminals to the
#: start state of the lexer built for exactly those (``vals == -1``: empty slot).
LexerTables = namedtuple("LexerTables", ("trans", "accept", "keys", "vals", "final"))

#: One sequence's Earley sets and one thread's work arrays, mutated; see the docstring of
#: ``constrain.kernels.earley``. ``live`` is where a kernel that needs a lexer leaves the
#: bitset of live terminals it needs.
ParserState = namedtuple("ParserState", (
    "items", "set_starts", "set_lexstart", "seen_build", "seen_origin", "counter", "live", "acc",
    "nt_stamp", "set_build", "set_scan", "by_symbol", "symbol_count", "pairs",
))

#: A token trie as flat preorder arrays; see ``constrain.vocab.TokenTrie``.
TrieArrays = namedtuple("TrieArrays", ("byte", "depth", "subtree_end", "token_offsets", "token_ids"))
