"""Best-first search over single edits, kept next to correct chains: a search for the shortening objective.

The paper's MCTS spreads its budget over a deep, narrow tree: after a node's first child
it mostly descends, and most of its chains land where nothing is correct. This strategy
keeps its frontier at the chains the reward calls correct. Every evaluated chain joins
the frontier; each round expands the best one, ordered by (correct first, shorter first,
earlier first), by evaluating its next untried single-edit children: shortening edits
(skips of k = 1..4 positions) first, in a seeded random order, then the repeats. When a
shorter correct chain turns up it becomes the best and the search descends from it; when
a node's children are used up, the next best is expanded. ``config.simulations`` is the
budget in new distinct chains (the root excluded), as for MCTS.

It is not the paper's search (that is ``mcts``, unchanged, for reproduction); it is here
to test whether a search that follows correct chains beats both MCTS and random search
at equal budget on the shortening objective, against the same nulls.
"""

from __future__ import annotations

import heapq
import random
import time

from cola.engine.chain import Chain
from cola.evaluation.result import Evaluation
from cola.search.actions import ActionSpace
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    action_space,
    register_strategy,
)


def _ordered_children(chain: Chain, space: ActionSpace, rng: random.Random) -> list[Chain]:
    """Distinct single-edit children: the skips in a random order, then the repeats in a random order."""
    children = space.children(chain)
    skips = [child for action, child in children if action.kind == "skip"]
    repeats = [child for action, child in children if action.kind == "repeat"]
    rng.shuffle(skips)
    rng.shuffle(repeats)
    return skips + repeats


class _Frontier:
    """Evaluated chains by priority, each with the children it has not offered yet."""

    def __init__(self, space: ActionSpace, rng: random.Random):
        self.space, self.rng = space, rng
        self.heap: list[tuple[int, int, int, Chain]] = []
        self.pending: dict[Chain, list[Chain]] = {}
        self.depth: dict[Chain, int] = {}
        self.count = 0

    def add(self, evaluation: Evaluation, depth: int) -> None:
        chain = tuple(evaluation.chain)
        self.depth.setdefault(chain, depth)
        heapq.heappush(self.heap, (0 if evaluation.correct else 1, len(chain), self.count, chain))
        self.count += 1

    def next_children(self, size: int, known) -> tuple[list[Chain], int]:
        """Up to ``size`` untried children of the best node that still has some, and their depth."""
        while self.heap:
            chain = self.heap[0][3]
            if chain not in self.pending:
                self.pending[chain] = _ordered_children(chain, self.space, self.rng)
            untried = self.pending[chain]
            batch: list[Chain] = []
            while untried and len(batch) < size:
                child = untried.pop(0)
                if child not in known and child not in batch:
                    batch.append(child)
            if batch:
                return batch, self.depth[chain] + 1
            heapq.heappop(self.heap)  # used up
        return [], 0


@register_strategy("best_first")
def best_first_search(
    evaluator: ChainEvaluator,
    num_layers: int,
    config: SearchConfig,
    root_evaluation: Evaluation | None = None,
) -> SearchOutcome:
    """Best-first over single edits from the best chain so far (see the module docstring)."""
    config.validate(num_layers)
    start = time.perf_counter()
    cache = EvaluationCache(evaluator, num_layers, root_evaluation)
    frontier = _Frontier(action_space(config, num_layers), random.Random(config.seed))
    frontier.add(cache.root, 0)
    budget = config.simulations
    rounds = 0
    while len(cache.order) - 1 < budget and not (config.early_stop and cache.found_shorter_correct):
        want = min(config.batch_size, budget - (len(cache.order) - 1))
        children, depth = frontier.next_children(want, cache)
        if not children:
            break  # every reachable chain is tried
        rounds += 1
        for evaluation in cache.evaluate(children, edits=[depth] * len(children)):
            frontier.add(evaluation, depth)
    return cache.outcome("best_first", rounds, start)
