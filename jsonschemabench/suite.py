"""JSON Schema Test Suite coverage: the MaskBench procedure on every test group, per keyword file."""

from __future__ import annotations

from typing import Any, Dict, List

from .outcomes import COMPILE_FAILURES
from .report import Run, header_lines, table


def keyword_rows(run: Run) -> List[List[Any]]:
    """One row per keyword file (the run's splits), plus a total row.

    Columns: groups, groups compiled, tests, tests judged right, valid rejected, invalid
    accepted, and tests in groups that did not compile (or timed out or crashed).

    A group the engine calls ``unsatisfiable`` rejects every instance: its invalid tests count
    as judged right and its valid tests as rejected (a schema like ``false`` is then covered).
    """
    rows: List[List[Any]] = []
    totals = [0] * 7
    for split in run.splits():
        recs = run.subset(split)
        compiled = [r for r in recs if "compile_ns" in r]
        tests = [t for r in compiled for t in r.get("tests", ())]
        right = sum(1 for t in tests if t["outcome"] == "pass")
        valid_rejected = sum(1 for t in tests if t["outcome"] == "valid_rejected")
        invalid_accepted = sum(1 for t in tests if t["outcome"] == "invalid_accepted")
        skipped = 0
        for r in recs:
            if "compile_ns" in r:
                continue
            validity = r.get("test_validity")
            if r["outcome"] == "unsatisfiable" and validity is not None:
                right += sum(1 for v in validity if not v)
                valid_rejected += sum(1 for v in validity if v)
            else:
                skipped += r.get("num_tests", 0)
        judged = len(tests) + sum(
            len(r.get("test_validity", ())) for r in recs if "compile_ns" not in r and r["outcome"] == "unsatisfiable"
        )
        values = [len(recs), len(compiled), judged + skipped, right, valid_rejected, invalid_accepted, skipped]
        totals = [a + b for a, b in zip(totals, values)]
        rows.append([split] + values)
    rows.append(["**total**"] + totals)
    return rows


def suite_markdown(run: Run) -> str:
    """The markdown summary of a ``suite`` run: coverage per keyword file."""
    lines = [f"# JSON Schema Test Suite: {run.label} ({run.header.get('draft', '')})", ""]
    lines += header_lines(run) + [""]
    headers = [
        "keyword file",
        "groups",
        "compiled",
        "tests",
        "right",
        "valid rejected",
        "invalid accepted",
        "not compiled",
    ]
    rows = keyword_rows(run)
    lines += [table(headers, rows), ""]
    total = rows[-1]
    if total[3]:
        lines.append(
            f"Tests judged right: {total[4]} of {total[3]} ({100 * total[4] / total[3]:.1f}%); "
            f"groups compiled: {total[2]} of {total[1]}."
        )
        lines.append("")
    failures: Dict[str, int] = {}
    for r in run.records:
        if r["outcome"] in COMPILE_FAILURES or r["outcome"] in ("timeout", "crash"):
            failures[r["outcome"]] = failures.get(r["outcome"], 0) + 1
    if failures:
        lines.append("Groups not compiled, by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(failures.items())))
        lines.append("")
    bad = [r for r in run.records if r["outcome"] == "invalid_accepted"]
    if bad:
        lines += ["## Invalid instances accepted", ""]
        lines += [f"- `{r['id']}`: {r.get('detail', '')}" for r in bad[:100]]
        lines.append("")
    return "\n".join(lines)
