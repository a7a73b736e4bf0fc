"""Constrained decoding for masked diffusion language models (LLaDA, Dream, MDLM style).

``generate`` runs the decoding loop; ``DiffusionConstraint`` is the check for a user's own loop.
See ``docs/infilling.md``.
"""

from .loop import DiffusionConstraint, DiffusionResult, generate

__all__ = ("DiffusionConstraint", "DiffusionResult", "generate")
