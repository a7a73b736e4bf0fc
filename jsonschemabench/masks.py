"""The MaskBench procedure for one schema: compile, first mask, then every instance token by token.

Departures from MaskBench (guidance-ai/jsonschemabench, ``maskbench/maskbench/runner.py``),
all deliberate and documented in docs/jsonschemabench.md:

* MaskBench serializes instances with ``json.dumps(data, ensure_ascii=False)``, i.e. with
  ``", "`` and ``": "`` separators, and runs engines with flexible whitespace. Here the default
  is ``whitespace="compact"``: instances are serialized with ``separators=(",", ":")`` and
  every engine is told to allow no whitespace; ``--whitespace flexible`` restores MaskBench's
  serialization with JSON-whitespace engines.
* A valid instance passes only if every token is allowed *and* EOS is allowed after the last
  one; an invalid instance must be refused at some token or at EOS. MaskBench does not check
  EOS, so a truncated document counted as accepted there.
* A token is checked against the computed mask (not against the engine's ``accept`` return),
  so an engine whose mask and matcher disagree is caught; the disagreement is recorded.
* Times are kept apart: ``compile_ns`` (schema to compiled handle), ``ttfm_ns`` (compile, a
  new matcher and its first mask), ``mask_ns`` (each mask while stepping, the mask after the
  last token included) and ``advance_ns`` (total of the accept calls). MaskBench's "TBM"
  times mask and commit together.
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any, Callable, Dict, List, Literal, Optional, Tuple

import numpy as np

from .engines import Engine, Whitespace, bitmask_width, mask_allows
from .outcomes import worst

Clock = Literal["wall", "thread"]
CLOCKS: Dict[Clock, Callable[[], int]] = {
    "wall": time.perf_counter_ns,
    "thread": time.thread_time_ns,
}


def serialize(data: Any, whitespace: Whitespace) -> str:
    """An instance as the text the engines are asked to accept."""
    if whitespace == "compact":
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(data, ensure_ascii=False)


def spelling_table(tokenizer: Any) -> Tuple[Dict[bytes, int], int]:
    """The lowest id of each token's bytes, and the longest token's length in bytes."""
    from .tokenizer import token_bytes

    table: Dict[bytes, int] = {}
    for i, b in enumerate(token_bytes(tokenizer)):
        if b and b not in table:
            table[b] = i
    return table, max(map(len, table))


def exact_tokens(tokenizer: Any, text: str, spellings: Optional[Tuple[Dict[bytes, int], int]] = None) -> List[int]:
    """Token ids that spell exactly the UTF-8 bytes of ``text``: greedy longest match.

    Used when the tokenizer's own encoding does not decode back to ``text`` (its normalizer
    changed it); any engine must accept every tokenization of an accepted text.
    ``spellings`` is the tokenizer's :func:`spelling_table` when the caller keeps one.

    Raises:
        ValueError: some byte has no token (never for byte-level vocabularies).
    """
    table, longest = spellings if spellings is not None else spelling_table(tokenizer)
    data = text.encode("utf-8")
    ids: List[int] = []
    pos = 0
    while pos < len(data):
        for n in range(min(longest, len(data) - pos), 0, -1):
            tid = table.get(data[pos : pos + n])
            if tid is not None:
                ids.append(tid)
                pos += n
                break
        else:
            raise ValueError(f"no token spells byte {data[pos]:#04x} of {text!r}")
    return ids


def _error_detail(exc: BaseException, limit: int = 600) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_schema(
    engine: Engine, item: Dict[str, Any], clock: Clock = "wall", first_mask_only: bool = False
) -> Dict[str, Any]:
    """Judge ``engine`` on one schema and its test instances.

    Args:
        engine: a constructed engine.
        item: ``{"id", "split", "schema", "tests": [{"data", "valid"}]}``.
        clock: ``"wall"`` (``time.perf_counter_ns``; engines run on one thread) or ``"thread"``
            (``time.thread_time_ns``, CPU time of the calling thread).
        first_mask_only: stop after the first mask (no instances; ``outcome`` is ``"pass"``
            for a compiled schema).

    Returns:
        The schema's record: ``outcome`` (see :mod:`jsonschemabench.outcomes`), ``detail``,
        the times, and one entry per test instance.
    """
    now = CLOCKS[clock]
    record: Dict[str, Any] = {
        "record": "schema",
        "id": item["id"],
        "split": item["split"],
        "outcome": "pass",
        "detail": "",
        "num_tests": len(item["tests"]),
    }
    tokenizer = engine.tokenizer
    bitmask = np.zeros((1, bitmask_width(engine.vocab_size)), dtype=np.int32)

    start = now()
    try:
        compiled = engine.compile(item["schema"])
        compiled_at = now()
        first = engine.new_matcher(compiled)
        engine.fill_mask(first, bitmask)
        first_mask_at = now()
    except Exception as exc:  # every failure to compile is a result, not an abort
        record["outcome"] = engine.classify_error(exc)
        record["detail"] = _error_detail(exc)
        record["test_validity"] = [bool(t["valid"]) for t in item["tests"]]
        return record
    record["compile_ns"] = compiled_at - start
    record["ttfm_ns"] = first_mask_at - start
    if first_mask_only:
        record.update(num_tests=0, num_tokens=0, mask_ns=[], advance_ns=0, tests=[])
        return record

    mask_ns: List[int] = []
    advance_ns = 0
    tests: List[Dict[str, Any]] = []
    for index, test in enumerate(item["tests"]):
        text = serialize(test["data"], engine.whitespace)
        ids = tokenizer.encode(text, add_special_tokens=False)
        entry: Dict[str, Any] = {"valid": bool(test["valid"])}
        if tokenizer.decode(ids) != text:
            # A normalizing tokenizer (Qwen2's NFC) spelled another text; judge the real bytes.
            if engine.spellings is None:
                engine.spellings = spelling_table(tokenizer)
            ids = exact_tokens(tokenizer, text, engine.spellings)
            entry["retokenized"] = True
        entry["tokens"] = len(ids)
        accepted = True
        try:
            matcher = engine.new_matcher(compiled)
            for pos, token in enumerate(ids):
                t0 = now()
                engine.fill_mask(matcher, bitmask)
                t1 = now()
                mask_ns.append(t1 - t0)
                if not mask_allows(bitmask, token):
                    accepted = False
                    entry["rejected_at"] = pos
                    entry["rejected_token"] = tokenizer.decode([token])
                    break
                t0 = now()
                ok = engine.accept(matcher, token)
                advance_ns += now() - t0
                if not ok:
                    accepted = False
                    entry["rejected_at"] = pos
                    entry["rejected_token"] = tokenizer.decode([token])
                    entry["mask_accept_mismatch"] = True
                    break
            else:
                t0 = now()
                engine.fill_mask(matcher, bitmask)
                mask_ns.append(now() - t0)
                accepted = mask_allows(bitmask, engine.eos_token_id)
                if not accepted:
                    entry["rejected_at"] = len(ids)
                    entry["rejected_token"] = "<EOS>"
                if accepted != engine.is_accepting(matcher):
                    entry["eos_accepting_mismatch"] = True
        except Exception as exc:
            category = engine.classify_error(exc)
            entry["outcome"] = "limit" if category == "limit" else "crash"
            entry["detail"] = f"test {index}: {_error_detail(exc)}"
            entry["traceback"] = traceback.format_exc(limit=4)[-1500:]
            tests.append(entry)
            continue
        entry["accepted"] = accepted
        if entry["valid"]:
            entry["outcome"] = "pass" if accepted else "valid_rejected"
        else:
            entry["outcome"] = "invalid_accepted" if accepted else "pass"
        tests.append(entry)

    record["outcome"] = worst(t["outcome"] for t in tests)
    bad = [(i, t) for i, t in enumerate(tests) if t["outcome"] == record["outcome"]]
    if record["outcome"] != "pass" and bad:
        i, t = bad[0]
        record["detail"] = t.get("detail") or (
            f"test {i} ({'valid' if t['valid'] else 'invalid'}): "
            f"{'accepted' if t.get('accepted') else 'rejected at token ' + str(t.get('rejected_at'))}"
            + (f" {t['rejected_token']!r}" if "rejected_token" in t else "")
        )
    record["num_tokens"] = len(mask_ns)
    record["mask_ns"] = mask_ns
    record["advance_ns"] = advance_ns
    record["tests"] = tests
    return record


WARM_UP_ITEM = {
    "id": "warm-up",
    "split": "warm-up",
    "schema": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}},
    "tests": [{"data": {"a": ["x", "y"]}, "valid": True}, {"data": {"a": [1]}, "valid": False}],
}


def warm_up(engine: Any) -> None:
    """Run one small schema through ``engine`` and discard the result.

    One-time process costs (JIT compilation, lazy imports, caches of the tokenizer) are then
    paid before the first timed schema, for every engine alike. Failures are ignored here:
    the real schemas report them.
    """
    try:
        run_schema(engine, WARM_UP_ITEM)
    except Exception:  # the engine's own schemas will show what is wrong
        pass
