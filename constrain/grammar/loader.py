"""Find and read grammar files: a path to a ``.lark`` / ``.gbnf`` file, or a library name.

A bare name such as ``"sql"`` is looked up, in order, in each directory of the
``CONSTRAIN_GRAMMAR_PATH`` environment variable (separated by ``os.pathsep``) and then in the
``grammars/`` directory that ships next to the ``constrain`` package; ``name.lark`` is tried
before ``name.gbnf``. Anything containing a path separator or ending in ``.lark``/``.gbnf``
is taken as a path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Set, Union

from ..errors import ConfigurationError, InvalidGrammarError
from .ir import Grammar

EXTENSIONS = (".lark", ".gbnf")
ENV_VAR = "CONSTRAIN_GRAMMAR_PATH"


def library_dirs() -> List[Path]:
    """The directories searched for a grammar name, in order."""
    dirs: List[Path] = []
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry).expanduser())
    package_root = Path(__file__).resolve().parent.parent  # .../constrain
    for candidate in (package_root / "grammars", package_root.parent / "grammars"):
        if candidate not in dirs:
            dirs.append(candidate)
    return dirs


def list_grammars() -> List[str]:
    """Names of the grammars found in :func:`library_dirs`, sorted."""
    names: Set[str] = set()
    for d in library_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.iterdir() if p.suffix in EXTENSIONS and p.is_file())
    return sorted(names)


def find_grammar(name_or_path: Union[str, "os.PathLike[str]"]) -> Path:
    """The file that :func:`load_grammar` would read.

    Raises:
        ConfigurationError: nothing was found; the message lists every place searched.
    """
    text = os.fspath(name_or_path)
    if not text:
        raise ConfigurationError("empty grammar name")
    as_path = Path(text).expanduser()
    looks_like_path = os.sep in text or (os.altsep and os.altsep in text) or as_path.suffix in EXTENSIONS
    if looks_like_path:
        if as_path.is_file():
            return as_path
        raise ConfigurationError(f"grammar file not found: {text}")
    if as_path.is_file() and as_path.suffix in EXTENSIONS:
        return as_path
    tried: List[str] = []
    for d in library_dirs():
        for ext in EXTENSIONS:
            candidate = d / f"{text}{ext}"
            if candidate.is_file():
                return candidate
        tried.append(str(d))
    available = ", ".join(list_grammars()) or "none"
    raise ConfigurationError(
        f"no grammar named {text!r} (looked for {text}.lark and {text}.gbnf in: {'; '.join(tried)}; "
        f"set {ENV_VAR} to add directories). Available: {available}"
    )


def load_grammar(name_or_path: Union[str, "os.PathLike[str]"], start: Optional[str] = None) -> Grammar:
    """Read a grammar file, or a grammar from the library by name.

    Args:
        name_or_path: a path to a ``.lark`` or ``.gbnf`` file, or a bare name such as
            ``"json"`` or ``"sql"`` looked up as described in this module.
        start: the start rule; by default ``start`` for Lark and ``root`` for GBNF.

    Returns:
        The :class:`Grammar`; relative ``%import`` statements in a Lark file resolve against
        the file's directory.

    Raises:
        ConfigurationError: no such file or name (the message lists the directories searched)
            or an unknown file extension.
        InvalidGrammarError, UnsupportedFeatureError: from the front ends.
    """
    path = find_grammar(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidGrammarError(f"{path}: not UTF-8 text ({exc})") from None
    if path.suffix == ".gbnf":
        from .gbnf import grammar_from_gbnf

        return grammar_from_gbnf(text, start=start or "root")
    if path.suffix == ".lark":
        from .lark import grammar_from_lark

        return grammar_from_lark(text, start=start, path=str(path))
    raise ConfigurationError(f"unknown grammar file type {path.suffix!r} (expected .lark or .gbnf): {path}")
