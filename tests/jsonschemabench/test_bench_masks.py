"""The MaskBench procedure on one schema (jsonschemabench.masks.run_schema), in process.

Small pure-Python engines defined here pin down the classification: an exact engine for
``enum`` schemas passes, an engine that allows everything accepts invalid instances, one
that allows nothing rejects valid ones, one whose mask and matcher disagree is caught.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from jsonschemabench.engines import Engine, bitmask_width, classify_message, mask_allows
from jsonschemabench.masks import run_schema, serialize
from jsonschemabench.tokenizer import load_tokenizer, token_bytes

TOKENIZER = str(Path(__file__).resolve().parents[1] / "data" / "jsonschemabench" / "tokenizer")


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(TOKENIZER)


class ExactEngine(Engine):
    """Accepts exactly the compact serializations of ``schema["enum"]``."""

    name = "exact"

    def __init__(self, tokenizer, whitespace="compact"):
        super().__init__(tokenizer, whitespace)
        self.pieces = token_bytes(tokenizer)

    def compile(self, schema):
        if "enum" not in schema:
            raise NotImplementedError("keyword 'type' is not supported")
        return [serialize(v, self.whitespace).encode() for v in schema["enum"]]

    def new_matcher(self, compiled):
        return {"docs": compiled, "text": b""}

    def fill_mask(self, matcher, bitmask):
        bitmask[:] = 0
        text = matcher["text"]
        for i, piece in enumerate(self.pieces):
            if piece and any(d.startswith(text + piece) for d in matcher["docs"]):
                bitmask[0, i >> 5] |= np.int32(np.uint32(1 << (i & 31)).view(np.int32))
        if text in matcher["docs"]:
            e = self.eos_token_id
            bitmask[0, e >> 5] |= np.int32(np.uint32(1 << (e & 31)).view(np.int32))

    def accept(self, matcher, token):
        matcher["text"] += self.pieces[token]
        return any(d.startswith(matcher["text"]) for d in matcher["docs"])

    def is_accepting(self, matcher):
        return matcher["text"] in matcher["docs"]


class AnythingEngine(ExactEngine):
    def fill_mask(self, matcher, bitmask):
        bitmask[:] = -1

    def accept(self, matcher, token):
        return True

    def is_accepting(self, matcher):
        return True


class NothingEngine(ExactEngine):
    def fill_mask(self, matcher, bitmask):
        bitmask[:] = 0


class DisagreeingEngine(AnythingEngine):
    """Its mask allows everything but its matcher refuses the third token."""

    def new_matcher(self, compiled):
        return {"n": 0}

    def accept(self, matcher, token):
        matcher["n"] += 1
        return matcher["n"] < 3


class RaisingMatcherEngine(AnythingEngine):
    def accept(self, matcher, token):
        raise RuntimeError("boom")


ENUM_ITEM = {
    "id": "t/enum",
    "split": "t",
    "schema": {"enum": [{"a": [1, 2]}, "hello", 42]},
    "tests": [
        {"data": {"a": [1, 2]}, "valid": True},
        {"data": "hello", "valid": True},
        {"data": "hell", "valid": False},
        {"data": 4, "valid": False},
        {"data": {"a": [1, 2, 3]}, "valid": False},
    ],
}


@pytest.mark.parametrize(
    "engine_cls, outcome",
    [
        (ExactEngine, "pass"),
        (AnythingEngine, "invalid_accepted"),
        (NothingEngine, "valid_rejected"),
        (RaisingMatcherEngine, "crash"),
    ],
)
def test_outcomes(tok, engine_cls, outcome):
    record = run_schema(engine_cls(tok), ENUM_ITEM)
    assert record["outcome"] == outcome
    assert record["num_tests"] == 5 and len(record["tests"]) == 5
    assert record["compile_ns"] > 0 and record["ttfm_ns"] >= record["compile_ns"]
    if outcome != "pass":
        assert record["detail"]


def test_exact_engine_records_where_invalid_instances_stop(tok):
    record = run_schema(ExactEngine(tok), ENUM_ITEM)
    by_data = {json.dumps(t["data"]): r for t, r in zip(ENUM_ITEM["tests"], record["tests"])}
    assert by_data["4"]["rejected_token"] == "<EOS>"  # a prefix of 42: refused only at the end
    for r in record["tests"]:
        assert r["valid"] == r["accepted"] and ("rejected_at" in r) != r["valid"]
    valid_tokens = sum(r["tokens"] + 1 for r in record["tests"] if r["valid"])
    invalid_masks = sum(r["rejected_at"] + 1 for r in record["tests"] if not r["valid"])
    assert record["num_tokens"] == len(record["mask_ns"]) == valid_tokens + invalid_masks


def test_mask_and_matcher_disagreement_is_recorded(tok):
    record = run_schema(DisagreeingEngine(tok), ENUM_ITEM)
    first = record["tests"][0]
    assert first["mask_accept_mismatch"] and first["rejected_at"] == 2
    assert first["outcome"] == "valid_rejected"


class NoEndEngine(AnythingEngine):
    """Allows every token but never the end of the document."""

    def fill_mask(self, matcher, bitmask):
        bitmask[:] = -1
        e = self.eos_token_id
        bitmask[0, e >> 5] &= ~np.int32(np.uint32(1 << (e & 31)).view(np.int32))


def test_refusal_at_eos(tok):
    record = run_schema(NoEndEngine(tok), ENUM_ITEM)
    assert record["outcome"] == "valid_rejected"
    for r in record["tests"]:
        assert r["rejected_token"] == "<EOS>" and r["rejected_at"] == r["tokens"]
        assert r["eos_accepting_mismatch"]  # is_accepting() says yes, the mask says no


def test_compile_error_is_classified(tok):
    item = {**ENUM_ITEM, "schema": {"type": "string"}}
    record = run_schema(ExactEngine(tok), item)
    assert record["outcome"] == "unsupported"
    assert "not supported" in record["detail"] and "mask_ns" not in record


def test_schema_without_tests_passes_when_it_compiles(tok):
    record = run_schema(ExactEngine(tok), {**ENUM_ITEM, "tests": []})
    assert record["outcome"] == "pass" and record["num_tokens"] == 0


@pytest.mark.parametrize(
    "message, category",
    [
        ('Unimplemented keys: ["not"]', "unsupported"),
        ("format 'foo' is not supported", "unsupported"),
        ("size limit exceeded", "limit"),
        ("Invalid schema: ...", "invalid_schema"),
        ("the grammar is unsatisfiable", "unsatisfiable"),
        ("syntax error at 3", "compile_error"),
    ],
)
def test_classify_message(message, category):
    assert classify_message(RuntimeError(message)) == category
    assert classify_message(MemoryError()) == "limit"


@pytest.mark.parametrize(
    "data, whitespace, text",
    [
        ({"a": [1, "é"]}, "compact", '{"a":[1,"é"]}'),
        ({"a": [1, "é"]}, "flexible", '{"a": [1, "é"]}'),
    ],
)
def test_serialize(data, whitespace, text):
    assert serialize(data, whitespace) == text


def test_mask_helpers():
    bm = np.zeros((1, bitmask_width(70)), dtype=np.int32)
    assert bm.shape == (1, 3)
    bm[0, 2] = 1 << 5
    bm[0, 0] = np.int32(np.uint32(1 << 31).view(np.int32))
    assert mask_allows(bm, 69) and mask_allows(bm, 31)
    assert not mask_allows(bm, 68) and not mask_allows(bm, 0)


def test_llguidance_on_enum(tok):
    pytest.importorskip("llguidance")
    from jsonschemabench.engines import LLGuidanceEngine

    record = run_schema(LLGuidanceEngine(tok), ENUM_ITEM)
    assert record["outcome"] == "pass", record


OBJECT_ITEM = {
    "id": "t/object",
    "split": "t",
    "schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "integer"}}},
        "required": ["name"],
        "additionalProperties": False,
    },
    "tests": [
        {"data": {"name": "x y", "tags": [1, 22]}, "valid": True},
        {"data": {"name": "z"}, "valid": True},
        {"data": {"tags": [1]}, "valid": False},
        {"data": {"name": "x", "tags": ["1"]}, "valid": False},
        {"data": {"name": "x", "other": 1}, "valid": False},
    ],
}

PEERS = [
    ("llguidance", "llguidance"),
    ("xgrammar", "xgrammar"),
    ("xgrammar-strict", "xgrammar"),
    ("outlines-core", "outlines_core"),
]


@pytest.mark.parametrize("whitespace", ["compact", "flexible"])
@pytest.mark.parametrize("name, module", PEERS)
def test_peer_adapters(tok, name, module, whitespace):
    pytest.importorskip(module)
    from jsonschemabench.engines import engine_class

    engine = engine_class(name)(tok, whitespace=whitespace)
    for item in (ENUM_ITEM, OBJECT_ITEM):
        record = run_schema(engine, item)
        expected = "pass"
        if module == "xgrammar" and whitespace == "flexible" and item is ENUM_ITEM:
            # XGrammar matches an object/array enum value as its compact text only
            expected = "valid_rejected"
        assert record["outcome"] == expected, (item["id"], record["detail"])
        assert not any(t.get("mask_accept_mismatch") for t in record["tests"])


@pytest.mark.parametrize("text", ['"a\u0308"', '{"k":"é ü 😀"}', "", "[1,2]"])
def test_exact_tokens_spell_the_bytes(tok, text):
    from jsonschemabench.masks import exact_tokens

    assert tok.decode(exact_tokens(tok, text)) == text


def test_normalizing_tokenizer_does_not_change_the_instance():
    from tokenizers import normalizers

    nfc = load_tokenizer(TOKENIZER)
    nfc.backend_tokenizer.normalizer = normalizers.NFC()
    item = {
        "id": "t/nfc",
        "split": "t",
        "schema": {"enum": ["\u00e4"]},
        "tests": [{"data": "\u00e4", "valid": True}, {"data": "a\u0308", "valid": False}],
    }
    record = run_schema(ExactEngine(nfc), item)
    assert record["outcome"] == "pass"
    assert record["tests"][1].get("retokenized") and not record["tests"][0].get("retokenized")
