"""Cost of the matcher's verbs along real documents: accept_token, rollback, fork.

    python benchmarks/matcher_ops.py

For each text (JSON documents under grammars/json.lark, and library grammar samples) it
tokenizes with Qwen2, then times each verb at every position (one thread, wall clock):
accept_token of the next token (the first time: it may build a lexer), rollback(1), the same
accept_token again, and fork().
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import constrain  # noqa: E402
from constrain.grammar.loader import load_grammar  # noqa: E402


def main():
    from jsonschemabench.tokenizer import load_tokenizer

    tokenizer = load_tokenizer("qwen2")
    vocab = constrain.Vocabulary.from_transformers(tokenizer)
    cases = []
    for path in sorted((ROOT / "tests" / "data" / "grammars").glob("*.json")):
        samples = json.loads(path.read_text())["accept"]
        cases.append((path.stem, sorted(samples, key=len)[-3:]))
    times = {"accept_token": [], "rollback(1)": [], "accept_token (again)": [], "fork": []}
    for name, texts in cases:
        compiled = constrain.compile(load_grammar(name), vocab)
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=False)
            m = constrain.Matcher(compiled)
            for t in ids:
                t0 = time.perf_counter_ns()
                ok = m.accept_token(t)
                t1 = time.perf_counter_ns()
                if not ok:
                    break
                m.rollback(1)
                t2 = time.perf_counter_ns()
                m.accept_token(t)
                t3 = time.perf_counter_ns()
                twin = m.fork()
                t4 = time.perf_counter_ns()
                del twin
                times["accept_token"].append(t1 - t0)
                times["rollback(1)"].append(t2 - t1)
                times["accept_token (again)"].append(t3 - t2)
                times["fork"].append(t4 - t3)
    print(f"{len(cases)} grammars, {len(times['fork'])} positions, Qwen2 vocabulary, one thread\n")
    print("| verb | p50 (us) | p99 (us) | max (us) |")
    print("|---|---:|---:|---:|")
    for verb, values in times.items():
        v = np.asarray(values) / 1000.0
        print(f"| {verb} | {np.percentile(v, 50):.1f} | {np.percentile(v, 99):.1f} | {v.max():.1f} |")


if __name__ == "__main__":
    main()
