"""Profile terminal DFA construction on JSON Schema Bench schemas.

Usage::

    PYTHONPATH=. python benchmarks/compile_profile.py DATA_DIR [--n 80] [--seed 3] [--profile]

``DATA_DIR`` holds one folder per split of JSON Schema Bench, each file a JSON object with a
``"schema"`` key. The script compiles ``--n`` schemas (shuffled with ``--seed``) against the
Qwen2 vocabulary and reports:

* the total compile time (wall and CPU seconds; the machine may be shared, so CPU time is
  the steadier number) and the CPU time spent in ``regex_to_dfa`` calls made by ``compile``
  (caches warm across schemas, as in a real process);
* per-terminal ``regex_to_dfa`` timings: every regex that ``constrain.compile`` asked for,
  rebuilt one by one from an empty cache (sum, p50, p90, p99, max and the slowest ones).
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import json
import os
import pstats
import random
import statistics
import time

import constrain
from constrain.automata import lowering as lowering_module
from constrain.automata import fsm
from constrain.testing import qwen2_vocabulary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the compile loop")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.data_dir, "*", "*.json")))
    random.Random(args.seed).shuffle(files)
    schemas = []
    for f in files[: args.n]:
        with open(f, encoding="utf-8") as fh:
            schemas.append(json.load(fh)["schema"])
    vocab = qwen2_vocabulary()
    warm = {"type": "object", "properties": {"a": {"type": "string"}}}
    constrain.compile(constrain.Grammar.from_json_schema(warm), vocab)  # JIT-compiles the kernels

    asked = []
    spent = []
    real = lowering_module.regex_to_dfa

    def spy(regex, **kw):
        asked.append((regex, kw.get("max_states", constrain.config.DEFAULT_LIMITS.max_dfa_states)))
        t = time.process_time()
        try:
            return real(regex, **kw)
        finally:
            spent.append(time.process_time() - t)

    def run() -> int:
        failures = 0
        for s in schemas:
            try:
                g = constrain.Grammar.from_json_schema(s)
                c = constrain.compile(g, vocab)
                m = constrain.Matcher(c)
                bm = constrain.allocate_token_bitmask(1, vocab.size)
                m.fill_next_token_bitmask(bm)
            except constrain.ConstrainError:
                failures += 1
        return failures

    fsm.regex_to_dfa.cache_clear()
    lowering_module.regex_to_dfa = spy
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        if args.profile:
            prof = cProfile.Profile()
            failures = prof.runcall(run)
        else:
            failures = run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        lowering_module.regex_to_dfa = real
    print(
        f"compile loop: {len(schemas)} schemas ({failures} raised ConstrainError): "
        f"wall {wall:.2f} s, cpu {cpu:.2f} s; in regex_to_dfa: cpu {sum(spent):.2f} s over {len(spent)} calls "
        f"(max {max(spent) * 1e3:.1f} ms)"
    )
    if args.profile:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)

    seen = set()
    times = []
    for regex, max_states in asked:
        if (regex, max_states) in seen:
            continue
        seen.add((regex, max_states))
        fsm.regex_to_dfa.cache_clear()
        t = time.process_time()
        try:
            d = fsm.regex_to_dfa(regex, max_states=max_states)
            n = d.num_states
        except constrain.ConstrainError as e:
            n = type(e).__name__
        times.append((time.process_time() - t, n, regex))
    ts = sorted(t for t, _, _ in times)
    q = statistics.quantiles(ts, n=100) if len(ts) > 1 else ts * 99
    print(
        f"per-terminal regex_to_dfa, cold cache: {len(ts)} regexes, sum {sum(ts):.2f} s, "
        f"p50 {q[49] * 1e3:.2f} ms, p90 {q[89] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms, "
        f"max {ts[-1] * 1e3:.1f} ms"
    )
    for t, n, regex in sorted(times, key=lambda x: -x[0])[: args.top]:
        print(f"  {t * 1e3:8.1f} ms  states={n}  {repr(regex)[:150]}")


if __name__ == "__main__":
    main()
