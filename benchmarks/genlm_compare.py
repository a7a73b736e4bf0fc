"""AWRS-SMC next to genlm-control's AWRS-SMC on JSONSchemaBench schemas, same model, same prompts.

    python benchmarks/genlm_compare.py --data DIR [--sample 10] [--engines constrain genlm-control]
        [--split Glaiveai2K] [--max-new-tokens 256] [--time-limit 180] [--out results/genlm_compare]

``DIR`` is a JSONSchemaBench data folder (one sub-folder per split, see ``jsonschemabench/``).
A seeded sample of ``--sample`` schemas of ``--split`` is drawn; every schema gets the paper
harness's zero-shot chat prompt (system: "You need to generate a JSON object that matches the
schema below.", user: the schema as JSON) through SmolLM2-135M-Instruct's chat template.

Both engines run the same model object (SmolLM2-135M-Instruct, bfloat16, on the CPU, one torch
thread) with 5 particles, ESS threshold 0.5, multinomial resampling, at most
``--max-new-tokens`` tokens and EOS = {``<|endoftext|>``, ``<|im_end|>``}:

* ``constrain``: ``constrain.samplers.SMC(proposal="awrs", select="mode")``;
* ``constrain-lcd``: the same with full-mask (LCD) proposals (``--lcd``; AWRS against masks);
* ``genlm-control``: ``genlm.control.AWRS(PromptedLLM, JsonSchema(schema).coerce(llm)).smc``,
  the model wrapped by ``genlm.backend.llm.AsyncTransformer`` (no download).

Per output: wall time of the SMC run (the grammar's compilation is timed apart), steps (tokens
of the longest particle), constraint checks per particle-token (ours: ``AWRS.checks /
AWRS.steps``; genlm-control exposes no counter, so its ``AWRS._accept`` calls, each one Boolean
check of the condition, are counted by a subclass), the output (the posterior's mode over
texts), whether ``jsonschema`` accepts it, and whether the two engines' outputs are equal (as
text, and as JSON values). Every output must finish within ``--time-limit`` seconds, else it is
recorded as a timeout.

genlm-control is an optional extra (``pip install 'constrain[compare]'``, best in a virtual
environment created with ``--system-site-packages`` so that it reuses the installed torch and
transformers). Without it, ``--engines constrain`` runs our side alone.

Writes ``genlm_compare.jsonl`` (one record per engine and schema) and ``genlm_compare.md``
(tables) under ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import constrain  # noqa: E402
from constrain import lm as model_loading  # noqa: E402
from constrain.errors import ConstrainError  # noqa: E402
from constrain.generation import _pad_id, model_vocabulary, resolve_constraint  # noqa: E402
from constrain.models import TransformersLM  # noqa: E402
from constrain.samplers import SMC  # noqa: E402
from jsonschemabench.dataset import find_entries, load_item, resolve_data_dir, sample_entries  # noqa: E402
from jsonschemabench.generate import messages_for, validate  # noqa: E402

ENGINES = ("constrain", "genlm-control")
GENLM_MISSING = (
    "genlm-control is not installed, so only our side can run (pass --engines constrain).\n"
    "Install it without replacing torch or transformers:\n"
    "    python -m venv --system-site-packages VENV && VENV/bin/pip install 'genlm-control==0.4.1'\n"
    "and run this script with VENV/bin/python."
)
WARM_UP_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def genlm_control_version() -> Optional[str]:
    """The installed genlm-control's version, or None when it is not importable."""
    try:
        import genlm.control  # noqa: F401
    except ImportError:
        return None
    from importlib.metadata import version

    return version("genlm-control")


def prompt_ids(tokenizer: Any, schema: Any) -> List[int]:
    ids = tokenizer.apply_chat_template(messages_for(schema), add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def judge(text: Optional[str], schema: Any) -> Dict[str, Any]:
    """``valid``: the text parses as JSON and ``jsonschema`` accepts it."""
    if text is None:
        return dict(valid=False, why="no finished particle")
    try:
        value = json.loads(text)
    except ValueError as exc:
        return dict(valid=False, why=f"not JSON: {exc}")
    why = validate(value, schema)
    return dict(valid=why is None, why=why)


class OurSide:
    """constrain's SMC with an AWRS (or LCD) proposal."""

    def __init__(
        self, model: Any, tokenizer: Any, *, particles: int, ess_threshold: float, max_new_tokens: int
    ) -> None:
        self.tokenizer = tokenizer
        self.vocab = model_vocabulary(model, tokenizer)
        self.lm = TransformersLM(model, pad_token_id=_pad_id(tokenizer, self.vocab))
        self.particles, self.ess_threshold, self.max_new_tokens = particles, ess_threshold, max_new_tokens

    def run(self, schema: Any, *, proposal: str, seed: int, time_limit: float) -> Dict[str, Any]:
        record: Dict[str, Any] = dict(engine="constrain" if proposal == "awrs" else "constrain-lcd")
        started = time.perf_counter()
        try:
            compiled = resolve_constraint(self.vocab, schema=schema)
        except ConstrainError as exc:
            record.update(status="compile_error", why=f"{type(exc).__name__}: {exc}"[:300])
            return record
        record["compile_s"] = time.perf_counter() - started
        proposals: List[Any] = []
        particle_tokens = 0

        class KeepProposal(SMC):
            def make_proposal(self):  # the proposal's counters are read after the run
                proposal = super().make_proposal()
                choose = proposal.choose

                def counting_choose(draws, *rest):
                    nonlocal particle_tokens
                    particle_tokens += len(draws)  # one token (or a death) per running particle
                    return choose(draws, *rest)

                proposal.choose = counting_choose
                proposals.append(proposal)
                return proposal

        smc = KeepProposal(
            self.particles, ess_threshold=self.ess_threshold, proposal=proposal, select="mode", seed=seed
        )
        steps = 0
        deadline = time.perf_counter() + time_limit

        def on_step(_draws) -> None:
            nonlocal steps
            steps += 1
            if time.perf_counter() > deadline:
                raise TimeoutError

        started = time.perf_counter()
        try:
            population = smc.run(
                self.lm,
                compiled,
                prompt_ids(self.tokenizer, schema),
                max_new_tokens=self.max_new_tokens,
                on_step=on_step,
            )
        except TimeoutError:
            record.update(
                status="timeout", seconds=time.perf_counter() - started, steps=steps, particle_tokens=particle_tokens
            )
            if proposal == "awrs":
                record.update(checks=proposals[-1].checks, masks=proposals[-1].masks)
            return record
        record["seconds"] = time.perf_counter() - started
        chosen = population.chosen
        text = self.vocab.decode(chosen.token_ids).decode("utf-8", "replace") if chosen.finish_reason == "eos" else None
        sampler = proposals[-1]
        record.update(status="ok", steps=steps, text=text, resamplings=population.resamplings, log_ml=population.log_ml)
        record["particle_tokens"] = particle_tokens
        if proposal == "awrs":
            record.update(checks=sampler.checks, masks=sampler.masks)
        else:  # one full mask per particle and step
            record.update(checks=None)
        record.update(judge(text, schema))
        return record


class GenlmSide:
    """genlm-control's AWRS-SMC on the same model object."""

    def __init__(
        self, model: Any, tokenizer: Any, *, particles: int, ess_threshold: float, max_new_tokens: int
    ) -> None:
        from genlm.backend.llm import AsyncTransformer
        from genlm.control import AWRS, JsonSchema, PromptedLLM

        self.AWRS, self.JsonSchema = AWRS, JsonSchema
        self.tokenizer = tokenizer
        self.backend = AsyncTransformer(model, tokenizer)
        eos = [
            tokenizer.convert_ids_to_tokens(i).encode()
            for i in sorted(model_vocabulary(model, tokenizer).eos_token_ids)
        ]
        self.llm = PromptedLLM(self.backend, eos_byte_strings=eos)
        self.particles, self.ess_threshold, self.max_new_tokens = particles, ess_threshold, max_new_tokens

    def run(self, schema: Any, *, seed: int, time_limit: float) -> Dict[str, Any]:
        record: Dict[str, Any] = dict(engine="genlm-control")
        self.backend.clear_cache()  # its KV and output cache grows without bound otherwise
        self.llm.prompt_ids = prompt_ids(self.tokenizer, schema)
        counts = dict(checks=0, particle_tokens=0)

        class CountingAWRS(self.AWRS):
            async def sample(self, context, draw=None, verbosity=0):
                counts["particle_tokens"] += 1
                return await super().sample(context, draw=draw, verbosity=verbosity)

            async def _accept(self, context, token, verbosity=0):
                counts["checks"] += 1
                return await super()._accept(context, token, verbosity)

        started = time.perf_counter()
        try:
            condition = self.JsonSchema(schema).coerce(self.llm, f=b"".join)
            sampler = CountingAWRS(self.llm, condition, seed=seed)
        except Exception as exc:  # genlm-control's own refusal of the schema
            record.update(status="compile_error", why=f"{type(exc).__name__}: {exc}"[:300])
            return record
        record["compile_s"] = time.perf_counter() - started

        async def smc():
            try:
                return await asyncio.wait_for(
                    sampler.smc(
                        n_particles=self.particles, ess_threshold=self.ess_threshold, max_tokens=self.max_new_tokens
                    ),
                    time_limit,
                )
            finally:
                await sampler.cleanup()

        started = time.perf_counter()
        try:
            sequences = asyncio.run(smc())
        except asyncio.TimeoutError:
            self.backend.reset_async_queries()
            record.update(status="timeout", seconds=time.perf_counter() - started, **counts)
            return record
        except Exception as exc:
            self.backend.reset_async_queries()
            record.update(
                status="error",
                seconds=time.perf_counter() - started,
                why=f"{type(exc).__name__}: {exc}"[:300],
                **counts,
            )
            return record
        record["seconds"] = time.perf_counter() - started
        posterior = sequences.decoded_posterior
        text = max(posterior, key=lambda k: posterior[k]) if len(posterior) else None
        steps = max((len(c) for c in sequences.contexts), default=0)
        record.update(status="ok", steps=steps, text=text, log_ml=float(sequences.log_ml), **counts)
        record.update(judge(text, schema))
        return record


def same_json(a: Optional[str], b: Optional[str]) -> bool:
    if a is None or b is None:
        return False
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def summarize(records: List[Dict[str, Any]], engines: List[str]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    for engine in engines:
        rows = [r for r in records if r["engine"] == engine]
        ok = [r for r in rows if r["status"] == "ok"]
        stepped = [r for r in rows if r.get("steps") and r["status"] in ("ok", "timeout")]
        timed = [r for r in rows if r.get("particle_tokens") and r["status"] in ("ok", "timeout")]
        checks = sum(r["checks"] for r in timed if r.get("checks") is not None)
        particle_tokens = sum(r["particle_tokens"] for r in timed if r.get("checks") is not None)
        out[engine] = dict(
            schemas=len(rows),
            finished=len(ok),
            outputs=sum(r.get("text") is not None for r in ok),
            valid=sum(bool(r.get("valid")) for r in rows),
            timeouts=sum(r["status"] == "timeout" for r in rows),
            errors=sum(r["status"] in ("error", "compile_error") for r in rows),
            median_s=statistics.median(r["seconds"] for r in ok) if ok else math.nan,
            total_s=sum(r["seconds"] for r in ok),
            ms_per_step=1000 * sum(r["seconds"] for r in stepped) / max(sum(r["steps"] for r in stepped), 1),
            # over finished and timed-out runs alike: the cost of one particle's token
            ms_per_particle_token=1000
            * sum(r["seconds"] for r in timed)
            / max(sum(r["particle_tokens"] for r in timed), 1),
            checks_per_token=checks / particle_tokens if particle_tokens else math.nan,
            median_compile_s=statistics.median(r["compile_s"] for r in rows if "compile_s" in r)
            if any("compile_s" in r for r in rows)
            else math.nan,
        )
    return out


def write_markdown(path: pathlib.Path, meta: Dict[str, Any], records: List[Dict[str, Any]], engines: List[str]) -> str:
    summary = summarize(records, engines)
    lines = [
        f"Machine: {meta['machine']}; torch {meta['torch']}, transformers {meta['transformers']}, "
        f"constrain {meta['constrain']}, genlm-control {meta['genlm_control'] or 'not installed'}; "
        f"{meta['schemas']} schemas of {meta['split']} (seed {meta['seed']}), {meta['particles']} particles, "
        f"ESS threshold {meta['ess_threshold']}, at most {meta['max_new_tokens']} tokens, time limit "
        f"{meta['time_limit']} s per output.",
        "",
        "| engine | ran to the end | outputs (EOS) | valid | timeouts | errors | median s / output | ms / step | "
        "ms / particle-token | checks / particle-token | median compile s |",
        "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for engine, s in summary.items():
        checks = "full mask" if engine == "constrain-lcd" else f"{s['checks_per_token']:.2f}"
        lines.append(
            f"| {engine} | {s['finished']}/{s['schemas']} | {s['outputs']}/{s['schemas']} | {s['valid']}/{s['schemas']} | {s['timeouts']} | "
            f"{s['errors']} | {s['median_s']:.1f} | {s['ms_per_step']:.0f} | {s['ms_per_particle_token']:.0f} | {checks} | "
            f"{s['median_compile_s']:.3f} |"
        )
    by_schema: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for r in records:
        by_schema.setdefault(r["id"], {})[r["engine"]] = r
    if "constrain" in engines and "genlm-control" in engines:
        both = [
            v
            for v in by_schema.values()
            if v.get("constrain", {}).get("status") == "ok" and v.get("genlm-control", {}).get("status") == "ok"
        ]
        ratios = [v["genlm-control"]["seconds"] / v["constrain"]["seconds"] for v in both]
        text_equal = sum(
            v["constrain"].get("text") is not None and v["constrain"]["text"] == v["genlm-control"]["text"]
            for v in both
        )
        json_equal = sum(same_json(v["constrain"].get("text"), v["genlm-control"].get("text")) for v in both)
        lines += [
            "",
            f"Both finished: {len(both)} schemas; wall-time ratio genlm-control / constrain per output: "
            + (
                f"median {statistics.median(ratios):.1f}x, geometric mean "
                f"{math.exp(statistics.fmean(math.log(x) for x in ratios)):.1f}x, range "
                f"{min(ratios):.1f}x to {max(ratios):.1f}x"
                if ratios
                else "n/a"
            )
            + f"; outputs equal as text {text_equal}/{len(both)}, as JSON values {json_equal}/{len(both)}.",
        ]
    lines += [
        "",
        "| schema | " + " | ".join(f"{e} s (steps, valid)" for e in engines) + " |",
        "|:--|" + "--:|" * len(engines),
    ]
    for schema_id, per in by_schema.items():
        cells = []
        for e in engines:
            r = per.get(e)
            if r is None:
                cells.append("")
            elif r["status"] == "ok":
                cells.append(f"{r['seconds']:.1f} ({r['steps']}, {'yes' if r['valid'] else 'no'})")
            else:
                cells.append(r["status"])
        lines.append(f"| {schema_id.split('/', 1)[-1]} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a JSONSchemaBench data folder")
    parser.add_argument("--split", default="Glaiveai2K")
    parser.add_argument("--sample", type=int, default=10, help="schemas to draw (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--lcd", action="store_true", help="also run our SMC with full-mask (LCD) proposals")
    parser.add_argument("--particles", type=int, default=5)
    parser.add_argument("--ess-threshold", type=float, default=0.5)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds per output")
    parser.add_argument("--out", default="results/genlm_compare")
    args = parser.parse_args()

    genlm_version = genlm_control_version()
    if "genlm-control" in args.engines and genlm_version is None:
        print(GENLM_MISSING, file=sys.stderr)
        return 2
    entries = sample_entries(
        find_entries(resolve_data_dir(args.data), splits=[args.split]), args.sample, seed=args.seed
    )
    torch.set_num_threads(1)
    model, tokenizer = model_loading.load_default_model()
    engines: List[str] = []
    sides: Dict[str, Any] = {}
    if "constrain" in args.engines:
        sides["constrain"] = OurSide(
            model,
            tokenizer,
            particles=args.particles,
            ess_threshold=args.ess_threshold,
            max_new_tokens=args.max_new_tokens,
        )
        engines += ["constrain"] + (["constrain-lcd"] if args.lcd else [])
    if "genlm-control" in args.engines:
        sides["genlm-control"] = GenlmSide(
            model,
            tokenizer,
            particles=args.particles,
            ess_threshold=args.ess_threshold,
            max_new_tokens=args.max_new_tokens,
        )
        engines.append("genlm-control")

    def run_one(engine: str, schema: Any, seed: int) -> Dict[str, Any]:
        if engine == "genlm-control":
            return sides[engine].run(schema, seed=seed, time_limit=args.time_limit)
        return sides["constrain"].run(
            schema, proposal="lcd" if engine == "constrain-lcd" else "awrs", seed=seed, time_limit=args.time_limit
        )

    for engine in engines:  # first calls load kernels and caches: not timed
        run_one(engine, WARM_UP_SCHEMA, 0)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records: List[Dict[str, Any]] = []
    with open(out / "genlm_compare.jsonl", "w", encoding="utf-8") as log:
        for k, entry in enumerate(entries):
            schema = load_item(entry)["schema"]
            for engine in engines:
                record = dict(id=entry.id, **run_one(engine, schema, args.seed + k))
                records.append(record)
                log.write(json.dumps(record) + "\n")
                log.flush()
                print(
                    f"[{k + 1}/{len(entries)}] {entry.id} {engine}: {record['status']} "
                    f"{record.get('seconds', math.nan):.1f} s, {record.get('steps')} steps, "
                    f"valid={record.get('valid')}",
                    flush=True,
                )
    import transformers

    meta = dict(
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, one torch thread",
        torch=torch.__version__,
        transformers=transformers.__version__,
        constrain=constrain.__version__,
        genlm_control=genlm_version,
        schemas=len(entries),
        split=args.split,
        seed=args.seed,
        particles=args.particles,
        ess_threshold=args.ess_threshold,
        max_new_tokens=args.max_new_tokens,
        time_limit=args.time_limit,
    )
    print(write_markdown(out / "genlm_compare.md", meta, records, engines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
