import re

import pytest
import torch

import constrain
from constrain.errors import ConfigurationError, ConstrainError
from constrain.generation import generate, model_vocabulary
from constrain.integrations.transformers import ConstrainedLogitsProcessor
from tiny_lm import tiny_model, tiny_tokenizer

torch.set_num_threads(1)

PROMPTS = ["Date:", "A much longer prompt, to exercise left padding in a batch"]
REGEXES = [r"\d{4}-\d{2}-\d{2}", r"(yes|no|maybe)", r"(the|a) [a-z]{1,6}( [a-z]{1,6}){0,3}\.", r"héllo|wörld|日本"]


def hf_generate(prompts, processor, **kwargs):
    tokenizer = tiny_tokenizer()
    tokenizer.padding_side = "left"
    inputs = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = tiny_model().generate(
            **inputs,
            logits_processor=[processor],
            eos_token_id=processor.eos_token_ids,
            pad_token_id=tokenizer.pad_token_id,
            **kwargs,
        )
    return out[:, inputs["input_ids"].shape[1] :].tolist()


def strip(ids, eos):
    """Generated ids up to the first EOS, and whether there was one."""
    for i, t in enumerate(ids):
        if t in eos:
            return ids[:i], True
    return ids, False


def processor_for(pattern, **kwargs):
    return ConstrainedLogitsProcessor.from_regex(
        pattern, tiny_tokenizer(), vocab_size=tiny_model().config.vocab_size, **kwargs
    )


@pytest.mark.parametrize("pattern", REGEXES)
def test_processor_equals_generate_greedy(pattern):
    processor = processor_for(pattern)
    outputs = hf_generate(PROMPTS, processor, do_sample=False, max_new_tokens=30)
    ours = generate(PROMPTS, regex=pattern, model=tiny_model(), tokenizer=tiny_tokenizer(), max_new_tokens=30)
    eos = set(processor.eos_token_ids)
    for ids, result in zip(outputs, ours):
        ids, ended = strip(ids, eos)
        assert (ids, "eos" if ended else "length") == (result.token_ids, result.finish_reason)
        if ended:
            assert re.fullmatch(pattern, result.text)


@pytest.mark.parametrize("pattern", REGEXES)
def test_processor_sampling_matches_the_regex(pattern):
    eos = set(processor_for(pattern).eos_token_ids)
    vocab = model_vocabulary(tiny_model(), tiny_tokenizer())
    for seed in range(3):
        torch.manual_seed(seed)
        processor = processor_for(pattern)
        for ids in hf_generate(PROMPTS, processor, do_sample=True, temperature=1.5, top_k=0, max_new_tokens=30):
            ids, ended = strip(ids, eos)
            if ended:
                assert re.fullmatch(pattern, vocab.decode(ids).decode())


def test_masked_scores_are_a_new_tensor():
    processor = processor_for(r"\d")
    tokenizer = tiny_tokenizer()
    input_ids = torch.tensor([tokenizer("x")["input_ids"]])
    scores = torch.zeros(1, tiny_model().config.vocab_size)
    out = processor(input_ids, scores)
    assert out is not scores and (scores == 0).all()
    allowed = (~torch.isneginf(out[0])).nonzero().flatten().tolist()
    assert sorted(tokenizer.convert_ids_to_tokens(allowed)) == [str(d) for d in range(10)]


def test_terminated_rows_allow_only_eos():
    processor = processor_for("a")
    tokenizer = tiny_tokenizer()
    a = tokenizer.convert_tokens_to_ids("a")
    eos = processor.eos_token_ids[0]
    width = tiny_model().config.vocab_size
    processor(torch.tensor([[5]]), torch.zeros(1, width))
    out = processor(torch.tensor([[5, a]]), torch.zeros(1, width))
    assert (~torch.isneginf(out[0])).nonzero().flatten().tolist() == processor.eos_token_ids
    processor(torch.tensor([[5, a, eos]]), torch.zeros(1, width))
    assert processor.is_terminated(0)
    out = processor(torch.tensor([[5, a, eos, eos]]), torch.zeros(1, width))  # generate() pads ended rows
    assert (~torch.isneginf(out[0])).nonzero().flatten().tolist() == processor.eos_token_ids


def test_wider_scores_mask_padding_ids():
    processor = ConstrainedLogitsProcessor.from_regex("[^x]", tiny_tokenizer())  # sized by the tokenizer
    out = processor(torch.tensor([[5]]), torch.zeros(1, len(tiny_tokenizer()) + 7))
    assert torch.isneginf(out[0, len(tiny_tokenizer()) :]).all()


def test_reuse_and_reordering_are_detected():
    processor = processor_for("[a-z]+")
    width = tiny_model().config.vocab_size
    a, b = tiny_tokenizer().convert_tokens_to_ids(["a", "b"])
    processor(torch.tensor([[5], [6]]), torch.zeros(2, width))
    processor(torch.tensor([[5, a], [6, b]]), torch.zeros(2, width))
    with pytest.raises(ConstrainError):  # rows swapped, as beam search would
        processor(torch.tensor([[6, b, a], [5, a, a]]), torch.zeros(2, width))
    processor.reset()
    processor(torch.tensor([[5], [6]]), torch.zeros(2, width))
    with pytest.raises(ConfigurationError):  # a second generate() call with the same processor
        processor(torch.tensor([[7], [8]]), torch.zeros(2, width))


def test_disallowed_token_is_an_error():
    processor = processor_for(r"\d+")
    width = tiny_model().config.vocab_size
    processor(torch.tensor([[5]]), torch.zeros(1, width))
    with pytest.raises(ConstrainError):
        processor(torch.tensor([[5, tiny_tokenizer().convert_tokens_to_ids("a")]]), torch.zeros(1, width))


def test_constructor_validation():
    vocab = model_vocabulary(tiny_model(), tiny_tokenizer())
    compiled = constrain.compile(constrain.Grammar.from_regex("a"), vocab)
    assert ConstrainedLogitsProcessor(compiled).compiled is compiled
    assert ConstrainedLogitsProcessor(compiled, vocab).compiled is compiled
    with pytest.raises(ConfigurationError):
        ConstrainedLogitsProcessor("a", tiny_tokenizer())
    with pytest.raises(ConfigurationError):
        ConstrainedLogitsProcessor(constrain.Grammar.from_regex("a"))
    with pytest.raises(ConfigurationError):
        ConstrainedLogitsProcessor(compiled, constrain.Vocabulary.byte_level())
    with pytest.raises(ConfigurationError):
        ConstrainedLogitsProcessor(compiled, batch_size=0)
    processor = ConstrainedLogitsProcessor(compiled, batch_size=2)
    with pytest.raises(ConfigurationError):
        processor(torch.tensor([[5]]), torch.zeros(1, vocab.size))


LARK_YES_NO = 'start: ANSWER\nANSWER: "yes" | "no"\n'


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConstrainedLogitsProcessor.from_lark(
            LARK_YES_NO, tiny_tokenizer(), vocab_size=tiny_model().config.vocab_size
        ),
        lambda: ConstrainedLogitsProcessor.from_grammar(
            constrain.Grammar.from_lark(LARK_YES_NO), tiny_tokenizer(), vocab_size=tiny_model().config.vocab_size
        ),
    ],
)
def test_from_lark_and_from_grammar_constrain_model_generate(make):
    processor = make()
    eos = set(processor.eos_token_ids)
    for row in hf_generate(PROMPTS, processor, max_new_tokens=6, do_sample=False):
        ids, ended = strip(row, eos)
        assert ended
        assert tiny_tokenizer().decode(ids) in ("yes", "no")


def test_from_grammar_reads_a_grammar_file(tmp_path):
    path = tmp_path / "answer.lark"
    path.write_text(LARK_YES_NO)
    processor = ConstrainedLogitsProcessor.from_grammar(
        path, tiny_tokenizer(), vocab_size=tiny_model().config.vocab_size
    )
    assert processor.compiled.grammar == constrain.Grammar.from_lark(LARK_YES_NO)


@pytest.mark.parametrize("bad", [42, None, b"start: A"])
def test_from_grammar_and_from_lark_refuse_other_types(bad):
    with pytest.raises(ConfigurationError):
        ConstrainedLogitsProcessor.from_grammar(bad, tiny_tokenizer())
    with pytest.raises(ConfigurationError):
        ConstrainedLogitsProcessor.from_lark(bad, tiny_tokenizer())
