"""Constrained generation with a real model, scored as in the JSONSchemaBench paper.

Per schema: compile (coverage, compile time), then greedy generation from a zero-shot chat
prompt like the paper's harness (system: "You need to generate a JSON object that matches the
schema below.", user: the schema as JSON), then validation of the output with ``jsonschema``
under the schema's draft (2020-12 when it names none) with format checking (compliance).
Efficiency: compile time, time to first token (prefill plus first mask), time per output
token (later tokens).

All engines run through the same decoding loop here (forward pass, mask, argmax, advance), so
their times compare; ``--native`` instead uses ``constrain.generate`` for engine=constrain,
which overlaps mask computation with the forward pass. Remote ``$ref`` are never fetched.
"""

from __future__ import annotations

import inspect
import json
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .engines import Engine, Whitespace, bitmask_width, engine_class

SYSTEM_PROMPT = "You need to generate a JSON object that matches the schema below."


def messages_for(schema: Any) -> List[Dict[str, str]]:
    """The paper harness's zero-shot messages for ``schema``."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(schema)},
    ]


def validate(instance: Any, schema: Any) -> Optional[str]:
    """None when ``instance`` is valid against ``schema``, else why not.

    Uses the validator of the schema's ``$schema`` (Draft 2020-12 by default) with its format
    checker; remote references are refused rather than fetched.
    """
    import jsonschema
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    # referencing's attrs classes are made by its own wrapper of attrs.frozen, which mypy's
    # attrs plugin does not see: their constructors look argument-less to it.
    def no_retrieve(uri: str) -> Any:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        registry = Registry(retrieve=no_retrieve)  # type: ignore[call-arg]
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER, registry=registry)
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    except Exception as exc:  # a schema jsonschema cannot use, or an unresolvable $ref
        return f"validator failed: {type(exc).__name__}: {exc}"[:400]
    return None if error is None else f"{error.message} at {error.json_path}"[:400]


def load_model(spec: str) -> Any:
    """``(model, tokenizer)``: ``smollm2`` is the default SmolLM2-135M-Instruct GGUF."""
    from constrain import lm

    if spec == "smollm2":
        return lm.load_default_model()
    return lm.load_model(spec)


#: ``(text, token ids, finish reason, seconds to the first token or None, total seconds)``.
_Generated = Tuple[str, List[int], str, Optional[float], float]


class GenerateJob:
    """Runs in a worker: holds the model and the engine, generates for one schema at a time."""

    def __init__(
        self, engine_spec: str, model: str, max_tokens: int, whitespace: Whitespace, native: bool = False
    ) -> None:
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.model, self.tokenizer = load_model(model)
        # transformers 5 renamed the cache keyword (``past_key_values`` -> ``cache``).
        self.cache_keyword = (
            "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        )
        self.engine: Engine = engine_class(engine_spec)(self.tokenizer, whitespace=whitespace)
        self.max_tokens = max_tokens
        self.native = native
        if native and self.engine.name != "constrain":
            raise ValueError("--native is only for --engine constrain")
        from .masks import warm_up

        warm_up(self.engine)
        head = self.model.get_output_embeddings()
        self.logits_width = int(head.weight.shape[0]) if head is not None else int(self.model.config.vocab_size)
        if self.logits_width < self.engine.vocab_size:
            raise ValueError(f"model scores {self.logits_width} ids, tokenizer has {self.engine.vocab_size}")

    def describe(self) -> Dict[str, Any]:
        return {
            **self.engine.describe(),
            "vocab_size": self.engine.vocab_size,
            "model": Path(str(getattr(self.model.config, "_name_or_path", "") or "")).name,
            "logits_width": self.logits_width,
        }

    def _allowed(self, bitmask: np.ndarray) -> Any:
        bits = np.unpackbits(bitmask[0].view(np.uint8), bitorder="little")[: self.engine.vocab_size]
        allowed = np.zeros(self.logits_width, dtype=bool)
        allowed[: bits.size] = bits.astype(bool)
        return self.torch.from_numpy(allowed)

    def __call__(self, item: Dict[str, Any]) -> Dict[str, Any]:
        record: Dict[str, Any] = {
            "record": "schema",
            "id": item["id"],
            "split": item["split"],
            "outcome": "pass",
            "detail": "",
        }
        schema = item["schema"]
        t0 = time.perf_counter()
        try:
            compiled = self.engine.compile(schema)
        except Exception as exc:
            record["outcome"] = self.engine.classify_error(exc)
            record["detail"] = f"{type(exc).__name__}: {exc}"[:600]
            return record
        record["compile_s"] = time.perf_counter() - t0
        try:
            if self.native:
                text, ids, finish, ttft, total = self._native(schema)
            else:
                text, ids, finish, ttft, total = self._loop(compiled, schema)
        except Exception as exc:
            record["outcome"] = "crash"
            record["detail"] = f"generation failed: {type(exc).__name__}: {exc}"[:600]
            record["traceback"] = traceback.format_exc(limit=6)[-2000:]
            return record
        record.update(
            {"text": text, "output_tokens": len(ids), "finish_reason": finish, "ttft_s": ttft, "generation_s": total}
        )
        if len(ids) > 1 and ttft is not None:
            record["tpot_s"] = (total - ttft) / (len(ids) - 1)
        if finish != "stop":
            record["compliant"] = False
            record["why"] = f"not finished ({finish})"
            return record
        try:
            value = json.loads(text)
        except ValueError as exc:
            record["compliant"] = False
            record["why"] = f"not JSON: {exc}"
            return record
        why = validate(value, schema)
        record["compliant"] = why is None
        if why:
            record["why"] = why
        return record

    def _prompt_ids(self, schema: Any) -> List[int]:
        ids = self.tokenizer.apply_chat_template(messages_for(schema), add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def _loop(self, compiled: Any, schema: Any) -> _Generated:
        torch = self.torch
        engine = self.engine
        matcher = engine.new_matcher(compiled)
        bitmask = np.zeros((1, bitmask_width(engine.vocab_size)), dtype=np.int32)
        input_ids = torch.tensor([self._prompt_ids(schema)], dtype=torch.long)
        start = time.perf_counter()
        ttft: Optional[float] = None
        past = None
        out_ids: List[int] = []
        finish = "length"
        with torch.inference_mode():
            for _ in range(self.max_tokens):
                out = self.model(input_ids=input_ids, use_cache=True, **{self.cache_keyword: past})
                past = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
                logits = out.logits[0, -1, :].float()
                engine.fill_mask(matcher, bitmask)
                allowed = self._allowed(bitmask)
                if not bool(allowed.any()):
                    finish = "dead_end"
                    break
                logits = logits.masked_fill(~allowed, float("-inf"))
                token = int(torch.argmax(logits))
                if ttft is None:
                    ttft = time.perf_counter() - start
                if token == engine.eos_token_id:
                    finish = "stop"
                    break
                if not engine.accept(matcher, token):
                    finish = "refused"
                    break
                out_ids.append(token)
                input_ids = torch.tensor([[token]], dtype=torch.long)
        total = time.perf_counter() - start
        text = self.tokenizer.decode(out_ids, skip_special_tokens=False)
        return text, out_ids, finish, ttft, total

    def _native(self, schema: Any) -> _Generated:
        import constrain

        start = time.perf_counter()
        result = constrain.generate(
            json.dumps(schema),
            schema=schema,
            model=self.model,
            tokenizer=self.tokenizer,
            max_new_tokens=self.max_tokens,
            system_prompt=SYSTEM_PROMPT,
        )
        total = time.perf_counter() - start
        finish = "stop" if result.finish_reason == "eos" else result.finish_reason
        return result.text, list(result.token_ids), finish, result.time_to_first_token_s, total


# --- reports ------------------------------------------------------------------------------
