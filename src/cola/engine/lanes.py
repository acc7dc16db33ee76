"""Lock-step execution of many chains over the same tokens.

Candidate chains of one sample read the same prompt, and during decoding they advance
together, each by its next token (and any drafted tokens after it). Whatever their positions, two chains that need the *same
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

from cola.engine.anatomy import FULL
from cola.engine.chain import Chain
from cola.engine.runner import ChainRunner
from cola.engine.state import ChainCache, StepInputs, load_slot, slot_seen


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
    model: ChainRunner,
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
    Lanes with different step inputs (different prompts, or drafts of different lengths;
    any number of new tokens each) run in one call, padded and masked (:func:`_run_padded`).
    ``on_position(lane)`` is called after each position a lane completes (before it advances).
    ``separate``: every computing lane gets its own layer call (batch of one), so its
    arithmetic does not depend on which other lanes run beside it (in bfloat16 a batched
    call may round differently); lanes with identical states still share one result.
    """
    work = 0
    padded_steps: dict[tuple, StepInputs] = {}  # padded-call inputs by (kind, rows' lengths and positions)
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
            _run_padded(model, layer_index, runners, step, padded_steps)
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


def _run_one(model: ChainRunner, layer_index: int, lane: Lane, step: StepInputs) -> None:
    lane.hidden = model.call_layer(layer_index, lane.hidden, step, lane.cache, lane.position)


def _run_stacked(model: ChainRunner, layer_index: int, runners: list[Lane], step: StepInputs) -> None:
    """Lanes reading the same tokens: stack states and equal-length caches along the batch."""
    kind = model.anatomy.layer_types[layer_index]
    shared = ChainCache([kind], model.anatomy.sliding_window)
    slots = [lane.cache.layers[lane.position] for lane in runners]
    if getattr(slots[0], "record_past", False):  # held lanes: the batch keeps every key too
        shared.layers[0].record_past = True
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
    model: ChainRunner,
    layer_index: int,
    runners: list[Lane],
    default: StepInputs | None,
    padded_steps: dict[tuple, StepInputs],
) -> None:
    """New tokens of lanes at different token positions (other prompts, or drafts of other lengths).

    Row ``i`` holds ``n_i`` cached keys and ``k_i`` new tokens. Its cached keys are
    right-aligned and left-padded to the longest (``P`` columns); its new tokens follow in
    columns ``P .. P + k_i - 1``, right-padded to the most new tokens (``K``). Padding is
    masked through transformers' own mask functions, as in batched generation with left
    padding. Every row's new tokens start in the same column, so the column distance of a
    real query and key is their distance in tokens and a sliding window cuts each row where
    its own window ends. Padded queries (zero states) see the row's real keys and their
    outputs are dropped. Each row keeps its own ``n_i + k_i`` keys.
    """
    kind = model.anatomy.layer_types[layer_index]
    steps = [lane.step or default for lane in runners]
    slots = [lane.cache.layers[lane.position] for lane in runners]
    held = [s.keys.shape[-2] for s in slots]  # decoding: every slot holds the prompt
    counts = [lane.hidden.shape[1] for lane in runners]
    starts = [int(step.position_ids[0, 0]) for step in steps]
    _check_step_lengths(steps, counts)
    longest, most = max(held), max(counts)
    first = slots[0].keys
    keys = first.new_zeros(len(runners), first.shape[1], longest, first.shape[3])
    values = torch.zeros_like(keys)
    hidden = runners[0].hidden.new_zeros(len(runners), most, runners[0].hidden.shape[-1])
    for row, (lane, slot, n, k) in enumerate(zip(runners, slots, held, counts)):
        keys[row, :, longest - n :] = slot.keys[0]
        values[row, :, longest - n :] = slot.values[0]
        hidden[row, :k] = lane.hidden[0]
    shared = ChainCache([FULL], None)  # the window is the mask's job here, not the slot's
    load_slot(shared, 0, keys, values, longest)
    step_key = (kind, tuple(held), tuple(counts), tuple(starts))
    if step_key not in padded_steps:
        padded_steps[step_key] = _padded_step(model, kind, hidden, shared, held, counts, starts)
    out = model.call_layer(layer_index, hidden, padded_steps[step_key], shared, 0)
    merged = shared.layers[0]
    for row, (lane, slot, n, k) in enumerate(zip(runners, slots, held, counts)):
        lane.hidden = out[row : row + 1, :k]
        load_slot(
            lane.cache,
            lane.position,
            merged.keys[row : row + 1, :, longest - n : longest + k],
            merged.values[row : row + 1, :, longest - n : longest + k],
            slot_seen(slot) + k,
        )


def _check_step_lengths(steps: list[StepInputs], counts: list[int]) -> None:
    for step, count in zip(steps, counts):
        if step.position_ids.shape[-1] != count:
            raise ValueError(
                f"a lane's step inputs cover {step.position_ids.shape[-1]} tokens but it carries {count}"
            )


def _padded_step(
    model: ChainRunner,
    kind: str,
    hidden: torch.Tensor,
    shared: ChainCache,
    held: list[int],
    counts: list[int],
    starts: list[int],
) -> StepInputs:
    """Positions and mask of a padded step (see :func:`_run_padded`): each row sees its own
    ``held`` cached keys, right-aligned, and its ``counts`` new tokens from position ``starts``."""
    longest, most = max(held), max(counts)
    offsets = torch.arange(most, device=hidden.device)
    position_ids = torch.stack([start + offsets for start in starts])
    visible = torch.zeros(len(held), longest + most, dtype=torch.long, device=hidden.device)
    for row, (n, k) in enumerate(zip(held, counts)):
        visible[row, longest - n : longest + k] = 1
    return model.prepare(hidden, visible, position_ids, shared, [kind])


def decode_step_inputs(
    model: ChainRunner, lanes: Sequence[Lane], hidden: torch.Tensor, position: int
) -> StepInputs:
    """Masks and rotary tables for the new tokens ``hidden`` (``[1, k, H]``) from ``position`` on.

    Valid for every lane that has seen the same number of tokens (``position``), whatever
    they were: any lane with a slot of a given attention kind can size that kind's mask.
    """
    positions = (torch.arange(hidden.shape[1], device=hidden.device) + position).unsqueeze(0)
    merged = StepInputs(positions, {}, {})
    for kind in sorted({kind for lane in lanes for kind in lane.cache.slot_types}):
        owner = next(lane for lane in lanes if kind in lane.cache.slot_types)
        part = model.prepare(hidden, None, positions, owner.cache, [kind])
        merged.position_embeddings.update(part.position_embeddings)
        merged.masks.update(part.masks)
    return merged
