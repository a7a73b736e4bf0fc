"""Mask and compile times for regexes and Lark grammars: constrain next to its peers.

Every engine runs in this one process, single-threaded, on the same tokenizer (Qwen2's
151,643-token BPE by default) and the same texts: each text is tokenized, and at every
token each engine fills a full next-token bitmask (timed) and then accepts the token. A
token an engine's mask does not allow, or a text it does not accept at the end, is counted
as an error for that engine, and that text's masks are left out of its figures. A second
table compares the engines on the same positions: the texts every engine accepted. Compile
time is the grammar compile plus the first mask; every engine first compiles and steps a
warm-up grammar that is not among the cases.

    python benchmarks/grammar_masks.py regex
    python benchmarks/grammar_masks.py lark

Peers: llguidance (regex and Lark), outlines-core (regex only). Missing peers are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import constrain  # noqa: E402

# (name, pattern, texts that fully match)
REGEXES = [
    ("date", r"\d{4}-\d{2}-\d{2}", ["2024-01-15", "1999-12-31"]),
    ("enum", r"(red|green|blue|yellow|purple|orange)", ["green", "purple"]),
    ("phone", r"\(\d{3}\) \d{3}-\d{4}", ["(555) 123-4567"]),
    ("email", r"[a-z0-9._%+-]{1,64}@[a-z0-9.-]{1,63}\.[a-z]{2,6}", ["jane.doe@example.com"]),
    (
        "sentence",
        r"[A-Z][a-z ,']{10,200}\.",
        ["The quick brown fox jumps over the lazy dog, and then it rests in the shade."],
    ),
    (
        "json_string",
        r'"([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"',
        ['"Hello, world! \\"quoted\\" text with a tab\\t and unicode caf\u00e9 \\u00e9"'],
    ),
]


def lark_cases():
    """(name, grammar text, accepted samples) for every library grammar with samples."""
    out = []
    for path in sorted((ROOT / "grammars").glob("*.lark")):
        samples = ROOT / "tests" / "data" / "grammars" / f"{path.stem}.json"
        if samples.exists():
            accept = json.loads(samples.read_text())["accept"]
            out.append((path.stem, path.read_text(), [s for s in accept if s]))
    return out


class Constrain:
    name = "constrain"

    def __init__(self, tokenizer):
        self.vocab = constrain.Vocabulary.from_transformers(tokenizer)

    def compile(self, kind, source):
        grammar = constrain.Grammar.from_regex(source) if kind == "regex" else constrain.Grammar.from_lark(source)
        return constrain.compile(grammar, self.vocab)

    def matcher(self, compiled):
        return constrain.Matcher(compiled)

    def fill(self, m, bitmask):
        m.fill_next_token_bitmask(bitmask)

    def accept(self, m, t):
        return m.accept_token(t)

    def done(self, m):
        return m.is_accepting()


class LLGuidance:
    name = "llguidance"

    def __init__(self, tokenizer):
        import llguidance
        import llguidance.hf

        self.llg = llguidance
        self.tok = llguidance.hf.from_tokenizer(tokenizer, n_vocab=len(tokenizer))

    def compile(self, kind, source):
        M = self.llg.LLMatcher
        grammar = M.grammar_from_regex(source) if kind == "regex" else M.grammar_from_lark(source)
        m = M(self.tok, grammar, log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return m

    def matcher(self, compiled):
        return compiled.deep_copy()

    def fill(self, m, bitmask):
        m.unsafe_compute_mask_ptr(bitmask.ctypes.data, bitmask.nbytes)

    def accept(self, m, t):
        return m.consume_token(t)

    def done(self, m):
        return m.is_accepting()


class OutlinesCore:
    name = "outlines-core"
    kinds = ("regex",)

    def __init__(self, tokenizer):
        import outlines_core

        self.oc = outlines_core
        vocab = constrain.Vocabulary.from_transformers(tokenizer)
        eos = min(vocab.eos_token_ids)
        by_bytes = {}
        for i, b in enumerate(vocab.token_bytes):
            if b:
                by_bytes.setdefault(b, []).append(i)
        self.vocabulary = outlines_core.Vocabulary(eos, by_bytes)

    def compile(self, kind, source):
        return self.oc.Index(source, self.vocabulary)

    def matcher(self, compiled):
        return self.oc.Guide(compiled)

    def fill(self, m, bitmask):
        m.write_mask_into(bitmask.ctypes.data, bitmask.shape[1], 4)

    def accept(self, m, t):
        try:
            m.advance(t, False)
        except ValueError:
            return False
        return True

    def done(self, m):
        return m.is_finished()


def allowed(bitmask, t):
    return bool((int(bitmask[0, t >> 5]) >> (t & 31)) & 1)


# Compiled and stepped once by every engine before anything is timed, so that one-time
# process costs (JIT compilation or loading, lazy imports) fall on none of the cases.
WARM_UP = {
    "regex": [r'"(\\u[0-9a-f]{4}|[^"\\])*"x{2,3}', r"(ab|cd)+[0-9]{1,2}"],
    "lark": ['start: item ("," item)*\nitem: NAME | "[" start "]"\nNAME: /[a-z]+/\n%ignore " "'],
}


def warm_up(engine, kind, tokenizer):
    bitmask = np.zeros((1, (len(tokenizer) + 31) // 32), dtype=np.int32)
    for source in WARM_UP[kind]:
        try:
            m = engine.matcher(engine.compile(kind, source))
            for t in tokenizer.encode("ab, [cd]", add_special_tokens=False):
                engine.fill(m, bitmask)
                engine.accept(m, t)
        except Exception:  # a peer that cannot take the warm-up grammar: its cases will say
            pass


def run_engine(engine, kind, cases, tokenizer, repeats):
    """Returns (masks: {(grammar, text index): mask times of the later passes, for texts the
    engine accepted}, compile times, errors, skipped grammars)."""
    warm_up(engine, kind, tokenizer)
    masks, compiles, errors, skipped = {}, [], 0, []
    bitmask = np.zeros((1, (len(tokenizer) + 31) // 32), dtype=np.int32)
    for name, source, texts in cases:
        try:
            t0 = time.perf_counter_ns()
            compiled = engine.compile(kind, source)
            engine.fill(engine.matcher(compiled), bitmask)
            compiles.append(time.perf_counter_ns() - t0)
        except Exception as e:  # a peer that cannot take this grammar
            skipped.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:80]}")
            continue
        for index, text in enumerate(texts):
            ids = tokenizer.encode(text, add_special_tokens=False)
            times = []
            for r in range(repeats):
                m = engine.matcher(compiled)
                ok = True
                for t in ids:
                    t0 = time.perf_counter_ns()
                    engine.fill(m, bitmask)
                    dt = time.perf_counter_ns() - t0
                    if r:  # the first pass warms caches; report the later ones
                        times.append(dt)
                    if not allowed(bitmask, t) or not engine.accept(m, t):
                        ok = False
                        break
                if r == 0 and not (ok and engine.done(m)):
                    errors += 1
                    break
            else:
                masks[(name, index)] = times
    return masks, compiles, errors, skipped


def pct(values, q):
    return float(np.percentile(np.asarray(values) / 1000.0, q)) if values else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["regex", "lark"])
    parser.add_argument("--tokenizer", default="qwen2", help="qwen2 (default) or smollm2")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)

    from jsonschemabench.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer)
    if args.kind == "regex":
        cases = REGEXES
    else:
        cases = lark_cases()
    engines = [Constrain(tokenizer)]
    for peer in (LLGuidance, OutlinesCore):
        if args.kind not in getattr(peer, "kinds", ("regex", "lark")):
            continue
        try:
            engines.append(peer(tokenizer))
        except ImportError as e:
            print(f"skipping {peer.name}: {e}", file=sys.stderr)
    print(
        f"{args.kind}: {len(cases)} grammars, tokenizer {args.tokenizer} ({len(tokenizer)} ids), "
        f"{platform.processor() or platform.machine()}, one thread\n"
    )
    print(
        "| engine | mask p50 (us) | mask p99 (us) | mask max (us) | compile p50 (ms) | compile max (ms) | masks | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for engine in engines:
        masks, compiles, errors, skipped = run_engine(engine, args.kind, cases, tokenizer, args.repeats)
        rows[engine.name] = (masks, compiles)
        times = [t for v in masks.values() for t in v]
        print(
            f"| {engine.name} | {pct(times, 50):.1f} | {pct(times, 99):.1f} | {pct(times, 100):.1f} | "
            f"{statistics.median(compiles) / 1e6 if compiles else float('nan'):.2f} | "
            f"{max(compiles) / 1e6 if compiles else float('nan'):.2f} | {len(times)} | {errors} |"
        )
        for s in skipped:
            print(f"  {engine.name} could not compile {s}", file=sys.stderr)
    # The same positions for every engine: the texts that all of them accepted.
    common = set.intersection(*(set(masks) for masks, _ in rows.values()))
    print(f"\nOn the {len(common)} texts every engine accepted:\n")
    print("| engine | mask p50 (us) | mask p99 (us) | mask max (us) | masks |")
    print("|---|---:|---:|---:|---:|")
    same = {}
    for name, (masks, _) in rows.items():
        same[name] = [t for key in sorted(common) for t in masks[key]]
        print(
            f"| {name} | {pct(same[name], 50):.1f} | {pct(same[name], 99):.1f} | {pct(same[name], 100):.1f} | {len(same[name])} |"
        )
    print("\nPer grammar, on the same texts (mask p50 / p99, us):\n")
    print("| grammar | texts | " + " | ".join(rows) + " |")
    print("|---|--:|" + "--:|" * len(rows))
    for grammar, _, _ in cases:
        keys = sorted(key for key in common if key[0] == grammar)
        cells = []
        for masks, _ in rows.values():
            times = [t for key in keys for t in masks[key]]
            cells.append(f"{pct(times, 50):.0f} / {pct(times, 99):.0f}")
        print(f"| {grammar} | {len(keys)} | " + " | ".join(cells) + " |")
    base = same["constrain"]
    print("\nratios peer / constrain on those texts (above 1: constrain is faster)")
    for name, (masks, compiles) in rows.items():
        if name == "constrain" or not same[name]:
            continue
        print(
            f"- {name}: mask p50 {pct(same[name], 50) / pct(base, 50):.2f}x, p99 {pct(same[name], 99) / pct(base, 99):.2f}x, "
            f"compile p50 {statistics.median(compiles) / statistics.median(rows['constrain'][1]):.2f}x"
        )


if __name__ == "__main__":
    main()
