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
    """Fill one slot of a cache with KV computed earlier (tensors are shared, not copied).

    Safe to share: cache layers grow by concatenation into new tensors, never in place. A
    sliding slot keeps its last ``window - 1`` keys, as its own update would, unless it is
    held (:func:`hold_keys`) for a step that may be cut back.
    """
    layer = cache.layers[slot]
    if not layer.is_initialized:
        layer.lazy_initialization(keys, values)
    if layer.is_sliding and not layer.record_past:
        keys, values = keys[..., -layer.sliding_window + 1 :, :], values[..., -layer.sliding_window + 1 :, :]
    layer.keys, layer.values = keys, values
    if hasattr(layer, "cumulative_length"):
        layer.cumulative_length = seen


def hold_keys(cache: ChainCache) -> None:
    """Before a multi-token step: sliding slots keep every key the step adds, until :func:`cut_back`.

    A sliding slot normally drops keys older than its window as soon as new ones arrive.
    When drafted tokens are rejected, the window must end at the last *accepted* token, and
    its oldest keys may be ones the step would already have dropped.
    """
    for layer in cache.layers:
        if layer.is_sliding:
            layer.record_past = True


def cut_back(cache: ChainCache, seen: int) -> None:
    """Keep the KV of the first ``seen`` tokens in every slot, as if no later token had been fed.

    Keys of a token depend only on the tokens up to it (attention is causal), so the kept
    keys are those a token-by-token run would hold. Sliding slots end held (:func:`hold_keys`)
    and keep their last ``window - 1`` keys.
    """
    for layer in cache.layers:
        if not layer.is_initialized:
            continue
        drop = slot_seen(layer) - seen
        if drop < 0:
            raise ValueError(f"cannot cut a cache slot that saw {slot_seen(layer)} tokens back to {seen}")
        keys, values = layer.keys, layer.values
        if drop:
            keys, values = keys[..., : keys.shape[-2] - drop, :], values[..., : values.shape[-2] - drop, :]
        if layer.is_sliding:
            layer.record_past = False
            keys = keys[..., -layer.sliding_window + 1 :, :]
            values = values[..., -layer.sliding_window + 1 :, :]
            layer.cumulative_length = seen
        layer.keys, layer.values = keys, values


def slot_seen(slot) -> int:
    """Tokens a slot has seen (a sliding slot may keep fewer keys than that)."""
    return getattr(slot, "cumulative_length", None) or slot.get_seq_length()
