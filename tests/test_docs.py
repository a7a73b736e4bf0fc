"""Every code block of README.md and docs/ runs as written.

A fenced block's language says how it is checked:

* ``python``: executed on its own, in a fresh namespace, from the repository root;
* ``console``: each ``$ constrain ...`` line runs through ``constrain.cli.main`` and must
  print exactly the lines under it (other commands are not allowed in console blocks);
* ``bash``: run with ``bash -e`` from the repository root (never one that installs packages
  or runs the test suite);
* ``text``: output or layout shown to the reader, not code.

An HTML comment on the line before the fence changes that, and is the only way to:
``<!-- docs-test: model -->`` (needs the default SmolLM2; runs under the ``model`` marker),
``<!-- docs-test: slow -->`` (runs under ``slow``), ``<!-- docs-test: skip REASON -->`` (not
run, with the reason said; e.g. it installs packages or needs data the repository does not
ship).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import List, NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = {"python", "console", "bash", "text"}
_MARKER = re.compile(r"<!--\s*docs-test:\s*(model|slow|skip)\b\s*(.*?)\s*-->")


class Block(NamedTuple):
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: Optional[str]  # "model", "slow", "skip" or None
    reason: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(path: Path) -> List[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: List[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(```+)(.*)$", lines[i])
        if not fence:
            i += 1
            continue
        ticks, language = fence.group(1), fence.group(2).strip()
        end = i + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        marker = _MARKER.fullmatch(lines[i - 1].strip()) if i > 0 else None
        out.append(
            Block(
                str(path.relative_to(ROOT)),
                i + 1,
                language,
                "\n".join(lines[i + 1 : end]) + "\n",
                marker.group(1) if marker else None,
                marker.group(2) if marker else "",
            )
        )
        i = end + 1
    return out


BLOCKS = [b for page in PAGES for b in blocks_of(page)]


def _params(language: str):
    out = []
    for b in BLOCKS:
        if b.language != language:
            continue
        marks = []
        if b.marker == "model":
            marks.append(pytest.mark.model)
        elif b.marker == "slow":
            marks.append(pytest.mark.slow)
        elif b.marker == "skip":
            marks.append(pytest.mark.skip(reason=f"{b.id}: {b.reason}"))
        out.append(pytest.param(b, id=b.id, marks=marks))
    return out


def test_every_block_has_a_known_language_and_skips_say_why():
    assert BLOCKS, "no code blocks found"
    for b in BLOCKS:
        assert b.language in LANGUAGES, f"{b.id}: fence language {b.language!r} (one of {sorted(LANGUAGES)})"
        if b.marker == "skip":
            assert len(b.reason.split()) >= 2, f"{b.id}: a skipped block must say why"


@pytest.fixture
def in_root(monkeypatch):
    """Run from the repository root (blocks name files such as grammars/arithmetic.lark);
    files a block writes there (a saved ASAp trie) are removed afterwards."""
    before = set(ROOT.iterdir())
    monkeypatch.chdir(ROOT)
    yield
    for path in set(ROOT.iterdir()) - before:
        if path.is_file():
            path.unlink()


@pytest.mark.parametrize("block", _params("python"))
def test_python_block(block, in_root):
    code = compile(block.code, f"{block.page}:{block.line}", "exec")
    namespace = {"__name__": "__docs__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)


def _console_commands(block: Block):
    """(argv, expected output lines) for each ``$`` line of a console block."""
    commands = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            argv = shlex.split(line[2:])
            assert argv[0] == "constrain", f"{block.id}: console blocks run only `constrain` commands"
            commands.append((argv[1:], []))
        else:
            assert commands, f"{block.id}: output before the first command"
            commands[-1][1].append(line)
    return commands


@pytest.mark.parametrize("block", _params("console"))
def test_console_block(block, capsys):
    from constrain.cli import main

    for argv, expected in _console_commands(block):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{block.id}: {argv} exited {code}: {err}"
        assert out.splitlines() == expected, f"{block.id}: {argv}"


#: Commands a test must never run: they change the environment or recurse into the suite.
_NEVER_RUN = re.compile(r"\b(pip|pytest|git clone|apt-get)\b")


@pytest.mark.parametrize("block", _params("bash"))
def test_bash_block(block):
    assert not _NEVER_RUN.search(block.code), f"{block.id}: installs or runs the suite; mark it skip, saying why"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        ["bash", "-e", "-c", block.code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{block.id}: {proc.stderr[-2000:]}"
