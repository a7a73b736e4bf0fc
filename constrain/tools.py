"""Tool calling: JSON Schemas from Python function signatures.

:func:`schema_from_function` turns a function's type hints, defaults and docstring into the
JSON Schema of its keyword arguments; :func:`tool_call_schema` makes the schema of one call
``{"name": ..., "arguments": {...}}`` of one of several functions (an ``anyOf`` of one
object per function, its name a ``const``), which ``generate(..., tools=[f, g])`` uses.

Supported annotations: ``str``, ``int``, ``float``, ``bool``, ``None``, ``list[X]``,
``tuple[X, ...]``, ``dict[str, X]``, ``Optional[X]`` and ``Union[...]``, ``Literal[...]``
of JSON scalars, ``enum.Enum`` subclasses with JSON scalar values, and pydantic models.
Anything else (or a parameter without an annotation, ``*args``, ``**kwargs``, a
positional-only parameter) raises :class:`~constrain.errors.ConfigurationError`: the schema
never silently accepts more than the function does.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import json
import re
import types
import typing
from typing import Any, Callable, Dict, List, Sequence

from .errors import ConfigurationError

__all__ = ("schema_from_function", "tool_call_schema")

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _annotation_schema(annotation: Any, where: str) -> Dict[str, Any]:
    """The JSON Schema of values of ``annotation``; ``where`` names it in errors."""
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if annotation is None:
        return {"type": "null"}
    if annotation is Any:
        raise ConfigurationError(f"{where}: typing.Any has no JSON Schema that bounds it; annotate a concrete type")
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        if not all(isinstance(v, (str, int, float, bool)) or v is None for v in values):
            raise ConfigurationError(f"{where}: the values of enum {annotation.__name__} must be JSON scalars")
        return {"enum": values}
    if inspect.isclass(annotation) and hasattr(annotation, "model_json_schema"):  # pydantic model
        schema: Dict[str, Any] = annotation.model_json_schema()
        return schema
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        if not all(isinstance(v, (str, int, float, bool)) or v is None for v in args):
            raise ConfigurationError(f"{where}: Literal values must be JSON scalars")
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_annotation_schema(a, where) for a in args]}
    if origin in (list, collections.abc.Sequence):
        if len(args) != 1:
            raise ConfigurationError(f"{where}: annotate the item type, e.g. list[int]")
        return {"type": "array", "items": _annotation_schema(args[0], where)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _annotation_schema(args[0], where)}
        if args and Ellipsis not in args:
            return {
                "type": "array",
                "prefixItems": [_annotation_schema(a, where) for a in args],
                "items": False,
                "minItems": len(args),
            }
        raise ConfigurationError(f"{where}: annotate the tuple's item types, e.g. tuple[int, ...]")
    if origin is dict:
        if len(args) != 2 or args[0] is not str:
            raise ConfigurationError(f"{where}: a dict must be annotated dict[str, X] (JSON keys are strings)")
        return {"type": "object", "additionalProperties": _annotation_schema(args[1], where)}
    if annotation in (list, dict, tuple):
        raise ConfigurationError(f"{where}: annotate the item types, e.g. list[int] or dict[str, float]")
    raise ConfigurationError(f"{where}: the annotation {annotation!r} has no JSON Schema here")


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docstring_parts(fn: Callable[..., Any]) -> "tuple[str, Dict[str, str]]":
    """The summary of ``fn``'s docstring and its parameter descriptions (Google style
    ``Args:`` sections and Sphinx ``:param name:`` fields)."""
    doc = inspect.getdoc(fn) or ""
    lines = doc.splitlines()
    summary: List[str] = []
    for line in lines:
        if (
            not line.strip()
            or line.strip().endswith(":")
            and line.strip()[:-1].lower()
            in ("args", "arguments", "parameters", "returns", "raises", "yields", "example", "examples")
        ):
            break
        if line.lstrip().startswith(":"):
            break
        summary.append(line.strip())
    params: Dict[str, str] = {}
    in_args = False
    current = None
    args_indent = params_indent = 0
    for line in lines:
        stripped = line.strip()
        sphinx = re.match(r"^:param\s+(?:\w+\s+)?(\w+)\s*:\s*(.*)$", stripped)
        if sphinx:
            params[sphinx.group(1)] = sphinx.group(2).strip()
            current, in_args = sphinx.group(1), False
            continue
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args, current, args_indent = True, None, len(line) - len(line.lstrip())
            continue
        if in_args:
            indent = len(line) - len(line.lstrip())
            if stripped and indent <= args_indent:
                in_args, current = False, None
                continue
            match = _ARG_LINE.match(line)
            if match and (current is None or indent <= params_indent):
                current, params_indent = match.group(1).lstrip("*"), indent
                params[current] = match.group(2).strip()
            elif stripped and current is not None:
                params[current] = (params[current] + " " + stripped).strip()
    return " ".join(summary).strip(), params


def schema_from_function(fn: Callable[..., Any]) -> Dict[str, Any]:
    """The JSON Schema of ``fn``'s keyword arguments.

    Each parameter is a property with the schema of its type hint and, from the docstring,
    its ``description``; parameters without a default are ``required``, the others carry
    their ``default`` (when it is JSON). Extra properties are not allowed. The schema's own
    ``description`` is the docstring's summary.

    Raises:
        ConfigurationError: a parameter has no annotation, an annotation without a JSON
            Schema here, or is ``*args``/``**kwargs``/positional-only.
    """
    if not callable(fn):
        raise ConfigurationError(f"schema_from_function needs a function, got {type(fn).__name__}")
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise ConfigurationError(f"cannot read the signature of {name}: {exc}") from exc
    summary, descriptions = _docstring_parts(fn)
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for param in signature.parameters.values():
        where = f"{name}(): parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigurationError(f"{where}: *args and **kwargs have no JSON Schema; name the parameters")
        if param.kind is param.POSITIONAL_ONLY:
            raise ConfigurationError(f"{where}: positional-only parameters cannot be passed by name")
        if param.name not in hints:
            raise ConfigurationError(f"{where} has no type annotation")
        schema = _annotation_schema(hints[param.name], where)
        if descriptions.get(param.name):
            schema = {**schema, "description": descriptions[param.name]}
        if param.default is param.empty:
            required.append(param.name)
        else:
            try:
                json.dumps(param.default)
            except (TypeError, ValueError):
                pass  # a default that is not JSON is not stated (it is still optional)
            else:
                schema = {**schema, "default": param.default}
        properties[param.name] = schema
    out: Dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if summary:
        out["description"] = summary
    return out


def tool_call_schema(tools: Sequence[Callable[..., Any]]) -> Dict[str, Any]:
    """The JSON Schema of one call of one of ``tools``: ``{"name": <function name>,
    "arguments": {...}}``, the arguments valid for that function."""
    if not isinstance(tools, (list, tuple)) or not tools:
        raise ConfigurationError("tools= must be a non-empty list of functions")
    calls = []
    seen = set()
    for fn in tools:
        if not callable(fn):
            raise ConfigurationError(f"each tool must be a function, got {type(fn).__name__}")
        name = getattr(fn, "__name__", None)
        if not name or name in seen:
            raise ConfigurationError(f"tool names must be distinct function names, got {name!r} twice or none")
        seen.add(name)
        calls.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": schema_from_function(fn)},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    return calls[0] if len(calls) == 1 else {"anyOf": calls}
