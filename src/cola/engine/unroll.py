"""Physically unrolled copies of a model: the chain's layers become the model's own stack.

This is the ground truth for chain execution (tests compare :class:`cola.engine.ChainModel`
against it) and the basis of ``cola export --format hf``: a plain transformers checkpoint
whose ``num_hidden_layers`` is the chain length, loadable with ``from_pretrained`` alone.
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
    config = text_config(unrolled.config)
    config.num_hidden_layers = len(chain)
    if getattr(config, "layer_types", None):
        config.layer_types = [anatomy.layer_types[i] for i in chain]
    if getattr(unrolled.config, "use_cache", None) is False:
        unrolled.config.use_cache = True
    return unrolled
