"""Scoring a chain predictor on held-out samples against the full model.

Per test sample the predictor proposes its top-K chains from the prompt alone; every
proposed chain and the full model are then evaluated and graded. Label-free numbers:

* **top-1**: the answer of the predictor's first chain (and that chain's depth);
* **vote@m**: majority over the answers of the first ``m`` chains, ties to the
  better-ranked chain (:func:`vote`).

**pass@k** (some chain of the top ``k`` answers correctly) picks the chain with the
label, so it is an oracle upper bound, reported and labelled as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from cola.engine.chain import Chain, format_chain, full_chain
from cola.errors import ColaError
from cola.predict.base import ChainPredictor, SampleKeys
from cola.predict.embedding import prompt_embedding
from cola.report.proportion import wilson_interval


def vote(answers: Sequence[str | None]) -> str | None:
    """Majority answer of chains listed best first; ties go to the best-ranked answer.

    ``None`` (no answer extracted) does not vote unless no chain gave an answer.
    """
    counts: dict[str, int] = {}
    first_rank: dict[str, int] = {}
    for rank, answer in enumerate(answers):
        if answer is None:
            continue
        counts[answer] = counts.get(answer, 0) + 1
        first_rank.setdefault(answer, rank)
    if not counts:
        return None
    return min(counts, key=lambda a: (-counts[a], first_rank[a]))


@dataclass
class Rate:
    successes: int
    n: int

    @property
    def value(self) -> float:
        return self.successes / self.n if self.n else float("nan")

    @property
    def ci(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    def to_json(self) -> dict[str, Any]:
        low, high = self.ci
        return {"successes": self.successes, "n": self.n, "value": self.value, "ci95": [low, high]}

    def __str__(self) -> str:
        low, high = self.ci
        return f"{self.value:6.1%}  [{low:.1%}, {high:.1%}]  ({self.successes}/{self.n})"


@dataclass
class SampleResult:
    sample_id: str
    chains: list[Chain]  # predicted, best first
    answers: list[str | None]
    correct: list[bool]
    full_answer: str | None
    full_correct: bool
    vote_answer: str | None
    vote_correct: bool

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["chains"] = [list(c) for c in self.chains]
        return data


@dataclass
class PredictorReport:
    predictor: str
    num_layers: int
    top_k: int
    vote_m: int
    full: Rate
    top1: Rate
    vote: Rate
    pass_at_k: Rate  # ORACLE: uses labels to pick among the top-k chains
    top1_depth: float  # mean length of the top-1 chain
    full_depth: int
    top1_fixes: int  # top-1 right where the full model is wrong
    top1_breaks: int  # top-1 wrong where the full model is right
    samples: list[SampleResult] = field(default_factory=list, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor,
            "num_layers": self.num_layers,
            "top_k": self.top_k,
            "vote_m": self.vote_m,
            "full": self.full.to_json(),
            "top1": self.top1.to_json(),
            "vote": self.vote.to_json(),
            "oracle_pass_at_k": self.pass_at_k.to_json(),
            "top1_depth": self.top1_depth,
            "full_depth": self.full_depth,
            "top1_fixes": self.top1_fixes,
            "top1_breaks": self.top1_breaks,
            "extra": self.extra,
        }

    def format(self) -> str:
        n = self.full.n
        lines = [
            f"predictor {self.predictor} on {n} held-out samples (95% Wilson intervals)",
            f"  full model      acc {self.full}   depth {self.full_depth}",
            f"  top-1 chain     acc {self.top1}   depth {self.top1_depth:.2f}"
            f"   (fixes {self.top1_fixes}, breaks {self.top1_breaks} vs full)",
            f"  vote@{self.vote_m:<2d}        acc {self.vote}   (label-free majority over top-{self.vote_m} chains)",
            f"  ORACLE pass@{self.top_k:<2d} acc {self.pass_at_k}   (uses labels to pick a chain: not achievable)",
        ]
        for key, value in self.extra.items():
            lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def evaluate_predictor(
    predictor: ChainPredictor,
    scorer,
    samples: Sequence,
    top_k: int = 5,
    vote_m: int = 3,
    progress: bool = False,
) -> PredictorReport:
    """Predict chains for each sample from its prompt only, then grade them and the full model.

    A predictor fitted from a run knows its training samples: any test sample sharing an
    id or a normalised question with them is refused (:class:`ColaError`), since its
    score would not be held-out.
    """
    if top_k < 1 or vote_m < 1:
        raise ValueError("top_k and vote_m must be at least 1")
    check_disjoint(predictor, samples)
    model = scorer.model
    num_layers = model.num_layers
    full = full_chain(num_layers)
    want = max(top_k, vote_m)
    results: list[SampleResult] = []
    from tqdm import tqdm

    for sample in tqdm(samples, disable=not progress, unit="sample"):
        evaluator = scorer.for_sample(sample)
        if predictor.needs_embeddings():
            embedding = prompt_embedding(model, evaluator.input_ids, predictor.embedding_layer)[None]
        else:
            embedding = torch.zeros(1, 0)
        chains = predictor.rank(embedding, want)[0]
        evaluations = evaluator.evaluate([full, *chains])
        full_eval, predicted = evaluations[0], evaluations[1:]
        answers = [e.answer for e in predicted]
        voted = vote(answers[:vote_m])
        results.append(
            SampleResult(
                sample_id=sample.id,
                chains=list(chains),
                answers=answers,
                correct=[e.correct for e in predicted],
                full_answer=full_eval.answer,
                full_correct=full_eval.correct,
                vote_answer=voted,
                vote_correct=bool(scorer.task.is_correct(voted, sample)) if voted is not None else False,
            )
        )
    return summarize_results(predictor.name, results, num_layers, top_k, vote_m)


def format_comparison(reports: Sequence[PredictorReport]) -> str:
    """Predictors side by side on the same test samples: top-1 accuracy and layers used (95% Wilson)."""
    if not reports:
        return ""
    first = reports[0]
    width = max(len("full model"), *(len(r.predictor) for r in reports))
    lines = [
        f"comparison on {first.full.n} held-out samples (95% Wilson intervals)",
        f"  {'method':<{width}}  {'top-1 accuracy':<36}  layers used (of {first.num_layers})",
        f"  {'full model':<{width}}  {first.full!s:<36}  {first.full_depth}",
    ]
    for report in reports:
        lines.append(f"  {report.predictor:<{width}}  {report.top1!s:<36}  {report.top1_depth:.2f}")
    return "\n".join(lines)


def summarize_results(
    name: str, results: Sequence[SampleResult], num_layers: int, top_k: int, vote_m: int
) -> PredictorReport:
    n = len(results)
    top1 = [r.correct[0] for r in results]
    full = [r.full_correct for r in results]
    return PredictorReport(
        predictor=name,
        num_layers=num_layers,
        top_k=top_k,
        vote_m=vote_m,
        full=Rate(sum(full), n),
        top1=Rate(sum(top1), n),
        vote=Rate(sum(r.vote_correct for r in results), n),
        pass_at_k=Rate(sum(any(r.correct[:top_k]) for r in results), n),
        top1_depth=sum(len(r.chains[0]) for r in results) / n if n else float("nan"),
        full_depth=num_layers,
        top1_fixes=sum(t and not f for t, f in zip(top1, full)),
        top1_breaks=sum(f and not t for t, f in zip(top1, full)),
        samples=list(results),
    )


def disjoint_from(test_samples: Sequence, train_samples: Sequence) -> tuple[list, int]:
    """Test samples sharing neither id nor normalised question with the training set, and how many were dropped."""
    keys = SampleKeys.of(train_samples)
    kept = [s for s in test_samples if keys.overlap(s) is None]
    return kept, len(test_samples) - len(kept)


def refuse_overlap(keys: SampleKeys, samples: Sequence, what: str) -> None:
    """Raise a one-line :class:`ColaError` naming the first sample that is in the training data."""
    for sample in samples:
        why = keys.overlap(sample)
        if why is not None:
            raise ColaError(
                f"test sample {sample.id!r} is in the {what} training data (same {why}): "
                "evaluate on samples disjoint from the training run"
            )


def check_disjoint(predictor: ChainPredictor, samples: Sequence) -> None:
    """Refuse test samples the predictor was fitted on (when it knows its training samples)."""
    if predictor.train_keys is not None:
        refuse_overlap(predictor.train_keys, samples, f"{predictor.name} predictor's")


def describe_chain(chain: Chain, num_layers: int) -> str:
    return f"{format_chain(chain)} ({len(chain)}/{num_layers} layers)"
