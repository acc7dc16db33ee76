"""Greedy decoding of many chains at once: the one decoding loop of cola.

Every prefilled lane (a chain whose cache holds its prompt) decodes in lock-step with
the others: at each step every unfinished lane takes its argmax token, lanes that need
the same pretrained layer share one batched call (:func:`cola.engine.lanes.run_lanes`,
caches of different prompts left-padded and masked), and one LM-head call serves all
lanes. A lane ends at an end-of-sequence token, after ``max_new_tokens``, or when its
``stop(text_so_far)`` says so. :meth:`cola.engine.model.ChainModel.generate` is this loop
over its prompts; the evaluator runs it over every candidate chain of every sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from cola.engine.chain import Chain
from cola.engine.lanes import Lane, decode_step_inputs, run_lanes

if TYPE_CHECKING:  # pragma: no cover
    from cola.engine.model import ChainModel


@dataclass
class Generation:
    """A greedy continuation of one prompt."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    stopped_early: bool = False  # the caller's stop rule ended it before EOS / max_new_tokens


@dataclass
class Prefilled:
    """A lane ready to decode: its cache holds the prompt, ``logits`` are the next token's."""

    lane: Lane  # lane.group: lanes of one group read the same prompt
    logits: torch.Tensor  # [1, vocab]
    prompt_length: int
    stop: Callable[[str], bool] | None = None  # text so far -> end this lane now


@dataclass
class Decoded:
    generations: list[Generation]
    steps: int = 0  # tokens fed back through a chain, summed over lanes
    layer_forwards: int = 0  # lane-layer computations those steps ran


def prefill(model: ChainModel, chain: Chain, input_ids: torch.Tensor, group: object = None) -> Prefilled:
    """Run one unpadded prompt (``[1, T]`` ids) through ``chain`` into a fresh cache."""
    hidden, step = model.prompt_step(input_ids)
    lane = Lane(chain, model.new_cache(chain), hidden, group=group if group is not None else object())
    run_lanes(model, [lane], step)
    return Prefilled(lane, model.head(lane.hidden[:, -1:])[:, -1], input_ids.shape[1])


def decode_prompts(
    model: ChainModel,
    chain: Chain,
    prompts: Sequence[torch.Tensor],
    max_new_tokens: int,
    stops: Sequence[Callable[[str], bool] | None] | None = None,
) -> Decoded:
    """Greedy continuations of several prompts (each ``[1, T]`` ids) through one chain."""
    rows = [prefill(model, chain, ids) for ids in prompts]
    for row, stop in zip(rows, stops or [None] * len(rows)):
        row.stop = stop
    return decode_lanes(model, rows, max_new_tokens)


def _take_tokens(next_ids: list[int], rows, tokens, done, early, eos: set[int], tokenizer) -> None:
    """The token rule: EOS ends a lane (not kept); any other token is kept, then the stop rule runs."""
    for i, token in enumerate(next_ids):
        if done[i]:
            continue
        if token in eos:
            done[i] = True
            continue
        tokens[i].append(token)
        stop = rows[i].stop
        if stop is not None and stop(tokenizer.decode(tokens[i])):
            done[i] = early[i] = True


def _decode_lanes_for(
    model: ChainModel,
    rows: Sequence[Prefilled],
    active: list[int],
    next_ids: list[int],
    tokens: list[list[int]],
    step_index: int,
    device,
) -> list[Lane]:
    """One new-token lane per active row; lanes of one group share that group's step inputs."""
    positions = torch.tensor([[rows[i].prompt_length + step_index] for i in active], device=device)
    hidden = model.embed(torch.tensor([[next_ids[i]] for i in active], device=device), positions)
    lanes: list[Lane] = []
    by_group: dict[int, list[tuple[Lane, Prefilled]]] = {}
    for k, i in enumerate(active):
        source = rows[i].lane
        lane = Lane(
            source.chain, source.cache, hidden[k : k + 1], history=tuple(tokens[i]), group=source.group
        )
        lanes.append(lane)
        by_group.setdefault(id(source.group), []).append((lane, rows[i]))
    for members in by_group.values():
        group_lanes = [lane for lane, _ in members]
        step = decode_step_inputs(model, group_lanes, hidden[:1], members[0][1].prompt_length + step_index)
        for lane in group_lanes:
            lane.step = step
    return lanes


def decode_lanes(
    model: ChainModel, rows: Sequence[Prefilled], max_new_tokens: int, separate: bool = False
) -> Decoded:
    """Greedy decoding of every prefilled lane in lock-step (see the module docstring).

    ``separate``: every lane gets its own layer and LM-head calls, so no lane's arithmetic
    depends on its batch-mates (:func:`cola.engine.lanes.run_lanes`).
    """
    tokenizer = model.tokenizer
    eos = set(model.eos_ids())
    tokens: list[list[int]] = [[] for _ in rows]
    done = [False] * len(rows)
    early = [False] * len(rows)
    result = Decoded([])
    if not rows:
        return result
    logits = torch.cat([row.logits for row in rows])
    for step_index in range(max_new_tokens):
        next_ids = logits.argmax(-1).tolist()
        _take_tokens(next_ids, rows, tokens, done, early, eos, tokenizer)
        active = [i for i in range(len(rows)) if not done[i]]
        if not active or step_index == max_new_tokens - 1:
            break
        lanes = _decode_lanes_for(model, rows, active, next_ids, tokens, step_index, logits.device)
        result.layer_forwards += run_lanes(model, lanes, separate=separate)
        result.steps += len(active)
        logits = logits.clone()
        logits[active] = model.head_rows([lane.hidden for lane in lanes], separate)[:, -1]
    result.generations = [Generation(tokenizer.decode(t), t, e) for t, e in zip(tokens, early)]
    return result
