"""Accuracy against depth: each method's chain at each number of dropped layers, on held-out samples.

:func:`depth_sweep` fits every method once (:func:`cola.predict.depth.depth_chains`),
then evaluates the full model and every distinct chain on each test sample in one batched
pass (chains that share a prefix share its computation). Test samples must be disjoint
from the run's samples (by id and by normalised question), as in
:func:`cola.predict.evaluate.evaluate_predictor`. Accuracies carry 95% Wilson intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola.engine.chain import Chain, format_chain, full_chain
from cola.predict.base import SampleKeys, TrainingRun
from cola.predict.dataset_chain import DatasetEvaluator
from cola.predict.depth import DEPTH_METHODS, depth_chains
from cola.predict.evaluate import Rate, refuse_overlap


@dataclass
class SweepPoint:
    method: str
    drop: int  # layers removed from the full model (dataset: the depth budget L - drop)
    chain: Chain
    accuracy: Rate

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "drop": self.drop,
            "depth": len(self.chain),
            "chain": format_chain(self.chain),
            "accuracy": self.accuracy.to_json(),
        }


@dataclass
class Sweep:
    model: str
    task: str
    num_layers: int
    full: Rate
    points: list[SweepPoint]
    drops: list[int]
    methods: list[str]
    fits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def point(self, method: str, drop: int) -> SweepPoint | None:
        return next((p for p in self.points if p.method == method and p.drop == drop), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": self.task,
            "num_layers": self.num_layers,
            "test_samples": self.full.n,
            "full": self.full.to_json(),
            "drops": self.drops,
            "methods": self.methods,
            "points": [p.to_json() for p in self.points],
            "fits": self.fits,
        }

    def markdown(self) -> str:
        """One row per drop count: each method's held-out accuracy [95% Wilson] and the depth it used."""
        low, high = self.full.ci
        lines = [
            f"{self.model}, {self.task}: {self.full.n} held-out samples; full model ({self.num_layers} layers) "
            f"{self.full.value:.1%} [{low:.1%}, {high:.1%}]",
            "",
            "| layers dropped | " + " | ".join(self.methods) + " |",
            "|---" * (len(self.methods) + 1) + "|",
        ]
        for drop in self.drops:
            cells = [_cell(self.point(m, drop), self.num_layers - drop) for m in self.methods]
            lines.append(f"| {drop} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _cell(point: SweepPoint | None, budget: int) -> str:
    if point is None:
        return "n/a"
    low, high = point.accuracy.ci
    text = f"{point.accuracy.value:.0%} [{low:.0%}, {high:.0%}]"
    return text if len(point.chain) == budget else f"{text} ({len(point.chain)} layers)"


def depth_sweep(
    model,
    scorer,
    run: TrainingRun,
    test_samples: Sequence,
    methods: Sequence[str],
    drops: Sequence[int],
    options,
) -> Sweep:
    """Fit each method once, then score every chain and the full model on ``test_samples``.

    ``options`` is a :class:`cola.predict.fit.FitOptions` (dataset search budget, seed,
    length penalty, training-sample limit).
    """
    unknown = [m for m in methods if m not in DEPTH_METHODS]
    if unknown:
        raise ValueError(f"unknown sweep method {unknown[0]!r}; choose from {', '.join(DEPTH_METHODS)}")
    refuse_overlap(SampleKeys.of(run.samples.values()), test_samples, "sweep")
    drops = sorted(set(drops))
    found = {m: depth_chains(m, model, run, drops, options, scorer) for m in methods}
    full = full_chain(model.num_layers)
    chains = [full, *dict.fromkeys(c for f in found.values() for c in f.chains.values())]
    evaluator = DatasetEvaluator(scorer, test_samples)
    evaluator.evaluate(chains)

    def rate(chain: Chain) -> Rate:
        flags = evaluator.correctness(chain)
        return Rate(sum(flags), len(flags))

    points = [
        SweepPoint(m, n, found[m].chains[n], rate(found[m].chains[n]))
        for m in methods
        for n in drops
        if n in found[m].chains
    ]
    return Sweep(
        model=model.name,
        task=run.task.name,
        num_layers=model.num_layers,
        full=rate(full),
        points=points,
        drops=drops,
        methods=list(methods),
        fits={m: f.info for m, f in found.items()},
    )


def plot_sweep(sweeps: Sequence[Sweep], path: str | Path) -> Path:
    """Accuracy (95% Wilson bars) against layers used, one panel per sweep, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(sweeps), figsize=(5.5 * len(sweeps), 4), squeeze=False, layout="constrained"
    )
    for ax, sweep in zip(axes[0], sweeps):
        for method in sweep.methods:
            points = sorted((p for p in sweep.points if p.method == method), key=lambda p: len(p.chain))
            if not points:
                continue
            x = [len(p.chain) for p in points]
            y = [p.accuracy.value for p in points]
            errors = [
                [p.accuracy.value - p.accuracy.ci[0] for p in points],
                [p.accuracy.ci[1] - p.accuracy.value for p in points],
            ]
            ax.errorbar(x, y, yerr=errors, marker="o", capsize=3, label=method, alpha=0.85)
        ax.axhline(
            sweep.full.value, color="k", linestyle="--", linewidth=1, label=f"full model ({sweep.num_layers})"
        )
        ax.set_title(f"{sweep.model}, {sweep.task} (n={sweep.full.n})")
        ax.set_xlabel("layers used (chain length)")
        ax.set_ylabel("held-out accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
