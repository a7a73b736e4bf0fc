"""Worker processes that judge one schema at a time under a time and memory limit.

Each worker is a spawned process that loads the tokenizer and builds the engine once, then
takes schemas one by one. A schema that runs past ``timeout_s`` gets its worker killed
(``timeout``); a worker that dies (segfault, abort, out-of-memory kill) yields ``crash``; in
both cases a fresh worker takes the next schema, so the run goes on. Results are appended to a
JSONL file as they arrive (a header line, then one line per schema), so an interrupted run
resumes where it stopped (``resume=True`` skips the ids already in the file). The workers'
stderr goes to a ``.log`` file next to the results.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from .dataset import Entry, load_item
from .engines import Whitespace
from .masks import Clock, warm_up
from .outcomes import OUTCOMES

#: Thread-pool sizes of every library an engine may use; engines run single-threaded.
SINGLE_THREAD_ENV = {
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

STARTUP_TIMEOUT_S = 600.0


@dataclass
class RunConfig:
    """What a worker needs to judge schemas; everything here goes into the results header.

    Attributes:
        task: ``"masks"`` or ``"suite"`` (both use the MaskBench procedure).
        engine: engine spec (see :func:`jsonschemabench.engines.engine_class`).
        tokenizer: tokenizer spec (see :func:`jsonschemabench.tokenizer.load_tokenizer`).
        whitespace: ``"compact"`` or ``"flexible"``.
        clock: ``"wall"`` or ``"thread"``.
        timeout_s: wall-clock seconds one schema may take (compile and all its instances).
        mem_limit_gb: address-space limit of a worker (``RLIMIT_AS``), GiB; 0 for none.
        jobs: worker processes run at once.
        options: task options that a resumed run must share (``generate``: model, max_tokens).
        extra: anything else to record in the header (sample, seed, data, ...).
    """

    task: str = "masks"
    engine: str = "constrain"
    tokenizer: str = "qwen2"
    whitespace: Whitespace = "compact"
    clock: Clock = "wall"
    timeout_s: float = 120.0
    mem_limit_gb: float = 16.0
    jobs: int = 1
    options: Dict[str, Any] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)

    #: header fields that must match for --resume to append to a file
    IDENTITY = ("task", "engine", "tokenizer", "whitespace", "clock", "options")


def _set_memory_limit(gb: float) -> None:
    if gb and gb > 0 and sys.platform.startswith("linux"):
        import resource

        limit = int(gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker_main(conn: Connection, config: RunConfig, log_path: Optional[str] = None) -> None:
    """The body of a worker process: build the engine, then judge what arrives.

    With ``log_path``, the worker's stderr (engines' native warnings, panics) goes there.
    """
    os.environ.update(SINGLE_THREAD_ENV)
    # Ctrl-C reaches the whole process group; the parent stops the run and kills workers, so
    # a worker must not turn it into a "crash" record that --resume would then skip.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log_path:
        with open(log_path, "ab") as log:
            os.dup2(log.fileno(), 2)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)
    try:
        _set_memory_limit(config.mem_limit_gb)
        job = _make_job(config)
        if "torch" in sys.modules:  # only when an engine needed it: importing torch costs seconds
            sys.modules["torch"].set_num_threads(1)
        conn.send(("ready", job.describe()))
    except BaseException as exc:  # report why the worker cannot start, then stop
        conn.send(("init_error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        try:
            result = job(item)
        except MemoryError as exc:
            result = {
                "record": "schema",
                "id": item["id"],
                "split": item["split"],
                "outcome": "limit",
                "detail": f"MemoryError: {exc}",
            }
        except BaseException as exc:
            result = {
                "record": "schema",
                "id": item["id"],
                "split": item["split"],
                "outcome": "crash",
                "detail": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)[-2000:],
            }
        conn.send(("result", result))


class _MaskJob:
    """The MaskBench procedure with one engine (tasks ``masks`` and ``suite``)."""

    def __init__(self, config: RunConfig) -> None:
        from .engines import engine_class
        from .tokenizer import load_tokenizer

        tokenizer = load_tokenizer(config.tokenizer)
        self.engine = engine_class(config.engine)(tokenizer, whitespace=config.whitespace)
        self.clock = config.clock
        self.first_mask_only = bool(config.options.get("first_mask_only", False))
        warm_up(self.engine)

    def describe(self) -> Dict[str, Any]:
        return {**self.engine.describe(), "vocab_size": self.engine.vocab_size}

    def __call__(self, item: Dict[str, Any]) -> Dict[str, Any]:
        from .masks import run_schema

        return run_schema(self.engine, item, clock=self.clock, first_mask_only=self.first_mask_only)


def _make_job(config: RunConfig) -> Any:
    if config.task == "generate":
        from .generate import GenerateJob

        o = config.options
        return GenerateJob(
            config.engine,
            model=o["model"],
            max_tokens=o["max_tokens"],
            whitespace=config.whitespace,
            native=o.get("native", False),
        )
    return _MaskJob(config)


class WorkerStartError(RuntimeError):
    """A worker could not build its engine (missing package, bad tokenizer, ...)."""


class _Worker:
    def __init__(self, ctx: Any, config: RunConfig, log_path: Optional[str] = None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, config, log_path), daemon=True)
        self.process.start()
        child.close()
        self.item: Optional[Dict[str, Any]] = None
        self.deadline = 0.0
        self.started = 0.0

    def wait_ready(self, timeout: float) -> Dict[str, Any]:
        if not self.conn.poll(timeout):
            self.kill()
            raise WorkerStartError(f"the worker did not start within {timeout:.0f} s")
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            code = self.process.exitcode
            self.kill()
            raise WorkerStartError(f"the worker died while starting ({_exit_reason(code)})")
        if kind != "ready":
            self.kill()
            raise WorkerStartError(payload)
        info: Dict[str, Any] = payload  # the worker's engine description
        return info

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(5)
        self.kill()


def _exit_reason(code: Optional[int]) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: out of memory?)" if -code == signal.SIGKILL else ""
        return f"{name}{hint}"
    return f"exit code {code}"


def read_results(path: Path) -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]]]:
    """The header and schema records of a results file; a torn last line is ignored."""
    header: Optional[Dict[str, Any]] = None
    records: List[Dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # written partially when the run was interrupted
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            if obj.get("record") == "run":
                header = header or obj
            elif obj.get("record") == "schema":
                records.append(obj)
    return header, records


def _truncate_torn_line(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)


def _check_resumable(header: Optional[Dict[str, Any]], config: RunConfig, path: Path) -> None:
    if header is None:
        return
    wanted = asdict(config)
    diffs = [
        f"{k}: file has {header.get(k)!r}, this run {wanted[k]!r}"
        for k in RunConfig.IDENTITY
        if header.get(k) != wanted[k]
    ]
    if diffs:
        raise ValueError(f"cannot resume {path}: " + "; ".join(diffs))


Progress = Callable[[Dict[str, Any]], None]


def run(
    entries: List[Entry],
    config: RunConfig,
    out: Path,
    resume: bool = False,
    progress: Optional[Callable[[int, int], Progress]] = None,
    loader: Callable[[Entry], Dict[str, Any]] = load_item,
) -> Path:
    """Judge every entry and append its record to ``out``.

    Args:
        entries: the schemas, in the order they are handed out.
        config: engine, tokenizer, limits.
        out: the JSONL results file.
        resume: append to an existing ``out``, skipping ids already there; otherwise an
            existing file is an error.
        progress: called once as ``progress(done, total)``; returns a callback given each new
            record (for a progress bar).
        loader: turns an entry into the item sent to a worker.

    Returns:
        ``out``.

    Raises:
        FileExistsError: ``out`` exists and ``resume`` is False.
        ValueError: resuming a file written with another engine, tokenizer, whitespace or clock.
        WorkerStartError: the engine cannot be built at all.
    """
    out = Path(out)
    done_ids: Set[str] = set()
    header: Optional[Dict[str, Any]] = None
    if out.exists():
        if not resume:
            raise FileExistsError(f"{out} exists; pass --resume to continue it, or remove it")
        _truncate_torn_line(out)
        header, previous = read_results(out)
        _check_resumable(header, config, out)
        done_ids = {r["id"] for r in previous}
    out.parent.mkdir(parents=True, exist_ok=True)
    todo: Deque[Entry] = deque(e for e in entries if e.id not in done_ids)
    on_record = progress(len(entries) - len(todo), len(entries)) if progress else None
    if not todo:
        return out

    os.environ.update(SINGLE_THREAD_ENV)  # inherited by the spawned workers
    ctx = mp.get_context("spawn")
    jobs = max(1, min(config.jobs, len(todo)))
    workers: List[Optional[_Worker]] = [None] * jobs
    engine_info: Dict[str, Any] = {}

    log_path = str(out.with_suffix(".log"))

    def start_worker() -> _Worker:
        worker = _Worker(ctx, config, log_path)
        info = worker.wait_ready(STARTUP_TIMEOUT_S)
        engine_info.update(info)
        return worker

    with open(out, "a", encoding="utf-8") as fh:

        def emit(record: Dict[str, Any]) -> None:
            assert record["outcome"] in OUTCOMES, record["outcome"]
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            if on_record:
                on_record(record)

        try:
            workers[0] = start_worker()
            if header is None:
                header = {
                    "record": "run",
                    **{k: v for k, v in asdict(config).items() if k != "extra"},
                    **config.extra,
                    "engine_info": engine_info,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "python": sys.version.split()[0],
                    "platform": sys.platform,
                    "cpu_count": os.cpu_count(),
                }
                fh.write(json.dumps(header, ensure_ascii=False) + "\n")
                fh.flush()
            while todo or any(w is not None and w.item is not None for w in workers):
                for i in range(jobs):
                    if not todo:
                        break
                    w = workers[i]
                    if w is not None and w.item is not None:
                        continue
                    if w is None or not w.process.is_alive():
                        workers[i] = w = start_worker()
                    entry = todo.popleft()
                    item = loader(entry)
                    w.item = {"id": entry.id, "split": entry.split}
                    w.started = time.monotonic()
                    w.deadline = w.started + config.timeout_s
                    w.conn.send(item)
                busy = [w for w in workers if w is not None and w.item is not None]
                if not busy:
                    continue
                timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
                for idx, w in enumerate(workers):
                    if w is None or w.item is None:
                        continue
                    if w.conn in ready or w.process.sentinel in ready:
                        got = None
                        try:
                            if w.conn.poll():
                                kind, got = w.conn.recv()
                        except (EOFError, OSError):
                            got = None
                        if got is not None:
                            got["wall_s"] = round(time.monotonic() - w.started, 4)
                            w.item = None
                            emit(got)
                            continue
                        if not w.process.is_alive():
                            w.process.join(1)
                            reason = _exit_reason(w.process.exitcode)
                            emit(
                                {
                                    "record": "schema",
                                    **w.item,
                                    "outcome": "crash",
                                    "detail": f"worker died: {reason}",
                                    "wall_s": round(time.monotonic() - w.started, 4),
                                }
                            )
                            w.item = None
                            w.kill()
                            workers[idx] = None
                            continue
                    if time.monotonic() >= w.deadline:
                        emit(
                            {
                                "record": "schema",
                                **w.item,
                                "outcome": "timeout",
                                "detail": f"no result within {config.timeout_s:g} s",
                                "wall_s": round(time.monotonic() - w.started, 4),
                            }
                        )
                        w.item = None
                        w.kill()
                        workers[idx] = None
        finally:
            for w in workers:
                if w is not None:
                    if w.item is None:
                        w.stop()
                    else:
                        w.kill()
    return out
