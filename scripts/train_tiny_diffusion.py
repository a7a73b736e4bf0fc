"""Train the tiny masked diffusion LM shipped in constrain/diffusion/tiny_mdlm.pt.

    python scripts/train_tiny_diffusion.py [--seconds 170] [--seed 0]

Data: texts drawn at random (seeded) from two small languages, each after its tag and padded
with EOS to 64 slots: compact JSON objects (``json:``) and arithmetic expressions (``expr:``).
Training is MDLM's: each example gets a masking rate t ~ U(0.05, 1), each slot is masked with
probability t, and the loss is the cross-entropy on masked slots weighted by 1/t (the
continuous-time ELBO of masked diffusion). One CPU thread, a fixed time budget; the weights
are saved in float16 (about 1.2 MB).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch

from constrain.diffusion.tiny import CANVAS, CONFIG, EOS_ID, MASK_ID, WEIGHTS, build_model

WORDS = ["name", "id", "age", "city", "tags", "ok", "x", "y", "color", "size", "items", "title", "a", "b"]
VALUES = ["Ann", "Bob", "Oslo", "red", "blue", "cat", "dog", "yes", "no", "zed"]


def random_value(rng: random.Random, depth: int):
    kind = rng.random()
    if kind < 0.3:
        return rng.randint(-50, 999)
    if kind < 0.55:
        return rng.choice(VALUES)
    if kind < 0.65:
        return rng.choice([True, False, None])
    if kind < 0.8 and depth < 2:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2:
        return random_object(rng, depth + 1)
    return rng.randint(0, 9)


def random_object(rng: random.Random, depth: int = 0) -> dict:
    keys = rng.sample(WORDS, rng.randint(1, 3 if depth else 4))
    return {k: random_value(rng, depth) for k in keys}


def random_expression(rng: random.Random, depth: int = 0) -> str:
    if depth > 2 or rng.random() < 0.35:
        return str(rng.randint(0, 99))
    if rng.random() < 0.25:
        return "(" + random_expression(rng, depth + 1) + ")"
    return random_expression(rng, depth + 1) + rng.choice("+-*/") + random_expression(rng, depth + 1)


def example(rng: random.Random) -> tuple:
    while True:
        if rng.random() < 0.7:
            tag, body = "json:", json.dumps(random_object(rng), separators=(",", ":"))
        else:
            tag, body = "expr:", random_expression(rng)
        if len(body) <= CANVAS - 1:
            return tag.encode(), body.encode()


def batch(rng: random.Random, size: int):
    prefix_len = 5
    ids = torch.full((size, prefix_len + CANVAS), EOS_ID, dtype=torch.long)
    for r in range(size):
        tag, body = example(rng)
        ids[r, :prefix_len] = torch.tensor(list(tag))
        ids[r, prefix_len : prefix_len + len(body)] = torch.tensor(list(body))
    return ids, prefix_len


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=170.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = build_model(**CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    started = time.time()
    step = 0
    while time.time() - started < args.seconds:
        ids, prefix = batch(rng, args.batch)
        t = torch.rand(ids.shape[0], 1) * 0.95 + 0.05
        masked = torch.rand(ids.shape) < t
        masked[:, :prefix] = False
        noisy = torch.where(masked, torch.full_like(ids, MASK_ID), ids)
        logits = model(noisy)
        loss_each = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
        loss = ((loss_each * masked) / t).sum() / masked.sum().clamp(min=1)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, WEIGHTS)
    print(f"saved {WEIGHTS} after {step} steps")


if __name__ == "__main__":
    main()
