"""The ``jsonschemabench`` subcommands: each takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .dataset import Entry, find_entries, find_suite_entries, resolve_data_dir, sample_entries
from .engines import available_engines, engine_class
from .outcomes import OUTCOMES
from .report import Run
from .runner import RunConfig, run


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")[-60:] or "x"


def default_out(task: str, args: argparse.Namespace) -> Path:
    parts = [
        task,
        args.engine.rpartition(":")[2] if ":" in args.engine else args.engine,
        Path(args.tokenizer).name if hasattr(args, "tokenizer") else "",
    ]
    if getattr(args, "whitespace", "compact") != "compact":
        parts.append(args.whitespace)
    if getattr(args, "sample", None):
        parts.append(f"n{args.sample}s{args.seed}")
    if getattr(args, "first_mask_only", False):
        parts.append("first-mask")
    return Path("runs") / ("-".join(slug(p) for p in parts if p) + ".jsonl")


def progress_reporter(enabled: bool, desc: str) -> Optional[Callable[[int, int], Callable[[Dict[str, Any]], None]]]:
    if not enabled:
        return None

    def start(done: int, total: int) -> Callable[[Dict[str, Any]], None]:
        tally = {k: 0 for k in OUTCOMES}
        try:
            from tqdm import tqdm
        except ImportError:
            count = [done]

            def plain(record: Dict[str, Any]) -> None:
                count[0] += 1
                tally[record["outcome"]] += 1
                print(f"[{count[0]}/{total}] {record['id']}: {record['outcome']}", file=sys.stderr)

            return plain
        bar = tqdm(total=total, initial=done, desc=desc, unit="schema", file=sys.stderr, dynamic_ncols=True)

        def update(record: Dict[str, Any]) -> None:
            tally[record["outcome"]] += 1
            bar.update(1)
            bar.set_postfix({k[:12]: v for k, v in tally.items() if v}, refresh=False)
            if bar.n >= bar.total:
                bar.close()

        return update

    return start


def select_entries(args: argparse.Namespace, suite: bool) -> List[Entry]:
    data_dir = resolve_data_dir(args.data)
    if suite:
        entries = find_suite_entries(data_dir, args.draft)
    else:
        splits = [s for s in (args.splits or "").split(",") if s]
        entries = find_entries(data_dir, splits or None)
    return sample_entries(entries, args.sample, args.seed)


def write_summary(out: Path, task: str) -> Path:
    from .report import Run, summary_markdown
    from .suite import suite_markdown

    run = Run(out)
    md = suite_markdown(run) if task == "suite" else summary_markdown(run)
    md_path = out.with_suffix(".md")
    md_path.write_text(md + "\n", encoding="utf-8")
    return md_path


def cmd_masks(args: argparse.Namespace, task: str) -> int:
    engine_class(args.engine)  # fail early, with the install hint, for a missing package
    entries = select_entries(args, suite=task == "suite")
    out = args.out or default_out(task, args)
    extra: Dict[str, Any] = {
        "sample": args.sample,
        "seed": args.seed,
        "data": Path(resolve_data_dir(args.data)).name,
        "schemas": len(entries),
    }
    if task == "suite":
        extra["draft"] = args.draft
    config = RunConfig(
        task=task,
        engine=args.engine,
        tokenizer=args.tokenizer,
        whitespace=args.whitespace,
        clock=args.clock,
        timeout_s=args.timeout,
        mem_limit_gb=args.mem_limit,
        jobs=args.jobs,
        options={"first_mask_only": True} if getattr(args, "first_mask_only", False) else {},
        extra=extra,
    )
    run(
        entries,
        config,
        out,
        resume=args.resume,
        progress=progress_reporter(not args.no_progress, f"{task} {args.engine}"),
    )
    md = write_summary(out, task)
    print(md.read_text(encoding="utf-8"))
    print(f"results: {out}\nsummary: {md}", file=sys.stderr)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .report import Run, summary_markdown
    from .suite import suite_markdown

    run = Run(args.run)
    task = run.header.get("task", "masks")
    if task == "generate":
        from .generate_report import generate_markdown

        md = generate_markdown(run)
    elif task == "suite":
        md = suite_markdown(run)
    else:
        md = summary_markdown(run)
    path = args.out or args.run.with_suffix(".md")
    path.write_text(md + "\n", encoding="utf-8")
    print(md)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_markdown, plot_distributions
    from .report import Run, distinct_labels

    runs = [Run(p) for p in args.runs]
    distinct_labels(runs)
    tasks = {r.header.get("task") for r in runs}
    if "generate" in tasks:
        from .generate_report import compare_generate_markdown

        if tasks != {"generate"}:
            raise ValueError("compare: generate runs can only be compared with generate runs")
        md = compare_generate_markdown(runs)
        plots: Dict[str, Path] = {}
    else:
        md = compare_markdown(runs, only_common=not args.all_schemas)
        plots = plot_distributions(runs, args.out, only_common=not args.all_schemas)
    args.out.mkdir(parents=True, exist_ok=True)
    if plots:
        md += "\n## Plots\n\n" + "\n".join(f"![{k}]({p.name})" for k, p in plots.items()) + "\n"
    (args.out / "compare.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"written: {args.out / 'compare.md'}" + "".join(f", {p}" for p in plots.values()), file=sys.stderr)
    return 0


def cmd_engines() -> int:
    for name, reason in available_engines().items():
        print(f"{name:16} {'available' if reason is None else reason}")
    return 0


def cmd_generate(args: Any) -> int:
    """The ``generate`` subcommand."""
    from .generate_report import generate_markdown

    engine_class(args.engine)
    entries = select_entries(args, suite=False)
    args.tokenizer = args.model
    out = args.out or default_out("generate", args)
    config = RunConfig(
        task="generate",
        engine=args.engine,
        tokenizer=args.model,
        whitespace=args.whitespace,
        clock="wall",
        timeout_s=args.timeout,
        mem_limit_gb=0,
        jobs=1,
        options={"model": args.model, "max_tokens": args.max_tokens, "native": bool(args.native)},
        extra={
            "sample": args.sample,
            "seed": args.seed,
            "data": Path(resolve_data_dir(args.data)).name,
            "schemas": len(entries),
        },
    )
    run(
        entries,
        config,
        out,
        resume=args.resume,
        progress=progress_reporter(not args.no_progress, f"generate {args.engine}"),
    )
    md = generate_markdown(Run(out))
    md_path = Path(out).with_suffix(".md")
    md_path.write_text(md + "\n", encoding="utf-8")
    print(md)
    print(f"results: {out}\nsummary: {md_path}", file=sys.stderr)
    return 0
