"""The ``peft`` format: a PEFT LoRA adapter whose ``layer_replication`` stacks the chain's layers.

The adapter's ``layer_replication`` lists the chain's runs of layers (weights shared with
the base model). The LoRA update starts at zero (``B = 0``), so the adapter computes
exactly the chain. Every chain is a concatenation of half-open ranges, but PEFT only
rebuilds the layer list and ``num_hidden_layers``: it leaves the config's per-position
``layer_types`` alone, and models with mixed attention kinds (Gemma-3: sliding window +
full) choose each position's mask from that list. Such a chain is expressible only if it
is no longer than the model and every position keeps the attention kind of the original
layer at that position; otherwise :func:`peft_layer_replication` raises
:class:`~cola.errors.ColaError` saying so.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cola.engine.chain import Chain, format_chain, validate_chain
from cola.errors import ColaError
from cola.export.hf import check_exportable
from cola.export.ranges import chain_ranges

if TYPE_CHECKING:
    from torch import nn

    from cola.engine.model import ChainModel

# The one LoRA the adapter holds, both in a config-only adapter_config.json and in the
# real peft.LoraConfig: rank 1 on one Linear per layer, no dropout or bias, so with B = 0
# it adds nothing and the adapter is the chain.
LORA_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {"task_type": "CAUSAL_LM", "r": 1, "lora_alpha": 1, "lora_dropout": 0.0, "bias": "none"}
)


def peft_layer_replication(chain: Sequence[int], layer_types: Sequence[str] | None = None) -> list[list[int]]:
    """PEFT ``LoraConfig.layer_replication`` ranges for ``chain``, or a ColaError why not.

    ``layer_types`` are the model's per-layer attention kinds. When they are mixed, PEFT's
    replicated model still picks each *position*'s attention mask from the unchanged
    ``config.layer_types``, so the chain must not be longer than the model and position
    ``p`` must run a layer of the same kind as layer ``p``.
    """
    chain = validate_chain(chain, len(layer_types) if layer_types else None)
    if layer_types and len(set(layer_types)) > 1:
        _check_positions_keep_their_kind(chain, layer_types)
    return [[start, end] for start, end in chain_ranges(chain)]


def _check_positions_keep_their_kind(chain: Chain, layer_types: Sequence[str]) -> None:
    """Refuse a chain whose replicated positions would get another layer's attention mask."""
    num_layers = len(layer_types)
    if len(chain) > num_layers:
        raise ColaError(
            f"chain {format_chain(chain)} cannot be a PEFT layer_replication: it has {len(chain)} "
            f"positions but this model mixes attention kinds ({', '.join(sorted(set(layer_types)))}) and "
            f"PEFT keeps the config's {num_layers}-entry layer_types, so positions past {num_layers - 1} "
            f"have no attention kind; use --format hf (which rewrites layer_types) instead"
        )
    clashes = [
        (position, layer)
        for position, layer in enumerate(chain)
        if layer_types[layer] != layer_types[position]
    ]
    if clashes:
        shown = ", ".join(
            f"position {p} runs layer {layer} ({layer_types[layer]}) where the config says {layer_types[p]}"
            for p, layer in clashes[:3]
        )
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise ColaError(
            f"chain {format_chain(chain)} cannot be a PEFT layer_replication: this model mixes attention "
            f"kinds and PEFT leaves config.layer_types unchanged, so each position keeps the original "
            f"position's mask: {shown}{more}; use --format hf (which rewrites layer_types) instead"
        )


def _lora_target(layer: nn.Module) -> str:
    """A Linear sub-module name of a decoder layer, to hang the (zero) LoRA update on."""
    from torch import nn

    for name, module in layer.named_modules():
        if isinstance(module, nn.Linear):
            return name.rsplit(".", 1)[-1]
    raise ColaError("the decoder layers have no Linear module for a LoRA adapter")


def _check_peft_layout(model: nn.Module) -> None:
    """PEFT finds the stack at ``model(.model)*.layers``; make sure that is cola's stack."""
    from cola.engine.anatomy import inspect_model

    anatomy = inspect_model(model)
    inner = model
    while hasattr(inner, "model"):
        inner = inner.model
    if getattr(inner, "layers", None) is not anatomy.layers:
        raise ColaError(
            f"PEFT layer_replication cannot find the decoder stack of {type(model).__name__} "
            f"(it looks for model.model...layers); use --format hf instead"
        )


def peft_adapter_config(
    model_ref: str,
    chain: Sequence[int],
    layer_types: Sequence[str] | None = None,
    target_modules: Sequence[str] = ("q_proj",),
) -> dict[str, Any]:
    """An ``adapter_config.json``-like dict: a rank-1 LoRA with ``layer_replication`` set."""
    return {
        "peft_type": "LORA",
        **LORA_SETTINGS,
        "base_model_name_or_path": str(model_ref),
        "layer_replication": peft_layer_replication(chain, layer_types),
        "target_modules": list(target_modules),
        "inference_mode": True,
    }


def export_peft(
    model: ChainModel,
    chain: Sequence[int],
    out_dir: str | Path,
    model_ref: str | None = None,
    config_only: bool = False,
) -> Path:
    """Write a PEFT adapter dir that replays ``chain`` on the base model.

    With ``peft`` installed (and not ``config_only``) this is a real adapter:
    ``PeftModel.from_pretrained(base, out_dir)`` runs the chain (LoRA weights start at zero,
    so the output is exactly the chain's). Otherwise only ``adapter_config.json`` is
    written, so an export never needs peft to be installed.
    """
    chain = model.chain(chain) if not isinstance(chain, tuple) else validate_chain(chain, model.num_layers)
    check_exportable(model, chain)
    layer_types = model.anatomy.layer_types
    ref = model_ref or model.name
    replication = peft_layer_replication(chain, layer_types)
    _check_peft_layout(model.model)
    target = _lora_target(model.anatomy.layers[0])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config_only or importlib.util.find_spec("peft") is None:
        config = peft_adapter_config(ref, chain, layer_types, target_modules=[target])
        (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    else:
        _save_adapter(model, replication, target, ref, out)
    return out


def _save_adapter(model: ChainModel, replication: list[list[int]], target: str, ref: str, out: Path) -> None:
    """Wrap a copy of the base model in the zero LoRA and save it as a real PEFT adapter."""
    import copy

    import peft

    config = peft.LoraConfig(
        **LORA_SETTINGS,
        target_modules=[target],
        layer_replication=replication,
        init_lora_weights=True,  # B = 0: the adapter adds nothing on top of the replicated layers
    )
    base = copy.deepcopy(model.model)  # PEFT replaces the layer list in place
    wrapped = peft.get_peft_model(base, config)
    wrapped.peft_config["default"].base_model_name_or_path = ref
    # save_embedding_layers=False: the embeddings are untouched; skip PEFT's hub look-up of the base config.
    wrapped.save_pretrained(out, save_embedding_layers=False)
