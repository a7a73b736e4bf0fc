"""Infilling: canvases of fixed text and gaps, checked against a grammar.

:class:`InfillChecker` decides whether a canvas can still be completed to a string of the
grammar (the check a diffusion decoder asks at every unmasking, and a template with gaps at
every token); see ``docs/infilling.md``.
"""

from .check import Gap, InfillChecker, Part, spells_every_byte, state_key
from .template import GAP_MARKER, TemplateGap, TemplateResult, generate_template, parse_template

__all__ = (
    "GAP_MARKER",
    "Gap",
    "InfillChecker",
    "Part",
    "TemplateGap",
    "TemplateResult",
    "generate_template",
    "parse_template",
    "spells_every_byte",
    "state_key",
)
