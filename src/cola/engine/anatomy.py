"""Where the parts of a Hugging Face decoder-only model live, found from the model itself.

Chain execution needs the embedding, the decoder-layer stack, the rotary embedding, the
final norm and the LM head, plus each layer's attention type (full or sliding window) and
the small steps around the stack that differ between architectures
(:class:`~cola.engine.facts.ModelFacts`). Rather than an if-chain on model names,
:func:`inspect_model` discovers these from the loaded module tree and its config, so any
architecture following the common ``*ForCausalLM -> decoder -> layers`` layout works, and
one that cannot be run exactly is refused with one line
(:class:`~cola.errors.UnsupportedModelError`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from cola.engine.facts import ModelFacts, layer_call, read_facts, unsupported_kinds
from cola.errors import UnsupportedModelError

FULL = "full_attention"
SLIDING = "sliding_attention"


@dataclass(frozen=True)
class ModelAnatomy:
    """Handles to the parts of a causal LM that a chain of layers is assembled from."""

    base: nn.Module  # the decoder (e.g. LlamaModel, OPTDecoder), owner of the layer stack
    layers: nn.ModuleList
    layers_path: str  # dotted path of ``layers`` from the ``*ForCausalLM`` root
    embed: nn.Module
    norm: nn.Module | None  # None: the model has no final norm (OPT-350m)
    rotary: nn.Module | None
    lm_head: nn.Module
    layer_types: tuple[str, ...]  # attention type of each pretrained layer
    sliding_window: int | None
    rotary_per_layer_type: bool  # Gemma-3 style: one rotary table per attention type
    facts: ModelFacts

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def _find_layer_stack(decoder: nn.Module, num_layers: int) -> nn.ModuleList | None:
    """The decoder stack is the ModuleList child of the decoder with one entry per layer."""
    candidates = [
        child
        for _, child in decoder.named_children()
        if isinstance(child, nn.ModuleList) and len(child) == num_layers
    ]
    return candidates[0] if len(candidates) == 1 and num_layers > 0 else None


def _find_final_norm(decoder: nn.Module) -> nn.Module | None:
    """The final norm is the last direct child of the decoder whose class name says Norm."""
    norms = [child for _, child in decoder.named_children() if "norm" in type(child).__name__.lower()]
    return norms[-1] if norms else None


def layer_types_of(config, num_layers: int) -> tuple[str, ...]:
    """Attention type per layer: ``config.layer_types`` where the model declares it, else uniform.

    It reads the config alone, so an export can learn the attention kinds without loading
    any weights (:func:`cola.export.mergekit.mergekit_text`).
    """
    declared = getattr(config, "layer_types", None)
    if declared:
        return tuple(declared[:num_layers])
    uses_window = getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True)
    return tuple(SLIDING if uses_window else FULL for _ in range(num_layers))


def text_config(config):
    """Multimodal configs nest the decoder's settings; a plain LM config is its own text config."""
    get = getattr(config, "get_text_config", None)
    return get() if callable(get) else config


def _decoder(model: nn.Module) -> nn.Module:
    """The module that owns the layer stack (``model.model``, ``transformer``, OPT's ``model.decoder``)."""
    get = getattr(model, "get_decoder", None)
    try:
        decoder = get() if callable(get) else None
    except (AttributeError, NotImplementedError, TypeError):
        decoder = None
    return decoder if isinstance(decoder, nn.Module) else (getattr(model, "base_model", None) or model)


def _path_of(model: nn.Module, target: nn.Module) -> str:
    return next(name for name, module in model.named_modules() if module is target)


def inspect_model(model: nn.Module) -> ModelAnatomy:
    """Find the chain-relevant parts of a loaded ``*ForCausalLM`` model, or refuse it in one line."""
    config = text_config(model.config)

    def refuse(reason: str):
        raise UnsupportedModelError(f"{type(model).__name__}: {reason}")

    if getattr(model.config, "is_encoder_decoder", False):
        refuse("encoder-decoder models are not supported: cola runs the layer stack of a decoder-only model")
    decoder = _decoder(model)
    num_layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    layers = _find_layer_stack(decoder, num_layers)
    if layers is None:
        refuse(f"cannot find a unique stack of its {num_layers} decoder layers in {type(decoder).__name__}")
    layer_types = layer_types_of(config, num_layers)
    call = layer_call(config, layers[0])
    reason = unsupported_kinds(layer_types) or (call if isinstance(call, str) else None)
    if reason:
        refuse(reason)
    rotary = getattr(decoder, "rotary_emb", None)
    per_type = rotary is not None and "layer_type" in inspect.signature(rotary.forward).parameters
    return ModelAnatomy(
        base=decoder,
        layers=layers,
        layers_path=_path_of(model, layers),
        embed=model.get_input_embeddings(),
        norm=_find_final_norm(decoder),
        rotary=rotary,
        lm_head=model.get_output_embeddings(),
        layer_types=layer_types,
        sliding_window=getattr(config, "sliding_window", None) if SLIDING in layer_types else None,
        rotary_per_layer_type=per_type,
        facts=read_facts(config, decoder, call),
    )
