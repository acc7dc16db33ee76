"""Where the parts of a Hugging Face decoder-only model live, found from the model itself.

Chain execution needs the embedding, the decoder-layer stack, the rotary embedding, the
final norm and the LM head, plus each layer's attention type (full or sliding window).
Rather than an if-chain on model names, :func:`inspect_model` discovers these from the
loaded module tree and its config, so any architecture following the common
``*ForCausalLM -> *Model -> layers`` layout (Llama, Gemma-3, Qwen2/3, Mistral, ...) works.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

FULL = "full_attention"
SLIDING = "sliding_attention"


@dataclass(frozen=True)
class ModelAnatomy:
    """Handles to the parts of a causal LM that a chain of layers is assembled from."""

    base: nn.Module  # the decoder (e.g. LlamaModel), owner of layers/norm/rotary
    layers: nn.ModuleList
    layers_attr: str  # attribute name of ``layers`` on ``base``
    embed: nn.Module
    norm: nn.Module
    rotary: nn.Module | None
    lm_head: nn.Module
    layer_types: tuple[str, ...]  # attention type of each pretrained layer
    sliding_window: int | None
    rotary_per_layer_type: bool  # Gemma-3 style: one rotary table per attention type
    final_logit_softcapping: float | None

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def _find_layer_stack(base: nn.Module, num_layers: int) -> tuple[str, nn.ModuleList]:
    """The decoder stack is the ModuleList child of the decoder with one entry per layer."""
    candidates = [
        (name, child)
        for name, child in base.named_children()
        if isinstance(child, nn.ModuleList) and len(child) == num_layers
    ]
    if len(candidates) != 1:
        found = [name for name, _ in candidates]
        raise TypeError(
            f"cannot find a unique decoder-layer stack of {num_layers} layers in {type(base).__name__} "
            f"(candidates: {found})"
        )
    return candidates[0]


def _find_final_norm(base: nn.Module) -> nn.Module:
    """The final norm is the last direct child of the decoder whose class name says Norm."""
    norms = [child for _, child in base.named_children() if "norm" in type(child).__name__.lower()]
    if not norms:
        raise TypeError(f"cannot find the final norm of {type(base).__name__}")
    return norms[-1]


def _layer_types(config, num_layers: int) -> tuple[str, ...]:
    """Attention type per layer: ``config.layer_types`` where the model declares it, else uniform."""
    declared = getattr(config, "layer_types", None)
    if declared:
        return tuple(declared[:num_layers])
    uses_window = getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True)
    return tuple(SLIDING if uses_window else FULL for _ in range(num_layers))


def text_config(config):
    """Multimodal configs nest the decoder's settings; a plain LM config is its own text config."""
    get = getattr(config, "get_text_config", None)
    return get() if callable(get) else config


def inspect_model(model: nn.Module) -> ModelAnatomy:
    """Find the chain-relevant parts of a loaded ``*ForCausalLM`` model."""
    config = text_config(model.config)
    base = getattr(model, "base_model", None) or model
    num_layers = int(config.num_hidden_layers)
    layers_attr, layers = _find_layer_stack(base, num_layers)
    rotary = getattr(base, "rotary_emb", None)
    per_type = rotary is not None and "layer_type" in inspect.signature(rotary.forward).parameters
    layer_types = _layer_types(config, num_layers)
    return ModelAnatomy(
        base=base,
        layers=layers,
        layers_attr=layers_attr,
        embed=model.get_input_embeddings(),
        norm=_find_final_norm(base),
        rotary=rotary,
        lm_head=model.get_output_embeddings(),
        layer_types=layer_types,
        sliding_window=getattr(config, "sliding_window", None) if SLIDING in layer_types else None,
        rotary_per_layer_type=per_type,
        final_logit_softcapping=getattr(config, "final_logit_softcapping", None),
    )
