"""Summaries: percentiles, markdown tables, suite scoring (from hand-written results files)."""

import json

import pytest

from jsonschemabench.report import Run, fmt_num, percentiles, stats, summary_markdown, table
from jsonschemabench.suite import keyword_rows, suite_markdown


def test_percentiles():
    p = percentiles(range(1, 101))
    assert p["avg"] == 50.5 and p["max"] == 100 and p["p50"] == pytest.approx(50.5)
    assert p["p99.9"] == pytest.approx(99.901)
    assert percentiles([])["p50"] is None


@pytest.mark.parametrize("x, text", [(None, "-"), (1234567.0, "1,234,567"), (42.25, "42.2"), (3.14159, "3.14")])
def test_fmt_num(x, text):
    assert fmt_num(x) == text


def test_table_alignment():
    lines = table(["metric", "a"], [["x", "1"], ["longer", "22"]]).splitlines()
    assert lines[0] == "| metric |  a |"
    assert lines[1] == "| :----- | -: |"
    assert lines[3] == "| longer | 22 |"


def _write(path, header, records):
    with open(path, "w") as fh:
        for obj in [{"record": "run", **header}] + [{"record": "schema", **r} for r in records]:
            fh.write(json.dumps(obj) + "\n")
    return Run(path)


def test_stats_and_summary(tmp_path):
    run = _write(
        tmp_path / "r.jsonl",
        {"task": "masks", "engine": "e", "whitespace": "compact"},
        [
            {
                "id": "s/a",
                "split": "s",
                "outcome": "pass",
                "compile_ns": 1000,
                "ttfm_ns": 2000,
                "mask_ns": [1000, 3000],
                "tests": [{"valid": True, "outcome": "pass"}],
            },
            {"id": "s/b", "split": "s", "outcome": "unsupported", "detail": "x"},
            {
                "id": "t/c",
                "split": "t",
                "outcome": "invalid_accepted",
                "compile_ns": 5000,
                "ttfm_ns": 6000,
                "mask_ns": [2000],
                "tests": [{"valid": False, "outcome": "invalid_accepted"}],
            },
        ],
    )
    s = stats(run.records)
    assert s["counts"]["pass"] == 1 and s["counts"]["unsupported"] == 1 and s["compiled"] == 2
    assert s["tokens"] == 3 and s["mask_us"]["avg"] == pytest.approx(2.0)
    assert s["invalid_tests"] == 1 and s["invalid_tests_rejected"] == 0
    md = summary_markdown(run)
    assert "| invalid_accepted" in md and "`t/c` invalid_accepted" in md


def test_suite_counts_unsatisfiable_groups_as_rejecting_everything(tmp_path):
    run = _write(
        tmp_path / "s.jsonl",
        {"task": "suite", "engine": "e", "draft": "draft2020-12"},
        [
            {
                "id": "k#0",
                "split": "k",
                "outcome": "unsatisfiable",
                "num_tests": 3,
                "test_validity": [False, False, True],
            },
            {"id": "k#1", "split": "k", "outcome": "unsupported", "num_tests": 2, "test_validity": [True, False]},
            {
                "id": "k#2",
                "split": "k",
                "outcome": "pass",
                "compile_ns": 1,
                "num_tests": 2,
                "tests": [{"valid": True, "outcome": "pass"}, {"valid": False, "outcome": "pass"}],
            },
        ],
    )
    row, total = keyword_rows(run)
    # groups, compiled, tests, right, valid rejected, invalid accepted, not compiled
    assert row == ["k", 3, 1, 7, 4, 1, 0, 2]
    assert total[1:] == row[1:]
    assert "Tests judged right: 4 of 7" in suite_markdown(run)


def test_labels_are_made_distinct(tmp_path):
    from jsonschemabench.report import distinct_labels

    runs = [
        _write(tmp_path / f"{n}.jsonl", {"task": "masks", "engine": e, "whitespace": w}, [])
        for n, e, w in (
            ("a", "constrain", "compact"),
            ("b", "constrain", "compact"),
            ("c", "constrain", "flexible"),
            ("d", "some/file.py:MyEngine", "compact"),
        )
    ]
    distinct_labels(runs)
    assert [r.label for r in runs] == ["constrain [a]", "constrain [b]", "constrain (flexible)", "MyEngine"]
