"""Reproduce the paper's tables on the embedded models, with the nulls beside them (resumable).

The cells (runs at the paper's protocol, each with its reach-matched random baseline, its
decoy-label control and the chance rate; the budget curve; ``best_first`` on arith) and
the tables are defined in :mod:`cola.report.reproduction`; this script runs the cells and
prints or writes the tables.

Every cell is a normal ``cola search`` run directory under ``results/paper/``. The script
grows each cell in steps (``--target``: samples per cell after this invocation), so a
killed or timed-out invocation loses at most the chains being evaluated (a sample in
flight resumes from its journal, see ``cola.runs.journal``), and a later one
continues where it stopped. CPU and wall time per cell accumulate in ``timing.json``.

    python benchmarks/reproduce_paper.py --target 12              # run / continue every cell to 12 samples
    python benchmarks/reproduce_paper.py --table-only             # the tables from the committed records
    python benchmarks/reproduce_paper.py --table-only --readme    # ... written into results/README.md's blocks
    cola report results/paper/<cell> ... --out results/paper/report   # (the script writes this report too)
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from cola.report import reproduction as paper
from cola.report.render import report

RESULTS = Path(__file__).resolve().parents[1] / "results" / "paper"
DOCUMENT = RESULTS.parent / "README.md"  # results/README.md: the tables and their reading


def _cells(choice: str) -> list[paper.Cell]:
    groups = {
        "all": paper.ALL_CELLS,
        "main": paper.MAIN_CELLS,
        "budget": paper.BUDGET_CELLS,
        "strategy": paper.STRATEGY_CELLS,
        "polar": paper.POLAR_CELLS,
        "direct": paper.DIRECT_CELLS,
    }
    if choice in groups:
        return groups[choice]
    wanted = set(choice.split(","))
    unknown = sorted(wanted - {c.name for c in paper.ALL_CELLS})
    if unknown:
        raise SystemExit(
            f"reproduce_paper: unknown cell {', '.join(unknown)} "
            f"(known: {', '.join(groups)}, {', '.join(c.name for c in paper.ALL_CELLS)})"
        )
    return [c for c in paper.ALL_CELLS if c.name in wanted]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", type=int, default=12, help="samples per cell after this invocation")
    parser.add_argument(
        "--cells",
        default="all",
        help="all, main, budget, strategy, polar, direct, or comma-separated cell names",
    )
    parser.add_argument("--concurrent-samples", type=int, default=4)
    parser.add_argument(
        "--table-only", action="store_true", help="print the tables from the records; run nothing"
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help=f"also write the tables, the search analysis and the CPU time into the blocks of {DOCUMENT.name} "
        "under results/",
    )
    args = parser.parse_args()
    cells = _cells(args.cells)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A plain `kill` ends the run like Ctrl-C does, so the cell's CPU time is still recorded.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not args.table_only:
        models: dict = {}
        for cell in sorted(cells, key=lambda c: (c.model, c.task in ("gsm8k", "math"))):
            paper.grow(RESULTS, cell, args.target, models, args.concurrent_samples)
    print(paper.main_table(RESULTS))
    print()
    print(paper.budget_table(RESULTS))
    print()
    print(paper.claims_table(RESULTS))
    if args.readme:
        paper.refresh_document(DOCUMENT, RESULTS)
        print(f"refreshed {', '.join(paper.blocks(RESULTS))} in {DOCUMENT}")
    done = [RESULTS / c.name for c in paper.ALL_CELLS if (RESULTS / c.name / "records.jsonl").exists()]
    if done and not args.table_only:
        report(done, RESULTS / "report", force=True)  # replaces only the earlier report (its manifest)


if __name__ == "__main__":
    main()
