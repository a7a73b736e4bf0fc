"""The front door: ``generate``, ``stream`` and the result (the loop itself is ``constrain.generation``)."""

from .generation import ASAp, GenerationResult, generate, stream

__all__ = ("ASAp", "GenerationResult", "generate", "stream")
