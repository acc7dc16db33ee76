"""The authors' released MCTS (PoLar), on cola's exact engine: a second reading of the paper's protocol.

``mcts`` follows the paper's text. The authors later released their own search
(repository tianyi-lab/PoLar, ``mcts_discovery/run_mcts.py``, commit c86d76e8), which
differs in every rule that decides where the budget goes; this module re-implements that
one, so "the paper's MCTS does no better than random" can be tested under both readings.
The tree's root is the full chain ``0..L-1``. One simulation:

* **Selection.** From the root, descend while the node has children. Among the children
  not yet fully explored, pick a uniformly random one with probability
  ``random_expand_prob`` (0.1), otherwise the one with the highest UCB (first on ties).
* **Expansion.** At the selected node, create *all* its candidate children at once and
  evaluate one of them, chosen uniformly at random: one new evaluation per simulation.
  A global set of created chains means no chain is created twice anywhere in the tree,
  so a candidate already created elsewhere is not a child here. A node selected before
  it was evaluated (the random pick, or every sibling still unevaluated) is expanded like
  any leaf; its statistics then come from its children (as released).
* **Candidates** (:func:`polar_candidates`). At the root: skip, or repeat once, a
  contiguous block of ``block_sizes`` (1-4) layers at every position. Below the root:
  skip one layer or repeat one layer. No layer may appear more than twice in a chain,
  and every candidate's length lies within :func:`polar_length_bounds`.
* **UCB** of a node with ``n`` visits: ``mean reward - lambda * len / L
  + c * sqrt(ln(N_root + 1) / n)`` with lambda = ``length_penalty`` (5) and c =
  ``exploration_c`` (sqrt 2, i.e. ``sqrt(2 ln(N_root + 1) / n)``), where ``N_root`` is
  the ROOT's visit count, not the parent's. A child never backed up scores ``-inf``.
* **Backup.** The evaluated node's reward is added to every node on the path; a node is
  fully explored once it has children and all of them are, or once it is expanded and
  has no candidate at all.

Where the released code has a quirk, this module does what it evidently intends:

* When a simulation ends on a node that is already evaluated (a leaf with no new
  candidate, or the root once the whole tree is fully explored and it is re-selected),
  the released code backs up the *previous* simulation's score, still held in a
  variable. Here the node's own reward is backed up, and once the root is fully explored
  the search stops: no simulation can evaluate anything new.
* Each node's UCB is stored when the node is backed up, so a sibling's exploration term
  keeps the root count of its last visit. Here UCB is computed at selection time from
  the current counts, as the formula states.
* The released search seeds Python's global RNG with 42; here all randomness comes from
  ``random.Random(config.seed)`` (per sample, like every strategy), so a resumed run
  replays the same chains from its journal.

It evaluates one chain per simulation by definition, so ``batch_size`` must be 1 (the
runner still batches across samples with ``--concurrent-samples``). ``min_length``,
``max_length_factor`` and ``repeat_counts`` do not apply: the bounds are the authors'.
Its ``edits`` are tree depths, so the reach-matched random arm and the decoy control
attach as for every strategy.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

from cola.engine.chain import Chain, full_chain
from cola.errors import ColaError
from cola.evaluation.result import Evaluation
from cola.search.actions import Action
from cola.search.base import (
    ChainEvaluator,
    EvaluationCache,
    SearchConfig,
    SearchOutcome,
    register_strategy,
    walk_tree,
)

# The released code's per-model presets: (depth L, shortest chain, longest chain).
LENGTH_PRESETS: tuple[tuple[int, int, int], ...] = ((24, 16, 28), (28, 16, 32), (36, 24, 44), (48, 36, 54))
MAX_LAYER_USES = 2  # no layer appears more than twice in a candidate


def polar_length_bounds(num_layers: int) -> tuple[int, int]:
    """``(shortest, longest)`` chain length for a model of ``num_layers`` layers.

    Rule: linear interpolation in depth between the two neighbouring presets of
    :data:`LENGTH_PRESETS`; below the shallowest (24) or above the deepest (48) preset,
    that preset's bounds scaled in proportion to depth. The shortest length is rounded
    up and the longest rounded down (the window never exceeds the interpolated one), then
    widened if needed to hold ``num_layers`` itself. It reproduces the four presets
    exactly; no closed form of depth alone does, because the presets' allowance above
    the depth (4, 4, 8, 6 layers at depths 24, 28, 36, 48) is not monotone. It gives
    18 layers -> (12, 21) (Gemma-3-270M) and 30 layers -> (18, 35) (SmolLM2-135M).
    """
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ColaError(f"num_layers must be a positive integer, got {num_layers!r}")
    depth = Fraction(num_layers)
    first, last = LENGTH_PRESETS[0], LENGTH_PRESETS[-1]
    if num_layers <= first[0] or num_layers >= last[0]:
        d, lo, hi = first if num_layers <= first[0] else last
        low, high = lo * depth / d, hi * depth / d
    else:
        (d0, lo0, hi0), (d1, lo1, hi1) = next(
            (a, b) for a, b in zip(LENGTH_PRESETS, LENGTH_PRESETS[1:]) if a[0] <= num_layers <= b[0]
        )
        t = (depth - d0) / (d1 - d0)
        low, high = lo0 + t * (lo1 - lo0), hi0 + t * (hi1 - hi0)
    shortest = max(1, min(math.ceil(low), num_layers))
    return shortest, max(math.floor(high), num_layers)


def polar_candidates(
    chain: Chain, at_root: bool, bounds: tuple[int, int], block_sizes: tuple[int, ...] = (1, 2, 3, 4)
) -> list[tuple[Action, Chain]]:
    """Distinct candidate children of ``chain``: ``(action, result)``, first action per result.

    Order: by position, then skips (by block size), then repeats (by block size). At the
    root blocks are ``block_sizes`` long, below it one layer. A repeat inserts one extra
    copy of the block right after it and is legal only while no layer then appears more
    than :data:`MAX_LAYER_USES` times. Every result's length lies within ``bounds``.
    """
    lo, hi = bounds
    n = len(chain)
    sizes = tuple(dict.fromkeys(block_sizes)) if at_root else (1,)
    uses = Counter(chain)
    seen: dict[Chain, Action] = {}
    for start in range(n):
        for k in sizes:
            if start + k <= n and lo <= n - k <= hi:
                result = chain[:start] + chain[start + k :]
                if result not in seen:
                    seen[result] = Action("skip", start, k)
        for k in sizes:
            if start + k > n or not lo <= n + k <= hi:
                continue
            block = chain[start : start + k]
            extra = Counter(block)
            if any(uses[layer] + count > MAX_LAYER_USES for layer, count in extra.items()):
                continue
            result = chain[: start + k] + block + chain[start + k :]
            if result not in seen:
                seen[result] = Action("repeat", start, k, 1)
    return [(action, result) for result, action in seen.items()]


class PolarNode:
    """One tree node; ``evaluation`` is None until its chain is evaluated (if ever)."""

    __slots__ = (
        "chain",
        "parent",
        "action",
        "depth",
        "children",
        "visits",
        "value",
        "evaluation",
        "explored",
    )

    def __init__(self, chain: Chain, parent: PolarNode | None = None, action: Action | None = None):
        self.chain = chain
        self.parent = parent
        self.action = action
        self.depth = 0 if parent is None else parent.depth + 1  # edits from the full chain
        self.children: list[PolarNode] = []
        self.visits = 0
        self.value = 0.0  # sum of backed-up rewards
        self.evaluation: Evaluation | None = None
        self.explored = False  # fully explored: nothing below it can be created any more

    def walk(self) -> Iterator[PolarNode]:
        """This node and all its descendants, depth first, children in creation order."""
        return walk_tree(self)


class PolarMCTS:
    """One search on one sample; keep the object to inspect the tree (tests, analysis)."""

    def __init__(
        self,
        evaluator: ChainEvaluator,
        num_layers: int,
        config: SearchConfig,
        root_evaluation: Evaluation | None = None,
    ):
        config.validate(num_layers)
        if config.batch_size != 1:
            raise ColaError(
                f"polar_mcts evaluates one chain per simulation, so --batch-size must be 1, "
                f"got {config.batch_size} (use --concurrent-samples to batch across samples)"
            )
        self.config = config
        self.num_layers = num_layers
        self.bounds = polar_length_bounds(num_layers)
        self.rng = random.Random(config.seed)
        self.cache = EvaluationCache(evaluator, num_layers, root_evaluation)
        self.root = PolarNode(full_chain(num_layers))
        self.root.evaluation = self.cache.root
        self.created: set[Chain] = {self.root.chain}  # the global visited set: every chain in the tree
        self.simulations = 0
        self.random_picks = 0  # selection steps decided by the random pick ...
        self.ucb_picks = 0  # ... and by the highest UCB

    def ucb(self, node: PolarNode) -> float:
        """The node's UCB now: mean reward - length penalty + root-visit exploration term."""
        if node.visits == 0:
            return -math.inf
        explore = self.config.exploration_c * math.sqrt(math.log(self.root.visits + 1) / node.visits)
        penalty = self.config.length_penalty * len(node.chain) / self.num_layers
        return node.value / node.visits - penalty + explore

    def select(self) -> list[PolarNode]:
        """The path from the root to the node this simulation expands."""
        node = self.root
        path = [node]
        while node.children:
            open_children = [child for child in node.children if not child.explored]
            if not open_children:
                break  # only the root, once the whole tree is fully explored
            if self.rng.random() < self.config.random_expand_prob:
                node = open_children[self.rng.randrange(len(open_children))]
                self.random_picks += 1
            else:
                node = max(open_children, key=self.ucb)
                self.ucb_picks += 1
            path.append(node)
        return path

    def expand(self, node: PolarNode) -> list[PolarNode]:
        """Create every candidate child of ``node`` not yet created anywhere in the tree."""
        for action, chain in polar_candidates(
            node.chain, node is self.root, self.bounds, tuple(self.config.block_sizes)
        ):
            if chain not in self.created:
                self.created.add(chain)
                node.children.append(PolarNode(chain, node, action))
        return node.children

    def step(self) -> PolarNode | None:
        """Run one simulation; returns the node whose reward was backed up (None: tree exhausted)."""
        path = self.select()
        node = path[-1]
        if node.explored:
            return None
        children = self.expand(node)
        if children:
            node = children[self.rng.randrange(len(children))]
            path.append(node)
        else:
            node.explored = True
        if node.evaluation is None:
            node.evaluation = self.cache.evaluate([node.chain], edits=[node.depth])[0]
        reward = node.evaluation.reward
        for visited in reversed(path):
            visited.visits += 1
            visited.value += reward
            if visited.children and all(child.explored for child in visited.children):
                visited.explored = True
        self.simulations += 1
        return node

    def run(self) -> SearchOutcome:
        start = time.perf_counter()
        while self.simulations < self.config.simulations:
            if self.config.early_stop and self.cache.found_shorter_correct:
                break
            if self.step() is None:
                break
        return self.cache.outcome("polar_mcts", self.simulations, start)


@register_strategy("polar_mcts")
def polar_mcts_search(
    evaluator: ChainEvaluator,
    num_layers: int,
    config: SearchConfig,
    root_evaluation: Evaluation | None = None,
) -> SearchOutcome:
    """The authors' released MCTS over chains of layers; see the module docstring for the rules."""
    return PolarMCTS(evaluator, num_layers, config, root_evaluation).run()
