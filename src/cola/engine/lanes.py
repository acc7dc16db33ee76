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
from typing import TYPE_CHECKING

import torch

from cola.engine.chain import Chain
from cola.engine.state import ChainCache, StepInputs, load_slot, slot_seen

if TYPE_CHECKING:  # pragma: no cover
    from cola.engine.model import ChainModel


@dataclass
class Lane:
    """One chain advancing through its positions; ``hidden`` is the state entering ``position``."""

    chain: Chain
    cache: ChainCache
    hidden: torch.Tensor
    position: int = 0
    history: tuple[int, ...] = ()  # tokens generated so far: lanes agree on states only if these agree
    # Masks and rotary tables of this lane's tokens, when lanes of one call read different
    # prompts (several samples decoding together); None: the ``step`` given to run_lanes.
    step: StepInputs | None = None
    group: object = None  # lanes may share states only within a group (one sample's prompt)

    @property
    def finished(self) -> bool:
        return self.position >= len(self.chain)


def run_lanes(
    model: ChainModel,
    lanes: Sequence[Lane],
    step: StepInputs | None = None,
    on_position: Callable[[Lane], None] | None = None,
    separate: bool = False,
) -> int:
    """Run every lane to the end of its chain; returns how many lane-layer computations ran.

    Each round runs the *smallest* layer index any lane needs next: chains are mostly
    ascending edits of ``0..L-1``, so this keeps lanes aligned and the batches large (on
    MCTS batches it makes about a quarter fewer layer calls than picking the most-demanded
    layer). Lanes of one group with the same chain prefix and the same generated tokens
    hold identical states, so only one of them computes and the others copy its result.
    Lanes with different step inputs (one new token each, different prompts) run in one
    call with their caches left-padded to a common length and masked.
    ``on_position(lane)`` is called after each position a lane completes (before it advances).
    ``separate``: every computing lane gets its own layer call (batch of one), so its
    arithmetic does not depend on which other lanes run beside it (in bfloat16 a batched
    call may round differently); lanes with identical states still share one result.
    """
    work = 0
    masks: dict[tuple, torch.Tensor | None] = {}  # padded-call masks by (kind, row lengths)
    while True:
        active = [lane for lane in lanes if not lane.finished]
        if not active:
            return work
        layer_index = min(lane.chain[lane.position] for lane in active)
        group = [lane for lane in active if lane.chain[lane.position] == layer_index]
        runners, followers = _leaders_and_followers(group)
        steps = {id(lane.step or step): lane.step or step for lane in runners}
        if len(runners) == 1 or separate:
            for lane in runners:
                _run_one(model, layer_index, lane, lane.step or step)
        elif len(steps) == 1:
            _run_stacked(model, layer_index, runners, next(iter(steps.values())))
        else:
            _run_padded(model, layer_index, runners, step, masks)
        for lane, leader in followers:
            lane.hidden = leader.hidden
            source = leader.cache.layers[leader.position]
            load_slot(lane.cache, lane.position, source.keys, source.values, slot_seen(source))
        work += len(runners)
        for lane in group:
            if on_position is not None:
                on_position(lane)
            lane.position += 1


def _leaders_and_followers(group: Sequence[Lane]) -> tuple[list[Lane], list[tuple[Lane, Lane]]]:
    """Lanes that compute, and ``(lane, leader)`` pairs of lanes that copy an identical state."""
    leaders: dict[tuple, Lane] = {}
    followers: list[tuple[Lane, Lane]] = []
    for lane in group:
        key = (id(lane.group), lane.history, lane.chain[: lane.position + 1])
        if key in leaders:
            followers.append((lane, leaders[key]))
        else:
            leaders[key] = lane
    return list(leaders.values()), followers


def _run_one(model: ChainModel, layer_index: int, lane: Lane, step: StepInputs) -> None:
    lane.hidden = model.call_layer(layer_index, lane.hidden, step, lane.cache, lane.position)


def _run_stacked(model: ChainModel, layer_index: int, runners: list[Lane], step: StepInputs) -> None:
    """Lanes reading the same tokens: stack states and equal-length caches along the batch."""
    kind = model.anatomy.layer_types[layer_index]
    shared = ChainCache([kind], model.anatomy.sliding_window)
    slots = [lane.cache.layers[lane.position] for lane in runners]
    if slots[0].is_initialized and slots[0].get_seq_length() > 0:
        load_slot(
            shared,
            0,
            torch.cat([s.keys for s in slots]),
            torch.cat([s.values for s in slots]),
            slot_seen(slots[0]),
        )
    out = model.call_layer(layer_index, torch.cat([lane.hidden for lane in runners]), step, shared, 0)
    merged = shared.layers[0]
    for row, lane in enumerate(runners):
        lane.hidden = out[row : row + 1]
        load_slot(
            lane.cache,
            lane.position,
            merged.keys[row : row + 1],
            merged.values[row : row + 1],
            slot_seen(merged),
        )


def _run_padded(
    model: ChainModel,
    layer_index: int,
    runners: list[Lane],
    default: StepInputs | None,
    masks: dict[tuple, torch.Tensor | None],
) -> None:
    """One new token per lane, lanes at different token positions (different prompts).

    Each lane's cached keys are right-aligned and left-padded to the longest, and the
    padding is masked through transformers' own mask functions, exactly as in batched
    generation with left padding. With the query in the last column for every row, a
    sliding window cuts the same padded columns for all rows; each row keeps only its own
    real keys afterwards (at most ``window - 1``, as an unpadded sliding slot would).
    """
    kind = model.anatomy.layer_types[layer_index]
    steps = [lane.step or default for lane in runners]
    if any(lane.hidden.shape[1] != 1 for lane in runners):
        raise ValueError("lanes with different step inputs must each carry exactly one new token")
    slots = [lane.cache.layers[lane.position] for lane in runners]
    lengths = [s.keys.shape[-2] for s in slots]  # decoding: every slot holds the prompt
    longest = max(lengths)
    first = slots[0].keys
    keys = first.new_zeros(len(runners), first.shape[1], longest, first.shape[3])
    values = torch.zeros_like(keys)
    for row, (slot, n) in enumerate(zip(slots, lengths)):
        keys[row, :, longest - n :] = slot.keys[0]
        values[row, :, longest - n :] = slot.values[0]
    shared = ChainCache([kind], model.anatomy.sliding_window)
    load_slot(shared, 0, keys, values, longest)
    hidden = torch.cat([lane.hidden for lane in runners])
    position_ids = torch.cat([s.position_ids for s in steps])
    mask_key = (kind, tuple(lengths))
    if mask_key not in masks:
        visible = torch.zeros(len(runners), longest + 1, dtype=torch.long, device=keys.device)
        for row, n in enumerate(lengths):
            visible[row, longest - n :] = 1
        masks[mask_key] = model.attention_mask(kind, hidden, visible, position_ids, shared, 0)
    mask = masks[mask_key]
    rotary = [s.position_embeddings.get(kind) for s in steps]
    position_embeddings = None if rotary[0] is None else tuple(torch.cat(parts) for parts in zip(*rotary))
    padded = StepInputs(
        position_ids, {kind: position_embeddings} if position_embeddings else {}, {kind: mask}
    )
    out = model.call_layer(layer_index, hidden, padded, shared, 0)
    merged = shared.layers[0]
    for row, (lane, slot, n) in enumerate(zip(runners, slots, lengths)):
        keep = min(n + 1, merged.keys.shape[-2])
        lane.hidden = out[row : row + 1]
        load_slot(
            lane.cache,
            lane.position,
            merged.keys[row : row + 1, :, -keep:],
            merged.values[row : row + 1, :, -keep:],
            slot_seen(slot) + 1,
        )


def decode_step_inputs(
    model: ChainModel, lanes: Sequence[Lane], hidden: torch.Tensor, position: int
) -> StepInputs:
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
