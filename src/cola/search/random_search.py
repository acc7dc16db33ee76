"""Random search: the null baseline MCTS must beat at the same evaluation budget.

``config.simulations`` is the budget in DISTINCT chains evaluated, the root included
(the runner passes the main search's ``len(evaluations)``), so both strategies pay the
same model cost. A candidate is the root with ``d ~ U{1..4}`` random edits applied in
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
    best_chain,
    register_strategy,
)

MAX_EDITS = 4
MAX_DUPLICATE_STREAK = 1000
MEMO_SIZE = 2048


def propose(
    root: Chain, space: ActionSpace, rng: random.Random, memo: dict[Chain, list[Action]] | None = None
) -> Chain:
    """The root with 1..MAX_EDITS random legal edits (fewer if a chain has no legal edit).

    ``memo`` caches action lists: every candidate starts at the root, so its (largest)
    list would otherwise be rebuilt for every draw.
    """
    chain = root
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
    return chain


@register_strategy("random")
def random_search(
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
    space = ActionSpace(
        min_length=config.min_length,
        max_length=config.max_length(num_layers),
        block_sizes=tuple(config.block_sizes),
        repeat_counts=tuple(config.repeat_counts),
    )
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
        pending: dict[Chain, None] = {}  # insertion-ordered set
        while len(pending) < want and streak < MAX_DUPLICATE_STREAK:
            candidate = propose(root, space, rng, memo)
            drawn += 1
            if candidate in cache or candidate in pending:
                streak += 1
                continue
            streak = 0
            pending[candidate] = None
        if pending:
            cache.evaluate(list(pending))
    evaluations = list(cache.order)
    return SearchOutcome(
        strategy="random",
        evaluations=evaluations,
        simulations=drawn,
        best_chain=best_chain(evaluations),
        seconds=time.perf_counter() - start,
    )
