"""Summaries of results files: outcome counts, time percentiles, markdown tables."""

from __future__ import annotations

from pathlib import Path
from typing import AbstractSet, Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .outcomes import COMPILE_FAILURES, OUTCOMES, counts
from .runner import read_results

#: The statistics every time distribution is reported with (MaskBench's, plus p99.9).
PERCENTILES: Tuple[Tuple[str, Optional[float]], ...] = (
    ("avg", None),
    ("p25", 25.0),
    ("p50", 50.0),
    ("p75", 75.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("max", 100.0),
)


def percentiles(values: Iterable[float]) -> Dict[str, Optional[float]]:
    """avg, p25 ... p99.9 and max of ``values`` (linear interpolation); None when empty."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return {name: None for name, _ in PERCENTILES}
    result: Dict[str, Optional[float]] = {}
    for name, q in PERCENTILES:
        result[name] = float(arr.mean()) if q is None else float(np.percentile(arr, q))
    return result


class Run:
    """One results file: its header and its schema records (the latest record per id)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        header, records = read_results(self.path)
        if header is None:
            raise ValueError(f"{self.path}: not a jsonschemabench results file (no header line)")
        self.header: Dict[str, Any] = header
        by_id: Dict[str, Dict[str, Any]] = {}
        for r in records:
            by_id[r["id"]] = r
        self.records: List[Dict[str, Any]] = sorted(by_id.values(), key=lambda r: (r["split"], r["id"]))
        h = self.header
        #: a short name in tables: the engine, plus whitespace when not compact
        engine = str(h.get("engine", self.path.stem))
        self.label: str = engine.rpartition(":")[2] if ":" in engine else engine
        if h.get("whitespace", "compact") != "compact":
            self.label += f" ({h['whitespace']})"

    def splits(self) -> List[str]:
        return sorted({r["split"] for r in self.records})

    def subset(self, split: Optional[str] = None, ids: Optional[AbstractSet[str]] = None) -> List[Dict[str, Any]]:
        return [r for r in self.records if (split is None or r["split"] == split) and (ids is None or r["id"] in ids)]


def distinct_labels(runs: Sequence["Run"]) -> None:
    """Make the runs' labels unique by adding the file name where two would be equal."""
    seen: Dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
    for run in runs:
        if seen[run.label] > 1:
            run.label = f"{run.label} [{run.path.stem}]"


def stats(records: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Counts and time distributions of ``records`` (µs)."""
    masks: List[float] = []
    for r in records:
        masks.extend(r.get("mask_ns", ()))
    ttfm = [r["ttfm_ns"] for r in records if "ttfm_ns" in r]
    compile_ = [r["compile_ns"] for r in records if "compile_ns" in r]
    tests = [t for r in records for t in r.get("tests", ())]
    c = counts(r["outcome"] for r in records)
    return {
        "schemas": len(records),
        "counts": c,
        "compiled": sum(1 for r in records if "compile_ns" in r),
        "tokens": len(masks),
        "valid_tests": sum(1 for t in tests if t.get("valid")),
        "invalid_tests": sum(1 for t in tests if not t.get("valid")),
        "valid_tests_accepted": sum(1 for t in tests if t.get("valid") and t.get("outcome") == "pass"),
        "invalid_tests_rejected": sum(1 for t in tests if not t.get("valid") and t.get("outcome") == "pass"),
        "mask_us": percentiles(v / 1000 for v in masks),
        "ttfm_us": percentiles(v / 1000 for v in ttfm),
        "compile_us": percentiles(v / 1000 for v in compile_),
        "mismatches": sum(1 for t in tests if t.get("mask_accept_mismatch") or t.get("eos_accepting_mismatch")),
        "retokenized": sum(1 for t in tests if t.get("retokenized")),
    }


def fmt_num(x: Optional[float]) -> str:
    """A number for a table: thousands separators, decimals only below 100."""
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        out.append("| " + " | ".join(parts) + " |")
        if n == 0:
            seps = [":" + "-" * max(1, widths[0] - 1)] + ["-" * max(1, w - 1) + ":" for w in widths[1:]]
            out.append("|" + "|".join(f" {s} " for s in seps) + "|")
    return "\n".join(out)


def metric_rows(all_stats: Sequence[Dict[str, Any]]) -> List[List[str]]:
    """MaskBench-style metric rows (one column per run)."""
    rows: List[List[str]] = []
    for key, title in (("mask_us", "mask µs"), ("ttfm_us", "TTFM µs"), ("compile_us", "compile µs")):
        for name, _ in PERCENTILES:
            rows.append([f"{title} {name}"] + [fmt_num(s[key][name]) for s in all_stats])
    rows.append(["tokens"] + [f"{s['tokens']:,}" for s in all_stats])
    rows.append(["schemas"] + [f"{s['schemas']:,}" for s in all_stats])
    rows.append(["compiled"] + [f"{s['compiled']:,}" for s in all_stats])
    for outcome in OUTCOMES:
        rows.append([outcome] + [f"{s['counts'][outcome]:,}" for s in all_stats])
    rows.append(
        ["valid instances accepted"] + [f"{s['valid_tests_accepted']:,} / {s['valid_tests']:,}" for s in all_stats]
    )
    rows.append(
        ["invalid instances rejected"]
        + [f"{s['invalid_tests_rejected']:,} / {s['invalid_tests']:,}" for s in all_stats]
    )
    rows.append(["mask/matcher disagreements"] + [f"{s['mismatches']:,}" for s in all_stats])
    return rows


def split_rows(runs: Sequence[Run], ids: Optional[AbstractSet[str]] = None) -> Tuple[List[str], List[List[str]]]:
    """Per split: schemas and, per run, passing schemas and compile failures."""
    splits = sorted({s for run in runs for s in run.splits()})
    headers = ["split", "schemas"]
    for run in runs:
        headers += [f"{run.label} pass", f"{run.label} no compile"]
    rows = []
    for split in splits:
        recs = [run.subset(split, ids) for run in runs]
        row = [split, str(max(len(r) for r in recs))]
        for r in recs:
            passed = sum(1 for x in r if x["outcome"] == "pass")
            failed = sum(1 for x in r if x["outcome"] in COMPILE_FAILURES)
            row += [f"{passed}", f"{failed}"]
        rows.append(row)
    return headers, rows


def header_lines(run: Run) -> List[str]:
    h = run.header
    info = h.get("engine_info", {})
    return [
        f"- engine: `{h.get('engine')}` {info.get('version', '')}".rstrip(),
        f"- tokenizer: `{h.get('tokenizer')}` ({info.get('vocab_size', '?')} ids)",
        f"- whitespace: {h.get('whitespace')}; clock: {h.get('clock')}; "
        f"timeout {h.get('timeout_s')} s; memory limit {h.get('mem_limit_gb')} GiB; jobs {h.get('jobs')}",
        f"- sample: {h.get('sample')} (seed {h.get('seed')}); started {h.get('started')}",
    ] + (
        ["- first masks only: compile and first mask, no instances ('pass' = compiled)"]
        if h.get("options", {}).get("first_mask_only")
        else []
    )


def summary_markdown(run: Run) -> str:
    """The markdown summary of one run."""
    s = stats(run.records)
    lines = [f"# {run.header.get('task', 'masks')}: {run.label}", ""]
    lines += header_lines(run) + [""]
    lines += [table(["metric", run.label], metric_rows([s])), ""]
    headers, rows = split_rows([run])
    lines += ["## Per split", "", table(headers, rows), ""]
    worst = [r for r in run.records if r["outcome"] in ("invalid_accepted", "crash", "timeout")]
    if worst:
        lines += ["## Invalid accepted, crashes, timeouts", ""]
        for r in worst[:50]:
            lines.append(f"- `{r['id']}` {r['outcome']}: {r.get('detail', '')}")
        lines.append("")
    return "\n".join(lines)
