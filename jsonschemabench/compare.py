"""Side-by-side comparison of several runs: markdown tables and matplotlib plots."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

import numpy as np

from .report import Run, metric_rows, split_rows, stats, table


def common_ids(runs: Sequence[Run]) -> Set[str]:
    """The schema ids every run has a record for."""
    ids: Optional[Set[str]] = None
    for run in runs:
        these = {r["id"] for r in run.records}
        ids = these if ids is None else ids & these
    return ids or set()


def compare_markdown(runs: Sequence[Run], only_common: bool = True) -> str:
    """Markdown tables comparing ``runs``.

    Args:
        runs: results of the same task on (ideally) the same sample.
        only_common: restrict every table to the schemas all runs have, so that the numbers
            are over the same inputs; the schema count says how many that is.
    """
    ids = common_ids(runs) if only_common else None
    labels = [r.label for r in runs]
    all_stats = [stats(r.subset(ids=ids)) for r in runs]
    lines = ["# jsonschemabench comparison", ""]
    for run in runs:
        h = run.header
        info = h.get("engine_info", {})
        lines.append(
            f"- **{run.label}**: `{run.path.name}`; {h.get('engine')} {info.get('version', '')}, "
            f"tokenizer {h.get('tokenizer')}, whitespace {h.get('whitespace')}, clock {h.get('clock')}, "
            f"{len(run.records)} schemas"
        )
    lines.append("")
    if ids is not None:  # only_common
        lines += [f"Tables cover the {len(ids)} schemas present in every run.", ""]
    lines += [table(["metric"] + labels, metric_rows(all_stats)), ""]
    headers, rows = split_rows(list(runs), ids)
    lines += ["## Per split", "", table(headers, rows), ""]
    lines += ["## Outcome agreement", ""]
    lines += [_disagreements(runs, ids), ""]
    return "\n".join(lines)


def _disagreements(runs: Sequence[Run], ids: Optional[Set[str]]) -> str:
    by_run = [{r["id"]: r["outcome"] for r in run.subset(ids=ids)} for run in runs]
    keys = sorted(set().union(*by_run))
    differing = [k for k in keys if len({b.get(k) for b in by_run}) > 1]
    if not differing:
        return "All runs agree on every schema's outcome."
    rows = [[k] + [b.get(k, "-") for b in by_run] for k in differing[:40]]
    more = f"\n\n({len(differing) - 40} more)" if len(differing) > 40 else ""
    return (
        f"{len(differing)} schemas with differing outcomes:\n\n"
        + table(["schema"] + [r.label for r in runs], rows)
        + more
    )


def _values(run: Run, key: str, ids: Optional[Set[str]]) -> np.ndarray:
    if key == "mask_ns":
        vals: List[float] = [v for r in run.subset(ids=ids) for v in r.get("mask_ns", ())]
    else:
        vals = [r[key] for r in run.subset(ids=ids) if key in r]
    return np.asarray(vals, dtype=np.float64) / 1000.0


def plot_distributions(runs: Sequence[Run], out_dir: Path, only_common: bool = True) -> Dict[str, Path]:
    """PNG plots: the distribution (empirical CDF, log time axis) of mask time and of compile
    time per engine.

    Returns:
        ``{"mask": path, "compile": path, "ttfm": path}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = common_ids(runs) if only_common else None
    paths: Dict[str, Path] = {}
    for key, name, title in (
        ("mask_ns", "mask", "Time per mask"),
        ("compile_ns", "compile", "Compile time"),
        ("ttfm_ns", "ttfm", "Time to first mask"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plotted = 0
        for run in runs:
            v = np.sort(_values(run, key, ids))
            v = v[v > 0]
            if v.size == 0:
                continue
            y = np.arange(1, v.size + 1) / v.size
            ax.step(v, y, where="post", label=f"{run.label} (n={v.size:,}, p50={np.median(v):,.1f} µs)")
            plotted += 1
        ax.set_xscale("log")
        ax.set_xlabel("µs (log scale)")
        ax.set_ylabel("fraction ≤ x")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if plotted:
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
        path = out_dir / f"{name}_time.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths[name] = path
    return paths
