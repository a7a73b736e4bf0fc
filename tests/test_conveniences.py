"""The front door's conveniences, with the tiny random GPT-2: templates, limits and threads,
chat messages, streaming, choice, typed results, tools, several sequences, per-token
log-probabilities, stop strings, reasoning first, progress."""

from __future__ import annotations

import builtins
import json
import math
import re
from typing import Literal

import jsonschema
import pytest
import torch

import constrain
from constrain.config import Limits
from constrain.errors import ConfigurationError, ResourceLimitError
from constrain.generation import encode_prompts, generate, model_vocabulary, resolve_constraint
from constrain.infill import TemplateGap, generate_template
from constrain.tools import schema_from_function
from tiny_lm import tiny_model, tiny_tokenizer

torch.set_num_threads(1)

OBJECT_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def run(prompt="x", **kwargs):
    kwargs.setdefault("max_new_tokens", 40)
    return generate(prompt, model=tiny_model(), tokenizer=tiny_tokenizer(), **kwargs)


# --- templates with gaps -------------------------------------------------------------------


@pytest.mark.parametrize("template", ['{"a":<gap>}', ['{"a":', TemplateGap(max_tokens=3), "}"]])
def test_template_fills_the_whole_text_and_parses_it(template):
    result = run(template=template, schema=OBJECT_SCHEMA, max_gap_tokens=8)
    assert isinstance(result, constrain.GenerationResult)
    assert result.finish_reason == "eos"
    assert result.text.startswith('{"a":') and result.text.endswith("}")
    assert result.value == json.loads(result.text)
    jsonschema.validate(result.value, OBJECT_SCHEMA)
    direct = generate_template(
        "x", template, model=tiny_model(), tokenizer=tiny_tokenizer(), schema=OBJECT_SCHEMA, max_gap_tokens=8
    )
    assert (result.text, result.token_ids) == (direct.text, [t for gap in direct.token_ids for t in gap])
    assert math.isnan(result.logprob)


def test_template_with_a_regex():
    result = run(template="Answer: <gap>.", regex=r"Answer: (yes|no)\.")
    assert result.finish_reason == "eos" and re.fullmatch(r"Answer: (yes|no)\.", result.text)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sampler="awrs"),
        dict(sampler="smc"),
        dict(stop="x"),
        dict(num_return_sequences=2),
        dict(reasoning=True),
        dict(top_k=3, temperature=1.0),
        dict(think_max_chars=4),
        dict(progress=True),
    ],
)
def test_template_refuses_what_it_cannot_do(kwargs):
    with pytest.raises(ConfigurationError):
        run(template='{"a":<gap>}', schema=OBJECT_SCHEMA, **kwargs)


def test_template_refuses_a_list_of_prompts():
    with pytest.raises(ConfigurationError):
        run(["x", "y"], template='{"a":<gap>}', schema=OBJECT_SCHEMA)


# --- limits, threads, value of a compiled schema grammar ------------------------------------


def test_limits_reach_the_compiler_and_the_cache_key():
    pattern = r"[a-z]{30}[0-9]{30}"
    with pytest.raises(ResourceLimitError):
        run(regex=pattern, limits=Limits(max_dfa_states=10))
    assert run(regex=pattern, max_new_tokens=2).finish_reason == "length"  # default limits: compiles
    vocab = model_vocabulary(tiny_model(), tiny_tokenizer())
    small = Limits(max_earley_items=1000)
    assert resolve_constraint(vocab, regex=pattern, limits=small).limits == small


def test_limits_refused_for_a_compiled_grammar():
    compiled = resolve_constraint(model_vocabulary(tiny_model(), tiny_tokenizer()), regex="a")
    with pytest.raises(ConfigurationError, match="already compiled"):
        run(grammar=compiled, limits=Limits())
    with pytest.raises(ConfigurationError):
        run(regex="a", limits={"max_dfa_states": 3})


def test_threads_apply_during_the_call_only():
    torch.set_num_threads(1)
    seen = []
    run(regex="[a-z]{3}", threads=2, callback=lambda piece: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {2}
    assert torch.get_num_threads() == 1
    with pytest.raises(ConfigurationError):
        run(regex="a", threads=0)
    assert torch.get_num_threads() == 1


def test_a_compiled_json_schema_grammar_fills_value():
    vocab = model_vocabulary(tiny_model(), tiny_tokenizer())
    compiled = constrain.compile(constrain.Grammar.from_json_schema({"type": "boolean"}), vocab)
    assert compiled.grammar.kind == "json_schema"
    result = run(grammar=compiled)
    assert result.finish_reason == "eos" and result.value in (True, False)
    assert run(grammar=constrain.Grammar.from_json_schema({"type": "boolean"})).value in (True, False)


# --- chat messages -------------------------------------------------------------------------

CHAT_TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"


def chat_tokenizer():
    tokenizer = tiny_tokenizer.__wrapped__()
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def test_messages_are_rendered_by_the_chat_template():
    tokenizer = chat_tokenizer()
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "Again?"},
    ]
    result = generate(
        messages=conversation, regex="(yes|no)", model=tiny_model(), tokenizer=tokenizer, max_new_tokens=8
    )
    expected = tokenizer(
        "<system>Be brief.\n<user>Hi\n<assistant>yes\n<user>Again?\n<assistant>", add_special_tokens=False
    )["input_ids"]
    assert result.num_prompt_tokens == len(expected)
    assert result.text in ("yes", "no")
    one = generate(
        messages=[{"role": "user", "content": "Hi"}], regex="[a-z]{1,5}", model=tiny_model(), tokenizer=tokenizer
    )
    same = generate("Hi", regex="[a-z]{1,5}", model=tiny_model(), tokenizer=tokenizer)
    assert (one.text, one.num_prompt_tokens) == (same.text, same.num_prompt_tokens)
    batch = generate(
        messages=[conversation, conversation[1:2]], regex="(yes|no)", model=tiny_model(), tokenizer=tokenizer
    )
    assert len(batch) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(messages=[{"role": "user", "content": "Hi"}]), "chat template"),  # the tiny tokenizer has none
        (dict(messages=[{"role": "user"}], tokenizer=chat_tokenizer()), "message 0"),
        (dict(messages=[], tokenizer=chat_tokenizer()), "non-empty"),
        (dict(prompt="x", messages=[{"role": "user", "content": "Hi"}], tokenizer=chat_tokenizer()), "either"),
        (dict(messages=[{"role": "user", "content": "Hi"}], system_prompt="s", tokenizer=chat_tokenizer()), "system"),
    ],
)
def test_bad_messages_are_refused(kwargs, match):
    kwargs.setdefault("tokenizer", tiny_tokenizer())
    with pytest.raises(ConfigurationError, match=match):
        generate(regex="a", model=tiny_model(), **kwargs)


# --- streaming -----------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", [r"(héllo|wörld|日本語)", r"[a-z ]{1,20}", r"🙂{1,3}"])
def test_stream_yields_whole_characters_then_the_result(pattern):
    for seed in range(3):
        items = list(
            constrain.stream(
                "x",
                regex=pattern,
                temperature=1.0,
                seed=seed,
                model=tiny_model(),
                tokenizer=tiny_tokenizer(),
                max_new_tokens=20,
            )
        )
        *pieces, result = items
        assert isinstance(result, constrain.GenerationResult)
        assert all(isinstance(p, str) and p and "\ufffd" not in p for p in pieces)
        assert "".join(pieces) == result.text
        called = []
        again = run(regex=pattern, temperature=1.0, seed=seed, max_new_tokens=20, callback=called.append)
        assert called == pieces and again.text == result.text
        streamed = list(run(regex=pattern, temperature=1.0, seed=seed, max_new_tokens=20, stream=True))
        assert streamed[:-1] == pieces


def test_leaving_a_stream_early_stops_the_generation():
    iterator = constrain.stream(
        "x", regex="[a-z]{30}", model=tiny_model(), tokenizer=tiny_tokenizer(), max_new_tokens=40
    )
    first = next(iterator)
    assert isinstance(first, str)
    iterator.close()  # joins the worker; must not hang


@pytest.mark.parametrize("kwargs", [dict(prompt=["a", "b"]), dict(num_return_sequences=2), dict(sampler="smc")])
def test_streaming_follows_one_sequence(kwargs):
    prompt = kwargs.pop("prompt", "x")
    with pytest.raises(ConfigurationError):
        constrain.stream(prompt, regex="a", model=tiny_model(), tokenizer=tiny_tokenizer(), **kwargs)
    with pytest.raises(ConfigurationError):
        run(prompt, regex="a", callback=print, **kwargs)


# --- choice --------------------------------------------------------------------------------

CHOICES = ["a.b", "c|d", "(e)", "[f]+", "g h", "ü\\n", "x" * 3]


def test_choice_outputs_exactly_one_of_the_strings():
    seen = set()
    for seed in range(8):
        result = run(choice=CHOICES, temperature=1.0, seed=seed)
        assert result.finish_reason == "eos" and result.text in CHOICES
        seen.add(result.text)
    assert len(seen) > 1


@pytest.mark.parametrize("bad", [[], "ab", [1, "a"], None])
def test_bad_choices_are_refused(bad):
    with pytest.raises(ConfigurationError):
        run(choice=bad if bad is not None else [None])


CHOICE_LANGUAGE = [  # (choices, texts in the language, texts outside it)
    (["a.b", "c|d"], ["a.b", "c|d"], ["axb", "c", "d", "a.bc|d"]),
    (["(e)", "[f]+", "g{2}"], ["(e)", "[f]+", "g{2}"], ["e", "f", "ff", "gg"]),
    (["a&b", "~x", "^$", "\\d"], ["a&b", "~x", "^$", "\\d"], ["ab", "x", "", "1", "d"]),
    (
        ["tab\there", "nl\n", "sp ace", "\u200b", "a\x00b", "🙂"],
        ["tab\there", "nl\n", "sp ace", "\u200b", "a\x00b", "🙂"],
        ["tab here", "nl", "space", "ab"],
    ),
    (["", "x"], ["", "x"], ["xx"]),
]


@pytest.mark.parametrize("choices, inside, outside", CHOICE_LANGUAGE)
def test_choice_regex_is_exactly_the_strings(choices, inside, outside):
    from constrain.generation import choice_regex

    compiled = constrain.compile(constrain.Grammar.from_regex(choice_regex(choices)), constrain.Vocabulary.byte_level())
    for text in inside + outside:
        matcher = constrain.Matcher(compiled)
        assert (matcher.accept_bytes(text.encode()) and matcher.is_accepting()) is (text in inside), text


def test_choice_is_the_whole_constraint():
    with pytest.raises(ConfigurationError):
        run(choice=["a"], regex="a")


# --- typed results, tools ------------------------------------------------------------------


def test_a_pydantic_schema_gives_a_parsed_instance():
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):
        ok: bool
        grade: Literal["a", "b"]

    finished = 0
    for seed in range(4):
        result = run(schema=Answer, temperature=1.0, seed=seed, max_new_tokens=60)
        if result.finish_reason == "eos":
            finished += 1
            assert isinstance(result.parsed, Answer)
            assert result.parsed.model_dump() == result.value
    assert finished


def set_light(on: bool, room: Literal["hall", "bed"] = "hall"):
    """Switch a light.

    Args:
        on: whether the light is on.
        room: which room.
    """


def pick(colour: Literal["red", "green"]):
    """Pick a colour."""


def test_tools_constrain_the_output_to_one_call():
    names = set()
    for seed in range(6):
        result = run(tools=[set_light, pick], temperature=1.0, seed=seed, max_new_tokens=60)
        assert result.finish_reason == "eos", result
        call = result.value
        assert set(call) == {"name", "arguments"}
        fn = {"set_light": set_light, "pick": pick}[call["name"]]
        jsonschema.validate(call["arguments"], schema_from_function(fn))
        names.add(call["name"])
    assert names == {"set_light", "pick"}


# --- several sequences, token log-probabilities, stop strings ------------------------------


def test_num_return_sequences_are_rows_grouped_by_prompt():
    results = run(["x", "a longer prompt"], regex="[a-z]{2,8}", num_return_sequences=3, temperature=1.0, seed=0)
    assert len(results) == 6
    lengths = [r.num_prompt_tokens for r in results]
    assert lengths[:3] == [lengths[0]] * 3 and lengths[3:] == [lengths[3]] * 3 and lengths[0] != lengths[3]
    assert len({r.text for r in results}) > 1
    single = run(regex="[a-z]{2,8}", num_return_sequences=2, temperature=1.0, seed=0)
    assert isinstance(single, list) and len(single) == 2
    with pytest.raises(ConfigurationError):
        run(regex="a", num_return_sequences=0)
    with pytest.raises(ConfigurationError):
        run(regex="a", num_return_sequences=2, sampler="smc")
    with pytest.raises(ConfigurationError):
        run(regex="a", progress=True, sampler="smc")


def test_token_logprobs_are_the_models_own():
    result = run(regex="[a-z]{3,6}", temperature=1.0, seed=3)
    assert len(result.token_logprobs) == len(result.token_ids)
    prompt = encode_prompts(tiny_tokenizer(), ["x"])[0]
    ids = torch.tensor([prompt + result.token_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(tiny_model()(ids).logits[0].float(), dim=-1)
    expected = [float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(result.token_ids)]
    assert result.token_logprobs == pytest.approx(expected, abs=1e-4)
    eos_term = result.logprob - sum(result.token_logprobs)
    if result.finish_reason == "eos":
        assert eos_term < 0
    else:
        assert eos_term == pytest.approx(0, abs=1e-5)


def test_stop_strings_end_the_output_before_them():
    pattern = "[a-z ]{1,40}"
    full = run(regex=pattern, temperature=1.0, seed=4)
    stop = full.text[len(full.text) // 2 : len(full.text) // 2 + 2]
    stopped = run(regex=pattern, temperature=1.0, seed=4, stop=[stop, "never here 123"])
    assert stopped.finish_reason == "stop"
    assert stopped.text == full.text[: full.text.find(stop)]
    assert len(stopped.token_ids) <= len(full.token_ids)
    assert stopped.value is None and not stopped.finished
    streamed = list(
        constrain.stream(
            "x",
            regex=pattern,
            temperature=1.0,
            seed=4,
            stop=stop,
            model=tiny_model(),
            tokenizer=tiny_tokenizer(),
            max_new_tokens=40,
        )
    )
    assert "".join(streamed[:-1]) == stopped.text
    for bad in ("", [""], [3]):
        with pytest.raises(ConfigurationError):
            run(regex=pattern, stop=bad)


# --- reasoning first -----------------------------------------------------------------------


def test_reasoning_then_the_constrained_output():
    finished = 0
    for seed in range(4):
        result = run(
            schema={"type": "boolean"},
            reasoning=True,
            think_max_chars=12,
            temperature=1.0,
            seed=seed,
            max_new_tokens=60,
        )
        if result.finish_reason != "eos":
            continue
        finished += 1
        match = re.fullmatch(r"<think>(.*)</think>\n(.*)", result.text, re.DOTALL)
        assert match and "</think>" not in match.group(1) and len(match.group(1)) <= 12
        assert result.reasoning == match.group(1)
        assert result.value == json.loads(match.group(2))
    assert finished
    with pytest.raises(ConfigurationError):
        run(regex="a", think_max_chars=5)


# --- progress ------------------------------------------------------------------------------


def test_progress_bar_with_and_without_tqdm(capsys, monkeypatch):
    run(["x", "y"], regex="[a-z]{1,4}", progress=True)
    assert "constrain" in capsys.readouterr().err
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    run(["x", "y"], regex="[a-z]{1,4}", progress=True)
    assert "2/2 sequences finished" in capsys.readouterr().err
