"""LCD against its exact distributions: it follows q_LCD, not pi; weighted by prod Z_t it is
properly weighted for pi (research brief, tests L1-L4)."""

import math

import pytest
import torch

from constrain.errors import VocabularyError
from constrain.samplers.driver import decode
from constrain.samplers.lcd import LCD
from constrain.testing import empirical, exact_distribution, total_variation
from toys import bit_vocabulary, compile_regex, skewed_model, tv_floor, uniform_bits_model

N = 4000


def lcd_draws(model, compiled, n=N, seed=0, max_new_tokens=6):
    generator = torch.Generator().manual_seed(seed)
    sampler = LCD(1.0, generator=generator, forces_eos_at_limit=True)
    return decode(model, compiled, [[0]] * n, sampler, max_new_tokens=max_new_tokens).draws


@pytest.mark.parametrize("model_factory", [uniform_bits_model, skewed_model])
def test_lcd_follows_q_lcd_not_pi(model_factory):
    compiled = compile_regex("000|1[01]{2}", bit_vocabulary())
    model = model_factory()
    exact = exact_distribution(compiled, model, [0], max_new_tokens=6)
    draws = lcd_draws(model, compiled)
    assert all(d.finish_reason == "eos" for d in draws)
    emp = empirical([tuple(d.token_ids) for d in draws])
    q = exact.q_lcd()
    assert total_variation(emp, q) < 3 * tv_floor(q.values(), N)
    # the bias is real: LCD is far from pi, as far as q_LCD is
    gap = total_variation(q, exact.pi())
    assert gap > 0.1
    assert abs(total_variation(emp, exact.pi()) - gap) < 3 * tv_floor(q.values(), N)


def test_uniform_bits_reproduce_the_gad_example():
    compiled = compile_regex("000|1[01]{2}", bit_vocabulary())
    exact = exact_distribution(compiled, uniform_bits_model(), [0], max_new_tokens=6)
    # "000" gets half of LCD's mass against a fifth of pi's (up to the rare multi-bit tokens)
    assert exact.strings(exact.q_lcd())["000"] == pytest.approx(0.5, abs=0.01)
    assert exact.strings(exact.pi())["000"] == pytest.approx(0.2, abs=0.01)


def test_weights_make_lcd_properly_weighted():
    compiled = compile_regex("000|1[01]{2}", bit_vocabulary())
    model = skewed_model()
    exact = exact_distribution(compiled, model, [0], max_new_tokens=6)
    draws = lcd_draws(model, compiled, seed=1)
    weights = [math.exp(d.log_weight) for d in draws]
    mean = sum(weights) / N
    se = (sum((w - mean) ** 2 for w in weights) / (N - 1) / N) ** 0.5
    assert abs(mean - math.exp(exact.log_z)) < 4 * se
    weighted: dict = {}
    for d, w in zip(draws, weights):
        weighted[tuple(d.token_ids)] = weighted.get(tuple(d.token_ids), 0.0) + w
    total = sum(weighted.values())
    assert total_variation({k: v / total for k, v in weighted.items()}, exact.pi()) < 0.03


def test_logprob_and_weight_are_exact_per_sequence():
    compiled = compile_regex("000|1[01]{2}", bit_vocabulary())
    model = skewed_model(3)
    exact = exact_distribution(compiled, model, [0], max_new_tokens=6)
    for d in lcd_draws(model, compiled, n=200, seed=2):
        x = tuple(d.token_ids)
        assert d.logprob == pytest.approx(exact.logprob[x], abs=1e-9)
        # log q_LCD = log p - sum log Z_t
        assert d.logprob - d.log_weight == pytest.approx(exact.log_q_lcd[x], abs=1e-9)


def test_forced_eos_at_the_limit_and_cut_without_it():
    compiled = compile_regex("[01]+", bit_vocabulary())
    model = uniform_bits_model()
    draws = lcd_draws(model, compiled, n=50, max_new_tokens=2)
    assert all(d.finish_reason == "eos" and len(d.token_ids) <= 2 for d in draws)
    generator = torch.Generator().manual_seed(0)
    cut = decode(model, compiled, [[0]] * 50, LCD(1.0, generator=generator), max_new_tokens=2).draws
    assert {d.finish_reason for d in cut} <= {"eos", "length"}
    assert any(d.finish_reason == "length" for d in cut)
    assert all(len(d.token_ids) <= 2 for d in cut)


def test_limit_that_no_string_fits_kills_the_draw():
    compiled = compile_regex("0{5}", bit_vocabulary())
    draws = lcd_draws(uniform_bits_model(), compiled, n=20, max_new_tokens=2)
    # "00"+"00" is 4 bytes in 2 tokens: never complete, so every draw dies at the limit
    assert all(d.finish_reason == "length" and d.log_weight == -math.inf for d in draws)


def test_no_allowed_token_is_a_vocabulary_error():
    import constrain
    from constrain.models import ToyLM

    vocab = constrain.Vocabulary([b"0", b"1", b""], eos_token_ids=[2])
    model = ToyLM(3, lambda prefix: [-1.0, -0.5, -2.0])
    sampler = LCD(1.0, generator=torch.Generator().manual_seed(0))
    compiled = constrain.compile(constrain.Grammar.from_regex("02"), vocab)  # no token spells "2"
    with pytest.raises(VocabularyError, match="no token can continue the output '0'"):
        decode(model, compiled, [[0]], sampler, max_new_tokens=4)


def test_several_eos_ids_end_the_same_sequence():
    import constrain
    from constrain.models import ToyLM

    vocab = constrain.Vocabulary([b"0", b"1", b"", b""], eos_token_ids=[2, 3])
    model = ToyLM(4, lambda prefix: [-1.0, -1.2, -2.0, -1.5])
    compiled = constrain.compile(constrain.Grammar.from_regex("[01]{1,2}"), vocab)
    exact = exact_distribution(compiled, model, [0], max_new_tokens=3)
    assert sum(exact.q_lcd().values()) == pytest.approx(1.0)
    assert len(exact.logprob) == 6  # 0, 1, 00, 01, 10, 11: each ended by either EOS id
    draws = lcd_draws(model, compiled, n=3000, seed=4, max_new_tokens=3)
    q = exact.q_lcd()
    assert total_variation(empirical([tuple(d.token_ids) for d in draws]), q) < 3 * tv_floor(q.values(), 3000)
