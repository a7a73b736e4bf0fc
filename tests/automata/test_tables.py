"""Parser tables: the prediction closures (a Numba kernel) against a naive twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from constrain import Grammar
from constrain.automata.tables import _prediction_closures, build_parser_tables

ROOT = Path(__file__).resolve().parents[2]


def _naive_closure(tables, n: int):
    """The positions and nonterminals that predicting nonterminal ``n`` adds: each rule of a
    reached nonterminal from its first dot, through nullable nonterminals (which are reached
    too), as sets."""
    num_t = tables.num_terminals
    positions, reached, todo = set(), set(), [n]
    while todo:
        m = todo.pop()
        if m in reached:
            continue
        reached.add(m)
        for k in range(tables.nt_rule_start[m], tables.nt_rule_end[m]):
            p = int(tables.rule_first_dot[tables.nt_rules[k]])
            while True:
                positions.add(p)
                s = int(tables.dot_symbol[p])
                if s < num_t:
                    break
                todo.append(s - num_t)
                if not tables.nullable[s - num_t]:
                    break
                p += 1
    return positions, reached


GRAMMARS = {path.stem: ("lark", path.read_text()) for path in sorted((ROOT / "grammars").glob("*.lark"))}
GRAMMARS["schema"] = (
    "json_schema",
    json.dumps(
        {
            "type": "object",
            "properties": {
                "a": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#"}}]},
                "b": {"type": "integer", "minimum": 0},
            },
        }
    ),
)

# Forty optional properties in order: each key's rule predicts the next one's, so the
# closures hold about 40**2 / 2 positions per object, more than the kernel's first arrays
# (four times the chains), which grow while it runs.
GRAMMARS["many_optional"] = (
    "json_schema",
    json.dumps({"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(40)}}),
)


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_prediction_closures_equal_the_naive_twin(name):
    kind, text = GRAMMARS[name]
    grammar = Grammar.from_lark(text) if kind == "lark" else Grammar.from_json_schema(json.loads(text))
    tables = build_parser_tables(grammar, max_symbols=2_000_000)
    assert tables.pred_offsets.shape[0] == len(tables.nonterminal_names) + 1
    for n in range(len(tables.nonterminal_names)):
        positions = tables.pred_positions[tables.pred_offsets[n] : tables.pred_offsets[n + 1]].tolist()
        nonterminals = tables.pred_nonterminals[tables.pred_nt_offsets[n] : tables.pred_nt_offsets[n + 1]].tolist()
        expected_positions, expected_nonterminals = _naive_closure(tables, n)
        assert len(positions) == len(set(positions))  # each position once
        assert set(positions) == expected_positions
        assert len(nonterminals) == len(set(nonterminals))
        assert set(nonterminals) == expected_nonterminals


def _closure_inputs(tables):
    num_t = tables.num_terminals
    rules_of = [
        [int(tables.nt_rules[k]) for k in range(tables.nt_rule_start[n], tables.nt_rule_end[n])]
        for n in range(len(tables.nonterminal_names))
    ]
    return tables.dot_symbol.tolist(), tables.rule_first_dot.tolist(), rules_of, tables.nullable.tolist(), num_t


def test_closures_over_their_budget_are_empty():
    _, text = GRAMMARS["many_optional"]
    tables = build_parser_tables(Grammar.from_json_schema(json.loads(text)), max_symbols=2_000_000)
    needed = int(tables.pred_offsets[-1] + tables.pred_nt_offsets[-1])
    inputs = _closure_inputs(tables)
    exact = _prediction_closures(*inputs, budget=needed)
    assert [a.tolist() for a in exact] == [
        a.tolist()
        for a in (tables.pred_offsets, tables.pred_positions, tables.pred_nt_offsets, tables.pred_nonterminals)
    ]
    assert [a.shape[0] for a in _prediction_closures(*inputs, budget=needed - 1)] == [0, 0, 0, 0]
