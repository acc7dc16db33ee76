"""One chain for a whole task: searched on a train split, then used blindly on new inputs.

:class:`DatasetEvaluator` makes a set of training samples look like one sample to the
search strategies: ``evaluate(chains)`` returns, per chain, an :class:`Evaluation` whose
reward is the chain's *mean* correctness over the samples. MCTS (or any strategy) then
explores chains as usual; :func:`search_dataset_chain` picks, among every chain it
evaluated plus the full model, the one maximising ``accuracy - length_penalty * len/L``
(the strategies' own ``best_chain`` means "shortest chain with reward > 0", which is
not what a dataset-level objective wants).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from cola.engine.chain import Chain, full_chain
from cola.evaluation.result import Evaluation
from cola.predict.base import ChainPredictor


class DatasetEvaluator:
    """Implements the search's ``ChainEvaluator`` protocol over many samples at once.

    Chains are evaluated sample by sample with a fresh :class:`SampleEvaluator` each
    time (the scorer's prefix cache is per prompt, so samples must not interleave);
    results are memoised per chain, so repeats are free.
    """

    def __init__(self, scorer, samples: Sequence):
        if not samples:
            raise ValueError("a dataset-level search needs at least one training sample")
        self.scorer = scorer
        self.samples = list(samples)
        self._correct: dict[Chain, list[bool]] = {}
        self._memo: dict[Chain, Evaluation] = {}

    @property
    def num_layers(self) -> int:
        return self.scorer.model.num_layers

    def correctness(self, chain: Chain) -> list[bool]:
        self.evaluate([chain])
        return self._correct[tuple(chain)]

    def evaluate(self, chains: Sequence[Chain]) -> list[Evaluation]:
        chains = [tuple(c) for c in chains]
        new = [c for c in dict.fromkeys(chains) if c not in self._memo]
        if new:
            per_chain: dict[Chain, list[bool]] = {c: [] for c in new}
            for sample in self.samples:
                evaluator = self.scorer.for_sample(sample)
                for evaluation in evaluator.evaluate(new):
                    per_chain[evaluation.chain].append(evaluation.correct)
            for chain, flags in per_chain.items():
                hits = sum(flags)
                self._correct[chain] = flags
                self._memo[chain] = Evaluation(chain, f"{hits}/{len(flags)}", hits / len(flags))
        return [self._memo[c] for c in chains]


def objective(accuracy: float, chain: Sequence[int], num_layers: int, length_penalty: float) -> float:
    return accuracy - length_penalty * len(chain) / num_layers


@dataclass
class DatasetChainResult:
    chain: Chain
    train_accuracy: float
    full_train_accuracy: float
    objective: float
    length_penalty: float
    train_samples: int
    chains_evaluated: int
    seconds: float
    candidates: list[Evaluation] = field(default_factory=list, repr=False)


def search_dataset_chain(
    scorer,
    samples: Sequence,
    search_config,
    length_penalty: float = 0.1,
) -> DatasetChainResult:
    """Search one chain for ``samples`` (labels used: this is training).

    ``search_config`` is a :class:`cola.search.SearchConfig`; ``early_stop`` is turned
    off since "some sample correct" is no stopping signal here.
    """
    from cola.search import get_strategy

    start = time.perf_counter()
    evaluator = DatasetEvaluator(scorer, samples)
    num_layers = evaluator.num_layers
    root = evaluator.evaluate([full_chain(num_layers)])[0]
    config = search_config
    if getattr(config, "early_stop", False):
        config = dataclasses.replace(config, early_stop=False)
    outcome = get_strategy(config.strategy)(evaluator, num_layers, config, root)
    candidates = [root, *(e for e in outcome.evaluations if e.chain != root.chain)]
    best_key, best = None, root
    for order, evaluation in enumerate(candidates):
        key = (
            -objective(evaluation.reward, evaluation.chain, num_layers, length_penalty),
            len(evaluation.chain),
            order,
        )
        if best_key is None or key < best_key:
            best_key, best = key, evaluation
    return DatasetChainResult(
        chain=tuple(best.chain),
        train_accuracy=best.reward,
        full_train_accuracy=root.reward,
        objective=objective(best.reward, best.chain, num_layers, length_penalty),
        length_penalty=length_penalty,
        train_samples=len(evaluator.samples),
        chains_evaluated=len(candidates),
        seconds=time.perf_counter() - start,
        candidates=candidates,
    )


class DatasetChainPredictor(ChainPredictor):
    """Proposes the same ranked chains for every input (no embedding needed).

    ``chains`` is the dataset-level ranking, best first (e.g. the search's candidates
    sorted by the objective), so pass@k and the vote are defined for it too.
    """

    name = "dataset"
    embedding_layer = None

    def __init__(self, chains: Sequence[Chain], num_layers: int):
        if not chains:
            raise ValueError("need at least one chain")
        self.chains = [tuple(c) for c in chains]
        self.num_layers = num_layers

    @classmethod
    def from_result(cls, result: DatasetChainResult, num_layers: int) -> DatasetChainPredictor:
        ranked = sorted(
            enumerate(result.candidates),
            key=lambda item: (
                -objective(item[1].reward, item[1].chain, num_layers, result.length_penalty),
                len(item[1].chain),
                item[0],
            ),
        )
        chains = [result.chain] + [e.chain for _, e in ranked if e.chain != result.chain]
        return cls(chains, num_layers)

    def rank(self, embeddings: torch.Tensor | None, k: int) -> list[list[Chain]]:
        rows = 1 if embeddings is None else embeddings.shape[0]
        return [list(self.chains[:k]) for _ in range(rows)]
