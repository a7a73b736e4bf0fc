"""How close each sampler's outputs come to the exact constrained distribution, on the real model.

    python benchmarks/fidelity.py [--samples 2000] [--runs 40] [--out results/fidelity]

For each language (the GAD paper's skewed binary languages, a small enumerable JSON Schema and
a small Lark grammar) and the default model (SmolLM2-135M-Instruct, bf16, one thread, temperature
1), the exact distribution ``pi`` over strings is enumerated (``constrain.testing.
exact_distribution``), then:

* LCD, AWRS (unweighted) and ASAp draw ``--samples`` outputs; the total-variation distance and
  KL(empirical || pi) of the first N outputs are reported for N = 50 ... samples (ASAp also over
  its last quarter, the GAD paper's window), with the mean ``pi(x)`` of the outputs against the
  ideal ``sum pi^2`` (the GAD paper's "expectation");
* SMC with AWRS and LCD proposals at 1, 2, 4, 8 and 16 particles, ``--runs`` runs each: TV of the
  pooled posterior, and ``mean exp(log_ml)`` against the exact ``Z`` (in standard errors);
* the noise floor: the expected TV of N exact samples (simulated).

Writes ``fidelity.md`` (tables), ``fidelity.json`` and ``fidelity.png`` (TV against N) under
``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from constrain import lm as model_loading  # noqa: E402
from constrain import Matcher  # noqa: E402
from constrain.generation import _pad_id, encode_prompts, model_vocabulary, resolve_constraint  # noqa: E402
from constrain.models import TransformersLM  # noqa: E402
from constrain.samplers import AWRS, LCD, SMC, ASApSampler, ASApTrie, decode  # noqa: E402
from constrain.testing import exact_distribution, total_variation  # noqa: E402

SYSTEM = "Reply with the answer only."
LANGUAGES = {
    "skew3": dict(regex="000|1[01]{2}", prompt="Write a random binary string of length 3.", max_new_tokens=6),
    "skew5": dict(regex="00000|1[01]{4}", prompt="Write a random binary string of length 5.", max_new_tokens=8),
    "json": dict(
        schema={
            "type": "object",
            "properties": {
                "color": {"enum": ["red", "green", "blue"]},
                "size": {"enum": ["S", "M", "L"]},
                "in_stock": {"type": "boolean"},
            },
            "required": ["color", "size", "in_stock"],
            "additionalProperties": False,
        },
        prompt="Describe a T-shirt as JSON with the keys color, size and in_stock.",
        max_new_tokens=24,
        # pi over strings from the tokenizations whose every token has p >= 1e-3: the others
        # (non-canonical splits) carry a negligible share of pi; q_LCD is not enumerable here
        min_token_prob=1e-3,
    ),
    "arith": dict(
        grammar_text='start: NUM OP NUM\nNUM: "1" | "2" | "3" | "4"\nOP: "+" | "-" | "*"\n',
        prompt="Write a short arithmetic expression with two one-digit numbers.",
        max_new_tokens=6,
    ),
}
SIZES = (50, 100, 200, 500, 1000, 2000)
PARTICLES = (1, 2, 4, 8, 16)


def kl(emp: dict, pi: dict) -> float:
    """KL(emp || pi); infinite when a sample is outside pi's support (see "outside" counts)."""
    return sum(p * math.log(p / pi[x]) if x in pi else math.inf for x, p in emp.items() if p > 0)


def empirical(texts) -> dict:
    out: dict = {}
    for t in texts:
        out[t] = out.get(t, 0) + 1.0 / len(texts)
    return out


def noise_floor(pi: dict, n: int, rng, sims: int = 200) -> float:
    keys = list(pi)
    probs = np.asarray([pi[k] for k in keys])
    probs = probs / probs.sum()
    total = 0.0
    for _ in range(sims):
        counts = rng.multinomial(n, probs)
        total += 0.5 * np.abs(counts / n - probs).sum()
    return total / sims


def curve(texts, pi, sizes) -> list:
    rows = []
    for n in sizes:
        if n > len(texts):
            break
        emp = empirical(texts[:n])
        rows.append(
            dict(
                n=n,
                tv=total_variation(emp, pi),
                kl=kl(emp, pi),
                mean_pi=float(np.mean([pi.get(t, 0.0) for t in texts[:n]])),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--languages", nargs="*", default=list(LANGUAGES))
    parser.add_argument("--out", default="results/fidelity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        help="only write fidelity.md and fidelity.png under --out from earlier runs' fidelity.json",
    )
    args = parser.parse_args()
    if args.report:
        report: dict = {}
        for path in args.report:
            report.update(json.loads(pathlib.Path(path).read_text()))
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_markdown(report, out / "fidelity.md", SIZES)
        plot(report, out / "fidelity.png")
        return
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = model_loading.load_default_model()
    vocab = model_vocabulary(model, tokenizer)
    lm = TransformersLM(model, pad_token_id=_pad_id(tokenizer, vocab))
    rng = np.random.default_rng(args.seed)
    report: dict = {}
    sizes = [n for n in SIZES if n <= args.samples]
    for name in args.languages:
        spec = dict(LANGUAGES[name])
        started = time.perf_counter()
        if "grammar_text" in spec:
            from constrain.grammar.ir import Grammar

            grammar = Grammar.from_lark(spec.pop("grammar_text"))
            compiled = resolve_constraint(vocab, grammar=grammar)
        else:
            compiled = resolve_constraint(vocab, regex=spec.get("regex"), schema=spec.get("schema"))
        prompt = encode_prompts(tokenizer, [spec["prompt"]], system_prompt=SYSTEM)[0]
        limit = spec["max_new_tokens"]
        exact = exact_distribution(
            compiled,
            lm,
            prompt,
            max_new_tokens=limit,
            min_token_prob=spec.get("min_token_prob", 0.0),
            max_sequences=100_000,
        )
        pi = exact.strings(exact.pi())
        q = exact.strings(exact.q_lcd())
        z = math.exp(exact.log_z)
        entry: dict = dict(
            strings=len(pi),
            sequences=len(exact.logprob),
            log_z=exact.log_z,
            pruned_mass=exact.pruned_mass,
            tv_pi_q_lcd=total_variation(pi, q),
            ideal_mean_pi=sum(p * p for p in pi.values()),
            floor={n: noise_floor(pi, n, rng) for n in sizes},
        )
        print(
            f"[{name}] {len(pi)} strings, log Z = {exact.log_z:.2f}, TV(pi, q_LCD) = {entry['tv_pi_q_lcd']:.3f}",
            flush=True,
        )

        def text_of(draw) -> str:
            return exact.decode(tuple(draw.token_ids))

        def independent(sampler) -> list:
            texts: list = []
            while len(texts) < args.samples:
                k = min(250, args.samples - len(texts))
                run = decode(lm, compiled, [prompt] * k, sampler, max_new_tokens=limit)
                for d in run.draws:
                    if d.finish_reason != "eos":
                        continue
                    replay = Matcher(compiled)  # every finished output must be a string of L
                    if not (all(replay.accept_token(t) for t in d.token_ids) and replay.is_accepting()):
                        raise AssertionError(f"a finished output outside the language: {d.token_ids}")
                    if text_of(d) not in pi:
                        print(f"  outside the enumerated pi: {text_of(d)!r} {d.token_ids}", flush=True)
                    texts.append(text_of(d))
            return texts

        seed = int(rng.integers(2**31))
        lcd_texts = independent(LCD(1.0, generator=torch.Generator().manual_seed(seed), forces_eos_at_limit=True))
        entry["lcd"] = curve(lcd_texts, pi, sizes)
        awrs = AWRS(seed=seed + 1, forces_eos_at_limit=True)
        entry["awrs"] = curve(independent(awrs), pi, sizes)
        entry["awrs_checks_per_token"] = awrs.checks / max(awrs.steps, 1)
        trie = ASApTrie()
        asap_started = time.perf_counter()
        draws = ASApSampler(trie, seed=seed + 2).sample(
            lm, compiled, prompt, args.samples, max_new_tokens=limit, batch_size=16
        )
        entry["asap_seconds"] = time.perf_counter() - asap_started
        # A draw that reaches the token limit unfinished (possible where the grammar needs more
        # tokens than are left) is no sample of pi: ASAp learns the dead end (theta = 0 along it)
        # and the draw is dropped, counted, and the finished ones replayed like the others.
        finished = [d for d in draws if d.finish_reason == "eos"]
        for d in finished:
            replay = Matcher(compiled)
            if not (all(replay.accept_token(t) for t in d.token_ids) and replay.is_accepting()):
                raise AssertionError(f"a finished output outside the language: {d.token_ids}")
        entry["asap_unfinished"] = len(draws) - len(finished)
        asap_texts = [text_of(d) for d in finished]
        entry["asap"] = curve(asap_texts, pi, sizes)
        entry["asap_window"] = [
            dict(n=n, tv=total_variation(empirical(asap_texts[n - max(n // 4, 1) : n]), pi))
            for n in sizes
            if n <= len(asap_texts)
        ]
        entry["asap_trie_nodes"] = len(trie)
        entry["smc"] = {}
        for proposal in ("awrs", "lcd"):
            for n in PARTICLES:
                smc = SMC(n, ess_threshold=0.5, proposal=proposal, seed=int(rng.integers(2**31)))
                pooled: dict = {}
                estimates = []
                for _ in range(args.runs):
                    population = smc.run(lm, compiled, prompt, max_new_tokens=limit)
                    for text, p in population.posterior(text_of).items():
                        pooled[text] = pooled.get(text, 0.0) + p / args.runs
                    estimates.append(math.exp(population.log_ml) if population.log_ml > -math.inf else 0.0)
                est = np.asarray(estimates)
                se = est.std(ddof=1) / math.sqrt(est.size) if est.size > 1 else float("nan")
                entry["smc"][f"{proposal}-{n}"] = dict(
                    tv=total_variation(pooled, pi),
                    z_ratio=float(est.mean() / z),
                    z_error_in_se=float((est.mean() - z) / se) if se > 0 else float("nan"),
                )
                print(f"  smc {proposal} x{n}: TV {entry['smc'][f'{proposal}-{n}']['tv']:.3f}", flush=True)
        entry["seconds"] = time.perf_counter() - started
        report[name] = entry
        print(f"[{name}] done in {entry['seconds']:.0f} s", flush=True)
        (out / "fidelity.json").write_text(json.dumps(report, indent=1))
    write_markdown(report, out / "fidelity.md", sizes)
    plot(report, out / "fidelity.png")


def write_markdown(report: dict, path: pathlib.Path, sizes) -> None:
    lines = []
    for name, e in report.items():
        lines.append(
            f"### {name}: {e['strings']} strings ({e['sequences']} token sequences), "
            f"log Z = {e['log_z']:.2f}, TV(pi, q_LCD) = {e['tv_pi_q_lcd']:.3f}"
        )
        lines.append("")
        lines.append(
            "| N | noise floor | LCD TV | AWRS TV | ASAp TV | ASAp TV (last N/4) | LCD KL | ASAp KL | "
            "LCD mean pi(x) | ASAp mean pi(x) |"
        )
        lines.append("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        window = {r["n"]: r["tv"] for r in e["asap_window"]}
        floor = {int(k): v for k, v in e["floor"].items()}  # JSON keys are strings
        for lcd, awrs, asap in zip(e["lcd"], e["awrs"], e["asap"]):
            n = lcd["n"]
            lines.append(
                f"| {n} | {floor[n]:.3f} | {lcd['tv']:.3f} | {awrs['tv']:.3f} | {asap['tv']:.3f} | "
                f"{window.get(n, float('nan')):.3f} | {lcd['kl']:.3f} | {asap['kl']:.3f} | "
                f"{lcd['mean_pi']:.3f} | {asap['mean_pi']:.3f} |"
            )
        lines.append(
            f"\nIdeal mean pi(x) = sum pi^2 = {e['ideal_mean_pi']:.3f}; AWRS checks per token "
            f"{e['awrs_checks_per_token']:.2f}; ASAp trie {e['asap_trie_nodes']} nodes.\n"
        )
        lines.append("| SMC | " + " | ".join(f"{n} particles" for n in PARTICLES) + " |")
        lines.append("|:--|" + "--:|" * len(PARTICLES))
        for proposal in ("awrs", "lcd"):
            cells = [
                f"{e['smc'][f'{proposal}-{n}']['tv']:.3f} ({e['smc'][f'{proposal}-{n}']['z_ratio']:.2f})"
                for n in PARTICLES
            ]
            lines.append(f"| {proposal.upper()}-SMC TV (mean Z-hat / Z) | " + " | ".join(cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines))
    print(path.read_text())


def plot(report: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(report), figsize=(4 * len(report), 3.4), squeeze=False)
    for ax, (name, e) in zip(axes[0], report.items()):
        ns = [r["n"] for r in e["lcd"]]
        ax.plot(ns, [r["tv"] for r in e["lcd"]], "o-", label="LCD")
        ax.plot(ns, [r["tv"] for r in e["awrs"]], "^-", label="AWRS")
        ax.plot(ns, [r["tv"] for r in e["asap"]], "s-", label="ASAp")
        floor = {int(k): v for k, v in e["floor"].items()}
        ax.plot(ns, [floor[n] for n in ns], "k--", label="exact (noise floor)")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("samples N")
        ax.set_ylabel("TV to pi")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
