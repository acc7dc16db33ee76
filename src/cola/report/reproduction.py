"""The paper reproduction: its cells (runs at the paper's protocol) and the tables derived from them.

"Skip a Layer or Loop It?" (Li, Li & Zhou, 2025) reports, per benchmark, the full model's
accuracy, the oracle accuracy of MCTS over chains of layers, and two headline rates: the
share of originally correct samples with a shorter correct chain (>75%) and of originally
wrong samples fixed by some chain (>60%). A :class:`Cell` is one ``cola search`` run
directory at the paper's protocol (200 simulations, lambda = 5, k, r in 1..4; MCTS rounds
of 8 leaves under virtual loss; seed 0, data seed 0) with every null beside it.

Every table here is a pure function of the run directories under a results folder
(``results/paper`` in the repository), so a document that shows them in marked blocks
(``<!-- name -->`` ... ``<!-- /name -->``) can be re-derived and checked by a test:
``benchmarks/reproduce_paper.py`` runs the cells and writes the blocks, and
``tests/test_reproduction.py`` recomputes them.
"""

from __future__ import annotations

import fcntl
import json
import re
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cola.outputs import atomic_write
from cola.report.format import num, pct, proportion
from cola.report.search_analysis import analysis_text, default_runs, interval_text
from cola.report.stats import RunSummary, summarize
from cola.runs import RunConfig, RunStore, run_search
from cola.runs.config import default_source
from cola.runs.records import SampleRecord
from cola.runs.runner import wanted_nulls
from cola.search import SearchConfig

SIMULATIONS = 200  # the paper's budget
BATCH = 8  # MCTS leaves per round, under virtual loss
BUDGET_TASK = ("gemma3-270m", "arith")
BUDGETS = (25, 50, 100)  # the budget curve; 200 is the main cell


@dataclass(frozen=True)
class Cell:
    """One run of the reproduction: a model, a task and a search, grown sample by sample."""

    model: str
    task: str
    max_samples: int  # the run's config: samples are searched in dataset order up to this many
    simulations: int = SIMULATIONS
    levels: tuple[int, ...] = ()
    max_target: int | None = None  # cap on the target for expensive tasks (long generations)
    strategy: str = "mcts"
    batch_size: int = BATCH  # leaves per round; polar_mcts evaluates one new chain per simulation

    @property
    def name(self) -> str:
        budget = "" if self.simulations == SIMULATIONS else f"-sims{self.simulations}"
        strategy = "" if self.strategy == "mcts" else f"-{self.strategy}"
        level = f"-level{self.levels[0]}" if len(self.levels) == 1 else ""  # one cell per level
        return f"{self.model}-{self.task}{level}{budget}{strategy}"

    def config(self) -> RunConfig:
        data = default_source(self.task)
        return RunConfig(
            model=self.model,
            task=self.task,
            data=data,
            samples=self.max_samples,
            levels=list(self.levels) or None,
            seed=0,
            data_seed=0,
            search=SearchConfig(
                strategy=self.strategy, simulations=self.simulations, batch_size=self.batch_size
            ),
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
# The authors' released MCTS (tianyi-lab/PoLar), on the same samples as the MCTS cells.
POLAR_CELLS = [
    Cell(model, task, 50, strategy="polar_mcts", batch_size=1)
    for task in ("arith", "arc_easy", "arc_challenge")
    for model in ("smollm2-135m", "gemma3-270m")
]
# The authors' direct-answer protocol on MATH-500, one cell per difficulty level (the paper's
# analysis is per level), MCTS and the authors' MCTS on the same samples.
DIRECT_CELLS = [
    Cell("smollm2-135m", "math_direct", 12, levels=(level,), **search)
    for level in (1, 2, 3, 4, 5)
    for search in ({}, {"strategy": "polar_mcts", "batch_size": 1})
]
ALL_CELLS = MAIN_CELLS + BUDGET_CELLS + STRATEGY_CELLS + POLAR_CELLS + DIRECT_CELLS
CLAIM_GROUPS = {  # pooled apart: only multiple choice has a chance rate to read the "fixed" rate against
    "multiple choice (ARC-E, ARC-C)": ("arc_easy", "arc_challenge"),
    "free-form (arith, GSM8K, MATH)": ("arith", "gsm8k", "math"),
}


def cell_records(results: Path, cell: Cell) -> list[SampleRecord]:
    """The cell's records under ``results`` (none when it has not run)."""
    out = Path(results) / cell.name
    return RunStore(out).load_records() if (out / "records.jsonl").exists() else []


def _chance(s: RunSummary) -> str:
    return "n/a (free-form)" if s.chance is None else pct(s.chance, digits=0)


def table_rows(results: Path, cells: Sequence[Cell]) -> list[tuple[Cell, RunSummary]]:
    """``(cell, summary)`` for each cell with records, in the order given."""
    return [(cell, summarize(records)) for cell in cells if (records := cell_records(results, cell))]


def main_table(
    results: Path, cells: Sequence[Cell] = MAIN_CELLS + STRATEGY_CELLS + POLAR_CELLS + DIRECT_CELLS
) -> str:
    """The paper's table: each oracle rate of the search beside its nulls (reach- and length-matched
    random, the decoy label, sampling pass@E and, where a cell has one, the fixed menu's top 1)."""
    rows = table_rows(results, cells)
    menu = any(s.menu for _, s in rows)
    header = "| model | task | search | n | original acc. | oracle acc. (search) | shorter: search | shorter: random "
    header += (
        "| shorter: length-matched | shorter: decoy | fixed: search | fixed: random | fixed: length-matched "
    )
    header += "| fixed: sampling pass@E | fixed: decoy |" + (" acc.: menu top 1 |" if menu else "")
    header += " mean best depth (search) | chance |"
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for cell, s in rows:
        b, d, n = s.baseline, s.decoy, s.length_null
        rates = [s.original, s.search.oracle_found, s.search.oracle_shorter, b.oracle_shorter]
        rates += [n.oracle_shorter if n else None, d.oracle_shorter, s.search.oracle_fixed, b.oracle_fixed]
        rates += [n.oracle_fixed if n else None, s.sampling.fixed if s.sampling else None, d.oracle_fixed]
        if menu:
            rates.append(s.menu[0].found if s.menu else None)
        task = cell.task + (f" (level {cell.levels[0]})" if len(cell.levels) == 1 else "")
        row = [cell.model, task, cell.strategy, str(s.n)]
        row += [proportion(rate, "-", digits=0, interval=False) for rate in rates]
        row += [num(s.search.oracle_mean_length_correct, "-", digits=1), _chance(s)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def budget_table(results: Path) -> str:
    """MCTS vs its random arm at each budget of the budget curve (same samples)."""
    cells = BUDGET_CELLS + [Cell(*BUDGET_TASK, 50)]
    lines = [
        "| simulations | n | shorter: MCTS | shorter: random | fixed: MCTS | fixed: random | chains/sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell, s in sorted(table_rows(results, cells), key=lambda item: item[0].simulations):
        rates = [
            s.search.oracle_shorter,
            s.baseline.oracle_shorter,
            s.search.oracle_fixed,
            s.baseline.oracle_fixed,
        ]
        row = [str(cell.simulations), str(s.n)]
        row += [proportion(rate, "-", digits=0, interval=False) for rate in rates]
        row += [num(s.search.mean_evaluations, "-", digits=1)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def claim_summaries(results: Path) -> dict[str, RunSummary]:
    """The 200-simulation MCTS cells of the main table pooled per :data:`CLAIM_GROUPS` group."""
    summaries = {}
    for group, tasks in CLAIM_GROUPS.items():
        records = [r for cell in MAIN_CELLS if cell.task in tasks for r in cell_records(results, cell)]
        if records:
            summaries[group] = summarize(records)
    return summaries


def claims_table(results: Path) -> str:
    """The paper's two headline claims against the pooled cells, each beside its nulls."""
    lines = [
        "| paper's claim | cells pooled | samples | search: MCTS (oracle) | random, same budget and reach (oracle) "
        "| random, same budget and lengths (oracle) | sampling pass@E | decoy control | chance |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    claims = [
        ("shorter", ">75% of originally correct samples have a shorter correct chain"),
        ("fixed", ">60% of originally wrong samples are fixed by some chain"),
    ]
    summaries = claim_summaries(results)
    for attribute, claim in claims:
        for group, s in summaries.items():
            pick = f"oracle_{attribute}"
            nulls = [getattr(arm, pick) if arm is not None else None for arm in (s.baseline, s.length_null)]
            sampled = s.sampling.fixed if attribute == "fixed" and s.sampling is not None else None
            decoy = getattr(s.decoy, pick) if s.decoy is not None else None
            cells = [getattr(s.search, pick), *nulls, sampled, decoy]
            lines.append(
                f"| {claim} | {group} | {s.n} | "
                + " | ".join(interval_text(c) for c in cells)
                + f" | {_chance(s)} |"
            )
    return "\n".join(lines)


def read_timing(results: Path) -> dict:
    """``timing.json``: CPU and wall seconds per cell, accumulated over every invocation."""
    path = Path(results) / "timing.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def add_timing(results: Path, name: str, wall: float, cpu: float, samples: int) -> None:
    """Add one cell's times to ``timing.json``; locked, because several invocations (one per
    model, on different cores) may finish a cell at the same moment."""
    results = Path(results)
    with open(results / "timing.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        timing = read_timing(results)
        entry = timing.setdefault(name, {"wall_seconds": 0.0, "cpu_seconds": 0.0})
        entry["wall_seconds"] += wall
        entry["cpu_seconds"] += cpu
        entry["samples"] = samples
        atomic_write(results / "timing.json", json.dumps(timing, indent=2, sort_keys=True) + "\n")


def timing_table(results: Path) -> str:
    """CPU time per cell, as ``timing.json`` accumulated it."""
    rows = ["| cell | samples | CPU time | CPU s/sample |", "|---|---|---|---|"]
    timing = read_timing(results)
    for name, entry in sorted(timing.items()):
        per_sample = (
            f"{entry['cpu_seconds'] / entry['samples']:.0f}" if entry["samples"] else "- (none finished)"
        )
        rows.append(f"| {name} | {entry['samples']} | {entry['cpu_seconds'] / 60:.1f} min | {per_sample} |")
    total = sum(entry["cpu_seconds"] for entry in timing.values())
    rows.append(f"| all | {sum(entry['samples'] for entry in timing.values())} | {total / 3600:.2f} h | |")
    return "\n".join(rows)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def grow(results: Path, cell: Cell, target: int, models: dict, concurrent: int) -> None:
    """Search the cell's next samples until it holds ``target`` records (capped by the cell).

    ``models`` caches the loaded model by name (one in memory at a time). A stopped call
    loses at most the chains in flight: the run resumes from its records and journal.
    """
    from cola.engine import ChainModel

    out = Path(results) / cell.name
    goal = min(target, cell.max_samples, cell.max_target or target)
    records = cell_records(results, cell)
    done = len(records)
    incomplete = sum(bool(r.missing_nulls(wanted_nulls(cell.config()))) for r in records)
    if done >= goal and not incomplete:  # a record made before a null existed gets it added
        return
    if cell.model not in models:
        models.clear()
        models[cell.model] = ChainModel.from_pretrained(cell.model)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    nulls = f", nulls added to {incomplete}" if incomplete else ""
    print(f"== {cell.name}: {done} -> {max(goal, done)} samples{nulls}", flush=True)
    try:
        run_search(
            cell.config(),
            out,
            resume=True,
            model=models[cell.model],
            progress=True,
            concurrent_samples=concurrent,
            limit=max(goal - done, 0),
        )
    finally:
        # Also on Ctrl-C / SIGTERM: the CPU spent on the samples that landed (and on the one in
        # flight, journaled for the next run) is part of what the reproduction cost.
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        add_timing(results, cell.name, wall, cpu, len(cell_records(results, cell)))


def blocks(results: Path) -> dict[str, str]:
    """Every generated block of the reproduction's document, by marker name."""
    return {
        "paper-table": main_table(results),
        "paper-claims": claims_table(results),
        "budget-table": budget_table(results),
        "search-analysis": analysis_text(default_runs(results)),
        "paper-timing": timing_table(results),
    }


def block_text(document: str, name: str) -> str | None:
    """The text between ``<!-- name -->`` and ``<!-- /name -->`` in ``document`` (None if absent)."""
    match = re.search(rf"<!-- {name} -->\n(.*?)\n?<!-- /{name} -->", document, re.S)
    return match.group(1) if match else None


def fill_blocks(document: str, bodies: dict[str, str]) -> str:
    """``document`` with each marked block's body replaced; a block missing or doubled is an error."""
    for name, body in bodies.items():
        document, count = re.subn(
            rf"<!-- {name} -->\n.*?<!-- /{name} -->",
            lambda _m, n=name, b=body: f"<!-- {n} -->\n{b}\n<!-- /{n} -->",
            document,
            flags=re.S,
        )
        if count != 1:
            raise ValueError(f"the document has {count} <!-- {name} --> blocks, expected 1")
    return document


def refresh_document(path: Path, results: Path) -> None:
    """Rewrite the marked blocks of the document at ``path`` from the records under ``results``."""
    path = Path(path)
    atomic_write(path, fill_blocks(path.read_text(encoding="utf-8"), blocks(results)))
