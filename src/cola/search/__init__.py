"""Per-sample chain search: MCTS (the paper's protocol) and a same-budget random baseline.

Importing this package registers the built-in strategies, so ``get_strategy("mcts")``
and ``get_strategy("random")`` always work. A strategy sees only a
:class:`~cola.search.base.ChainEvaluator` bound to one sample, never the model.

May import: cola.errors, cola.engine.chain, cola.evaluation.result
"""

from cola.search import mcts as _mcts  # noqa: F401  (registers "mcts")
from cola.search import random_search as _random  # noqa: F401  (registers "random")
from cola.search.actions import Action, ActionSpace
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    best_chain,
    get_strategy,
    register_strategy,
    strategy_names,
)
from cola.search.mcts import MCTS, mcts_search
from cola.search.random_search import random_search

__all__ = [
    "MCTS",
    "Action",
    "ActionSpace",
    "ChainEvaluator",
    "EvaluationCache",
    "SearchConfig",
    "best_chain",
    "get_strategy",
    "mcts_search",
    "random_search",
    "register_strategy",
    "strategy_names",
]
