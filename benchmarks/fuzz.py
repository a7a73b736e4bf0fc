"""Long fuzzing campaigns: the cases of ``tests/fuzz/fuzzcases.py``, in worker processes under
a time and a memory limit per case.

Usage::

    PYTHONPATH=. python benchmarks/fuzz.py --minutes 60 [--workers 2] [--kinds regex,schema,...]
        [--first-seed 1000000] [--memory-gb 4] [--out results.json]

Each worker runs cases one after another (``kind``, ``seed``) with its address space capped
(``RLIMIT_AS``); the parent gives each case ``fuzzcases.CASE_SECONDS`` plus a margin. A case
ends as ``compiled``, as a library error (its class name), or as a failure: ``contract`` (a
wrong accept, an oracle disagreement, a dead end), ``crash`` (another exception), ``hang``
(past the time limit: the worker is killed) or ``died`` (the worker exited, e.g. out of
memory). The summary counts outcomes per kind and lists every failure with its seed;
``fuzzcases.run_case(kind, seed)`` reproduces one. The exit status is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import selectors
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))

WORKER = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.path.insert(0, sys.argv[2])
from fuzzcases import run_case
for line in sys.stdin:
    kind, seed = line.split()
    o = run_case(kind, int(seed))
    print(json.dumps({"kind": o.kind, "seed": o.seed, "result": o.result, "failure": o.failure,
                      "source": o.source[:2000], "seconds": round(o.seconds, 3)}), flush=True)
"""


class Worker:
    def __init__(self, memory: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(memory), os.path.join(ROOT, "tests", "fuzz")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.case = None
        self.started = 0.0

    def send(self, kind: str, seed: int) -> None:
        self.case = (kind, seed)
        self.started = time.monotonic()
        self.proc.stdin.write(f"{kind} {seed}\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def main() -> int:
    from fuzzcases import CASE_SECONDS, KINDS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--first-seed", type=int, default=1_000_000, help="seeds count up from here, per kind")
    ap.add_argument("--memory-gb", type=float, default=4.0)
    ap.add_argument("--out", help="write every outcome as JSON here")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    memory = int(args.memory_gb * 2**30)
    timeout = CASE_SECONDS + 30  # the worker's own check reports slow cases; this catches hangs

    next_seed = {k: args.first_seed for k in kinds}
    turn = [0]

    def next_case():
        kind = kinds[turn[0] % len(kinds)]
        turn[0] += 1
        seed = next_seed[kind]
        next_seed[kind] += 1
        return kind, seed

    end = time.monotonic() + 60 * args.minutes
    outcomes = []
    sel = selectors.DefaultSelector()
    workers = []

    def start_worker():
        w = Worker(memory)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        w.send(*next_case())
        workers.append(w)

    def replace(w, result):
        kind, seed = w.case
        outcomes.append(
            {
                "kind": kind,
                "seed": seed,
                "result": result,
                "failure": result,
                "source": "",
                "seconds": round(time.monotonic() - w.started, 3),
            }
        )
        sel.unregister(w.proc.stdout)
        w.kill()
        workers.remove(w)
        if time.monotonic() < end:
            start_worker()

    for _ in range(args.workers):
        start_worker()
    while workers:
        for key, _ in sel.select(timeout=1.0):
            w = key.data
            line = w.proc.stdout.readline()
            if not line:
                replace(w, "died")
                continue
            # One line per case, and the next case is sent only after it is read: the
            # reader's buffer never holds a line the selector would not report.
            outcomes.append(json.loads(line))
            if time.monotonic() < end:
                w.send(*next_case())
            else:
                sel.unregister(w.proc.stdout)
                w.kill()
                workers.remove(w)
        for w in list(workers):
            if time.monotonic() - w.started > timeout:
                replace(w, "hang")

    table = collections.defaultdict(collections.Counter)
    failures = [o for o in outcomes if o["failure"]]
    for o in outcomes:
        table[o["kind"]]["failure" if o["failure"] else o["result"]] += 1
    print(f"{len(outcomes)} cases in {args.minutes:g} min, {args.workers} workers, seeds from {args.first_seed}")
    for kind in kinds:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(table[kind].items()))
        print(f"  {kind}: {sum(table[kind].values())} cases: {counts}")
    slowest = max(outcomes, key=lambda o: o["seconds"], default=None)
    if slowest:
        print(f"  slowest case: {slowest['kind']} seed {slowest['seed']}, {slowest['seconds']:.1f} s")
    print(f"failures: {len(failures)}")
    for o in failures:
        print(f"  {o['kind']} seed {o['seed']}: {o['result']}: {str(o['failure'])[:300]}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(outcomes, fh, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
