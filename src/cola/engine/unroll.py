"""Physically unrolled copies of a model: the chain's layers become the model's own stack.

This is the ground truth for chain execution (tests compare :class:`cola.engine.ChainModel`
against it) and the basis of ``cola export --format hf``: a plain transformers checkpoint
whose ``num_hidden_layers`` is the chain length, loadable with ``from_pretrained`` alone,
because every per-layer setting of its config follows the chain (:func:`remap_layer_lists`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn

from cola.engine.anatomy import inspect_model, text_config
from cola.engine.chain import validate_chain


def _renumber(layer: nn.Module, position: int) -> None:
    """Point every ``layer_idx`` in a copied layer at its new position (its own cache slot)."""
    for module in layer.modules():
        if isinstance(getattr(module, "layer_idx", None), int):
            module.layer_idx = position


# Config lists of layer indices (not one entry per layer): a layer listed moves with the chain.
INDEX_LISTS = ("mlp_only_layers", "moe_layers")
# Config lists that are never per layer, whatever their length (token ids, class names).
NOT_PER_LAYER = frozenset(
    {
        "architectures",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "bad_words_ids",
        "suppress_tokens",
        "begin_suppress_tokens",
        "forced_decoder_ids",
    }
)


def per_layer_keys(config) -> list[str]:
    """The config's per-layer lists, found as data: every list or tuple as long as the layer stack.

    ``layer_types``, SmolLM3's ``no_rope_layers``, a per-layer ``intermediate_size``, ...:
    transformers builds layer ``i`` from entry ``i``, so an unrolled checkpoint must list
    the entries of the chain's layers, in chain order, or it does not reload.
    """
    count = config.num_hidden_layers
    return [
        key
        for key in config.to_dict()
        if key not in NOT_PER_LAYER
        and key not in INDEX_LISTS
        and isinstance(getattr(config, key, None), (list, tuple))
        and len(getattr(config, key)) == count
    ]


def remap_layer_lists(config, chain: Sequence[int]) -> None:
    """Make ``config`` describe the chain's stack: its depth, its per-layer lists and its layer-index lists."""
    for key in per_layer_keys(config):
        values = getattr(config, key)
        setattr(config, key, type(values)(values[i] for i in chain))
    for key in INDEX_LISTS:
        listed = getattr(config, key, None)
        if isinstance(listed, (list, tuple)):
            members = set(listed)
            setattr(config, key, type(listed)(p for p, i in enumerate(chain) if i in members))
    config.num_hidden_layers = len(chain)


def unroll_model(model: nn.Module, chain: Sequence[int]) -> nn.Module:
    """A deep copy of ``model`` whose decoder stack is ``chain``'s layers, each a distinct copy."""
    anatomy = inspect_model(model)
    chain = validate_chain(chain, anatomy.num_layers)
    # Copy everything but the original stack, then build the new stack from copies of its layers.
    unrolled = copy.deepcopy(model, memo={id(anatomy.layers): nn.ModuleList()})
    stack = nn.ModuleList()
    for position, layer_index in enumerate(chain):
        layer = copy.deepcopy(anatomy.layers[layer_index])
        _renumber(layer, position)
        stack.append(layer)
    owner, _, attr = anatomy.layers_path.rpartition(".")
    setattr(unrolled.get_submodule(owner), attr, stack)
    remap_layer_lists(text_config(unrolled.config), chain)
    if getattr(unrolled.config, "use_cache", None) is False:
        unrolled.config.use_cache = True
    return unrolled
