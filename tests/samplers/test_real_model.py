"""The samplers on the real default model (SmolLM2-135M-Instruct), against the exact distribution
of a small language enumerated with the same model."""

import math

import pytest
import torch

from constrain.samplers import AWRS, LCD, SMC, ASApSampler, ASApTrie, decode
from constrain.testing import empirical, exact_distribution, total_variation

pytestmark = pytest.mark.model

PROMPT = "Write a random binary string of length 3."
LANGUAGE = "000|1[01]{2}"


@pytest.fixture(scope="module")
def setup():
    pytest.importorskip("gguf")
    from constrain.errors import ConfigurationError
    from constrain.generation import _pad_id, encode_prompts, model_vocabulary, resolve_constraint
    from constrain.lm import load_default_model
    from constrain.models import TransformersLM

    torch.set_num_threads(1)
    try:
        model, tokenizer = load_default_model()
    except ConfigurationError as exc:
        pytest.skip(f"the default model is not installed: {exc}")
    vocab = model_vocabulary(model, tokenizer)
    lm = TransformersLM(model, pad_token_id=_pad_id(tokenizer, vocab))
    compiled = resolve_constraint(vocab, regex=LANGUAGE)
    prompt = encode_prompts(tokenizer, [PROMPT], system_prompt="Reply with the answer only.")[0]
    exact = exact_distribution(compiled, lm, prompt, max_new_tokens=6)
    return lm, compiled, prompt, exact


def test_lcd_is_biased_and_reports_exact_logprobs(setup):
    lm, compiled, prompt, exact = setup
    draws = decode(
        lm,
        compiled,
        [prompt] * 200,
        LCD(1.0, generator=torch.Generator().manual_seed(0), forces_eos_at_limit=True),
        max_new_tokens=6,
    ).draws
    pi, q = exact.strings(exact.pi()), exact.strings(exact.q_lcd())
    assert total_variation(pi, q) > 0.3  # the model's LCD bias on this language is large
    texts = [exact.decode(tuple(d.token_ids)) for d in draws]
    assert total_variation(empirical(texts), q) < 0.15
    for d in draws:
        # log p(x, the EOS drawn) <= log p(x, any EOS) <= log p(x), up to bf16 logits that
        # differ a little with the batch's shape
        x = tuple(d.token_ids)
        assert d.logprob <= exact.logprob[x] + 0.05
        assert exact.logprob[x] <= exact.prefix_logprob[x] + 1e-9


def test_asap_converges_where_lcd_does_not(setup):
    lm, compiled, prompt, exact = setup
    pi = exact.strings(exact.pi())
    draws = ASApSampler(ASApTrie(), seed=0).sample(lm, compiled, prompt, 160, max_new_tokens=6, batch_size=16)
    texts = [exact.decode(tuple(d.token_ids)) for d in draws]
    assert total_variation(empirical(texts[-80:]), pi) < 0.1 < total_variation(exact.strings(exact.q_lcd()), pi)


def test_awrs_and_smc_stay_in_the_language(setup):
    lm, compiled, prompt, exact = setup
    sampler = AWRS(seed=0, forces_eos_at_limit=True)
    draws = decode(lm, compiled, [prompt] * 16, sampler, max_new_tokens=6).draws
    assert all(tuple(d.token_ids) in exact.logprob for d in draws)
    population = SMC(8, seed=0).run(lm, compiled, prompt, max_new_tokens=6)
    assert math.isfinite(population.log_ml)
    assert set(population.posterior(lambda d: exact.decode(tuple(d.token_ids)))) <= set(exact.strings(exact.pi()))
