"""The README's reproduction tables are what the committed records say: re-derived here, never typed.

``benchmarks/reproduce_paper.py`` writes its run directories under ``results/paper/``; the
README shows its tables in marked blocks (``<!-- paper-table -->`` ... ``<!-- /paper-table -->``,
written by ``reproduce_paper.py --table-only --readme``). These tests recompute both tables from the committed records, and re-derive one
cell with ``cola summary``, so a README number cannot drift from the data behind it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from cola.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"


def readme_block(name: str) -> list[str]:
    """The Markdown table rows between ``<!-- name -->`` and ``<!-- /name -->`` (header rows dropped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name} -->\n(.*?)<!-- /{name} -->", text, re.S)
    assert match, f"README has no {name} block"
    return [line for line in match.group(1).splitlines() if line.startswith("|")][2:]


def benchmark_script(name: str = "reproduce_paper"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_readme_tables_are_recomputed_from_the_committed_records():
    script = benchmark_script()
    main_rows = readme_block("paper-table")
    assert main_rows, "the README's reproduction table is empty"
    assert script.main_table(script.MAIN_CELLS + script.STRATEGY_CELLS).splitlines()[2:] == main_rows
    assert script.budget_table().splitlines()[2:] == readme_block("budget-table")
    assert script.claims_table().splitlines()[2:] == readme_block("paper-claims")
    assert script.timing_table().splitlines()[2:] == readme_block("paper-timing")
    analysis = benchmark_script("search_analysis")
    rows = [
        line for line in analysis.analysis_text(analysis.default_runs()).splitlines() if line.startswith("|")
    ]
    assert rows[2:] == readme_block("search-analysis")


def test_cola_summary_re_derives_a_readme_cell(capsys):
    """The first row's "shorter" cells (MCTS and random) are the fractions ``cola summary`` prints."""
    row = cells(readme_block("paper-table")[0])
    model, task, mcts_shorter, random_shorter = row[0], row[1], row[6], row[7]
    run = PAPER / f"{model}-{task}"
    assert main(["summary", str(run)]) == 0
    out = capsys.readouterr().out
    line = next(
        line for line in out.splitlines() if line.startswith("orig. correct with a shorter correct chain")
    )
    columns = re.split(r"\s{2,}", line.strip())[1:]  # mcts vs gold, mcts vs decoy, baseline vs gold, ...

    def fraction(cell: str) -> str:
        found = re.search(r"\d+/\d+", cell)
        return found.group(0) if found else "-"

    assert fraction(columns[0]) == fraction(mcts_shorter)
    assert fraction(columns[2]) == fraction(random_shorter)
    if fraction(mcts_shorter) == "-":
        pytest.fail("the first README row has no originally correct sample to re-derive")


def test_a_stopped_cell_still_records_its_cpu_time(tmp_path, monkeypatch):
    """A long cell is stopped by Ctrl-C or ``kill`` more often than it finishes; its CPU time must not be lost."""
    script = benchmark_script()
    monkeypatch.setattr(script, "RESULTS", tmp_path)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "run_search", stopped)
    cell = script.MAIN_CELLS[0]
    with pytest.raises(KeyboardInterrupt):
        script.grow(cell, 1, {cell.model: None}, 1)
    timing = script._timing()
    assert timing[cell.name]["samples"] == 0
    assert timing[cell.name]["cpu_seconds"] >= 0 and timing[cell.name]["wall_seconds"] > 0
