"""Structured-generation engines behind one interface, so that each is judged the same way.

An :class:`Engine` is built once per worker process from a transformers tokenizer; it compiles
a JSON Schema into a handle, makes matchers from the handle, fills a packed int32 bitmask
(shape ``(1, ceil(V/32))``, bit ``t % 32`` of word ``t // 32`` set = token ``t`` allowed) and
advances matchers token by token.

Built-in engines: ``constrain`` (this repository), ``llguidance``, ``xgrammar`` (spec mode:
``strict_mode=False``), ``xgrammar-strict`` (its default, which treats every object as
``additionalProperties: false``, as MaskBench ran it) and ``outlines-core``. Any other engine
can be named as ``package.module:Class`` or ``path/to/file.py:Class``.

Whitespace: with ``whitespace="compact"`` (the default) every engine is configured to allow no
whitespace at all between JSON tokens, with ``","`` and ``":"`` as separators, and instances are
serialized the same way; ``"flexible"`` allows JSON's whitespace wherever JSON does.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from abc import ABC, abstractmethod
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Dict, List, Literal, Optional, Tuple, Type

import numpy as np

from .outcomes import classify_constrain_error, classify_generic_error

Whitespace = Literal["compact", "flexible"]
WHITESPACE_POLICIES = ("compact", "flexible")


class EngineUnavailableError(ImportError):
    """The engine's package is not installed; the message says how to install it."""


class EngineCompileError(RuntimeError):
    """An engine reported a compile error without raising (llguidance's error state)."""


def mask_allows(bitmask: np.ndarray, token: int) -> bool:
    """Whether ``token`` is allowed by row 0 of a packed int32 ``bitmask``."""
    return bool((int(bitmask[0, token >> 5]) >> (token & 31)) & 1)


def bitmask_width(vocab_size: int) -> int:
    """Words of one bitmask row: ``ceil(vocab_size / 32)``."""
    return (vocab_size + 31) // 32


_UNSUPPORTED = re.compile(r"unimplemented|not (yet )?supported|unsupported|not implemented|unknown format", re.I)
_LIMIT = re.compile(r"limit|fuel|too (many|large|big|deep)|exceed", re.I)
_INVALID = re.compile(r"invalid (json )?schema|schema is invalid|is not valid under", re.I)
_UNSAT = re.compile(r"unsatisfiable", re.I)


def classify_message(exc: BaseException) -> str:
    """Best-effort category of a peer engine's compile error, read from its message.

    Peers raise plain exceptions; this maps the wording they use for unsupported keywords,
    resource limits and invalid schemas, and calls everything else ``compile_error``.
    """
    generic = classify_generic_error(exc)
    if generic != "compile_error":
        return generic
    text = str(exc)
    if _UNSAT.search(text):
        return "unsatisfiable"
    if _UNSUPPORTED.search(text):
        return "unsupported"
    if _INVALID.search(text):
        return "invalid_schema"
    if _LIMIT.search(text):
        return "limit"
    return "compile_error"


class Engine(ABC):
    """One structured-generation engine, configured for one tokenizer.

    Args:
        tokenizer: a transformers tokenizer; its ``eos_token_id`` ends every document.
        whitespace: ``"compact"`` or ``"flexible"`` (see the module docstring).

    Attributes:
        name: the engine's name in results.
        package: the distribution whose version is reported (None for none).
        vocab_size: token ids covered by masks (``len(tokenizer)``).
        eos_token_id: the token that ends a document.
        spellings: the greedy spelling table of the tokenizer
            (:func:`jsonschemabench.masks.spelling_table`), made on first use; the engine owns
            it, so it goes with the engine.
    """

    name: str = "engine"
    package: Optional[str] = None

    def __init__(self, tokenizer: Any, whitespace: Whitespace = "compact") -> None:
        if whitespace not in WHITESPACE_POLICIES:
            raise ValueError(f"whitespace must be one of {WHITESPACE_POLICIES}, got {whitespace!r}")
        self.tokenizer = tokenizer
        self.whitespace = whitespace
        self.vocab_size = len(tokenizer)
        self.eos_token_id = int(tokenizer.eos_token_id)
        self.spellings: Optional[Tuple[Dict[bytes, int], int]] = None

    @abstractmethod
    def compile(self, schema: Any) -> Any:
        """Compile ``schema``; raises on any failure (see :meth:`classify_error`)."""

    @abstractmethod
    def new_matcher(self, compiled: Any) -> Any:
        """A fresh matcher at the start of a document."""

    @abstractmethod
    def fill_mask(self, matcher: Any, bitmask: np.ndarray) -> None:
        """Write the allowed next tokens into row 0 of ``bitmask``, every word of it."""

    @abstractmethod
    def accept(self, matcher: Any, token: int) -> bool:
        """Advance by ``token``; False when the engine refuses it."""

    @abstractmethod
    def is_accepting(self, matcher: Any) -> bool:
        """Whether the document may end here."""

    def classify_error(self, exc: BaseException) -> str:
        """The outcome category of an exception from :meth:`compile`."""
        return classify_message(exc)

    def version(self) -> str:
        """The engine's version string."""
        if self.package is None:
            return ""
        try:
            return version(self.package)
        except PackageNotFoundError:
            return "unknown"

    def describe(self) -> Dict[str, Any]:
        """Name, version and configuration, for the header of a results file."""
        return {"engine": self.name, "version": self.version(), "whitespace": self.whitespace}


def _require(module: str, package: str) -> Any:
    if importlib.util.find_spec(module) is None:
        raise EngineUnavailableError(
            f"engine needs the {package!r} package, which is not installed: "
            f"pip install {package}  (or pip install 'constrain[bench]')"
        )
    return importlib.import_module(module)


class ConstrainEngine(Engine):
    """This repository's engine, through its public API only."""

    name = "constrain"
    package = "constrain"

    def __init__(self, tokenizer: Any, whitespace: Whitespace = "compact") -> None:
        super().__init__(tokenizer, whitespace)
        import constrain

        self._c = constrain
        self.vocab = constrain.Vocabulary.from_transformers(tokenizer)
        if self.vocab.size != self.vocab_size:
            # Masks of every engine must cover the same ids, so that bit t means token t.
            raise ValueError(f"constrain vocabulary has {self.vocab.size} ids, the tokenizer {self.vocab_size}")

    def compile(self, schema: Any) -> Any:
        grammar = self._c.Grammar.from_json_schema(schema, whitespace=self.whitespace)
        return self._c.compile(grammar, self.vocab)

    def new_matcher(self, compiled: Any) -> Any:
        return self._c.Matcher(compiled)

    def fill_mask(self, matcher: Any, bitmask: np.ndarray) -> None:
        matcher.fill_next_token_bitmask(bitmask, 0)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.accept_token(token))

    def is_accepting(self, matcher: Any) -> bool:
        return bool(matcher.is_accepting())

    def classify_error(self, exc: BaseException) -> str:
        return classify_constrain_error(exc)

    def version(self) -> str:
        return str(getattr(self._c, "__version__", "") or super().version())


class LLGuidanceEngine(Engine):
    """llguidance's ``LLMatcher``; compile errors surface as its error state."""

    name = "llguidance"
    package = "llguidance"

    def __init__(self, tokenizer: Any, whitespace: Whitespace = "compact") -> None:
        super().__init__(tokenizer, whitespace)
        self._llg = _require("llguidance", "llguidance")
        hf = importlib.import_module("llguidance.hf")
        self.lltok = hf.from_tokenizer(tokenizer, n_vocab=self.vocab_size, eos_token=self.eos_token_id)
        if whitespace == "compact":
            self.options = {
                "whitespace_flexible": False,
                "item_separator": ",",
                "key_separator": ":",
            }
        else:
            self.options = {"whitespace_flexible": True}

    def compile(self, schema: Any) -> Any:
        llg = self._llg
        grammar = llg.LLMatcher.grammar_from_json_schema(schema, overrides=self.options)
        matcher = llg.LLMatcher(self.lltok, grammar, log_level=0)
        if matcher.is_error():
            raise EngineCompileError(matcher.get_error())
        return matcher

    def new_matcher(self, compiled: Any) -> Any:
        return compiled.deep_copy()

    def fill_mask(self, matcher: Any, bitmask: np.ndarray) -> None:
        row = bitmask[0]
        matcher.unsafe_compute_mask_ptr(row.ctypes.data, row.nbytes)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.consume_token(token))

    def is_accepting(self, matcher: Any) -> bool:
        return bool(matcher.is_accepting())


class XGrammarEngine(Engine):
    """XGrammar's ``GrammarCompiler`` / ``GrammarMatcher``, one thread, no compile cache.

    ``strict_mode=False`` follows the specification (objects may have properties the schema
    does not list unless ``additionalProperties: false``); :class:`XGrammarStrictEngine`
    keeps XGrammar's default ``strict_mode=True``.
    """

    name = "xgrammar"
    package = "xgrammar"
    strict_mode = False

    def __init__(self, tokenizer: Any, whitespace: Whitespace = "compact") -> None:
        super().__init__(tokenizer, whitespace)
        xgr = _require("xgrammar", "xgrammar")
        import torch

        torch.set_num_threads(1)
        self._xgr = xgr
        self._torch = torch
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=self.vocab_size, stop_token_ids=[self.eos_token_id]
        )
        self.compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
        self._views: Dict[int, Any] = {}

    def compile(self, schema: Any) -> Any:
        if self.whitespace == "compact":
            return self.compiler.compile_json_schema(
                json.dumps(schema),
                any_whitespace=False,
                separators=(",", ":"),
                strict_mode=self.strict_mode,
            )
        return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=True, strict_mode=self.strict_mode)

    def new_matcher(self, compiled: Any) -> Any:
        return self._xgr.GrammarMatcher(compiled)

    def fill_mask(self, matcher: Any, bitmask: np.ndarray) -> None:
        view = self._views.get(id(bitmask))
        if view is None or view.data_ptr() != bitmask.ctypes.data:
            view = self._torch.from_numpy(bitmask)
            self._views = {id(bitmask): view}
        matcher.fill_next_token_bitmask(view)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.accept_token(token))

    def is_accepting(self, matcher: Any) -> bool:
        return bool(matcher.is_completed())

    def describe(self) -> Dict[str, Any]:
        return {**super().describe(), "strict_mode": self.strict_mode}


class XGrammarStrictEngine(XGrammarEngine):
    """XGrammar with its default ``strict_mode=True`` (MaskBench's "XGrammar (default)")."""

    name = "xgrammar-strict"
    strict_mode = True


class OutlinesCoreEngine(Engine):
    """outlines-core: a regex from the schema, an ``Index`` over the vocabulary, a ``Guide``."""

    name = "outlines-core"
    package = "outlines-core"

    def __init__(self, tokenizer: Any, whitespace: Whitespace = "compact") -> None:
        super().__init__(tokenizer, whitespace)
        self._oc = _require("outlines_core", "outlines-core")
        from .tokenizer import token_bytes

        by_bytes: Dict[bytes, List[int]] = {}
        for i, b in enumerate(token_bytes(tokenizer)):
            if b is not None and i != self.eos_token_id:
                by_bytes.setdefault(b, []).append(i)
        self.vocabulary = self._oc.Vocabulary(self.eos_token_id, by_bytes)

    def compile(self, schema: Any) -> Any:
        from outlines_core.json_schema import build_regex_from_schema

        # outlines-core's default whitespace is r"[ ]?"; JSON's own is [ \t\n\r]*.
        ws = "" if self.whitespace == "compact" else r"[ \t\n\r]*"
        regex = build_regex_from_schema(json.dumps(schema), whitespace_pattern=ws)
        return self._oc.Index(regex, self.vocabulary)

    def new_matcher(self, compiled: Any) -> Any:
        return self._oc.Guide(compiled)

    def fill_mask(self, matcher: Any, bitmask: np.ndarray) -> None:
        matcher.write_mask_into(bitmask.ctypes.data, bitmask.shape[1], 4)

    def accept(self, matcher: Any, token: int) -> bool:
        try:
            matcher.advance(token, False)
        except ValueError:
            return False
        return True

    def is_accepting(self, matcher: Any) -> bool:
        return bool(matcher.is_finished())


BUILTIN_ENGINES: Dict[str, Type[Engine]] = {
    "constrain": ConstrainEngine,
    "llguidance": LLGuidanceEngine,
    "xgrammar": XGrammarEngine,
    "xgrammar-strict": XGrammarStrictEngine,
    "outlines-core": OutlinesCoreEngine,
}

_PACKAGES = {
    "constrain": ("constrain", "constrain"),
    "llguidance": ("llguidance", "llguidance"),
    "xgrammar": ("xgrammar", "xgrammar"),
    "xgrammar-strict": ("xgrammar", "xgrammar"),
    "outlines-core": ("outlines_core", "outlines-core"),
}


def engine_class(spec: str) -> Type[Engine]:
    """The engine class named by ``spec``.

    Args:
        spec: a built-in name (see :data:`BUILTIN_ENGINES`), ``package.module:Class`` or
            ``path/to/file.py:Class``.

    Raises:
        EngineUnavailableError: a built-in engine whose package is not installed.
        ValueError: an unknown name, or a ``:Class`` that is not an :class:`Engine`.
    """
    if spec in BUILTIN_ENGINES:
        module_name, package = _PACKAGES[spec]
        if importlib.util.find_spec(module_name) is None:
            raise EngineUnavailableError(
                f"engine {spec!r} needs the {package!r} package, which is not installed: pip install {package}"
            )
        return BUILTIN_ENGINES[spec]
    if ":" not in spec:
        raise ValueError(
            f"unknown engine {spec!r}; built-in: {', '.join(BUILTIN_ENGINES)}, "
            "or give package.module:Class or path/to/file.py:Class"
        )
    where, _, cls_name = spec.rpartition(":")
    if where.endswith(".py"):
        name = "_jsonschemabench_engine_" + re.sub(r"\W", "_", where)
        module_spec = importlib.util.spec_from_file_location(name, where)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot load engine file {where}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise ValueError(f"{spec}: {cls_name} is not a jsonschemabench.engines.Engine subclass")
    return cls


def available_engines() -> Dict[str, Optional[str]]:
    """Each built-in engine and None when usable, else the reason it is not."""
    result: Dict[str, Optional[str]] = {}
    for name in BUILTIN_ENGINES:
        try:
            engine_class(name)
            result[name] = None
        except EngineUnavailableError as exc:
            result[name] = str(exc)
    return result
