"""Greedy decoding of many chains at once: the one decoding loop of cola.

Every prefilled lane (a chain whose cache holds its prompt) decodes in lock-step with
the others: at each round every unfinished lane feeds its newest token, lanes that need
the same pretrained layer share one batched call (:func:`cola.engine.lanes.run_lanes`,
caches of different prompts left-padded and masked), and one LM-head call serves all
lanes. A lane ends at an end-of-sequence token, after ``max_new_tokens``, or when its
``stop(text_so_far)`` says so. :meth:`cola.engine.model.ChainModel.generate` is this loop
over its prompts; the evaluator runs it over every candidate chain of every sample.

With ``draft=True`` a lane feeds its newest token *and* a draft of the tokens likely to
follow (:mod:`cola.engine.drafting`) in the same round. One multi-token step gives the
logits after each of them; the lane keeps the longest drafted prefix that equals its own
argmax at every position, plus the argmax after that prefix, and its cache is cut back to
the tokens it kept (:func:`cola.engine.state.cut_back`). The kept tokens are the ones
greedy decoding takes one at a time, so the text is the same; rounds are fewer when
drafts hold. Tokens go through the same rule one by one (EOS, the stop rule, the token
budget), so a lane stops exactly where it would without drafts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from cola.engine.chain import Chain
from cola.engine.drafting import ROUND_DRAFT_TOKENS, Drafter, DraftPool, NgramIndex
from cola.engine.lanes import Lane, decode_step_inputs, run_lanes
from cola.engine.runner import ChainRunner
from cola.engine.state import cut_back, hold_keys


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
    prompt_ids: Sequence[int] = ()  # the prompt's tokens, where drafts are looked up
    pool: DraftPool | None = None  # generations for the same prompt, drafted from (and added to)


@dataclass
class Decoded:
    generations: list[Generation]
    steps: int = 0  # lane steps (one pass of a lane's new tokens through its chain), summed over lanes
    layer_forwards: int = 0  # lane-layer computations those steps ran
    tokens_fed: int = 0  # tokens those steps fed through a chain (a step feeds one token plus its draft)
    accepted: int = 0  # tokens those steps gave (one without drafts; ``accepted / steps`` per step)
    rounds: int = 0  # lock-step rounds: sequential passes of every unfinished lane

    def count_round(self, lanes: int, drafted: int) -> None:
        """One lock-step round of ``lanes`` steps that fed ``drafted`` drafted tokens besides their newest."""
        self.steps += lanes
        self.rounds += 1
        self.tokens_fed += lanes + drafted


def prefill(model: ChainRunner, chain: Chain, input_ids: torch.Tensor, group: object = None) -> Prefilled:
    """Run one unpadded prompt (``[1, T]`` ids) through ``chain`` into a fresh cache."""
    hidden, step = model.prompt_step(input_ids)
    lane = Lane(chain, model.new_cache(chain), hidden, group=group if group is not None else object())
    run_lanes(model, [lane], step)
    logits = model.head(lane.hidden[:, -1:])[:, -1]
    return Prefilled(lane, logits, input_ids.shape[1], prompt_ids=input_ids[0].tolist())


def decode_prompts(
    model: ChainRunner,
    chain: Chain,
    prompts: Sequence[torch.Tensor],
    max_new_tokens: int,
    stops: Sequence[Callable[[str], bool] | None] | None = None,
    draft: bool = False,
) -> Decoded:
    """Greedy continuations of several prompts (each ``[1, T]`` ids) through one chain."""
    rows = [prefill(model, chain, ids) for ids in prompts]
    for row, stop in zip(rows, stops or [None] * len(rows)):
        row.stop = stop
    return decode_lanes(model, rows, max_new_tokens, draft=draft)


class _TokenRule:
    """EOS ends a lane (not kept); any other token is kept, then the stop rule and the budget run."""

    def __init__(self, rows: Sequence[Prefilled], max_new_tokens: int, eos: set[int], tokenizer):
        self.rows, self.max_new_tokens, self.eos, self.tokenizer = rows, max_new_tokens, eos, tokenizer
        self.tokens: list[list[int]] = [[] for _ in rows]
        self.done = [False] * len(rows)
        self.early = [False] * len(rows)

    def take(self, i: int, new: Sequence[int]) -> None:
        tokens, stop = self.tokens[i], self.rows[i].stop
        for token in new:
            if token in self.eos:
                self.done[i] = True
                return
            tokens.append(token)
            if stop is not None and stop(self.tokenizer.decode(tokens)):
                self.done[i] = self.early[i] = True
                return
            if len(tokens) >= self.max_new_tokens:
                self.done[i] = True
                return


def _drafters(rows: Sequence[Prefilled], tokens: list[list[int]]) -> list[Drafter]:
    """One drafter per row; rows of one group share the prompt's n-gram index and one pool."""
    indexes: dict[int, NgramIndex] = {}
    pools: dict[int, DraftPool] = {}
    for row, row_tokens in zip(rows, tokens):
        key = id(row.lane.group)
        indexes.setdefault(key, NgramIndex(row.prompt_ids))
        pool = pools.setdefault(key, row.pool or DraftPool())
        pool.add(row_tokens)  # lanes decoding now draft from each other
    return [Drafter(indexes[id(r.lane.group)], t, pools[id(r.lane.group)]) for r, t in zip(rows, tokens)]


def _round_lanes(
    model: ChainRunner,
    rows: Sequence[Prefilled],
    active: list[int],
    tokens: list[list[int]],
    drafts: dict[int, list[int]],
    device,
) -> list[Lane]:
    """One lane per active row fed its newest token and its draft.

    Lanes of one group at one position with as many tokens share one set of step inputs
    (so they can run stacked). A lane's ``history`` is every token it has been fed, so
    lanes may share states only where they were fed the same tokens.
    """
    lanes: list[Lane] = []
    shared: dict[tuple, list[tuple[Lane, int]]] = {}
    for i in active:
        source, feed = rows[i].lane, [tokens[i][-1], *drafts[i]]
        start = rows[i].prompt_length + len(tokens[i]) - 1
        positions = (torch.arange(len(feed), device=device) + start).unsqueeze(0)
        hidden = model.embed(torch.tensor([feed], device=device), positions)
        history = (*tokens[i], *drafts[i])
        lane = Lane(source.chain, source.cache, hidden, history=history, group=source.group)
        lanes.append(lane)
        shared.setdefault((id(source.group), start, len(feed)), []).append((lane, start))
    for members in shared.values():
        group_lanes = [lane for lane, _ in members]
        step = decode_step_inputs(model, group_lanes, group_lanes[0].hidden, members[0][1])
        for lane in group_lanes:
            lane.step = step
    return lanes


def decode_lanes(
    model: ChainRunner,
    rows: Sequence[Prefilled],
    max_new_tokens: int,
    separate: bool = False,
    draft: bool = False,
) -> Decoded:
    """Greedy decoding of every prefilled lane in lock-step (see the module docstring).

    ``separate``: each lane in its own layer and LM-head calls (:func:`~cola.engine.lanes.run_lanes`).
    ``draft``: feed drafted tokens after each lane's newest one and keep those the model confirms;
    a multi-token step rounds unlike single-token steps (other kernel shapes), so exact never drafts.
    """
    result = Decoded([])
    if not rows:
        return result
    tokenizer = model.tokenizer
    rule = _TokenRule(rows, max_new_tokens, set(model.eos_ids()), tokenizer)
    tokens = rule.tokens
    drafters = _drafters(rows, tokens) if draft else None
    taken = [[token] for token in torch.cat([row.logits for row in rows]).argmax(-1).tolist()]
    device = rows[0].logits.device
    while True:
        for i, new in enumerate(taken):
            if not rule.done[i]:
                rule.take(i, new)
        active = [i for i in range(len(rows)) if not rule.done[i]]
        if not active:
            break
        share = ROUND_DRAFT_TOKENS // len(active)  # the round's draft budget, split between its lanes
        room = {i: min(share, max_new_tokens - len(tokens[i]) - 1) for i in active}  # the last is never fed
        drafts = {i: drafters[i].propose(room[i]) if drafters else [] for i in active}
        lanes = _round_lanes(model, rows, active, tokens, drafts, device)
        multi = any(drafts.values())
        for lane in lanes if multi else ():  # keep sliding slots whole until the draft is settled
            hold_keys(lane.cache)
        result.layer_forwards += run_lanes(model, lanes, separate=separate)
        result.count_round(len(active), sum(len(d) for d in drafts.values()))
        if not multi:  # one token per lane: one row of logits each
            preds = model.head_rows([lane.hidden for lane in lanes], separate)[:, -1].argmax(-1).tolist()
            for i, pred in zip(active, preds):
                taken[i] = [pred]
            result.accepted += len(active)
            continue
        for i, lane, pred in zip(active, lanes, _argmax_rows(model, lanes, separate)):
            taken[i] = _confirmed(drafts[i], pred, drafters[i])
            cut_back(lane.cache, rows[i].prompt_length + len(tokens[i]) + len(taken[i]) - 1)
            result.accepted += len(taken[i])
    result.generations = [Generation(tokenizer.decode(t), t, e) for t, e in zip(tokens, rule.early)]
    return result


def _confirmed(drafted: list[int], pred: list[int], drafter) -> list[int]:
    """The longest drafted prefix the lane's own argmax agrees with, plus the model's next token.

    ``pred[k]`` is the lane's argmax after its newest token and the first ``k`` drafted ones,
    so every kept token is exactly what undrafted greedy decoding would have produced.
    """
    kept = 0
    while kept < len(drafted) and pred[kept] == drafted[kept]:
        kept += 1
    drafter.accepted(len(drafted), kept)
    return [*drafted[:kept], pred[kept]]


def _argmax_rows(model: ChainRunner, lanes: Sequence[Lane], separate: bool) -> list[list[int]]:
    """Per lane, the argmax token after each of its fed tokens (one LM-head call, or one per lane)."""
    if separate:
        return [model.head(lane.hidden)[0].argmax(-1).tolist() for lane in lanes]
    flat = model.head(torch.cat([lane.hidden for lane in lanes], dim=1))[0].argmax(-1).tolist()
    out, at = [], 0
    for lane in lanes:
        count = lane.hidden.shape[1]
        out.append(flat[at : at + count])
        at += count
    return out
