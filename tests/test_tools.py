"""JSON Schemas from function signatures (constrain.tools)."""

from __future__ import annotations

import enum
from typing import Dict, List, Literal, Optional, Tuple, Union

import jsonschema
import pytest

from constrain.errors import ConfigurationError
from constrain.tools import schema_from_function, tool_call_schema


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


def forecast(city: str, days: int = 3, unit: Unit = Unit.C, hourly: bool = False):
    """Weather forecast for a city.

    More text that is not the summary.

    Args:
        city: the city's name,
            as people write it.
        days (int): how many days ahead.
        unit: the temperature unit.

    Returns:
        nothing here.
    """


def sphinx(a: float, b: Optional[List[int]] = None):
    """Add things.

    :param a: the first
    :param b: the others
    """


def table(m: Dict[str, float], t: Tuple[int, str], u: Union[int, str], k: Literal["x", 1], v: tuple[bool, ...]):
    pass


def test_forecast_schema():
    assert schema_from_function(forecast) == {
        "type": "object",
        "description": "Weather forecast for a city.",
        "properties": {
            "city": {"type": "string", "description": "the city's name, as people write it."},
            "days": {"type": "integer", "description": "how many days ahead.", "default": 3},
            "unit": {"enum": ["celsius", "fahrenheit"], "description": "the temperature unit."},
            "hourly": {"type": "boolean", "default": False},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_sphinx_docstring_and_optional():
    schema = schema_from_function(sphinx)
    assert schema["description"] == "Add things."
    assert schema["properties"]["a"] == {"type": "number", "description": "the first"}
    assert schema["properties"]["b"] == {
        "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}],
        "description": "the others",
        "default": None,
    }


def test_container_annotations():
    props = schema_from_function(table)["properties"]
    assert props == {
        "m": {"type": "object", "additionalProperties": {"type": "number"}},
        "t": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False, "minItems": 2},
        "u": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "k": {"enum": ["x", 1]},
        "v": {"type": "array", "items": {"type": "boolean"}},
    }
    assert "description" not in schema_from_function(table)


def no_hint(x):
    pass


def star(*xs: int):
    pass


def kw(**xs: int):
    pass


def positional(x: int, /):
    pass


def bare_list(x: list):
    pass


def int_keys(x: Dict[int, str]):
    pass


def obj(x: object):
    pass


@pytest.mark.parametrize(
    "fn, match",
    [
        (no_hint, "no type annotation"),
        (star, r"\*args"),
        (kw, r"\*args"),
        (positional, "positional-only"),
        (bare_list, "item types"),
        (int_keys, "dict"),
        (obj, "no JSON Schema"),
        (42, "function"),
    ],
)
def test_unsupported_signatures_are_refused_with_the_parameter_named(fn, match):
    with pytest.raises(ConfigurationError, match=match):
        schema_from_function(fn)


def test_tool_call_schema_accepts_exactly_the_calls():
    schema = tool_call_schema([forecast, sphinx])
    valid = [
        {"name": "forecast", "arguments": {"city": "Oslo"}},
        {"name": "sphinx", "arguments": {"a": 1.5, "b": [1, 2]}},
    ]
    invalid = [
        {"name": "forecast", "arguments": {"a": 1.5}},
        {"name": "other", "arguments": {}},
        {"name": "sphinx", "arguments": {"a": 1.0}, "extra": 1},
        {"name": "forecast"},
    ]
    for call in valid:
        jsonschema.validate(call, schema)
    for call in invalid:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(call, schema)
    assert tool_call_schema([forecast])["properties"]["name"] == {"const": "forecast"}


@pytest.mark.parametrize("tools", [[], forecast, [forecast, forecast], [3]])
def test_bad_tool_lists_are_refused(tools):
    with pytest.raises(ConfigurationError):
        tool_call_schema(tools)
