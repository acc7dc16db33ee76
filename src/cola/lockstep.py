"""Lock-step execution of many chains over the same tokens.

Candidate chains of one sample read the same prompt, and during decoding they advance one
token at a time together. Whatever their positions, two chains that need the *same
pretrained layer* next can share one batched call of that layer: stack their hidden states
and their slot caches along the batch dimension, run the layer once, split the results.
Lanes whose chain prefixes are identical hold identical states, so they are computed once.
This is how several candidates are evaluated in one batched forward without changing any
chain's arithmetic (beyond float rounding of batched kernels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from cola.chain import Chain
from cola.engine import ChainCache, ChainModel, StepInputs, _SlotView, load_slot


@dataclass
class Lane:
    """One chain advancing through its positions; ``hidden`` is the state entering ``position``."""

    chain: Chain
    cache: ChainCache
    hidden: torch.Tensor
    position: int = 0
    history: tuple[int, ...] = ()  # tokens generated so far: lanes agree on states only if these agree

    @property
    def finished(self) -> bool:
        return self.position >= len(self.chain)


def _slot_seen(slot) -> int:
    return getattr(slot, "cumulative_length", None) or slot.get_seq_length()


def run_lanes(
    model: ChainModel,
    lanes: Sequence[Lane],
    step: StepInputs,
    on_position: Callable[[Lane], None] | None = None,
) -> int:
    """Run every lane to the end of its chain; returns how many lane-layer computations ran.

    Each round runs the *smallest* layer index any lane needs next: chains are mostly
    ascending edits of ``0..L-1``, so this keeps lanes aligned and the batches large (on
    MCTS batches it makes about a quarter fewer layer calls than picking the most-demanded
    layer). Lanes with the same chain prefix and the same generated tokens hold identical
    states, so only one of them computes and the others copy its result.
    ``on_position(lane)`` is called after each position a lane completes (before it advances).
    """
    layers, types = model.anatomy.layers, model.anatomy.layer_types
    work = 0
    while True:
        active = [lane for lane in lanes if not lane.finished]
        if not active:
            return work
        layer_index = min(lane.chain[lane.position] for lane in active)
        group = [lane for lane in active if lane.chain[lane.position] == layer_index]
        leaders: dict[tuple[int, ...], Lane] = {}
        followers: list[tuple[Lane, Lane]] = []
        for lane in group:
            key = (lane.history, lane.chain[: lane.position + 1])
            if key in leaders:
                followers.append((lane, leaders[key]))
            else:
                leaders[key] = lane
        runners = list(leaders.values())
        kind = types[layer_index]
        if len(runners) == 1:
            lane = runners[0]
            out = layers[layer_index](
                lane.hidden,
                attention_mask=step.masks[kind],
                position_embeddings=step.position_embeddings.get(kind),
                position_ids=step.position_ids,
                cache=_SlotView(lane.cache, lane.position),
            )
            lane.hidden = out[0] if isinstance(out, tuple) else out
        else:
            shared = ChainCache([kind], model.anatomy.sliding_window)
            slots = [lane.cache.layers[lane.position] for lane in runners]
            if slots[0].is_initialized and slots[0].get_seq_length() > 0:
                load_slot(shared, 0, torch.cat([s.keys for s in slots]), torch.cat([s.values for s in slots]),
                          _slot_seen(slots[0]))
            out = layers[layer_index](
                torch.cat([lane.hidden for lane in runners]),
                attention_mask=step.masks[kind],
                position_embeddings=step.position_embeddings.get(kind),
                position_ids=step.position_ids,
                cache=_SlotView(shared, 0),
            )
            out = out[0] if isinstance(out, tuple) else out
            merged = shared.layers[0]
            for row, lane in enumerate(runners):
                lane.hidden = out[row : row + 1]
                load_slot(lane.cache, lane.position, merged.keys[row : row + 1], merged.values[row : row + 1],
                          _slot_seen(merged))
        for lane, leader in followers:
            lane.hidden = leader.hidden
            source = leader.cache.layers[leader.position]
            load_slot(lane.cache, lane.position, source.keys, source.values, _slot_seen(source))
        work += len(runners)
        for lane in group:
            if on_position is not None:
                on_position(lane)
            lane.position += 1


def decode_step_inputs(model: ChainModel, lanes: Sequence[Lane], hidden: torch.Tensor, position: int) -> StepInputs:
    """Masks and rotary tables for one new token at ``position``, valid for every lane.

    All lanes have seen the same tokens, so any lane with a slot of a given attention kind
    can size that kind's mask.
    """
    positions = torch.tensor([[position]], device=hidden.device)
    merged = StepInputs(positions, {}, {})
    for kind in sorted({kind for lane in lanes for kind in lane.cache.slot_types}):
        owner = next(lane for lane in lanes if kind in lane.cache.slot_types)
        part = model.prepare(hidden, None, positions, owner.cache, [kind])
        merged.position_embeddings.update(part.position_embeddings)
        merged.masks.update(part.masks)
    return merged
