"""Cost of the matcher's verbs along real documents, next to a full mask.

    python benchmarks/matcher_ops.py

For each text (the three longest samples of each library grammar under tests/data/grammars)
it tokenizes with Qwen2, then times each verb at every position (one thread, wall clock).
First as a decoding loop meets the positions: the next-token mask (it may build memos),
accept_token of the next token (it may build a lexer), rollback(1), the same accept_token
again, and fork(). Then along the text again: the mask (not copied from the last one),
try_token of the next token and, after the same mask, accept_token + rollback(1) of it,
try_token of a random token, try_tokens of 8 candidates (the next token and 7 random; the
time per candidate), validate_tokens, accept_tokens + rollback and the draft masks of the
next 4 tokens, and find_jump_forward_bytes. Last, the batch filler:
16 matchers of one text filled one by one and from a BatchMatcher of 2 threads.
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
from constrain.automata.batch import BatchMatcher  # noqa: E402
from constrain.grammar.loader import load_grammar  # noqa: E402

DRAFT = 4
CANDIDATES = 8


def _timed(call):
    t0 = time.perf_counter_ns()
    call()
    return time.perf_counter_ns() - t0


def main():
    from jsonschemabench.tokenizer import load_tokenizer

    tokenizer = load_tokenizer("qwen2")
    vocab = constrain.Vocabulary.from_transformers(tokenizer)
    cases = []
    for path in sorted((ROOT / "tests" / "data" / "grammars").glob("*.json")):
        samples = json.loads(path.read_text())["accept"]
        cases.append((path.stem, sorted(samples, key=len)[-3:]))
    rng = np.random.default_rng(0)
    times = {
        name: []
        for name in (
            "fill_next_token_bitmask (first visit)",
            "accept_token (first visit)",
            "rollback(1)",
            "accept_token (again)",
            "fork",
            "fill_next_token_bitmask (again)",
            "try_token (next token)",
            "accept_token + rollback(1) (next token)",
            "try_token (random token)",
            f"try_tokens ({CANDIDATES} candidates), per candidate",
            f"validate_tokens ({DRAFT} tokens)",
            f"accept_tokens ({DRAFT} tokens) + rollback",
            f"fill_next_token_bitmasks_for_draft ({DRAFT} tokens)",
            "find_jump_forward_bytes",
        )
    }
    batch_times = {"16 masks one by one": [], "16 masks, BatchMatcher(2)": []}
    bitmask = constrain.allocate_token_bitmask(DRAFT + 1, vocab.size)
    batch_mask = constrain.allocate_token_bitmask(16, vocab.size)
    pool = BatchMatcher(2)
    for name, texts in cases:
        compiled = constrain.compile(load_grammar(name), vocab)
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=False)
            # First pass, as a decoding loop meets each position: the mask (it may build
            # memos), accept_token (it may build a lexer), rollback, accept again, fork.
            m = constrain.Matcher(compiled)
            positions = []
            for t in ids:
                times["fill_next_token_bitmask (first visit)"].append(
                    _timed(lambda: m.fill_next_token_bitmask(bitmask))
                )
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
                positions.append(len(positions) + 1)  # tokens accepted there
                times["accept_token (first visit)"].append(t1 - t0)
                times["rollback(1)"].append(t2 - t1)
                times["accept_token (again)"].append(t3 - t2)
                times["fork"].append(t4 - t3)
            # Second pass, memos built: the mask again, and the verbs of samplers and
            # speculative decoding.
            m = constrain.Matcher(compiled)
            for i, t in enumerate(ids[: len(positions)]):
                draft = ids[i : i + DRAFT]
                candidates = [t] + rng.integers(0, vocab.size, CANDIDATES - 1).tolist()
                other = int(candidates[1])
                m._last_mask = None  # a new mask, not the copy of the last one
                times["fill_next_token_bitmask (again)"].append(_timed(lambda: m.fill_next_token_bitmask(bitmask)))
                times["try_token (next token)"].append(_timed(lambda: m.try_token(t)))
                # What try_token saves: the same check by accepting and rolling back, after the
                # same mask walk (which leaves the same scratch sets behind).
                m._last_mask = None
                m.fill_next_token_bitmask(bitmask)
                times["accept_token + rollback(1) (next token)"].append(
                    _timed(lambda: m.accept_token(t) and m.rollback(1))
                )
                times["try_token (random token)"].append(_timed(lambda: m.try_token(other)))
                times[f"try_tokens ({CANDIDATES} candidates), per candidate"].append(
                    _timed(lambda: m.try_tokens(candidates)) / CANDIDATES
                )
                times[f"validate_tokens ({DRAFT} tokens)"].append(_timed(lambda: m.validate_tokens(draft)))
                times[f"accept_tokens ({DRAFT} tokens) + rollback"].append(
                    _timed(lambda: m.rollback(m.accept_tokens(draft)))
                )
                times[f"fill_next_token_bitmasks_for_draft ({DRAFT} tokens)"].append(
                    _timed(lambda: m.fill_next_token_bitmasks_for_draft(bitmask, draft))
                )
                times["find_jump_forward_bytes"].append(_timed(m.find_jump_forward_bytes))
                assert m.accept_token(t)
            for start in range(0, len(positions) - 15, 16):
                group = [_matcher_at(compiled, ids[:n]) for n in positions[start : start + 16]]
                batch_times["16 masks one by one"].append(
                    _timed(lambda: [g.fill_next_token_bitmask(batch_mask, r) for r, g in enumerate(group)])
                )
                group = [_matcher_at(compiled, ids[:n]) for n in positions[start : start + 16]]
                batch_times["16 masks, BatchMatcher(2)"].append(
                    _timed(lambda: pool.fill_next_token_bitmasks(group, batch_mask))
                )
    pool.close()
    print(f"{len(cases)} grammars, {len(times['fork'])} positions, Qwen2 vocabulary, one thread\n")
    _table("verb", times)
    print(f"\n{len(batch_times['16 masks one by one'])} batches of 16 positions of one text\n")
    _table("batch", batch_times)


def _matcher_at(compiled, ids):
    m = constrain.Matcher(compiled)
    assert m.accept_tokens(ids) == len(ids)
    return m


def _table(what, times):
    print(f"| {what} | p50 (us) | p99 (us) | max (us) |")
    print("|---|---:|---:|---:|")
    for verb, values in times.items():
        v = np.asarray(values) / 1000.0
        print(f"| {verb} | {np.percentile(v, 50):.1f} | {np.percentile(v, 99):.1f} | {v.max():.1f} |")


if __name__ == "__main__":
    main()
