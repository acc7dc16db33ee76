"""Prompt embeddings from the model's own hidden states (no extra encoder needed).

The embedding of a prompt is the mean over its tokens of the hidden state after the
first ``layer`` layers of the *full* chain (default: half the depth). Running half the
layers once per prompt is cheap next to a single chain evaluation, and it is computed
without any label.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cola.engine.chain import full_chain


def default_layer(num_layers: int) -> int:
    return max(1, num_layers // 2)


@torch.inference_mode()
def prompt_embedding(model, input_ids: torch.Tensor, layer: int | None = None) -> torch.Tensor:
    """Mean over the tokens of one unpadded prompt (``[1, T]`` ids) of layer ``layer``'s output."""
    num_layers = model.num_layers
    layer = default_layer(num_layers) if layer is None else layer
    if not 0 <= layer <= num_layers:
        raise ValueError(f"embedding layer {layer} is outside 0..{num_layers}")
    chain = full_chain(num_layers)[:layer]
    hidden, step = model.prompt_step(input_ids)
    if chain:
        hidden = model.run_layers(hidden, chain, step, None, 0, len(chain))
    return hidden[0].float().mean(dim=0).cpu()


def embed_prompts(model, prompts: Sequence[str], layer: int | None = None) -> torch.Tensor:
    """``[N, hidden]`` float32 embeddings, one prompt at a time (no padding effects)."""
    rows = []
    for prompt in prompts:
        input_ids, _ = model.encode([prompt])
        rows.append(prompt_embedding(model, input_ids, layer))
    if not rows:
        return torch.zeros(0, model.config.hidden_size)
    return torch.stack(rows)
