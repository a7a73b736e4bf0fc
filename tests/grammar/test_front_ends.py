"""``Grammar.from_*``: each front end is reached through the registry ``constrain.grammar``
fills (the IR imports none of them), loaded on first use, and returns a plain ``Grammar``."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import constrain
from constrain.grammar import ir

FRONT_ENDS = [
    ("from_regex", ("ab+",), {}, "regex"),
    ("from_lark", ('start: "a" "b"+',), {}, "lark"),
    ("from_gbnf", ('root ::= "a" "b"+',), {}, "gbnf"),
    ("from_json_schema", ({"type": "integer"},), {}, "json_schema"),
]


@pytest.mark.parametrize("method, args, kwargs, kind", FRONT_ENDS, ids=[f[0] for f in FRONT_ENDS])
def test_each_constructor_returns_a_grammar(method, args, kwargs, kind):
    grammar = getattr(constrain.Grammar, method)(*args, **kwargs)
    assert type(grammar) is constrain.Grammar
    assert grammar.kind == kind
    assert pickle.loads(pickle.dumps(grammar)) == grammar


def test_every_constructor_is_registered():
    assert sorted(ir.FRONT_ENDS) == sorted(kind for _, _, _, kind in FRONT_ENDS)


def test_front_ends_load_on_first_use():
    code = (
        "import sys, constrain\n"
        "front = [m for m in sys.modules if m.startswith('constrain.grammar.') and m != 'constrain.grammar.ir']\n"
        "assert not front, front\n"
        "constrain.Grammar.from_regex('ab')\n"
        "assert 'constrain.grammar.regex' in sys.modules and 'constrain.grammar.json_schema' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_compiled_grammar_pickles():
    vocab = constrain.Vocabulary([b"a", b"b", b"ab"], eos_token_ids=[3], size=4)
    compiled = constrain.compile(constrain.Grammar.from_lark('start: "a" "b"+'), vocab)
    twin = pickle.loads(pickle.dumps(compiled))
    assert isinstance(twin.grammar, constrain.Grammar) and twin.grammar == compiled.grammar
    matcher = constrain.Matcher(twin)
    assert matcher.accept_token(2) and matcher.accept_token(1) and matcher.is_accepting()
