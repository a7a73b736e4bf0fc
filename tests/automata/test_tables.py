"""Parser tables: the prediction closures against a naive twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from constrain import Grammar
from constrain.automata.tables import build_parser_tables

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
        assert nonterminals == sorted(expected_nonterminals)
