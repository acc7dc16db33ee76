"""Is the search better than chance at its own objective? MCTS vs the reach-matched random arm, from records.

For each run directory given (default: the main cells of ``results/paper``), on the
shortening objective: the share of originally correct samples with a shorter correct
chain for each arm with Wilson intervals, the paired outcome (samples only one arm
shortened) with an exact two-sided sign test, and the shortest correct depth each arm
found. Then what the records say about why: how many correct chains each arm evaluated
per sample, how far from the full chain and how long its chains were, and how the UCB
length penalty compares with the 0/1 reward it is added to. Last, each run of another strategy
(``best_first``) against the MCTS run of the same model, task and budget, paired by sample.

    python benchmarks/search_analysis.py                       # every cell under results/paper
    python benchmarks/search_analysis.py results/paper/gemma3-270m-arith
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from cola.report.stats import Proportion, oracle_best_chain
from cola.runs import RunStore

RESULTS = Path(__file__).resolve().parents[1] / "results" / "paper"
PAPER_SIMULATIONS = 200


def sign_test(only_a: int, only_b: int) -> float:
    """Exact two-sided binomial test of ``only_a`` vs ``only_b`` discordant pairs (p = 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def interval_text(p: Proportion | None) -> str:
    """``52% [35, 68] (16/31)``: the rate, its 95% Wilson interval and the counts; ``-`` when there is none."""
    if p is None or not p.n:
        return "-"
    return f"{100 * p.value:.0f}% [{100 * p.low:.0f}, {100 * p.high:.0f}] ({p.successes}/{p.n})"


def shortening(records) -> dict:
    """Paired shortening outcome of MCTS ("search") and its reach-matched baseline on originally correct samples."""
    correct = [r for r in records if r.original.correct and r.baseline is not None]
    wins = {"search": [], "baseline": []}
    depths = {"search": [], "baseline": []}
    for record in correct:
        for arm in wins:
            best = oracle_best_chain(record, getattr(record, arm))
            wins[arm].append(best is not None and len(best) < record.num_layers)
            depths[arm].append(len(best) if best is not None else record.num_layers)
    only_search = sum(s and not b for s, b in zip(wins["search"], wins["baseline"]))
    only_baseline = sum(b and not s for s, b in zip(wins["search"], wins["baseline"]))
    return {
        "n": len(correct),
        "search": Proportion(sum(wins["search"]), len(correct)),
        "baseline": Proportion(sum(wins["baseline"]), len(correct)),
        "only_search": only_search,
        "only_baseline": only_baseline,
        "p": sign_test(only_search, only_baseline),
        "depth_search": statistics.mean(depths["search"]) if correct else None,
        "depth_baseline": statistics.mean(depths["baseline"]) if correct else None,
    }


def anatomy(records, arm: str) -> dict:
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
        "max_edits": max(edits) if edits else None,
        "shorter": shorter / total if total else None,
        "longer": longer / total if total else None,
        "shortfall": statistics.mean(short_lengths) if short_lengths else None,
    }


def analyse(name: str, records) -> list[str]:
    """One table row, named ``name``, for the records of a run (or of several runs pooled)."""
    if not records or all(r.baseline is None for r in records):
        return []
    s = shortening(records)
    mcts, rand = anatomy(records, "search"), anatomy(records, "baseline")
    layers = {r.num_layers for r in records}
    layers = layers.pop() if len(layers) == 1 else "mixed"
    depth = "-" if s["depth_search"] is None else f"{s['depth_search']:.1f} vs {s['depth_baseline']:.1f}"
    return [
        f"| {name} | {s['n']} | {interval_text(s['search'])} | {interval_text(s['baseline'])} | "
        f"{s['only_search']} / {s['only_baseline']} (p = {_p(s['p'])}) | {depth} (of {layers}) | "
        f"{mcts['median_correct']} vs {rand['median_correct']} | {mcts['median_edits']} vs {rand['median_edits']} | "
        f"{100 * mcts['shorter']:.0f}% / {100 * mcts['longer']:.0f}% vs "
        f"{100 * rand['shorter']:.0f}% / {100 * rand['longer']:.0f}% | "
        f"{_num(mcts['shortfall'])} vs {_num(rand['shortfall'])} |"
    ]


def _p(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 else f"{value:.3f}"


def _num(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def analysis_text(runs: list[Path]) -> str:
    """The comparison table (one row per run, then the pooled paper-budget MCTS runs) and the penalty line."""
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
        search = config.get("search") or {}
        if search.get("strategy") == "mcts" and search.get("simulations") == PAPER_SIMULATIONS:
            pooled.extend(records)  # each sample once: budget-curve runs repeat them
            pooled_runs += 1
    if pooled_runs > 1:
        lines.extend(analyse(f"pooled: {pooled_runs} MCTS runs at {PAPER_SIMULATIONS} simulations", pooled))
    text = "\n".join(lines) + "\n\n" + penalty_scale(sorted({r.num_layers for r in pooled}))
    against_mcts = strategy_comparison(loaded)
    return text + ("\n\n" + against_mcts if against_mcts else "")


def _shortened(record, outcome) -> tuple[bool, int]:
    best = oracle_best_chain(record, outcome)
    return (
        best is not None and len(best) < record.num_layers,
        len(best) if best is not None else record.num_layers,
    )


def _comparison_row(name: str, wins: list, depth: bool) -> str:
    """One row: ``wins`` holds, per sample, (strategy, MCTS, MCTS's random arm) as (shortened, best depth)."""
    only_a = sum(a[0] and not m[0] for a, m, _ in wins)
    only_m = sum(m[0] and not a[0] for a, m, _ in wins)
    depths = (
        f"{statistics.mean(a[1] for a, _, _ in wins):.1f} vs {statistics.mean(m[1] for _, m, _ in wins):.1f}"
        if wins and depth
        else "-"
    )
    return (
        f"| {name} | {len(wins)} | {interval_text(Proportion(sum(a[0] for a, _, _ in wins), len(wins)))} | "
        f"{interval_text(Proportion(sum(m[0] for _, m, _ in wins), len(wins)))} | "
        f"{interval_text(Proportion(sum(r[0] for _, _, r in wins), len(wins)))} | "
        f"{only_a} / {only_m} (p = {_p(sign_test(only_a, only_m))}) | {depths} |"
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
    lines, pooled = [], []
    for path, config in configs.items():
        strategy = (config.get("search") or {}).get("strategy")
        partner = mcts_runs.get(key(config))
        if strategy in (None, "mcts") or partner is None:
            continue
        mcts = {r.sample_id: r for r in loaded[partner][1]}
        pairs = [
            (r, mcts[r.sample_id]) for r in loaded[path][1] if r.sample_id in mcts and r.original.correct
        ]
        wins = [
            (_shortened(a, a.search), _shortened(b, b.search), _shortened(b, b.baseline)) for a, b in pairs
        ]
        lines.append(_comparison_row(f"{path.name} vs {partner.name}", wins, depth=True))
        pooled.extend(wins)
    if not lines:
        return ""
    if len(lines) > 1:
        lines.append(_comparison_row(f"pooled: {len(lines)} runs", pooled, depth=False))
    header = [
        "| strategy vs MCTS, same samples | orig. correct | shorter: strategy | shorter: MCTS "
        "| shorter: MCTS's random arm | only strategy / only MCTS | mean best depth strategy vs MCTS |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + lines)


def default_runs() -> list[Path]:
    return sorted(p for p in RESULTS.iterdir() if (p / "records.jsonl").exists())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="*", type=Path)
    args = parser.parse_args()
    print(analysis_text(args.runs or default_runs()))


def penalty_scale(depths: list[int], lam: float = 5.0) -> str:
    """How the UCB length penalty lambda * len / L compares with the 0/1 reward it is added to."""
    parts = [
        f"L = {depth}: one layer shorter is worth {lam / depth:.2f}, so a wrong chain "
        f"{math.ceil(depth / lam)} layers shorter outscores a correct one"
        for depth in depths
    ]
    return f"Length penalty (lambda = {lam:g}) against the 0/1 reward: " + "; ".join(parts) + "."


if __name__ == "__main__":
    main()
