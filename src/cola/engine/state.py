"""The state a chain forward carries: KV slots per chain position, and per-call step inputs.

A chain like ``(0, 1, 2, 2, 3)`` runs layer 2 twice. Each *chain position* owns a cache
slot, so the second pass through layer 2 attends to the keys and values of its own
second pass, exactly as a physically unrolled model with five distinct layers would. A
slot's kind (full attention or sliding window) follows the pretrained layer it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, DynamicLayer, DynamicSlidingWindowLayer

from cola.engine.anatomy import SLIDING


@dataclass
class StepInputs:
    """What every layer of one forward call shares: positions, rotary tables and masks by attention kind."""

    position_ids: torch.Tensor
    position_embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]]
    masks: dict[str, torch.Tensor | None]


class ChainCache(Cache):
    """A KV cache with one slot per chain position (not per pretrained layer)."""

    def __init__(self, slot_types: Sequence[str], sliding_window: int | None):
        layers = [
            DynamicSlidingWindowLayer(sliding_window=sliding_window) if kind == SLIDING else DynamicLayer()
            for kind in slot_types
        ]
        super().__init__(layers=layers)
        self.slot_types = tuple(slot_types)

    def first_slot_of(self, kind: str) -> int | None:
        return self.slot_types.index(kind) if kind in self.slot_types else None


class SlotView:
    """Routes a layer's cache writes to its chain position's slot.

    Attention modules call ``cache.update(k, v, self.layer_idx)`` with their *pretrained*
    index; a looped layer would then overwrite its own earlier pass (the bug in public CoLa
    code). The view substitutes the chain position; everything else passes through.
    """

    __slots__ = ("_cache", "_slot")

    def __init__(self, cache: ChainCache, slot: int):
        self._cache = cache
        self._slot = slot

    def update(self, key_states, value_states, layer_idx=None, *args, **kwargs):
        return self._cache.update(key_states, value_states, self._slot, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cache, name)


def load_slot(cache: ChainCache, slot: int, keys: torch.Tensor, values: torch.Tensor, seen: int) -> None:
    """Fill one slot of a fresh cache with KV computed earlier (tensors are shared, not copied).

    Safe to share: cache layers grow by concatenation into new tensors, never in place.
    """
    layer = cache.layers[slot]
    if not layer.is_initialized:
        layer.lazy_initialization(keys, values)
    layer.keys, layer.values = keys, values
    if hasattr(layer, "cumulative_length"):
        layer.cumulative_length = seen


def slot_seen(slot) -> int:
    """Tokens a slot has seen (a sliding slot may keep fewer keys than that)."""
    return getattr(slot, "cumulative_length", None) or slot.get_seq_length()
