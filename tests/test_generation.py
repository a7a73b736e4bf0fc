import re

import pytest
import torch

import constrain
from constrain.errors import ConfigurationError
from constrain.generation import GenerationResult, encode_prompts, generate, model_vocabulary
from constrain.samplers.lcd import sample_logits as _sample
from tiny_lm import EXTRA_LOGITS, tiny_model, tiny_tokenizer

torch.set_num_threads(1)

PROMPTS = ["Date:", "A much longer prompt, to exercise left padding in a batch", "x"]

REGEXES = [
    r"\d{4}-\d{2}-\d{2}",
    r"(yes|no|maybe)",
    r"(the|a) [a-z]{1,6}( [a-z]{1,6}){0,3}\.",
    r"\(\d{3}\) \d{3}-\d{4}",
    r"[A-Z][a-z]*",
    r"-?(0|[1-9]\d*)(\.\d+)?",
    r"héllo|wörld|日本",
]


def run(prompt, **kwargs):
    kwargs.setdefault("max_new_tokens", 40)
    return generate(prompt, model=tiny_model(), tokenizer=tiny_tokenizer(), **kwargs)


@pytest.mark.parametrize("pattern", REGEXES)
def test_greedy_outputs_match_the_regex(pattern):
    for result in run(PROMPTS, regex=pattern):
        assert result.finish_reason in ("eos", "length")
        if result.finish_reason == "eos":
            assert re.fullmatch(pattern, result.text), result
        assert tiny_tokenizer().eos_token_id not in result.token_ids


@pytest.mark.parametrize("pattern", REGEXES)
def test_sampled_outputs_match_the_regex(pattern):
    finished = 0
    for seed in range(4):
        for result in run(PROMPTS[:2], regex=pattern, temperature=1.5, seed=seed):
            if result.finish_reason == "eos":
                finished += 1
                assert re.fullmatch(pattern, result.text), result
    assert finished > 0


@pytest.mark.parametrize(
    "pattern",
    [r"\d{4}-\d{2}-\d{2}", r"\(\d{3}\) \d{3}-\d{4}", r"(yes|no|maybe)", r"héllo|wörld|日本"],
)
def test_bounded_regexes_always_finish(pattern):
    # Every string of these languages is shorter than max_new_tokens tokens: EOS is forced.
    for seed in range(3):
        for result in run(PROMPTS, regex=pattern, temperature=1.0, seed=seed):
            assert result.finish_reason == "eos" and re.fullmatch(pattern, result.text)
            assert (
                constrain.Vocabulary.decode(model_vocabulary(tiny_model(), tiny_tokenizer()), result.token_ids).decode()
                == result.text
            )


@pytest.mark.parametrize("pattern", REGEXES)
def test_batch_equals_single_greedy(pattern):
    batch = run(PROMPTS, regex=pattern)
    singles = [run(p, regex=pattern) for p in PROMPTS]
    assert [(r.text, r.token_ids, r.finish_reason) for r in batch] == [
        (r.text, r.token_ids, r.finish_reason) for r in singles
    ]


def reference_greedy(prompt: str, pattern: str, max_new_tokens: int):
    """No KV cache, no threads, no batching: the whole sequence through the model every step."""
    model, tokenizer = tiny_model(), tiny_tokenizer()
    vocab = model_vocabulary(model, tokenizer)
    matcher = constrain.Matcher(constrain.compile(constrain.Grammar.from_regex(pattern), vocab))
    ids = tokenizer(prompt)["input_ids"]
    out = []
    bitmask = constrain.allocate_token_bitmask(1, vocab.size)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(torch.tensor([ids + out])).logits[0, -1].float()
            matcher.fill_next_token_bitmask(bitmask)
            allowed = constrain.bitmask_to_bool(bitmask, vocab.size)[0]
            logits[torch.from_numpy(~allowed[: logits.shape[0]])] = float("-inf")
            token = int(logits.argmax())
            assert matcher.accept_token(token)
            if token in vocab.eos_token_ids:
                return out, "eos"
            out.append(token)
    return out, "length"


@pytest.mark.parametrize("pattern", REGEXES)
def test_cached_loop_equals_uncached_reference(pattern):
    for prompt in PROMPTS:
        result = run(prompt, regex=pattern, max_new_tokens=25)
        assert (result.token_ids, result.finish_reason) == reference_greedy(prompt, pattern, 25)


def test_seed_determinism():
    kwargs = dict(regex=r"[a-z]{3,12}( [a-z]{2,8}){0,4}", temperature=1.0)
    first = [r.text for r in run(PROMPTS, seed=7, **kwargs)]
    assert [r.text for r in run(PROMPTS, seed=7, **kwargs)] == first
    others = {tuple(r.text for r in run(PROMPTS, seed=s, **kwargs)) for s in range(8, 12)}
    assert len(others | {tuple(first)}) > 1


@pytest.mark.parametrize("kwargs", [dict(top_k=1), dict(top_p=1e-6), dict(top_k=1, top_p=0.5)])
def test_degenerate_sampling_is_greedy(kwargs):
    pattern = r"[a-z]{3,12}( [a-z]{2,8}){0,4}"
    greedy = [r.text for r in run(PROMPTS, regex=pattern)]
    assert [r.text for r in run(PROMPTS, regex=pattern, temperature=0.7, seed=0, **kwargs)] == greedy


def test_sample_respects_top_k_and_top_p():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, float("-inf")]] * 200)
    gen = torch.Generator().manual_seed(0)
    picked = _sample(logits, 1.0, 2, None, gen)
    assert set(picked.tolist()) == {2, 3}
    probs = torch.softmax(logits[0], -1)  # p(3) ~ 0.64, p(2) ~ 0.24
    assert probs[3] < 0.7 < probs[3] + probs[2]
    picked = _sample(logits, 1.0, None, 0.7, gen)
    assert set(picked.tolist()) == {2, 3}
    picked = _sample(logits, 1.0, None, 0.5, gen)
    assert set(picked.tolist()) == {3}
    assert _sample(logits[:1], 0.0, None, None, None).tolist() == [3]
    masked = torch.tensor([[float("-inf"), 5.0, float("-inf")]] * 50)
    assert set(_sample(masked, 2.0, 3, 0.9, gen).tolist()) == {1}


def test_length_cut():
    result = run("Date:", regex=r"\d{4}-\d{2}-\d{2}", max_new_tokens=2)
    assert result.finish_reason == "length" and not result.finished
    assert len(result.token_ids) == 2
    assert re.fullmatch(r"\d[\d-]*", result.text)


def test_single_prompt_returns_one_result_and_list_returns_list():
    assert isinstance(run("x", regex="yes|no"), GenerationResult)
    results = run(["x"], regex="yes|no")
    assert isinstance(results, list) and len(results) == 1


def test_padding_ids_are_never_generated():
    vocab = model_vocabulary(tiny_model(), tiny_tokenizer())
    assert vocab.size == len(tiny_tokenizer()) + EXTRA_LOGITS
    for seed in range(3):
        for result in run(PROMPTS, regex=r"[^\n]{1,30}", temperature=2.0, seed=seed):
            assert all(i < len(tiny_tokenizer()) for i in result.token_ids)


def test_grammar_object():
    grammar = constrain.Grammar.from_lark('start: "(" start ")" | "x"')
    for result in run(PROMPTS, grammar=grammar, temperature=1.0, seed=3):
        if result.finished:
            assert re.fullmatch(r"(\(*)x(\)*)", result.text)
            assert result.text.count("(") == result.text.count(")")


def test_compiled_grammar_for_the_same_vocabulary():
    vocab = model_vocabulary(tiny_model(), tiny_tokenizer())
    compiled = constrain.compile(constrain.Grammar.from_regex("yes|no"), vocab)
    assert run("x", grammar=compiled).text in ("yes", "no")
    other = constrain.compile(constrain.Grammar.from_regex("yes|no"), constrain.Vocabulary.byte_level())
    with pytest.raises(ConfigurationError):
        run("x", grammar=other)


def test_schema_value():
    pytest.importorskip("constrain.grammar.json_schema")
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 5},
            "age": {"type": "integer", "minimum": 0, "maximum": 99},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    import jsonschema

    finished = 0
    for seed in range(3):
        for result in run(PROMPTS[:2], schema=schema, temperature=1.0, seed=seed, max_new_tokens=60):
            if result.finished:
                finished += 1
                jsonschema.validate(result.value, schema)
                assert result.value == __import__("json").loads(result.text)
            else:
                assert result.value is None
    assert finished > 0


def test_chat_template_is_applied_when_present():
    tokenizer = tiny_tokenizer()
    assert encode_prompts(tokenizer, ["hi"]) == [tokenizer("hi")["input_ids"]]
    templated = type(tokenizer)(tokenizer_object=tokenizer.backend_tokenizer, eos_token=tokenizer.eos_token)
    templated.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    expected = templated("<system>be brief\n<user>hi\n<assistant>", add_special_tokens=False)["input_ids"]
    assert encode_prompts(templated, ["hi"], system_prompt="be brief") == [expected]
    assert encode_prompts(templated, ["hi"], chat_template=False) == [templated("hi")["input_ids"]]
    with pytest.raises(ConfigurationError):
        encode_prompts(tokenizer, ["hi"], chat_template=True)
    result = generate("hi", regex="yes|no", model=tiny_model(), tokenizer=templated)
    assert result.num_prompt_tokens == len(expected) - len(templated("<system>be brief\n")["input_ids"])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),  # no constraint
        dict(regex="a", schema={}),
        dict(regex="a", max_new_tokens=0),
        dict(regex="a", max_new_tokens=1.5),
        dict(regex="a", temperature=-1.0),
        dict(regex="a", top_k=0),
        dict(regex="a", top_p=0.0),
        dict(regex="a", top_p=1.5),
        dict(regex=3),
        dict(grammar=3.5),
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigurationError):
        run("x", **kwargs)


def test_model_without_tokenizer_and_empty_batch():
    with pytest.raises(ConfigurationError):
        generate("x", regex="a", model=tiny_model())
    with pytest.raises(ConfigurationError):
        generate("x", regex="a", tokenizer=tiny_tokenizer())
    with pytest.raises(ConfigurationError):
        run([], regex="a")


def test_invalid_regex_raises_grammar_error():
    with pytest.raises(constrain.InvalidGrammarError):
        run("x", regex="(unclosed")


@pytest.mark.model
def test_default_model_date():
    torch.set_num_threads(2)
    pattern = r"\d{4}-\d{2}-\d{2}"
    result = generate(
        "What day did the French Revolution start? Answer as YYYY-MM-DD.", regex=pattern, max_new_tokens=20
    )
    assert result.finish_reason == "eos", result
    assert re.fullmatch(pattern, result.text)
    assert result.num_prompt_tokens > 20  # the chat template (with its system prompt) was applied


def test_timings_are_ordered():
    result = run("x", regex=r"[a-z]{2,4}q[0-9]{3}")  # a pattern no other test compiles
    assert 0 < result.compile_s <= result.time_to_first_token_s <= result.time_s
    again = run("x", regex=r"[a-z]{2,4}q[0-9]{3}")
    assert again.compile_s < result.compile_s  # served from the compile cache


def test_ended_rows_leave_the_batch():
    sizes = []
    handle = tiny_model().register_forward_pre_hook(
        lambda module, args, kwargs: sizes.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        batch = run(PROMPTS, regex=r"\d{4}-\d{2}-\d{2}")
    finally:
        handle.remove()
    lengths = sorted(len(r.token_ids) for r in batch)
    assert lengths[0] < lengths[-1]  # '20' is one token: rows need different numbers of steps
    assert sizes[0] == len(PROMPTS) and min(sizes) < len(PROMPTS)
    assert sizes == sorted(sizes, reverse=True)
    assert [r.token_ids for r in batch] == [run(p, regex=r"\d{4}-\d{2}-\d{2}").token_ids for p in PROMPTS]


def test_unspellable_continuation_raises_vocabulary_error():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "x": 2, "<eos>": 3}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<eos>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=4, n_positions=16, n_embd=8, n_layer=1, n_head=1, bos_token_id=3, eos_token_id=3)
    ).eval()
    # "a" is a live prefix of "ac", but no token spells "c": the next mask is empty.
    with pytest.raises(constrain.VocabularyError, match="'a'"):
        generate("x", regex="ac", model=model, tokenizer=tokenizer, max_new_tokens=5)
    outcomes = set()
    for seed in range(8):
        try:
            outcomes.add(generate("x", regex="ac|b", model=model, tokenizer=tokenizer, temperature=1.0, seed=seed).text)
        except constrain.VocabularyError:
            outcomes.add("error")
    assert "b" in outcomes and outcomes <= {"b", "error"}


# --- samplers through the front door ------------------------------------------------------


def test_results_report_logprob_and_lcd_weight():
    # temperature 1, no warpers: log_weight is sum_t log Z_t, and logprob - log_weight = log q_LCD <= 0
    for result in run(PROMPTS, regex=r"(yes|no|maybe)", temperature=1.0, seed=0):
        assert result.finish_reason == "eos"
        assert result.log_weight <= 1e-6 and result.logprob <= result.log_weight + 1e-6
    greedy = run("x", regex=r"(yes|no|maybe)")
    assert greedy.logprob < 0 and greedy.log_weight != greedy.log_weight  # NaN: greedy is warped


def test_asap_through_generate_and_the_sampler_object(tmp_path):
    pattern = r"(yes|no|maybe)"
    results = run("Answer:", regex=pattern, sampler="asap", num_samples=12, seed=0, batch_size=4)
    assert len(results) == 12 and all(re.fullmatch(pattern, r.text) for r in results)
    sampler = constrain.ASAp(
        regex=pattern, model=tiny_model(), tokenizer=tiny_tokenizer(), prompt="Answer:", max_new_tokens=8, seed=1
    )
    first = sampler.sample(10, batch_size=5)
    assert all(r.finish_reason == "eos" and re.fullmatch(pattern, r.text) for r in first)
    nodes = sampler.num_nodes
    assert nodes > 1
    sampler.save(tmp_path / "trie.npz")
    again = constrain.ASAp.load(
        tmp_path / "trie.npz",
        regex=pattern,
        model=tiny_model(),
        tokenizer=tiny_tokenizer(),
        prompt="Answer:",
        max_new_tokens=8,
    )
    assert again.num_nodes == nodes
    with pytest.raises(ConfigurationError, match="another model, prompt, grammar"):
        constrain.ASAp.load(
            tmp_path / "trie.npz",
            regex=pattern,
            model=tiny_model(),
            tokenizer=tiny_tokenizer(),
            prompt="Another prompt",
            max_new_tokens=8,
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sampler="beam"), "sampler must be one of"),
        (dict(sampler="asap", temperature=0.7), "temperature must be 1"),
        (dict(sampler="smc", top_k=5), "temperature must be 1"),
        (dict(num_samples=3), "for sampler='asap'"),
    ],
)
def test_sampler_arguments_are_checked(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        run("x", regex="a", **kwargs)
