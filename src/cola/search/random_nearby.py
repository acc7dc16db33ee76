"""Nearby random search: random chains within four edits of the full chain, at a fixed budget.

It cannot go where a deep tree search goes (MCTS reaches 9-12 edits at 200
simulations), so a search that beats it may only have looked further; the default
baseline is therefore :mod:`cola.search.random_matched`, which matches the search's
reach. This one serves budgets without a search to match, as ``random_nearby``.

``config.simulations`` is the budget in DISTINCT chains evaluated, the root included,
so it pays the same model cost as a search with that many chains. A candidate is the
root with ``d ~ U{1..4}`` random edits applied in
sequence, each a uniformly random legal action of the current chain (the same action
space as MCTS). Duplicates are free and skipped; when the reachable space is exhausted
the search stops after ``MAX_DUPLICATE_STREAK`` duplicate proposals in a row instead of
looping forever. Candidates are drawn in the same order whatever ``batch_size`` is, so
batching changes only how many chains go to the evaluator per call.
"""

from __future__ import annotations

import random
import time

from cola.engine.chain import Chain, full_chain
from cola.evaluation.result import Evaluation
from cola.search.actions import Action, ActionSpace
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    action_space,
    register_strategy,
)

MAX_EDITS = 4
MAX_DUPLICATE_STREAK = 1000
MEMO_SIZE = 2048


def propose(
    root: Chain, space: ActionSpace, rng: random.Random, memo: dict[Chain, list[Action]] | None = None
) -> tuple[Chain, int]:
    """The root with 1..MAX_EDITS random legal edits (fewer if a chain has no legal edit), and the edits made.

    ``memo`` caches action lists: every candidate starts at the root, so its (largest)
    list would otherwise be rebuilt for every draw.
    """
    chain = root
    made = 0
    for _ in range(rng.randint(1, MAX_EDITS)):
        if memo is None:
            actions = space.actions(chain)
        else:
            if chain not in memo:
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                memo[chain] = space.actions(chain)
            actions = memo[chain]
        if not actions:
            break
        chain = actions[rng.randrange(len(actions))].apply(chain)
        made += 1
    return chain, made


@register_strategy("random_nearby")
def random_nearby_search(
    evaluator: ChainEvaluator,
    num_layers: int,
    config: SearchConfig,
    root_evaluation: Evaluation | None = None,
) -> SearchOutcome:
    """Evaluate random distinct chains until ``config.simulations`` distinct chains (root included).

    ``simulations`` in the outcome counts chains drawn, root and duplicates included.
    """
    config.validate(num_layers)
    start = time.perf_counter()
    space = action_space(config, num_layers)
    rng = random.Random(config.seed)
    cache = EvaluationCache(evaluator, num_layers, root_evaluation)
    root = full_chain(num_layers)
    budget = max(1, config.simulations)
    drawn = 1  # the root
    streak = 0
    memo: dict[Chain, list[Action]] = {}
    while len(cache.order) < budget and streak < MAX_DUPLICATE_STREAK:
        if config.early_stop and cache.found_shorter_correct:
            break
        want = min(config.batch_size, budget - len(cache.order))
        pending: dict[Chain, int] = {}  # insertion-ordered: chain -> edits made
        while len(pending) < want and streak < MAX_DUPLICATE_STREAK:
            candidate, made = propose(root, space, rng, memo)
            drawn += 1
            if candidate in cache or candidate in pending:
                streak += 1
                continue
            streak = 0
            pending[candidate] = made
        if pending:
            cache.evaluate(list(pending), edits=list(pending.values()))
    return cache.outcome("random_nearby", drawn, start)
