"""Infilling: the admissibility check per proposal, and the diffusion loop on the tiny model.

    python benchmarks/infill_bench.py check   # check time per proposal, by grammar and canvas
    python benchmarks/infill_bench.py tiny    # syntax errors and time, free vs constrained
    python benchmarks/infill_bench.py template  # SmolLM2 filling JSON templates

``check``: texts of three grammars (a JSON Schema, the C-like and SMILES grammars of
``grammars/``) are tokenized with Qwen2's tokenizer and laid in canvases of 64, 128 and 256
slots (EOS after the text); 1 to 4 regions of slots are masked, and a proposal is a masked
position with the text's own token (admissible) or a random token (mostly not), checked by
``DiffusionConstraint.admits`` with one second per check (past it, a rejection; counted).

``tiny``: ``constrain.diffusion.generate`` with the shipped tiny model over seeds, with no
constraint and with the constraint, on its two tags (``json:`` with ``{"type": "object"}`` and
``expr:`` with the arithmetic grammar).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import constrain  # noqa: E402
from constrain.config import Limits  # noqa: E402
from constrain.diffusion import DiffusionConstraint, generate  # noqa: E402
from constrain.grammar.loader import load_grammar  # noqa: E402

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
TEXTS = {
    "json_schema": [
        '{"name":"Ada Lovelace","age":36,"tags":["math","poetry"]}',
        '{"name":"x","age":-7}',
        '{"name":"Bo","age":120,"tags":[]}',
    ],
    "c_like": [
        "int f() { a = b = c; x += y << 2 | z & ~w; return !x && (y || z); }",
        "const int k = 3;\nint main() {\n  for (int i = 0; i < k; ++i) {}\n  return 0;\n}\n",
    ],
    "smiles": ["CC(=O)Oc1ccccc1C(=O)O", "N[C@H](C)C(=O)O", "C1CCCCC1O"],
}


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_check(seed: int, only=()) -> None:
    from constrain.testing import qwen2_hf_tokenizer, qwen2_vocabulary

    vocab = qwen2_vocabulary()
    tokenizer = qwen2_hf_tokenizer()
    limits = Limits(max_infill_seconds=1.0)
    eos = min(vocab.eos_token_ids)
    rng = random.Random(seed)
    print("| grammar | canvas | gaps | proposals | admitted | p50 ms | p99 ms | max ms | limits |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, texts in TEXTS.items():
        if only and name not in only:
            continue
        grammar = constrain.Grammar.from_json_schema(PERSON) if name == "json_schema" else load_grammar(name)
        plugin = DiffusionConstraint(constrain.compile(grammar, vocab, limits=limits))
        for size in (64, 128, 256):
            for gaps in (1, 2, 3, 4):
                times, admitted, limited = [], 0, 0
                for text in texts:
                    ids = tokenizer.encode(text)[: size - 1]
                    row = ids + [eos] * (size - len(ids))
                    for _ in range(3):
                        canvas = list(row)
                        # gaps regions over the text and the start of the EOS tail
                        span = len(ids) + 4
                        cuts = sorted(rng.sample(range(span), k=min(span, 2 * gaps)))
                        for a, b in zip(cuts[::2], cuts[1::2]):
                            for p in range(a, b + 1):
                                canvas[p] = None
                        masked = [p for p in range(size) if canvas[p] is None]
                        if not masked:
                            continue
                        pos = rng.choice(masked)
                        for token in (row[pos], rng.randrange(151_643)):
                            started = time.perf_counter()
                            parts = plugin.checker.slot_canvas([*canvas[:pos], token, *canvas[pos + 1 :]], vocab)
                            try:
                                ok = parts is not None and plugin.checker.is_admissible(parts)
                            except constrain.ResourceLimitError:
                                ok = False
                                limited += 1
                            times.append((time.perf_counter() - started) * 1e3)
                            admitted += ok
                print(
                    f"| {name} | {size} | {gaps} | {len(times)} | {admitted} | {percentile(times, 0.5):.2f} | "
                    f"{percentile(times, 0.99):.1f} | {max(times):.1f} | {limited} |",
                    flush=True,
                )


def valid(grammar_compiled, text: str) -> bool:
    m = constrain.Matcher(grammar_compiled)
    return m.accept_bytes(text.encode()) and m.is_accepting()


def bench_tiny(seeds: int) -> None:
    from constrain.diffusion.tiny import tiny_vocabulary

    vocab = tiny_vocabulary()
    cases = [
        ("json:", {"schema": {"type": "object"}}, constrain.Grammar.from_json_schema({"type": "object"})),
        ("expr:", {"grammar": load_grammar("arithmetic")}, load_grammar("arithmetic")),
    ]
    print("| tag | decoding | runs | finished | valid of finished | rejected / run | s / run |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for tag, constraint, grammar in cases:
        compiled = constrain.compile(grammar, vocab)
        for label, kwargs in (("free", {}), ("constrained", constraint)):
            finished, ok, rejected, seconds = 0, 0, 0, 0.0
            for seed in range(seeds):
                started = time.perf_counter()
                result = generate(tag, length=48, seed=seed, temperature=1.0, max_retries=400, **kwargs)
                seconds += time.perf_counter() - started
                rejected += result.rejected
                if result.finish_reason == "eos":
                    finished += 1
                    ok += valid(compiled, result.text)
            print(
                f"| {tag} | {label} | {seeds} | {finished} | {ok}/{finished} | {rejected / seeds:.1f} | "
                f"{seconds / seeds:.2f} |",
                flush=True,
            )


def bench_template(runs: int) -> None:
    from constrain.infill import generate_template
    from constrain.lm import load_default_model

    model, tokenizer = load_default_model()
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "city": {"type": "string", "maxLength": 20},
        },
        "required": ["name", "age", "city"],
        "additionalProperties": False,
    }
    grammar = constrain.Grammar.from_json_schema(schema)
    prompts = [
        "Invent a person.",
        "Describe a scientist as JSON.",
        "A customer record, please.",
        "Make up a pirate.",
        "Who is your favourite author?",
    ]
    ok, finished, seconds = 0, 0, 0.0
    for i in range(runs):
        started = time.perf_counter()
        result = generate_template(
            prompts[i % len(prompts)],
            '{"name":"<gap>","age":<gap>,"city":"<gap>"}',
            model=model,
            tokenizer=tokenizer,
            grammar=grammar,
            max_gap_tokens=12,
            temperature=0.7 if i >= len(prompts) else 0.0,
            seed=i,
        )
        seconds += time.perf_counter() - started
        if result.finish_reason == "eos":
            finished += 1
            try:
                import jsonschema

                jsonschema.validate(json.loads(result.text), schema)
                ok += 1
            except Exception:  # noqa: BLE001 - counted as invalid
                pass
        print(f"  {result.finish_reason}: {result.text}", file=sys.stderr)
    print(f"| SmolLM2 template | {runs} | {finished} | {ok}/{finished} | {seconds / runs:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("check", "tiny", "template"))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=(), help="grammars of the check table")
    args = parser.parse_args()
    if args.what == "check":
        bench_check(args.seed, args.only)
    elif args.what == "tiny":
        bench_tiny(args.seeds)
    else:
        bench_template(args.seeds)


if __name__ == "__main__":
    main()
