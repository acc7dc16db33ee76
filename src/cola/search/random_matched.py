"""Reach-matched random search: the null baseline that goes as far from the full chain as the search it faces.

A random baseline that only ever tries chains a few edits from the full model cannot
find what a deep tree search finds, so "the search beats random" would be confounded by
*reach*, not search quality. This strategy is given the edit count of every chain the
compared search evaluated (``config.match_edits``: one entry per distinct chain, the
root's 0 included) and evaluates, for each of them, a random chain with the same number
of edits: a random walk of ``d`` uniformly random legal edits from the full chain, in the
same action space as MCTS. Its edit-count distribution is therefore the search's own
(up to redraws when a walk lands on a chain already tried), and its budget is the same
number of distinct chains. Only the label-guided choice of *which* chains differs.
"""

from __future__ import annotations

import random
import time

from cola.engine.chain import Chain, full_chain
from cola.errors import ColaError
from cola.evaluation.result import Evaluation
from cola.search.actions import Action, ActionSpace
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    action_space,
    evaluate_matched,
    register_strategy,
)

MAX_REDRAWS = 64  # walks of one target length that may land on known chains before it is given up


def random_walk(
    root: Chain, steps: int, space: ActionSpace, rng: random.Random, memo: dict[Chain, list[Action]]
) -> tuple[Chain, int]:
    """``steps`` uniformly random legal edits from ``root``; returns the chain and the edits made."""
    chain = root
    for made in range(steps):
        if chain not in memo:
            memo[chain] = space.actions(chain)
        actions = memo[chain]
        if not actions:
            return chain, made
        chain = actions[rng.randrange(len(actions))].apply(chain)
    return chain, steps


def _draw(
    root: Chain, steps: int, space: ActionSpace, rng: random.Random, memo: dict[Chain, list[Action]], taken
) -> tuple[Chain, int] | None:
    """A walk of ``steps`` edits to a chain not in ``taken``, or None after MAX_REDRAWS tries."""
    for _ in range(MAX_REDRAWS):
        chain, made = random_walk(root, steps, space, rng, memo)
        if chain not in taken:
            return chain, made
        if len(memo) > 50_000:  # action lists of deep walks are rarely reused; bound the memory
            memo.clear()
    return None


@register_strategy("random_matched")
def random_matched_search(
    evaluator: ChainEvaluator,
    num_layers: int,
    config: SearchConfig,
    root_evaluation: Evaluation | None = None,
) -> SearchOutcome:
    """One random chain per chain of the compared search, with the same edit count (see the module docstring).

    ``simulations`` in the outcome counts walks drawn, redraws included.
    """
    config.validate(num_layers)
    if not config.match_edits:
        raise ColaError("random_matched needs match_edits: the edit counts of the search it is compared with")
    start = time.perf_counter()
    space = action_space(config, num_layers)
    rng = random.Random(config.seed)
    cache = EvaluationCache(evaluator, num_layers, root_evaluation)
    root = full_chain(num_layers)
    targets = [d for d in config.match_edits if d > 0]
    memo: dict[Chain, list[Action]] = {}

    def draw(steps: int, taken) -> tuple[tuple[Chain, int] | None, int]:
        return _draw(root, steps, space, rng, memo, taken), 1  # one walk counted per target

    drawn = evaluate_matched(cache, targets, config, draw)
    return cache.outcome("random_matched", drawn, start)
