"""Is the search better than chance at its own objective? MCTS vs the reach-matched random arm, from records.

For each run directory given (default: every cell under ``results/paper``), the table of
:mod:`cola.report.search_analysis`: on the shortening objective, each arm's share of
originally correct samples with a shorter correct chain, the paired sign test and the
mean best depth, then where each arm spent its budget, the UCB length penalty against the
0/1 reward, and each other strategy against the MCTS run of the same model and task.

    python benchmarks/search_analysis.py                       # every cell under results/paper
    python benchmarks/search_analysis.py results/paper/gemma3-270m-arith
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cola.report.search_analysis import analysis_text, default_runs

RESULTS = Path(__file__).resolve().parents[1] / "results" / "paper"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "runs", nargs="*", type=Path, help="run directories (default: every cell of the reproduction)"
    )
    args = parser.parse_args()
    print(analysis_text(args.runs or default_runs(RESULTS)))


if __name__ == "__main__":
    main()
