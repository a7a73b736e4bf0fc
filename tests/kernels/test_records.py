"""The kernels' records, status codes and names: one field order, written once, and read by name."""

from __future__ import annotations

import ast
import inspect
import pathlib
import re

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import constrain
from constrain.kernels import records

KERNELS = pathlib.Path(constrain.__file__).parent / "kernels"
AUTOMATA = pathlib.Path(constrain.__file__).parent / "automata"

BUILDERS = [
    ("GRAMMAR_", records.make_grammar_record),
    ("LEXER_", records.make_lexer_record),
    ("PARSER_", records.make_parser_record),
    ("TRIE_", records.make_trie_record),
]


@pytest.mark.parametrize("prefix, build", BUILDERS, ids=[b.__name__ for _, b in BUILDERS])
def test_builders_and_field_constants_agree(prefix, build):
    """Each keyword of a builder lands at the index its constant names, and every constant
    of the record names one keyword: the two cannot drift apart."""
    fields = list(inspect.signature(build).parameters)
    record = build(**{name: name for name in fields})
    assert isinstance(record, tuple) and type(record) is tuple  # a plain tuple at the Numba boundary
    assert len(record) == len(fields)
    constants = {name: value for name, value in vars(records).items() if name.startswith(prefix)}
    assert sorted(constants) == sorted(prefix + name.upper() for name in fields)
    for name in fields:
        assert record[constants[prefix + name.upper()]] == name
    assert sorted(constants.values()) == list(range(len(fields)))


def test_set_build_columns_are_distinct():
    columns = [records.SET_BUILD_ID, records.SET_SCANNED_FROM, records.SET_INDEXED_AT, records.SET_INDEX_LENGTH]
    assert sorted(columns) == [0, 1, 2, 3]


def test_counter_fields_fill_the_thread_counter():
    fields = [value for name, value in vars(records).items() if name.startswith("COUNTER_")]
    vocab = constrain.Vocabulary([b"a"], eos_token_ids=[1], size=2)
    counter = constrain.compile(constrain.Grammar.from_regex("a"), vocab).thread_scratch().counter
    assert sorted(fields) == list(range(counter.shape[0]))


def test_statuses_that_end_a_call_come_last():
    """Kernels end a call on ``status >= OVERFLOW``: the statuses that must are from there on."""
    from constrain.kernels import status

    codes = {name: value for name, value in vars(status).items() if name.isupper()}
    assert sorted(codes.values()) == list(range(len(codes)))
    assert {name for name, value in codes.items() if value >= status.OVERFLOW} == {"OVERFLOW", "OVER_BUDGET"}


def test_the_records_the_automata_build():
    """The records a compiled grammar and a matcher pass hold the arrays their names say."""
    vocab = constrain.Vocabulary([b"a", b"b", b"ab"], eos_token_ids=[3], size=4)
    compiled = constrain.compile(constrain.Grammar.from_regex("(ab)+"), vocab)
    matcher = constrain.Matcher(compiled)
    G = compiled.kernel_grammar
    assert G[records.GRAMMAR_DOT_SYMBOL] is compiled.tables.dot_symbol
    assert G[records.GRAMMAR_PRED_NONTERMINALS] is compiled.tables.pred_nonterminals
    assert G[records.GRAMMAR_NUM_TERMINALS] == compiled.tables.num_terminals
    L = compiled.lexers.tables
    assert L[records.LEXER_TRANS].shape[1] == 256 and L[records.LEXER_FINAL].dtype == np.bool_
    P = matcher._parser()
    assert P[records.PARSER_ITEMS] is matcher._items
    assert P[records.PARSER_SET_SCAN] is matcher._set_scan
    assert P[records.PARSER_PAIRS] is compiled.thread_scratch().pairs
    T = compiled.kernel_trie
    assert T[records.TRIE_TOKEN_IDS] is vocab.trie.token_ids
    assert T[records.TRIE_BYTE] is vocab.trie.byte


def _sources(*folders):
    return [path for folder in folders for path in sorted(folder.glob("*.py"))]


@pytest.mark.parametrize("path", _sources(KERNELS, AUTOMATA), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_records_are_read_by_name(path):
    """No ``G[9]``: every field of a record is read through its constant."""
    found = re.findall(r"\b[GLPT]\[\d+\]", path.read_text())
    assert not found, f"{path.name} indexes a record by number: {found}"


def _kernel_modules():
    import importlib

    return [
        importlib.import_module(f"constrain.kernels.{path.stem}")
        for path in _sources(KERNELS)
        if path.stem != "__init__"
    ]


def test_one_naming_rule_for_kernels():
    """An ``@njit`` function the wrappers call ends in ``_kernel``; a helper is private to its
    module (``_name``), except the bit helpers of ``constrain.kernels.bits``, which every
    kernel module shares."""
    seen = 0
    for module in _kernel_modules():
        for name, value in vars(module).items():
            if not isinstance(value, CPUDispatcher) or value.py_func.__module__ != module.__name__:
                continue
            seen += 1
            if module.__name__.endswith(".bits"):
                assert not name.endswith("_kernel"), name
            else:
                assert name.startswith("_") or name.endswith("_kernel"), f"{module.__name__}.{name}"
    assert seen > 30


def _returned_codes(path):
    """Integer literals a kernel returns as a status: ``return -1``, or a literal first in a
    returned tuple (``return 0, n``)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        value = node.value
        if isinstance(value, ast.Tuple) and value.elts:
            value = value.elts[0]
        elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            value = value.operand
        else:
            continue
        if isinstance(value, ast.Constant) and type(value.value) is int:
            yield node.lineno


@pytest.mark.parametrize("path", _sources(KERNELS), ids=lambda p: p.name)
def test_status_codes_are_named(path):
    assert not list(_returned_codes(path)), f"{path.name}: bare status codes at lines {list(_returned_codes(path))}"


def test_the_status_check_finds_bare_codes(tmp_path):
    source = tmp_path / "k.py"
    source.write_text("def f(x):\n    if x:\n        return 0, x\n    return -1\n")
    assert sorted(_returned_codes(source)) == [3, 4]


def test_set_token_bit_sets_the_packed_bit():
    from constrain.kernels.bits import set_terminal_bit, set_token_bit, set_token_bits

    @__import__("numba").njit
    def fill(row, ids, words, terms):
        for j in range(ids.shape[0]):
            set_token_bit(row, ids[j])
        set_token_bits(row, ids, 0, 0)
        for j in range(terms.shape[0]):
            set_terminal_bit(words, terms[j])

    ids = np.array([0, 31, 32, 63, 95], dtype=np.int64)
    row = np.zeros(3, dtype=np.int32)
    words = np.zeros(2, dtype=np.uint64)
    fill(row.view(np.uint32), ids, words, np.array([0, 63, 64], dtype=np.int64))
    bits = np.unpackbits(row.view(np.uint8), bitorder="little")
    assert np.flatnonzero(bits).tolist() == ids.tolist()
    assert row[0] < 0  # bit 31 is the int32 sign bit
    assert words.tolist() == [1 | (1 << 63), 1]
