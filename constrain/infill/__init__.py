"""Infilling: canvases of fixed text and gaps, checked against a grammar.

:class:`InfillChecker` decides whether a canvas can still be completed to a string of the
grammar (the check a diffusion decoder asks at every unmasking, and a template with gaps at
every token); see ``docs/infilling.md``.
"""

from .check import Gap, InfillChecker, Part, state_key

__all__ = ("Gap", "InfillChecker", "Part", "state_key")
