"""Figures for ``cola report``, drawn with matplotlib's Agg backend into PNG bytes.

Each function takes a :class:`cola.report.data.ReportData` and returns a finished figure;
:func:`render_figures` turns them all into ``{name: png_bytes}``. Nothing here computes
statistics: the numbers come from the report data.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from cola.report.breakdowns import TRANSITIONS  # noqa: E402
from cola.report.data import ReportData  # noqa: E402

_CORRECT = "#3b7dd8"
_WRONG = "#e07b39"


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def lengths_figure(data: ReportData):
    """Histograms of best-chain length, originally correct vs originally wrong, one panel per run."""
    runs = data.runs
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 2.8 * len(runs)), squeeze=False, layout="constrained")
    for ax, run in zip(axes[:, 0], runs):
        s = run.strategies["search"]
        values = s.lengths_correct + s.lengths_wrong
        low = min(values + [run.num_layers]) if values else run.num_layers
        high = max(values + [run.num_layers]) if values else run.num_layers
        bins = np.arange(low - 0.5, high + 1.5, 1.0)
        ax.hist(
            s.lengths_correct,
            bins=bins,
            alpha=0.7,
            color=_CORRECT,
            label=f"originally correct (n={len(s.lengths_correct)})",
        )
        ax.hist(
            s.lengths_wrong,
            bins=bins,
            alpha=0.7,
            color=_WRONG,
            label=f"originally wrong, fixed (n={len(s.lengths_wrong)})",
        )
        ax.axvline(
            run.num_layers, color="k", linestyle="--", linewidth=1, label=f"full model ({run.num_layers})"
        )
        ax.set_title(f"{run.name}: best-chain length (oracle)")
        ax.set_xlabel("chain length (layers run)")
        ax.set_ylabel("samples")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    return fig


def layers_figure(data: ReportData):
    """Per-layer heatmap (skipped / kept / repeated fractions) of the main search, per run."""
    runs = data.runs
    fig, axes = plt.subplots(
        len(runs),
        1,
        figsize=(max(8, 0.3 * max(r.num_layers for r in runs) + 2), 2.1 * len(runs) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, run in zip(axes[:, 0], runs):
        s = run.strategies["search"]
        grid = np.array([s.skipped, s.kept, s.repeated])
        image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_yticks(range(3), ["skipped", "kept", "repeated"])
        step = 1 if run.num_layers <= 32 else 2
        ax.set_xticks(range(0, run.num_layers, step))
        ax.set_xlabel("layer")
        ax.set_title(f"{run.name}: share of best chains ({s.with_best} samples, oracle)")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), fraction=0.03, pad=0.02, label="share of best chains")
    return fig


def thirds_figure(data: ReportData):
    """Grouped bars: fraction of each third's layers used by best chains, per run and strategy."""
    columns = [(run, which) for run in data.runs for which in run.strategies]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    x = np.arange(3)
    width = 0.8 / max(1, len(columns))
    for index, (run, which) in enumerate(columns):
        s = run.strategies[which]
        label = f"{run.name}: {s.strategy}"
        present = [s.thirds[t]["present"] for t in ("early", "middle", "late")]
        runs_per_layer = [s.thirds[t]["executions"] for t in ("early", "middle", "late")]
        axes[0].bar(x + index * width, present, width, label=label)
        axes[1].bar(x + index * width, runs_per_layer, width, label=label)
    for ax, title in zip(axes, ("layers used (fraction of the third)", "mean runs per layer")):
        ax.set_xticks(x + width * (len(columns) - 1) / 2, ["early", "middle", "late"])
        ax.set_title(title + " (oracle)")
    axes[1].axhline(1.0, color="k", linestyle="--", linewidth=1)
    axes[0].legend(fontsize=8)
    return fig


def transitions_figure(data: ReportData):
    """Stacked horizontal bars of the four transitions, per run and strategy."""
    columns = [(run, which) for run in data.runs for which in run.strategies]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(columns) + 1.6), layout="constrained")
    colors = ["#2e8b57", "#9fd3a8", "#3b7dd8", "#d9534f"]
    labels = [f"{run.name}: {run.strategies[which].strategy}" for run, which in columns]
    left = np.zeros(len(columns))
    for (key, label), color in zip(TRANSITIONS, colors):
        shares = np.array(
            [run.strategies[which].transitions[key] / run.strategies[which].n for run, which in columns]
        )
        ax.barh(labels, shares, left=left, color=color, label=label)
        left += shares
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of samples")
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    return fig


def levels_figure(data: ReportData):
    """Original / oracle accuracy and mean best-chain length by difficulty level."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    for run in data.runs:
        for which, s in run.strategies.items():
            if not s.levels:
                continue
            names = [str(lv.level) for lv in s.levels]
            tag = f"{run.name}: {s.strategy}"
            if which == "search":
                axes[0].plot(
                    names,
                    [lv.original.value for lv in s.levels],
                    marker="o",
                    linestyle="--",
                    label=f"{run.name}: original",
                )
            axes[0].plot(names, [lv.oracle.value for lv in s.levels], marker="s", label=f"{tag} (oracle)")
            axes[1].plot(
                names,
                [np.nan if lv.mean_best_length is None else lv.mean_best_length for lv in s.levels],
                marker="o",
                label=tag,
            )
    axes[0].set_title("accuracy by level")
    axes[0].set_ylim(0, 1.05)
    axes[1].set_title("mean best-chain length by level (oracle)")
    for ax in axes:
        ax.set_xlabel("level")
        ax.legend(fontsize=8)
    return fig


def reach_figure(data: ReportData):
    """Histograms of edit counts and lengths of every evaluated chain, search vs baseline, per run."""
    runs = data.runs
    fig, axes = plt.subplots(len(runs), 2, figsize=(11, 2.8 * len(runs)), squeeze=False, layout="constrained")
    for (ax_edits, ax_lengths), run in zip(axes, runs):
        for which, color in (("search", _CORRECT), ("baseline", _WRONG)):
            s = run.strategies.get(which)
            if s is None:
                continue
            label = f"{s.strategy} ({len(s.evaluated_lengths)} chains)"
            if s.edits:
                bins = np.arange(-0.5, max(s.edits) + 1.5, 1.0)
                ax_edits.hist(s.edits, bins=bins, alpha=0.6, color=color, label=label)
            if s.evaluated_lengths:
                bins = np.arange(min(s.evaluated_lengths) - 0.5, max(s.evaluated_lengths) + 1.5, 1.0)
                ax_lengths.hist(s.evaluated_lengths, bins=bins, alpha=0.6, color=color, label=label)
        ax_lengths.axvline(run.num_layers, color="k", linestyle="--", linewidth=1, label="full model")
        ax_edits.set_title(f"{run.name}: edits from the full chain")
        ax_lengths.set_title(f"{run.name}: chain length")
        for ax in (ax_edits, ax_lengths):
            ax.set_ylabel("chains")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    return fig


def budget_figure(data: ReportData):
    """Oracle shorter-chain and fix rates against the search budget: the search vs its random baseline."""
    curves = data.budget_curves()
    fig, axes = plt.subplots(
        len(curves), 2, figsize=(11, 3.2 * len(curves)), squeeze=False, layout="constrained"
    )
    for (ax_short, ax_fix), ((model, task, _strategy), runs) in zip(axes, curves.items()):
        budgets = [r.simulations for r in runs]
        for arm, color in (("search", _CORRECT), ("baseline", _WRONG), ("decoy", "#888888")):
            for ax, attribute in ((ax_short, "oracle_shorter"), (ax_fix, "oracle_fixed")):
                rates = [getattr(dict(r.summary.columns()).get(arm), attribute, None) for r in runs]
                if any(p is None or not p.n for p in rates):
                    continue
                values = np.array([p.value for p in rates])
                errors = np.array([[p.value - p.low for p in rates], [p.high - p.value for p in rates]])
                name = dict(runs[0].summary.columns())[arm].strategy + (" vs decoy" if arm == "decoy" else "")
                ax.errorbar(budgets, values, yerr=errors, marker="o", capsize=3, color=color, label=name)
        ax_short.set_title(f"{model} {task}: originally correct with a shorter chain (oracle)")
        ax_fix.set_title(f"{model} {task}: originally wrong fixed (oracle)")
        for ax in (ax_short, ax_fix):
            ax.set_xscale("log", base=2)
            ax.set_xticks(budgets, [str(b) for b in budgets])
            ax.set_xlabel("search budget (simulations)")
            ax.set_ylim(-0.05, 1.05)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    return fig


def render_figures(data: ReportData) -> dict[str, bytes]:
    """Every figure of the report as PNG bytes, keyed by name."""
    figures = {
        "transitions": transitions_figure,
        "lengths": lengths_figure,
        "layers": layers_figure,
        "thirds": thirds_figure,
        "reach": reach_figure,
    }
    if data.has_levels:
        figures["levels"] = levels_figure
    if data.budget_curves():
        figures["budget"] = budget_figure
    return {name: _png(make(data)) for name, make in figures.items()}
