"""The generate report's measures of an output."""

from __future__ import annotations

import pytest

from jsonschemabench.generate_report import escaped_keys


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a":1}', 0),
        ('{"\\u0061":1}', 1),
        ('{"a":"x\\"y","b\\n" : 2}', 1),
        ('["a:", "b\\\\"]', 0),
        ('{"k":{"\\u006b":[{"\\"":0}]}}', 2),
    ],
)
def test_escaped_keys(text, expected):
    assert escaped_keys(text) == expected
