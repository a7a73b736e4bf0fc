"""The front door: ``generate`` and its result (the loop itself is ``constrain.generation``)."""

from .generation import ASAp, GenerationResult, generate

__all__ = ("ASAp", "GenerationResult", "generate")
