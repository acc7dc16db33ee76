"""Length-matched random search: the null for every "a shorter chain exists" claim.

A reach-matched random walk (:mod:`cola.search.random_matched`) goes as many edits from
the full chain as the search it faces, but in MCTS's edit space most legal edits are
repeats, so its chains are mostly *longer* than the model: it rarely even tries a short
chain, and "the search finds shorter chains than random" then says little. This null
matches what such a claim is about: for every chain the compared strategy evaluated it
evaluates one uniformly random chain of the same *shape*, namely the same number of
layers skipped (model layers the chain never runs) and the same number of repeated
positions (positions beyond the first visit of a layer), hence the same length. A chain
of a shape is drawn as: a uniformly random set of layers to keep, in their original
order, then each repeated position a copy of a uniformly random kept layer, run right
after it (a loop). Block structure and re-ordering are not matched: the null asks
whether the *label* finds good chains of those lengths, not whether a search's
proposals do.

The budget is the compared strategy's number of distinct chains (``config.match_shapes``:
one ``(skipped, repeated)`` pair per chain, the root's ``(0, 0)`` included and skipped),
so its chance rate is the strategy's too. Its recorded reach for a chain is
``skipped + repeated``, the fewest single-layer edits that make the shape.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence

from cola.engine.chain import Chain, distinct_layers
from cola.errors import ColaError
from cola.evaluation.result import Evaluation
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    evaluate_matched,
    register_strategy,
)

MAX_REDRAWS = 64  # draws of one shape that may land on known chains before it is given up


def chain_shape(chain: Sequence[int], num_layers: int) -> tuple[int, int]:
    """``(layers skipped, positions repeated)`` of ``chain`` in a model of ``num_layers`` layers."""
    distinct = distinct_layers(tuple(chain))
    return num_layers - distinct, len(chain) - distinct


def random_chain_of_shape(num_layers: int, skipped: int, repeated: int, rng: random.Random) -> Chain:
    """A uniformly random kept set (in order) with ``repeated`` looped copies of random kept layers."""
    if not 0 <= skipped < num_layers or repeated < 0:
        raise ColaError(f"no chain of {num_layers} layers skips {skipped} and repeats {repeated}")
    kept = sorted(rng.sample(range(num_layers), num_layers - skipped))
    copies = Counter(rng.choice(kept) for _ in range(repeated))
    return tuple(layer for layer in kept for _ in range(1 + copies[layer]))


@register_strategy("random_length")
def random_length_search(
    evaluator: ChainEvaluator,
    num_layers: int,
    config: SearchConfig,
    root_evaluation: Evaluation | None = None,
) -> SearchOutcome:
    """One random chain per chain of the compared search, of the same shape (see the module docstring).

    ``simulations`` in the outcome counts chains drawn, redraws included.
    """
    config.validate(num_layers)
    if not config.match_shapes:
        raise ColaError(
            "random_length needs match_shapes: the chain shapes of the search it is compared with"
        )
    start = time.perf_counter()
    rng = random.Random(config.seed)
    cache = EvaluationCache(evaluator, num_layers, root_evaluation)
    targets = [(int(s), int(r)) for s, r in config.match_shapes if (s, r) != (0, 0)]

    def draw(shape: tuple[int, int], taken) -> tuple[tuple[Chain, int] | None, int]:
        for tries in range(1, MAX_REDRAWS + 1):
            chain = random_chain_of_shape(num_layers, *shape, rng)
            if chain not in taken:
                return (chain, sum(shape)), tries
        return None, MAX_REDRAWS

    drawn = evaluate_matched(cache, targets, config, draw)
    return cache.outcome("random_length", drawn, start)
