"""SMC against the exact distribution (research brief, W5): the pooled posterior approaches pi
as particles grow, exp(log_ml) is unbiased for Z, critics reweight, resampled particles share
KV cache rows on a real transformers model."""

import math
import re

import numpy as np
import pytest

import constrain
from constrain.errors import ConfigurationError
from constrain.samplers.smc import SMC, effective_sample_size
from constrain.testing import exact_distribution, total_variation
from toys import bit_vocabulary, compile_regex, skewed_model, uniform_bits_model

SKEW5 = "00000|1[01]{4}"


def pooled(smc, model, compiled, exact, runs):
    posterior, estimates = {}, []
    for _ in range(runs):
        population = smc.run(model, compiled, [0], max_new_tokens=8)
        for text, p in population.posterior(lambda d: exact.decode(tuple(d.token_ids))).items():
            posterior[text] = posterior.get(text, 0.0) + p / runs
        estimates.append(math.exp(population.log_ml))
        assert all(
            re.fullmatch(SKEW5, exact.decode(tuple(d.token_ids)))
            for d in population.particles
            if d.finish_reason == "eos"
        )
    return posterior, np.asarray(estimates)


@pytest.mark.parametrize("proposal", ["awrs", "lcd"])
def test_posterior_approaches_pi_and_log_ml_is_unbiased(proposal):
    compiled = compile_regex(SKEW5, bit_vocabulary())
    model = uniform_bits_model()
    exact = exact_distribution(compiled, model, [0], max_new_tokens=8)
    pi = exact.strings(exact.pi())
    z = math.exp(exact.log_z)
    few, _ = pooled(SMC(2, proposal=proposal, seed=0), model, compiled, exact, 60)
    many, estimates = pooled(SMC(12, proposal=proposal, seed=1), model, compiled, exact, 60)
    assert total_variation(many, pi) < total_variation(few, pi)
    assert total_variation(many, pi) < 0.12
    assert abs(estimates.mean() - z) < 3.5 * estimates.std() / math.sqrt(estimates.size)


def test_ess_threshold_zero_never_resamples_and_one_always_does():
    compiled = compile_regex(SKEW5, bit_vocabulary())
    model = skewed_model(0)
    assert SMC(6, ess_threshold=0.0, seed=0).run(model, compiled, [0], max_new_tokens=8).resamplings == 0
    assert (
        SMC(6, ess_threshold=1.0, seed=0, resampling="systematic")
        .run(model, compiled, [0], max_new_tokens=8)
        .resamplings
        > 0
    )


def test_critic_reweights_finished_particles():
    compiled = compile_regex(SKEW5, bit_vocabulary())
    smc = SMC(8, seed=2, critic=lambda text, finished: 0.0 if text.endswith("1") else -math.inf)
    for _ in range(5):
        population = smc.run(uniform_bits_model(), compiled, [0], max_new_tokens=8)
        posterior = population.posterior(lambda d: bit_vocabulary().decode(d.token_ids).decode())
        assert posterior and all(text.endswith("1") for text in posterior)


def test_particles_die_cleanly_at_an_impossible_limit():
    compiled = compile_regex("0{6}", bit_vocabulary())
    population = SMC(4, seed=0).run(uniform_bits_model(), compiled, [0], max_new_tokens=2)
    assert population.log_ml == -math.inf
    assert all(p.finish_reason in ("length", "dead") for p in population.particles)


def test_effective_sample_size():
    assert effective_sample_size([0.0, 0.0, 0.0, 0.0]) == pytest.approx(4.0)
    assert effective_sample_size([0.0, -math.inf, -math.inf]) == pytest.approx(1.0)
    assert effective_sample_size([-math.inf]) == 0.0


@pytest.mark.parametrize(
    "bad",
    [
        dict(num_particles=0),
        dict(ess_threshold=2),
        dict(proposal="beam"),
        dict(resampling="stratified"),
        dict(select="best"),
        dict(critic=3),
    ],
)
def test_bad_arguments(bad):
    with pytest.raises(ConfigurationError):
        SMC(**{"num_particles": 2, **bad})


def test_generate_smc_on_a_transformers_model_shares_the_kv_cache():
    from tiny_lm import tiny_model, tiny_tokenizer

    pattern = r"(yes|no|maybe)"
    result = constrain.generate(
        "Answer:",
        regex=pattern,
        sampler="smc",
        num_particles=6,
        ess_threshold=1.0,
        seed=0,
        model=tiny_model(),
        tokenizer=tiny_tokenizer(),
        max_new_tokens=8,
    )
    assert result.finish_reason == "eos" and re.fullmatch(pattern, result.text)
    assert len(result.particles) == 6 and math.isfinite(result.log_ml)
    assert sum(result.posterior.values()) == pytest.approx(1.0)
    assert set(result.posterior) <= {"yes", "no", "maybe"}
    # Resampling every step repeats and drops KV cache rows: each finished particle's log-probability,
    # accumulated from the model's logits along the way, must be that of its sequence.
    vocab = constrain.generation.model_vocabulary(tiny_model(), tiny_tokenizer())
    compiled = constrain.compile(constrain.Grammar.from_regex(pattern), vocab)
    lm = constrain.models.TransformersLM(tiny_model(), pad_token_id=tiny_tokenizer().pad_token_id)
    prompt = tiny_tokenizer()("Answer:")["input_ids"]
    exact = exact_distribution(compiled, lm, prompt, max_new_tokens=8)
    checked = 0
    for seed in range(6):
        population = SMC(6, ess_threshold=1.0, seed=seed).run(lm, compiled, prompt, max_new_tokens=8)
        assert population.resamplings > 0
        for particle in population.particles:
            if particle.finish_reason == "eos":
                assert particle.logprob == pytest.approx(exact.logprob[tuple(particle.token_ids)], abs=1e-4)
                checked += 1
    assert checked > 10
