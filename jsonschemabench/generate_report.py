"""Markdown reports of ``generate`` runs: coverage, compliance and efficiency per engine."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

from .outcomes import COMPILE_FAILURES


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def escaped_keys(text: str) -> int:
    """How many object keys of the JSON ``text`` are spelled with a backslash escape (a key the
    schema names, written ``"\u006eame"``, is valid JSON that most consumers read back, but no
    model should be steered into it)."""
    count = 0
    for match in _JSON_STRING.finditer(text):
        rest = text[match.end() :].lstrip(" \t\r\n")
        if rest.startswith(":") and "\\" in match.group():
            count += 1
    return count


def generate_stats(records: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Coverage, compliance and efficiency of generate records.

    coverage: schemas compiled / schemas; compliance: valid outputs / schemas compiled;
    empirical coverage: valid outputs / schemas (the paper's three numbers).
    """
    from .report import percentiles

    n = len(records)
    compiled = [r for r in records if "compile_s" in r]
    generated = [r for r in compiled if "compliant" in r]
    valid = [r for r in generated if r["compliant"]]
    return {
        "schemas": n,
        "compiled": len(compiled),
        "valid": len(valid),
        "coverage": len(compiled) / n if n else None,
        "compliance": len(valid) / len(compiled) if compiled else None,
        "empirical_coverage": len(valid) / n if n else None,
        "compile_ms": percentiles(r["compile_s"] * 1e3 for r in compiled),
        "ttft_ms": percentiles(r["ttft_s"] * 1e3 for r in generated if r.get("ttft_s") is not None),
        "tpot_ms": percentiles(r["tpot_s"] * 1e3 for r in generated if "tpot_s" in r),
        "output_tokens": sum(r.get("output_tokens", 0) for r in generated),
        "tokens_per_output": sum(r.get("output_tokens", 0) for r in generated) / len(generated) if generated else None,
        "seconds_per_output": sum(r.get("generation_s", 0.0) for r in generated) / len(generated)
        if generated
        else None,
        "outputs_with_escaped_keys": sum(1 for r in generated if escaped_keys(r.get("text", ""))),
        "unfinished": sum(1 for r in generated if r.get("finish_reason") != "stop"),
        "failures": {
            k: sum(1 for r in records if r["outcome"] == k) for k in sorted(COMPILE_FAILURES | {"timeout", "crash"})
        },
    }


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _gen_rows(all_stats: Sequence[Dict[str, Any]]) -> List[List[str]]:
    from .report import fmt_num

    rows = [
        ["schemas"] + [str(s["schemas"]) for s in all_stats],
        ["coverage (compiled)"] + [f"{_pct(s['coverage'])} ({s['compiled']})" for s in all_stats],
        ["compliance (valid / compiled)"] + [f"{_pct(s['compliance'])} ({s['valid']})" for s in all_stats],
        ["empirical coverage (valid / all)"] + [_pct(s["empirical_coverage"]) for s in all_stats],
        ["unfinished outputs"] + [str(s["unfinished"]) for s in all_stats],
        ["output tokens"] + [f"{s['output_tokens']:,}" for s in all_stats],
        ["tokens per output"] + [fmt_num(s["tokens_per_output"]) for s in all_stats],
        ["seconds per output"] + [fmt_num(s["seconds_per_output"]) for s in all_stats],
        ["outputs with an escaped key"] + [str(s["outputs_with_escaped_keys"]) for s in all_stats],
    ]
    for key, title in (("compile_ms", "compile ms"), ("ttft_ms", "TTFT ms"), ("tpot_ms", "TPOT ms")):
        for q in ("avg", "p50", "p90", "p99", "max"):
            rows.append([f"{title} {q}"] + [fmt_num(s[key][q]) for s in all_stats])
    for k in all_stats[0]["failures"] if all_stats else ():
        rows.append([k] + [str(s["failures"][k]) for s in all_stats])
    return rows


def _split_table(runs: Sequence[Any]) -> str:
    from .report import table

    splits = sorted({s for run in runs for s in run.splits()})
    headers = ["split"]
    for run in runs:
        headers += [f"{run.label} coverage", f"{run.label} compliance"]
    rows = []
    for split in splits:
        row = [split]
        for run in runs:
            s = generate_stats(run.subset(split))
            row += [_pct(s["coverage"]), _pct(s["compliance"])]
        rows.append(row)
    return table(headers, rows)


def generate_markdown(run: Any) -> str:
    """The markdown summary of a ``generate`` run."""
    from .report import table

    h = run.header
    info = h.get("engine_info", {})
    s = generate_stats(run.records)
    lines = [
        f"# generate: {run.label}",
        "",
        f"- engine: `{h.get('engine')}` {info.get('version', '')}; model: {h.get('options', {}).get('model')}"
        f" ({info.get('model', '')}); max tokens {h.get('options', {}).get('max_tokens')}",
        f"- whitespace: {h.get('whitespace')}; native loop: {h.get('options', {}).get('native')}; "
        f"sample {h.get('sample')} (seed {h.get('seed')}); started {h.get('started')}",
        "",
    ]
    lines += [table(["metric", run.label], _gen_rows([s])), "", "## Per split", "", _split_table([run]), ""]
    bad = [r for r in run.records if r.get("compliant") is False]
    if bad:
        lines += ["## Non-compliant outputs", ""]
        lines += [f"- `{r['id']}`: {r.get('why', '')}" for r in bad[:50]]
        lines.append("")
    return "\n".join(lines)


def compare_generate_markdown(runs: Sequence[Any]) -> str:
    """Side-by-side tables of several ``generate`` runs."""
    from .compare import common_ids
    from .report import table

    ids = common_ids(runs)
    all_stats = [generate_stats(r.subset(ids=ids)) for r in runs]
    lines = [
        "# jsonschemabench generate comparison",
        "",
        f"Tables cover the {len(ids)} schemas present in every run.",
        "",
        table(["metric"] + [r.label for r in runs], _gen_rows(all_stats)),
        "",
        "## Per split",
        "",
        _split_table(runs),
        "",
    ]
    return "\n".join(lines)
