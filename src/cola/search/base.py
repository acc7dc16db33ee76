"""What every search strategy shares: the evaluator protocol, the config, a registry.

A strategy never sees the model. It proposes chains and hands them, in batches, to a
:class:`ChainEvaluator` bound to one sample; that keeps the search testable on synthetic
rewards and lets the engine batch and cache however it likes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cola.engine.chain import Chain, distinct_layers, full_chain
from cola.errors import ColaError, SettingError, is_finite_number, is_integer, require
from cola.evaluation.result import Evaluation
from cola.search.actions import ActionSpace


class ChainEvaluator(Protocol):
    """Evaluates chains on ONE sample; one call may run the whole batch in one pass."""

    def evaluate(self, chains: Sequence[Chain]) -> list[Evaluation]: ...


@dataclass
class SearchOutcome:
    """What one search strategy found on one sample."""

    strategy: str
    evaluations: list[Evaluation]  # distinct chains, in the order they were evaluated
    simulations: int  # search iterations run; the root evaluation is not one, and duplicates are free
    best_chain: Chain | None  # shortest chain its reward calls correct; ties by fewest distinct layers
    seconds: float = 0.0
    # Per evaluation: edits from the full chain when the strategy reached it (its reach); None: not recorded.
    edits: list[int] | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "strategy": self.strategy,
            "evaluations": [e.to_json() for e in self.evaluations],
            "simulations": self.simulations,
            "best_chain": list(self.best_chain) if self.best_chain is not None else None,
            "seconds": self.seconds,
        }
        if self.edits is not None:
            data["edits"] = list(self.edits)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchOutcome:
        best = data.get("best_chain")
        return cls(
            strategy=data["strategy"],
            evaluations=[Evaluation.from_json(e) for e in data["evaluations"]],
            simulations=int(data["simulations"]),
            best_chain=tuple(best) if best is not None else None,
            seconds=float(data.get("seconds", 0.0)),
            edits=[int(d) for d in data["edits"]] if data.get("edits") is not None else None,
        )


@dataclass
class SearchConfig:
    """Knobs of the chain search (defaults follow the paper's protocol).

    A field's ``metadata["help"]`` is its command-line help, and ``metadata["flag"]`` its
    flag where that is not the field's own name (``cola search`` builds its options from these).
    """

    strategy: str = "mcts"  # a registered strategy (:func:`strategy_names`)
    simulations: int = 200  # MCTS iterations; for "random_nearby": distinct chains, root included
    exploration_c: float = field(
        default=math.sqrt(2), metadata={"flag": "--c", "help": "UCB exploration constant"}
    )
    # lambda in UCB: - lambda * len(chain) / num_layers
    length_penalty: float = field(default=5.0, metadata={"help": "lambda in the UCB length penalty"})
    random_expand_prob: float = 0.1
    max_length_factor: float = 2.0  # max chain length = round(factor * num_layers)
    min_length: int = 1
    block_sizes: tuple[int, ...] = (1, 2, 3, 4)
    repeat_counts: tuple[int, ...] = (1, 2, 3, 4)
    # Leaves per round (virtual loss), evaluated in one evaluator call.
    batch_size: int = field(default=1, metadata={"help": "leaves per MCTS round (virtual loss)"})
    # Stop once a correct chain shorter than the model is found.
    early_stop: bool = field(default=False, metadata={"help": "stop once a shorter correct chain is found"})
    seed: int = 0
    # random_matched only: the edit count of every chain of the search it is compared with (set per sample).
    match_edits: tuple[int, ...] = ()
    # random_length only: (layers skipped, positions repeated) of every chain of the compared search.
    match_shapes: tuple[tuple[int, int], ...] = ()

    def max_length(self, num_layers: int) -> int:
        """``round(factor * L)`` with halves rounded up (not Python's banker's rounding)."""
        return int(math.floor(self.max_length_factor * num_layers + 0.5))

    def validate(self, num_layers: int | None = None) -> SearchConfig:
        """Raise a :class:`SettingError` naming the first setting that cannot run; returns ``self``.

        With ``num_layers``, also check the length bounds against that depth (a strategy
        does, before its first evaluation).
        """
        name = type(self).__name__
        get_strategy(self.strategy)  # unknown strategy: ColaError naming the known ones
        require(
            is_integer(self.simulations, 0), name, "simulations", "must be an integer >= 0", self.simulations
        )
        require(
            is_integer(self.batch_size, 1), name, "batch_size", "must be an integer >= 1", self.batch_size
        )
        c = self.exploration_c
        require(is_finite_number(c) and c >= 0, name, "exploration_c", "must be a number >= 0", c)
        penalty = self.length_penalty
        require(is_finite_number(penalty), name, "length_penalty", "must be a finite number", penalty)
        factor = self.max_length_factor
        require(
            is_finite_number(factor) and factor > 0, name, "max_length_factor", "must be a number > 0", factor
        )
        p = self.random_expand_prob
        require(is_finite_number(p) and 0.0 <= p <= 1.0, name, "random_expand_prob", "must be in [0, 1]", p)
        require(
            is_integer(self.min_length, 1), name, "min_length", "must be an integer >= 1", self.min_length
        )
        for setting in ("block_sizes", "repeat_counts"):
            values = tuple(getattr(self, setting))
            ok = bool(values) and all(is_integer(v, 1) for v in values)
            require(ok, name, setting, "must be a non-empty list of positive integers", values)
        if num_layers is not None:
            if num_layers < 1:
                raise ColaError(f"num_layers must be >= 1, got {num_layers}")
            if self.max_length(num_layers) < self.min_length:
                raise SettingError(
                    name,
                    "max_length_factor",
                    f"max chain length {self.max_length(num_layers)} ({{setting}} "
                    f"{self.max_length_factor} x {num_layers} layers) is below min_length {self.min_length}",
                )
        return self


def action_space(config: SearchConfig, num_layers: int) -> ActionSpace:
    """The edit actions legal under ``config``'s length bounds (shared by every strategy)."""
    return ActionSpace(
        min_length=config.min_length,
        max_length=config.max_length(num_layers),
        block_sizes=tuple(config.block_sizes),
        repeat_counts=tuple(config.repeat_counts),
    )


Strategy = Callable[[ChainEvaluator, int, SearchConfig, "Evaluation | None"], SearchOutcome]

_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    """Decorator: make a strategy available to :func:`get_strategy` under ``name``."""

    def decorate(fn: Strategy) -> Strategy:
        if name in _STRATEGIES and _STRATEGIES[name] is not fn:
            raise ValueError(f"search strategy {name!r} is already registered")
        _STRATEGIES[name] = fn
        return fn

    return decorate


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; ``-`` and ``_`` are the same letter, as in task names."""
    for key in (name, name.replace("-", "_"), name.replace("_", "-")):
        if key in _STRATEGIES:
            return _STRATEGIES[key]
    known = ", ".join(strategy_names()) or "none"
    raise ColaError(f"unknown search strategy {name!r}; known strategies: {known}")


def walk_tree(root):
    """``root`` and all its descendants (anything with ``children``), depth first, children in order."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def best_chain(evaluations: Sequence[Evaluation]) -> Chain | None:
    """Shortest correct chain; ties by fewest distinct layers, then the first evaluated."""
    best: tuple[int, int, int] | None = None
    found: Chain | None = None
    for order, evaluation in enumerate(evaluations):
        if not evaluation.correct:
            continue
        key = (len(evaluation.chain), distinct_layers(evaluation.chain), order)
        if best is None or key < best:
            best, found = key, tuple(evaluation.chain)
    return found


class EvaluationCache:
    """Every distinct chain a search evaluated, in order; a chain is never sent twice.

    The engine may memoise too, but deduplicating here is what makes the evaluation
    budget (and the random baseline's matching budget) mean "distinct chains".
    """

    def __init__(self, evaluator: ChainEvaluator, num_layers: int, root: Evaluation | None):
        self.evaluator = evaluator
        self.num_layers = num_layers
        self.calls = 0
        self.found_shorter_correct = False  # the early-stop signal, kept up to date by _store
        self.by_chain: dict[Chain, Evaluation] = {}
        self.order: list[Evaluation] = []
        self.order_edits: list[
            int
        ] = []  # per evaluation in ``order``: edits from the root when first reached
        root_chain = full_chain(num_layers)
        if root is None:
            root = self.evaluate([root_chain])[0]
        elif tuple(root.chain) != root_chain:
            raise ValueError(
                f"root_evaluation is for chain {root.chain}, not the full chain 0..{num_layers - 1}"
            )
        else:
            self._store(root, 0)
        self.root = root

    def _store(self, evaluation: Evaluation, edits: int) -> None:
        chain = tuple(evaluation.chain)
        self.by_chain[chain] = evaluation
        self.order.append(evaluation)
        self.order_edits.append(edits)
        if evaluation.correct and len(chain) < self.num_layers:
            self.found_shorter_correct = True

    def __contains__(self, chain: Chain) -> bool:
        return chain in self.by_chain

    def __getitem__(self, chain: Chain) -> Evaluation:
        return self.by_chain[chain]

    def evaluate(self, chains: Sequence[Chain], edits: Sequence[int] | None = None) -> list[Evaluation]:
        """Evaluations of ``chains``; the new distinct ones go to the evaluator in ONE call.

        ``edits[i]`` is how many edits from the root the strategy made to reach ``chains[i]``
        (recorded for a chain's first evaluation; the root counts 0).
        """
        reached: dict[Chain, int] = {}
        for chain, count in zip(chains, edits if edits is not None else [0] * len(chains)):
            key = tuple(chain)
            reached[key] = min(count, reached.get(key, count))
        new = [c for c in dict.fromkeys(tuple(c) for c in chains) if c not in self.by_chain]
        if new:
            self.calls += 1
            results = list(self.evaluator.evaluate(new))
            if len(results) != len(new):
                raise RuntimeError(f"evaluator returned {len(results)} evaluations for {len(new)} chains")
            for chain, evaluation in zip(new, results):
                if tuple(evaluation.chain) != chain:
                    raise RuntimeError(f"evaluator answered for chain {evaluation.chain} instead of {chain}")
                self._store(evaluation, reached[chain])
        return [self.by_chain[tuple(c)] for c in chains]

    def outcome(self, strategy: str, simulations: int, started: float) -> SearchOutcome:
        """What a strategy returns: every evaluation in order, their edit counts, the best chain, the time."""
        evaluations = list(self.order)
        return SearchOutcome(
            strategy=strategy,
            evaluations=evaluations,
            simulations=simulations,
            best_chain=best_chain(evaluations),
            seconds=time.perf_counter() - started,
            edits=list(self.order_edits),
        )


class _Taken:
    """Membership in the evaluated chains or the round's pending ones."""

    def __init__(self, cache: EvaluationCache, pending: dict[Chain, int]):
        self.cache, self.pending = cache, pending

    def __contains__(self, chain: Chain) -> bool:
        return chain in self.cache or chain in self.pending


def evaluate_matched(
    cache: EvaluationCache,
    targets: Sequence[Any],
    config: SearchConfig,
    draw: Callable[[Any, Any], tuple[tuple[Chain, int] | None, int]],
) -> int:
    """One drawn chain per target of a matched null, ``config.batch_size`` targets per evaluator call.

    The matched random baselines share this loop; ``draw(target, taken)`` returns
    ``((chain, edits) or None, draws made)`` for a chain not in ``taken`` (the evaluated
    chains and the round's pending ones). Early stop is honoured between rounds. Returns
    the draws made in all.
    """
    draws = 0
    for offset in range(0, len(targets), config.batch_size):
        if config.early_stop and cache.found_shorter_correct:
            break
        pending: dict[Chain, int] = {}
        for target in targets[offset : offset + config.batch_size]:
            found, made = draw(target, _Taken(cache, pending))
            draws += made
            if found is not None:
                pending[found[0]] = found[1]
        if pending:
            cache.evaluate(list(pending), edits=list(pending.values()))
    return draws
