"""Is the search better than chance at its own objective? A search against its reach-matched random arm.

On the shortening objective, per run: the share of originally correct samples with a
shorter correct chain for each arm (Wilson intervals), the paired outcome (the samples
only one arm shortened) with an exact sign test, and the *mean best depth* (see
:class:`~cola.report.stats.PairedShortening`). Then what the records say about why: the
correct chains each arm evaluated per sample, how far from the full chain and how long
its chains were, how the UCB length penalty compares with the 0/1 reward it is added to,
and how many of the legal edits of the full chain are repeats. Last, each run of another
strategy against the MCTS run of the same model, task and budget, paired by sample.
"""

from __future__ import annotations

import statistics
from fractions import Fraction
from pathlib import Path

from cola.engine.chain import full_chain
from cola.report.format import num, pct
from cola.report.stats import PairedShortening, Proportion, paired_shortening, search_vs_baseline, shortened
from cola.runs import RunStore
from cola.runs.records import SampleRecord
from cola.search import SearchConfig, action_space

PAPER_SIMULATIONS = 200


def interval_text(p: Proportion | None) -> str:
    """``52% [35, 68] (16/31)``: the rate, its 95% Wilson interval and the counts; ``-`` when there is none."""
    if p is None or not p.n:
        return "-"
    bounds = f"[{num(100 * p.low, digits=0)}, {num(100 * p.high, digits=0)}]"
    return f"{pct(p.value, digits=0)} {bounds} ({p.successes}/{p.n})"


def _p(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 else f"{value:.3f}"


def anatomy(records: list[SampleRecord], arm: str) -> dict:
    """Where an arm spent its budget: correct chains found, edits, lengths relative to the model."""
    correct_counts, edits, shorter, longer = [], [], 0, 0
    total, short_lengths = 0, []
    for record in records:
        outcome = getattr(record, arm)
        if outcome is None:
            continue
        correct_counts.append(sum(e.correct for e in outcome.evaluations[1:]))
        edits.extend(outcome.edits or [])
        for evaluation in outcome.evaluations[1:]:
            total += 1
            shorter += len(evaluation.chain) < record.num_layers
            if len(evaluation.chain) < record.num_layers:
                short_lengths.append(record.num_layers - len(evaluation.chain))
            longer += len(evaluation.chain) > record.num_layers
    return {
        "median_correct": statistics.median(correct_counts) if correct_counts else None,
        "median_edits": statistics.median(edits) if edits else None,
        "shorter": shorter / total if total else None,
        "longer": longer / total if total else None,
        "shortfall": statistics.mean(short_lengths) if short_lengths else None,
    }


def analyse(name: str, records: list[SampleRecord]) -> list[str]:
    """One table row, named ``name``, for the records of a run (or of several runs pooled)."""
    if not records or all(r.baseline is None for r in records):
        return []
    s = search_vs_baseline(records)
    mcts, rand = anatomy(records, "search"), anatomy(records, "baseline")
    sizes = {r.num_layers for r in records}
    layers = sizes.pop() if len(sizes) == 1 else "mixed"
    depth = "-" if s.depth_a is None else f"{s.depth_a:.1f} vs {s.depth_b:.1f}"
    return [
        f"| {name} | {s.n} | {interval_text(s.a)} | {interval_text(s.b)} | "
        f"{s.only_a} / {s.only_b} (p = {_p(s.p)}) | {depth} (of {layers}) | "
        f"{mcts['median_correct']} vs {rand['median_correct']} | {mcts['median_edits']} vs {rand['median_edits']} | "
        f"{pct(mcts['shorter'], digits=0)} / {pct(mcts['longer'], digits=0)} vs "
        f"{pct(rand['shorter'], digits=0)} / {pct(rand['longer'], digits=0)} | "
        f"{num(mcts['shortfall'], '-', digits=1)} vs {num(rand['shortfall'], '-', digits=1)} |"
    ]


def _is_paper_mcts(config: dict) -> bool:
    search = config.get("search") or {}
    return search.get("strategy") == "mcts" and search.get("simulations") == PAPER_SIMULATIONS


def analysis_text(runs: list[Path]) -> str:
    """The comparison table (one row per run, then the pooled paper-budget MCTS runs), the penalty
    and edit-mix lines, and the table of other strategies against MCTS."""
    lines = [
        "| run | orig. correct | shorter: search | shorter: random (same reach) | only search / only random "
        "| mean best depth search vs random | median correct chains found | median edits | "
        "chains shorter / longer than the model | layers saved by a shorter chain (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    pooled, pooled_runs = [], 0
    loaded = {path: (RunStore(path).load_config() or {}, RunStore(path).load_records()) for path in runs}
    for path, (config, records) in loaded.items():
        lines.extend(analyse(path.name, records))
        if _is_paper_mcts(config):
            pooled.extend(records)  # each sample once: budget-curve runs repeat them
            pooled_runs += 1
    if pooled_runs > 1:
        lines.extend(analyse(f"pooled: {pooled_runs} MCTS runs at {PAPER_SIMULATIONS} simulations", pooled))
    depths = sorted({r.num_layers for r in pooled})
    text = "\n".join(lines) + "\n\n" + penalty_scale(depths) + "\n\n" + edit_mix(depths)
    against_mcts = strategy_comparison(loaded)
    text += "\n\n" + against_mcts if against_mcts else ""
    against_length = length_null_comparison(loaded)
    return text + ("\n\n" + against_length if against_length else "")


def length_null_comparison(loaded: dict[Path, tuple[dict, list]]) -> str:
    """Each run's search against its length-matched random arm on the shortening objective, paired by sample.

    The reach-matched arm goes as many edits far, but its edits are mostly repeats; the
    length-matched arm evaluates chains of the search's own lengths and skip/repeat mix
    (:mod:`cola.search.random_length`), so it is the null for "a shorter chain exists".
    Pooled rows hold the runs of one strategy."""
    rows, pooled = [], {}
    for path, (config, records) in loaded.items():
        pairs = [
            (shortened(r, r.search), shortened(r, r.length_null))
            for r in records
            if r.original.correct and r.length_null
        ]
        if not pairs:
            continue
        rows.append(_length_row(path.name, paired_shortening(pairs)))
        strategy = (config.get("search") or {}).get("strategy")
        if strategy is not None and (config.get("search") or {}).get("simulations") == PAPER_SIMULATIONS:
            pooled.setdefault(strategy, []).append(pairs)
    for strategy, runs in pooled.items():
        if len(runs) > 1:
            rows.append(
                _length_row(
                    f"pooled {strategy}: {len(runs)} runs",
                    paired_shortening([p for run in runs for p in run]),
                )
            )
    if not rows:
        return ""
    header = [
        "| run vs its length-matched random arm | orig. correct | shorter: search | shorter: length-matched "
        "| only search / only length-matched | mean best depth search vs length-matched |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows)


def _length_row(name: str, s: PairedShortening) -> str:
    depth = "-" if s.depth_a is None else f"{s.depth_a:.1f} vs {s.depth_b:.1f}"
    return f"| {name} | {s.n} | {interval_text(s.a)} | {interval_text(s.b)} | {s.only_a} / {s.only_b} (p = {_p(s.p)}) | {depth} |"


def _comparison_row(name: str, wins: list, depth: bool) -> str:
    """One row: ``wins`` holds, per sample, (strategy, MCTS, MCTS's random arm) as (shortened, best depth)."""
    vs_mcts: PairedShortening = paired_shortening([(a, m) for a, m, _ in wins])
    random_arm = Proportion(sum(r[0] for _, _, r in wins), len(wins))
    depths = f"{vs_mcts.depth_a:.1f} vs {vs_mcts.depth_b:.1f}" if wins and depth else "-"
    return (
        f"| {name} | {vs_mcts.n} | {interval_text(vs_mcts.a)} | {interval_text(vs_mcts.b)} | "
        f"{interval_text(random_arm)} | {vs_mcts.only_a} / {vs_mcts.only_b} (p = {_p(vs_mcts.p)}) | {depths} |"
    )


def strategy_comparison(loaded: dict[Path, tuple[dict, list]]) -> str:
    """Each non-MCTS run against the MCTS run of the same model, task and budget, on the samples both searched.

    ``loaded`` maps each run directory to its (config, records). The same data seed gives
    the same samples in the same order, so the pairs are exact: the other strategy, MCTS,
    and MCTS's own reach-matched random arm, on one sample each."""
    configs = {path: config for path, (config, _records) in loaded.items()}

    def key(config: dict) -> tuple:
        search = config.get("search") or {}
        return config.get("model"), config.get("task"), search.get("simulations")

    mcts_runs = {key(c): p for p, c in configs.items() if (c.get("search") or {}).get("strategy") == "mcts"}
    lines, pooled = [], {}  # pooled per strategy: a pooled row never mixes two searches
    for path, config in configs.items():
        strategy = (config.get("search") or {}).get("strategy")
        partner = mcts_runs.get(key(config))
        if strategy in (None, "mcts") or partner is None:
            continue
        mcts = {r.sample_id: r for r in loaded[partner][1]}
        pairs = [
            (r, mcts[r.sample_id]) for r in loaded[path][1] if r.sample_id in mcts and r.original.correct
        ]
        wins = [(shortened(a, a.search), shortened(b, b.search), shortened(b, b.baseline)) for a, b in pairs]
        lines.append(_comparison_row(f"{path.name} vs {partner.name}", wins, depth=True))
        pooled.setdefault(strategy, []).append(wins)
    if not lines:
        return ""
    for strategy, runs in pooled.items():
        if len(runs) > 1:
            wins = [w for run in runs for w in run]
            lines.append(_comparison_row(f"pooled {strategy}: {len(runs)} runs", wins, depth=False))
    header = [
        "| strategy vs MCTS, same samples | orig. correct | shorter: strategy | shorter: MCTS "
        "| shorter: MCTS's random arm | only strategy / only MCTS | mean best depth strategy vs MCTS |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + lines)


def default_runs(results: Path) -> list[Path]:
    """Every run directory directly under ``results``, sorted by name."""
    return sorted(p for p in Path(results).iterdir() if (p / "records.jsonl").exists())


def penalty_scale(depths: list[int], lam: float = 5.0) -> str:
    """How the UCB length penalty lambda * len / L compares with the 0/1 reward it is added to.

    A wrong chain d layers shorter than a correct full-length one scores d * lambda / L more
    on length and 1 less on reward: it ties at d = L / lambda and outscores above it
    (exact arithmetic, so L = 30 ties at 6 rather than rounding either way).
    """
    parts = []
    for depth in depths:
        ratio = Fraction(depth) / Fraction(lam)
        outscore = int(ratio) + 1
        if ratio.denominator == 1:
            verdict = (
                f"a wrong chain {ratio} layers shorter ties with a correct full-length chain "
                f"and one {outscore} layers shorter outscores it"
            )
        else:
            verdict = f"a wrong chain {outscore} layers shorter outscores a correct full-length chain"
        parts.append(f"L = {depth}: one layer shorter is worth {lam / depth:.2f}, so {verdict}")
    return f"Length penalty (lambda = {lam:g}) against the 0/1 reward: " + "; ".join(parts) + "."


def edit_mix(depths: list[int]) -> str:
    """How many of the full chain's distinct legal edits (the paper's k, r in 1..4) are repeats."""
    parts = []
    for depth in depths:
        actions = action_space(SearchConfig(), depth).actions(full_chain(depth))
        repeats = sum(a.kind == "repeat" for a in actions)
        parts.append(f"L = {depth}: {repeats} of {len(actions)} ({pct(repeats / len(actions), digits=0)})")
    return "Legal edits of the full chain that are repeats: " + "; ".join(parts) + "."
