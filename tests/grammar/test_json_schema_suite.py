"""Proof on fixtures: JSON Schema Test Suite groups (drafts 4, 7, 2020-12, every supported
keyword, the optional format tests) and MaskBench schemas, through the engine.

For every schema that compiles, every valid instance is accepted and every invalid one is
rejected, byte by byte on the byte-level vocabulary; a few valid instances carry the
documented narrowing that rejects them (docs/json_schema.md), and must then be rejected, so
the list stays true. Schemas that do not compile must fail with an UnsupportedFeatureError
that names JSON pointers, or (when no instance is valid) an UnsatisfiableGrammarError.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

import constrain
from constrain import Matcher, Vocabulary
from constrain.errors import UnsatisfiableGrammarError, UnsupportedFeatureError
from constrain.grammar.json_schema import grammar_from_json_schema

DATA = Path(__file__).resolve().parent.parent / "data" / "json_schema"
BYTES = Vocabulary.byte_level()


def _load(name: str) -> list:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


SUITE = _load("suite.json")
MASKBENCH = _load("maskbench.json")


def _accepts(compiled, value, ensure_ascii: bool = False) -> bool:
    m = Matcher(compiled)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)
    return m.accept_bytes(text.encode()) and m.is_accepting()


def _check_group(group, string_escapes: str = "minimal") -> str:
    """Runs one group; returns "compiled", "unsupported" or "unsatisfiable".

    Instances are written as ``json.dumps(..., ensure_ascii=False)`` spells them, the one
    spelling of the default escape policy; with ``string_escapes="any"`` they are written with
    ``ensure_ascii=True`` (non-ASCII characters as ``\\uXXXX``), which that policy accepts too.
    """
    try:
        grammar = grammar_from_json_schema(group["schema"], string_escapes=string_escapes)
    except UnsupportedFeatureError as e:
        assert e.features and all(f.location.startswith("#") for f in e.features), e
        return "unsupported"
    except UnsatisfiableGrammarError:
        assert not any(t["valid"] for t in group["tests"]), "a schema with valid instances was called unsatisfiable"
        return "unsatisfiable"
    compiled = constrain.compile(grammar, BYTES)
    for t in group["tests"]:
        got = _accepts(compiled, t["data"], ensure_ascii=string_escapes == "any")
        if not t["valid"]:
            assert not got, f"invalid instance accepted: {t['description']}: {t['data']!r}"
        elif "narrowing" in t:
            assert not got, f"documented narrowing no longer applies: {t['narrowing']}"
        else:
            assert got, f"valid instance rejected: {t['description']}: {t['data']!r}"
    return "compiled"


@pytest.mark.parametrize("group", SUITE, ids=[f"{g['source']}:{g['description']}"[:90] for g in SUITE])
def test_json_schema_test_suite(group):
    _check_group(group)


@pytest.mark.parametrize("group", SUITE, ids=[f"{g['source']}:{g['description']}"[:90] for g in SUITE])
def test_json_schema_test_suite_any_escapes(group):
    _check_group(group, string_escapes="any")


@lru_cache(maxsize=None)
def _maskbench_outcome(i: int) -> str:
    return _check_group(MASKBENCH[i])


@pytest.mark.parametrize("i", range(len(MASKBENCH)), ids=[g["source"] for g in MASKBENCH])
def test_maskbench(i):
    _maskbench_outcome(i)


def test_most_maskbench_fixtures_compile():
    """Coverage floor: the fixtures are chosen to exercise the compiler, not its errors."""
    outcomes = [_maskbench_outcome(i) for i in range(len(MASKBENCH))]
    assert outcomes.count("compiled") >= 0.7 * len(outcomes)
