"""constrain: constrained and structured generation from language models."""
