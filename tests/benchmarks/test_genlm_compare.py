"""benchmarks/genlm_compare.py: its refusal without genlm-control, its judgements and its tables."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("genlm_compare", ROOT / "benchmarks" / "genlm_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_genlm_control_is_said_before_any_work(compare, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(compare, "genlm_control_version", lambda: None)
    monkeypatch.setattr("sys.argv", ["genlm_compare.py", "--data", str(tmp_path / "absent")])
    assert compare.main() == 2
    err = capsys.readouterr().err
    assert "genlm-control is not installed" in err and "--engines constrain" in err


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.mark.parametrize(
    "text, valid",
    [
        ('{"n": 3}', True),
        ('{"n": 3.5}', False),
        ("{}", False),
        ('{"n": 3', False),
        (None, False),
    ],
)
def test_judge(compare, text, valid):
    assert compare.judge(text, SCHEMA)["valid"] is valid


@pytest.mark.parametrize(
    "a, b, same",
    [
        ('{"a": 1, "b": 2}', '{"b":2,"a":1}', True),
        ('{"a": 1}', '{"a": 1.5}', False),
        ('{"a": 1}', None, False),
        ("{", "{", False),
    ],
)
def test_same_json(compare, a, b, same):
    assert compare.same_json(a, b) is same


def test_markdown_ratios_and_counts(compare, tmp_path):
    def rec(schema, engine, seconds, text, steps=10, checks=20, tokens=40, status="ok"):
        return dict(
            id=f"G/{schema}",
            engine=engine,
            status=status,
            seconds=seconds,
            steps=steps,
            text=text,
            checks=checks,
            particle_tokens=tokens,
            compile_s=0.5,
            valid=text == '{"n": 1}',
        )

    records = [
        rec("a", "constrain", 2.0, '{"n": 1}'),
        rec("a", "genlm-control", 10.0, '{"n": 1}', checks=80),
        rec("b", "constrain", 4.0, '{"n": 1}'),
        rec("b", "genlm-control", 8.0, '{"n":1}', checks=80),
        rec("c", "constrain", 1.0, None),
        rec("c", "genlm-control", 90.0, None, status="timeout"),
    ]
    meta = dict(
        machine="m",
        torch="t",
        transformers="t",
        constrain="c",
        genlm_control="0.4.1",
        schemas=3,
        split="G",
        seed=0,
        particles=5,
        ess_threshold=0.5,
        max_new_tokens=256,
        time_limit=90,
    )
    text = compare.write_markdown(tmp_path / "x.md", meta, records, ["constrain", "genlm-control"])
    summary = compare.summarize(records, ["constrain", "genlm-control"])
    assert summary["constrain"]["checks_per_token"] == pytest.approx(0.5)
    assert summary["genlm-control"]["checks_per_token"] == pytest.approx((80 + 80 + 20) / 120)
    assert summary["genlm-control"]["timeouts"] == 1 and summary["constrain"]["outputs"] == 2
    # ratios 5.0 and 2.0 over the two schemas both finished: median 3.5, geometric mean sqrt(10)
    assert "Both finished: 3 schemas" not in text
    assert "median 3.5x, geometric mean 3.2x, range 2.0x to 5.0x" in text
    assert "outputs equal as text 1/2, as JSON values 2/2" in text
    assert "| c | 1.0 (10, no) | timeout |" in text
