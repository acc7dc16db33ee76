"""Per-sample chain search: MCTS (the paper's protocol) and its random null baselines.

Importing this package registers the built-in strategies: ``mcts``, ``random_matched``
(random chains with the edit counts of the search they are compared with: the default
baseline), ``random_length`` (random chains of the same lengths and skip/repeat mix as
the search's: the length-matched null), ``random_nearby`` (random chains within four edits of the full model),
``best_first`` (best-first over single edits from the best correct chain so far) and
``polar_mcts`` (the authors' released MCTS, :mod:`cola.search.polar_mcts`). A strategy
sees only a :class:`~cola.search.base.ChainEvaluator` bound to one sample, never the
model. Adding a strategy is one module that decorates a function with
:func:`~cola.search.base.register_strategy` plus its import below.

May import: cola.errors, cola.engine.chain, cola.evaluation.result
"""

from cola.search import best_first as _best_first  # noqa: F401  (registers "best_first")
from cola.search import mcts as _mcts  # noqa: F401  (registers "mcts")
from cola.search import polar_mcts as _polar_mcts  # noqa: F401  (registers "polar_mcts")
from cola.search import random_length as _length  # noqa: F401  (registers "random_length")
from cola.search import random_matched as _matched  # noqa: F401  (registers "random_matched")
from cola.search import random_nearby as _nearby  # noqa: F401  (registers "random_nearby")
from cola.search.actions import Action, ActionSpace
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    action_space,
    best_chain,
    get_strategy,
    register_strategy,
    strategy_names,
)
from cola.search.best_first import best_first_search
from cola.search.mcts import MCTS, mcts_search
from cola.search.random_length import random_length_search
from cola.search.random_matched import random_matched_search
from cola.search.random_nearby import random_nearby_search

__all__ = [
    "MCTS",
    "Action",
    "ActionSpace",
    "ChainEvaluator",
    "EvaluationCache",
    "SearchConfig",
    "SearchOutcome",
    "action_space",
    "best_chain",
    "best_first_search",
    "get_strategy",
    "mcts_search",
    "random_length_search",
    "random_matched_search",
    "random_nearby_search",
    "register_strategy",
    "strategy_names",
]
