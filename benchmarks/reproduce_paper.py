"""Reproduce the paper's tables on the embedded models, with the nulls beside them (resumable).

The paper ("Skip a Layer or Loop It?", Li, Li & Zhou, 2025) reports, per benchmark, the
full model's accuracy, the oracle accuracy of MCTS over chains of layers, the share of
originally correct samples with a shorter correct chain (>75%) and of originally wrong
samples fixed by some chain (>60%). This script measures the same at the paper's search
protocol (200 simulations, lambda = 5, k, r in 1..4; MCTS rounds of 8 leaves under
virtual loss) on both embedded models, each cell with its nulls: the reach-matched random
baseline (same budget, same edit counts), the decoy-label control (the same MCTS rewarded
by a wrong label) and the chance rate; MCTS vs random at 25/50/100/200 simulations on
one task (the budget curve); and, on arith, a search that is not the paper's
(``best_first``: best-first over single edits near correct chains) with the same nulls.

Every cell is a normal ``cola search`` run directory under ``results/paper/``. The script
grows each cell in steps (``--target``: samples per cell after this invocation), so a
killed or timed-out invocation loses at most the chains being evaluated (a sample in
flight resumes from its journal, see ``cola.runs.journal``), and a later one
continues where it stopped. CPU and wall time per cell accumulate in ``timing.json``.

    python benchmarks/reproduce_paper.py --target 12              # run / continue every cell to 12 samples
    python benchmarks/reproduce_paper.py --table-only             # the tables from the committed records
    python benchmarks/reproduce_paper.py --table-only --readme    # ... written into the README's marked blocks
    cola report results/paper/<cell> ... --out results/paper/report   # (the script writes this report too)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cola.report.render import report
from cola.report.stats import RunSummary, summarize
from cola.runs import RunConfig, RunStore, run_search
from cola.search import SearchConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script, however this one is loaded
from search_analysis import analysis_text, default_runs, interval_text  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results" / "paper"
SIMULATIONS = 200
BATCH = 8
BUDGET_TASK = ("gemma3-270m", "arith")
BUDGETS = (25, 50, 100)  # 200 is the main cell


@dataclass(frozen=True)
class Cell:
    model: str
    task: str
    max_samples: int  # the run's config: samples are searched in dataset order up to this many
    simulations: int = SIMULATIONS
    levels: tuple[int, ...] = ()
    max_target: int | None = None  # cap on --target for expensive tasks (long generations)
    strategy: str = "mcts"

    @property
    def name(self) -> str:
        budget = "" if self.simulations == SIMULATIONS else f"-sims{self.simulations}"
        strategy = "" if self.strategy == "mcts" else f"-{self.strategy}"
        return f"{self.model}-{self.task}{budget}{strategy}"

    def config(self) -> RunConfig:
        data = "generated" if self.task == "arith" else "bundled"
        return RunConfig(
            model=self.model,
            task=self.task,
            data=data,
            samples=self.max_samples,
            levels=list(self.levels) or None,
            seed=0,
            data_seed=0,
            search=SearchConfig(strategy=self.strategy, simulations=self.simulations, batch_size=BATCH),
        )


MAIN_CELLS = [
    Cell(model, task, 50)
    for task in ("arith", "arc_easy", "arc_challenge")
    for model in ("smollm2-135m", "gemma3-270m")
] + [
    Cell("smollm2-135m", "gsm8k", 50, max_target=4),
    Cell("smollm2-135m", "math", 20, levels=(1, 2), max_target=4),
]
BUDGET_CELLS = [Cell(*BUDGET_TASK, 50, simulations=s) for s in BUDGETS]
# Not the paper's search: best-first over single edits near correct chains, same budget, same nulls.
STRATEGY_CELLS = [
    Cell(model, "arith", 50, strategy="best_first") for model in ("smollm2-135m", "gemma3-270m")
]


def _timing() -> dict:
    path = RESULTS / "timing.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def grow(cell: Cell, target: int, models: dict, concurrent: int) -> None:
    """Search the cell's next samples until it holds ``target`` records (capped by the cell)."""
    from cola.engine import ChainModel

    out = RESULTS / cell.name
    goal = min(target, cell.max_samples, cell.max_target or target)
    done = _records_in(out)
    if done >= goal:
        return
    if cell.model not in models:
        models.clear()  # one model in memory at a time
        models[cell.model] = ChainModel.from_pretrained(cell.model)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    print(f"== {cell.name}: {done} -> {goal} samples", flush=True)
    try:
        run_search(
            cell.config(),
            out,
            resume=True,
            model=models[cell.model],
            progress=True,
            concurrent_samples=concurrent,
            limit=goal - done,
        )
    finally:
        # Also on Ctrl-C / SIGTERM: the CPU spent on the samples that landed (and on the one in
        # flight, journaled for the next run) is part of what the reproduction cost.
        _add_timing(cell.name, time.perf_counter() - wall, _cpu_seconds() - cpu, _records_in(out))


def _records_in(out: Path) -> int:
    return len(RunStore(out).load_records()) if (out / "records.jsonl").exists() else 0


def _add_timing(name: str, wall: float, cpu: float, samples: int) -> None:
    """Add one cell's times to ``timing.json``; locked and atomic, because several invocations
    (one per model, on different cores) may finish a cell at the same moment."""
    with open(RESULTS / "timing.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        timing = _timing()
        entry = timing.setdefault(name, {"wall_seconds": 0.0, "cpu_seconds": 0.0})
        entry["wall_seconds"] += wall
        entry["cpu_seconds"] += cpu
        entry["samples"] = samples
        staged = RESULTS / "timing.json.tmp"
        staged.write_text(json.dumps(timing, indent=2, sort_keys=True) + "\n")
        os.replace(staged, RESULTS / "timing.json")


def _pct(p) -> str:
    return "-" if not p.n else f"{100 * p.value:.0f}% ({p.successes}/{p.n})"


def _num(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def table_rows(cells: list[Cell]) -> list[tuple[Cell, RunSummary]]:
    rows = []
    for cell in cells:
        out = RESULTS / cell.name
        if (out / "records.jsonl").exists():
            records = RunStore(out).load_records()
            if records:
                rows.append((cell, summarize(records)))
    return rows


def main_table(cells: list[Cell]) -> str:
    """The paper's table: each rate for MCTS (oracle), the reach-matched baseline and the decoy control."""
    lines = [
        "| model | task | search | n | original acc. | oracle acc. (search) | shorter: search | shorter: random "
        "| shorter: decoy | fixed: search | fixed: random | fixed: decoy | mean best depth (search) | chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell, s in table_rows(cells):
        b, d = s.baseline, s.decoy
        depth = _num(s.search.oracle_mean_length_correct)
        chance = "n/a (free-form)" if s.chance is None else f"{100 * s.chance:.0f}%"
        lines.append(
            f"| {cell.model} | {cell.task} | {cell.strategy} | {s.n} | {_pct(s.original)} | {_pct(s.search.oracle_found)} "
            f"| {_pct(s.search.oracle_shorter)} | {_pct(b.oracle_shorter)} | {_pct(d.oracle_shorter)} "
            f"| {_pct(s.search.oracle_fixed)} | {_pct(b.oracle_fixed)} | {_pct(d.oracle_fixed)} | {depth} | {chance} |"
        )
    return "\n".join(lines)


def budget_table() -> str:
    cells = BUDGET_CELLS + [Cell(*BUDGET_TASK, 50)]
    lines = [
        "| simulations | n | shorter: MCTS | shorter: random | fixed: MCTS | fixed: random | chains/sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell, s in sorted(table_rows(cells), key=lambda item: item[0].simulations):
        lines.append(
            f"| {cell.simulations} | {s.n} | {_pct(s.search.oracle_shorter)} | "
            f"{_pct(s.baseline.oracle_shorter)} | {_pct(s.search.oracle_fixed)} | "
            f"{_pct(s.baseline.oracle_fixed)} | {_num(s.search.mean_evaluations)} |"
        )
    return "\n".join(lines)


def claims_table() -> str:
    """The paper's two headline claims against the pooled 200-simulation MCTS cells of the main table.

    Multiple-choice and free-form cells are pooled apart, because only on multiple choice
    does a chance rate exist (and it is what the "fixed" rate must be read against)."""
    groups = {
        "multiple choice (ARC-E, ARC-C)": ("arc_easy", "arc_challenge"),
        "free-form (arith, GSM8K, MATH)": ("arith", "gsm8k", "math"),
    }
    lines = [
        "| paper's claim | cells pooled | samples | search: MCTS (oracle) | random, same budget and reach (oracle) "
        "| decoy control | chance |",
        "|---|---|---|---|---|---|---|",
    ]
    claims = [
        ("shorter", ">75% of originally correct samples have a shorter correct chain"),
        ("fixed", ">60% of originally wrong samples are fixed by some chain"),
    ]
    summaries = {}
    for group, tasks in groups.items():
        records = [
            r
            for cell in MAIN_CELLS
            if cell.task in tasks and (RESULTS / cell.name / "records.jsonl").exists()
            for r in RunStore(RESULTS / cell.name).load_records()
        ]
        if records:
            summaries[group] = summarize(records)
    for attribute, claim in claims:
        for group, s in summaries.items():
            pick = f"oracle_{attribute}"
            chance = "n/a (free-form)" if s.chance is None else f"{100 * s.chance:.0f}%"
            decoy = getattr(s.decoy, pick) if s.decoy is not None else None
            baseline = getattr(s.baseline, pick) if s.baseline is not None else None
            lines.append(
                f"| {claim} | {group} | {s.n} | {interval_text(getattr(s.search, pick))} | "
                f"{interval_text(baseline)} | {interval_text(decoy)} | {chance} |"
            )
    return "\n".join(lines)


def timing_table() -> str:
    """CPU time per cell, as ``timing.json`` accumulated it over every invocation."""
    rows = ["| cell | samples | CPU time | CPU s/sample |", "|---|---|---|---|"]
    timing = _timing()
    for name, entry in sorted(timing.items()):
        per_sample = (
            f"{entry['cpu_seconds'] / entry['samples']:.0f}" if entry["samples"] else "- (none finished)"
        )
        rows.append(f"| {name} | {entry['samples']} | {entry['cpu_seconds'] / 60:.1f} min | {per_sample} |")
    total = sum(entry["cpu_seconds"] for entry in timing.values())
    rows.append(f"| all | {sum(entry['samples'] for entry in timing.values())} | {total / 3600:.2f} h | |")
    return "\n".join(rows)


def refresh_readme() -> None:
    """Rewrite the README's marked blocks (``<!-- name -->`` ... ``<!-- /name -->``) from the records."""
    import re

    blocks = {
        "paper-table": main_table(MAIN_CELLS + STRATEGY_CELLS),
        "paper-claims": claims_table(),
        "budget-table": budget_table(),
        "search-analysis": analysis_text(default_runs()),
        "paper-timing": timing_table(),
    }
    readme = RESULTS.parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8")
    for name, body in blocks.items():
        text, count = re.subn(
            rf"<!-- {name} -->\n.*?<!-- /{name} -->",
            lambda _m, n=name, b=body: f"<!-- {n} -->\n{b}\n<!-- /{n} -->",
            text,
            flags=re.S,
        )
        if count != 1:
            raise SystemExit(f"README has {count} <!-- {name} --> blocks, expected 1")
    readme.write_text(text, encoding="utf-8")
    print(f"refreshed {', '.join(blocks)} in {readme}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", type=int, default=12, help="samples per cell after this invocation")
    parser.add_argument("--cells", default="all", help="all, main, budget, or comma-separated cell names")
    parser.add_argument("--concurrent-samples", type=int, default=4)
    parser.add_argument(
        "--table-only", action="store_true", help="print the tables from the records; run nothing"
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="also write the tables, the search analysis and the CPU time into the README's blocks",
    )
    args = parser.parse_args()
    every = MAIN_CELLS + BUDGET_CELLS + STRATEGY_CELLS
    cells = {"all": every, "main": MAIN_CELLS, "budget": BUDGET_CELLS, "strategy": STRATEGY_CELLS}.get(
        args.cells
    )
    if cells is None:
        wanted = set(args.cells.split(","))
        unknown = sorted(wanted - {c.name for c in every})
        if unknown:
            raise SystemExit(
                f"reproduce_paper: unknown cell {', '.join(unknown)} "
                f"(known: all, main, budget, strategy, {', '.join(c.name for c in every)})"
            )
        cells = [c for c in every if c.name in wanted]
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A plain `kill` ends the run like Ctrl-C does, so the cell's CPU time is still recorded.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not args.table_only:
        models: dict = {}
        for cell in sorted(cells, key=lambda c: (c.model, c.task == "gsm8k" or c.task == "math")):
            grow(cell, args.target, models, args.concurrent_samples)
    print(main_table(MAIN_CELLS + STRATEGY_CELLS))
    print()
    print(budget_table())
    print()
    print(claims_table())
    if args.readme:
        refresh_readme()
    done = [RESULTS / c.name for c in every if (RESULTS / c.name / "records.jsonl").exists()]
    if done and not args.table_only:
        report(done, RESULTS / "report")


if __name__ == "__main__":
    main()
