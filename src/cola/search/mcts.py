"""Monte Carlo Tree Search over chains of layers (the paper's protocol, done by the book).

The tree's root is the full chain ``0..L-1``; a child is its parent with one edit
(:mod:`cola.search.actions`). One simulation walks down from the root:

* a node with no expanded child expands one (a uniformly random unexpanded action);
* otherwise, with probability ``random_expand_prob`` and if unexpanded actions remain,
  it expands a random one;
* otherwise it moves to the child maximising
  ``mean_reward + c * sqrt(ln N_parent / n_child) - lambda * len(child) / L``
  (first child on ties) and repeats;
* a node with no legal action at all is a leaf: the simulation ends there and
  re-uses its own evaluation.

The NEW node is evaluated and ITS reward is back-propagated to itself and every
ancestor; visit counts live on tree nodes (per parent), so the same chain reached by
two paths keeps two sets of statistics but is evaluated once (the cache). Public
implementations of CoLa get these three points wrong; here a node's visit count always
equals its children's visits plus the simulations that ended on it.

With ``batch_size > 1`` a round selects that many leaves one after another, each
adding a *virtual loss* (a visit with reward 0) along its path so later selections
diverge, sends the round's new distinct chains to the evaluator in ONE call, then adds
the real rewards. ``batch_size = 1`` is exactly sequential MCTS. All randomness comes
from ``random.Random(config.seed)``; iteration is only ever over lists, so results do
not depend on hash randomization.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator

from cola.engine.chain import Chain, full_chain
from cola.evaluation.result import Evaluation
from cola.search.actions import Action
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    action_space,
    register_strategy,
    walk_tree,
)


class Node:
    """One tree node: a chain reached from its parent by one action."""

    __slots__ = ("chain", "parent", "action", "children", "unexpanded", "visits", "value", "own")

    def __init__(self, chain: Chain, parent: Node | None = None, action: Action | None = None):
        self.chain = chain
        self.parent = parent
        self.action = action
        self.children: list[Node] = []
        self.unexpanded: list[Action] | None = None  # filled on first visit (lazily: most nodes stay leaves)
        self.visits = 0  # simulations through this node (virtual losses included while pending)
        self.value = 0.0  # sum of back-propagated rewards
        self.own = 0  # simulations that ended on this node (its expansion, or leaf re-evaluations)

    @property
    def mean(self) -> float:
        return self.value / self.visits if self.visits else 0.0

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, depth first, children in expansion order."""
        return walk_tree(self)


class MCTS:
    """One search on one sample; keep the object to inspect the tree (tests, analysis)."""

    def __init__(
        self,
        evaluator: ChainEvaluator,
        num_layers: int,
        config: SearchConfig,
        root_evaluation: Evaluation | None = None,
    ):
        config.validate(num_layers)
        self.config = config
        self.num_layers = num_layers
        self.space = action_space(config, num_layers)
        self.rng = random.Random(config.seed)
        self.cache = EvaluationCache(evaluator, num_layers, root_evaluation)
        self.root = Node(full_chain(num_layers))
        self.simulations = 0

    # ------------------------------------------------------------------ selection
    def ucb(self, parent: Node, child: Node) -> float:
        c, lam = self.config.exploration_c, self.config.length_penalty
        explore = c * math.sqrt(math.log(parent.visits) / child.visits)
        return child.mean + explore - lam * len(child.chain) / self.num_layers

    def select(self) -> list[Node]:
        """Walk from the root to the node this simulation evaluates; returns the path."""
        node = self.root
        path = [node]
        p = self.config.random_expand_prob
        while True:
            if node.unexpanded is None:
                node.unexpanded = self.space.actions(node.chain)
            if not node.children and not node.unexpanded:
                return path  # no legal edit at all: a leaf, re-evaluated (from the cache)
            if not node.children or (node.unexpanded and self.rng.random() < p):
                action = node.unexpanded.pop(self.rng.randrange(len(node.unexpanded)))
                child = Node(action.apply(node.chain), node, action)
                node.children.append(child)
                path.append(child)
                return path
            node = max(node.children, key=lambda ch, parent=node: self.ucb(parent, ch))
            path.append(node)

    # --------------------------------------------------------------------- rounds
    def run_round(self, size: int) -> None:
        """Select ``size`` leaves under virtual loss, evaluate them in one call, back up."""
        paths = []
        for _ in range(size):
            path = self.select()
            for node in path:
                node.visits += 1  # virtual loss: a visit whose reward (0) is filled in below
            path[-1].own += 1
            paths.append(path)
        evaluations = self.cache.evaluate(
            [path[-1].chain for path in paths], edits=[len(p) - 1 for p in paths]
        )
        for path, evaluation in zip(paths, evaluations):
            for node in path:
                node.value += evaluation.reward
        self.simulations += size

    def should_stop(self) -> bool:
        return self.config.early_stop and self.cache.found_shorter_correct

    def run(self) -> SearchOutcome:
        start = time.perf_counter()
        total = self.config.simulations
        while self.simulations < total and not self.should_stop():
            self.run_round(min(self.config.batch_size, total - self.simulations))
        return self.cache.outcome("mcts", self.simulations, start)


@register_strategy("mcts")
def mcts_search(
    evaluator: ChainEvaluator,
    num_layers: int,
    config: SearchConfig,
    root_evaluation: Evaluation | None = None,
) -> SearchOutcome:
    """MCTS over chains of layers; see the module docstring for the exact rules."""
    return MCTS(evaluator, num_layers, config, root_evaluation).run()
