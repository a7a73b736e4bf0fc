"""The front door: ``generate`` and its result (the loop itself is ``constrain.generation``)."""

from .generation import GenerationResult, generate

__all__ = ("GenerationResult", "generate")
