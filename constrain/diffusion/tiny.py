"""A tiny masked diffusion LM (MDLM-style) over bytes, shipped so the diffusion loop has a real
model to run on.

It is a bidirectional transformer over 258 ids: the 256 bytes, EOS (256) and the mask token
(257). It was trained by ``scripts/train_tiny_diffusion.py`` (a few minutes on one CPU core) to
denoise short texts after a tag: ``json:`` then a compact JSON object, ``expr:`` then an
arithmetic expression, each padded with EOS to 64 slots. Small and briefly trained, it makes
syntax errors at a measurable rate unconstrained, which is what it is for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import memoize
from ..errors import ConfigurationError
from ..vocab import Vocabulary

if TYPE_CHECKING:
    from torch import nn

EOS_ID = 256
MASK_ID = 257
VOCAB_SIZE = 258
CANVAS = 64
MAX_POSITIONS = 96
WEIGHTS = Path(__file__).with_name("tiny_mdlm.pt")
CONFIG = {"d_model": 128, "n_layers": 2, "n_heads": 4, "d_ff": 256}


def tiny_vocabulary() -> Vocabulary:
    """The model's vocabulary: ids 0-255 are bytes, 256 is EOS, 257 the mask token."""
    return Vocabulary(
        [bytes([b]) for b in range(256)], eos_token_ids=[EOS_ID], special_token_ids=[MASK_ID], size=VOCAB_SIZE
    )


def build_model(d_model: int, n_layers: int, n_heads: int, d_ff: int) -> "nn.Module":
    """The architecture, with fresh weights."""
    import torch
    from torch import nn

    class TinyMDLM(nn.Module):
        mask_token_id = MASK_ID
        eos_token_id = EOS_ID

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB_SIZE, d_model)
            self.position = nn.Embedding(MAX_POSITIONS, d_model)
            layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, VOCAB_SIZE)

        def forward(self, input_ids: "torch.Tensor") -> "torch.Tensor":
            if input_ids.shape[1] > MAX_POSITIONS:
                raise ConfigurationError(f"the tiny diffusion model reads at most {MAX_POSITIONS} positions")
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            h = self.embed(input_ids) + self.position(positions)[None]
            logits: torch.Tensor = self.head(self.norm(self.encoder(h)))
            return logits

    return TinyMDLM()


@memoize("diffusion.tiny_model", maxsize=1)  # no arguments: one model
def load_tiny_model() -> "nn.Module":
    """The shipped model (float32, eval mode), loaded once per process."""
    import torch

    if not WEIGHTS.exists():
        raise ConfigurationError(
            f"the tiny diffusion model's weights are missing ({WEIGHTS.name}); "
            "train them with scripts/train_tiny_diffusion.py"
        )
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    model = build_model(**CONFIG)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()
