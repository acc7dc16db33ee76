"""The reproduction's tables are what the committed records say: re-derived here, never typed.

``benchmarks/reproduce_paper.py`` writes its run directories under ``results/paper/``;
``results/README.md`` shows the tables in marked blocks (``<!-- paper-table -->`` ...
``<!-- /paper-table -->``, written by ``reproduce_paper.py --table-only --readme`` through
:mod:`cola.report.reproduction`). These tests recompute every block from the committed
records, re-derive one cell with ``cola summary``, and check that each statement the
prose makes about the tables still holds, so neither a number nor a reading can drift
from the data behind it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cola.cli import main
from cola.report import reproduction as paper
from cola.report.search_analysis import anatomy, default_runs, edit_mix
from cola.report.stats import paired_shortening, search_vs_baseline, shortened, summarize

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"
DOCUMENT = ROOT / "results" / "README.md"


def document_block(name: str) -> str:
    """The text between ``<!-- name -->`` and ``<!-- /name -->`` in ``results/README.md``."""
    body = paper.block_text(DOCUMENT.read_text(encoding="utf-8"), name)
    assert body is not None, f"results/README.md has no {name} block"
    return body


def table_rows(name: str) -> list[str]:
    """The Markdown table rows of a block (header rows dropped)."""
    return [line for line in document_block(name).splitlines() if line.startswith("|")][2:]


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_results_tables_are_recomputed_from_the_committed_records():
    main_rows = table_rows("paper-table")
    assert main_rows, "the reproduction table is empty"
    assert paper.main_table(PAPER).splitlines()[2:] == main_rows
    assert paper.budget_table(PAPER).splitlines()[2:] == table_rows("budget-table")
    assert paper.claims_table(PAPER).splitlines()[2:] == table_rows("paper-claims")
    assert paper.timing_table(PAPER).splitlines()[2:] == table_rows("paper-timing")
    analysis = paper.blocks(PAPER)["search-analysis"]
    rows = [line for line in analysis.splitlines() if line.startswith("|")]
    assert rows[2:] == table_rows("search-analysis")
    # Every block whole, its generated sentences (penalty scale, edit mix) included.
    for name, body in paper.blocks(PAPER).items():
        assert document_block(name).strip() == body.strip(), f"block {name} differs from the records"


def test_cola_summary_re_derives_a_results_cell(capsys):
    """The first row's "shorter" cells (MCTS and random) are the fractions ``cola summary`` prints."""
    row = cells(table_rows("paper-table")[0])
    model, task, mcts_shorter, random_shorter = row[0], row[1], row[6], row[7]
    run = PAPER / f"{model}-{task}"
    assert main(["summary", str(run)]) == 0
    out = capsys.readouterr().out

    def shorter(arm: str) -> str:  # the "orig. correct: shorter" cell of an arm's gold row
        line = next(line for line in out.splitlines() if line.startswith(arm) and "  gold  " in line)
        return re.split(r"\s{2,}", line.strip())[3]

    def fraction(cell: str) -> str:
        found = re.search(r"\d+/\d+", cell)
        return found.group(0) if found else "-"

    assert fraction(shorter("mcts (search)")) == fraction(mcts_shorter)
    assert fraction(shorter("random_matched (reach-matched null)")) == fraction(random_shorter)
    if fraction(mcts_shorter) == "-":
        pytest.fail("the first row has no originally correct sample to re-derive")


def test_the_prose_readings_hold_on_the_committed_records():
    """Each qualitative statement of results/README.md, checked; a failure means the prose needs rewriting."""
    claims = paper.claim_summaries(PAPER)
    mc, free = claims["multiple choice (ARC-E, ARC-C)"], claims["free-form (arith, GSM8K, MATH)"]
    # "On multiple choice MCTS stays below the paper's 75% ... passes the 60% bar".
    assert mc.search.oracle_shorter.value < 0.75 and mc.search.oracle_fixed.value > 0.60
    # "... and so does the decoy control; the chance rate is essentially certain".
    assert mc.decoy.oracle_fixed.value > 0.60 and mc.chance > 0.99
    # "In every pooled row the reach-matched random search does at least as well as MCTS".
    for s in (mc, free):
        for attribute in ("oracle_shorter", "oracle_fixed"):
            assert getattr(s.baseline, attribute).successes >= getattr(s.search, attribute).successes
    # "On free-form tasks the shorter-chain claim is not reproduced: the whole interval lies below 75%;
    # the fix rate stays below 60%".
    assert free.search.oracle_shorter.high < 0.75 and free.search.oracle_fixed.value < 0.60
    # "At no budget is MCTS more than one sample ahead of its random arm; in the pooled pairs it is not ahead".
    for _cell, s in paper.table_rows(PAPER, paper.BUDGET_CELLS + [paper.Cell(*paper.BUDGET_TASK, 50)]):
        assert s.search.oracle_shorter.successes - s.baseline.oracle_shorter.successes <= 1
    pooled = [r for cell in paper.MAIN_CELLS for r in paper.cell_records(PAPER, cell)]
    pairs = search_vs_baseline(pooled)
    assert pairs.only_a <= pairs.only_b and pairs.p > 0.05
    # "MCTS evaluates a larger share of shorter chains than random and cuts deeper, but both arms spend
    # most of their chains on chains longer than the model; most legal edits are repeats".
    mcts, rand = anatomy(pooled, "search"), anatomy(pooled, "baseline")
    assert mcts["shorter"] > rand["shorter"] and mcts["shortfall"] > rand["shortfall"]
    assert mcts["longer"] > 0.5 and rand["longer"] > 0.5
    assert all(int(share) > 50 for share in re.findall(r"\((\d+)%\)", edit_mix([18, 30])))
    # "best_first shortens more samples than MCTS and its random arm, significantly when pooled; its decoy
    # arm's shorter rate is as high as its gold one; it fixes no more than its random arm".
    wins, fixed, fixed_random = [], 0, 0
    for cell in paper.STRATEGY_CELLS:
        mcts_records = {
            r.sample_id: r for r in paper.cell_records(PAPER, paper.Cell(cell.model, cell.task, 50))
        }
        records = paper.cell_records(PAPER, cell)
        wins += [
            (shortened(r, r.search), shortened(mcts_records[r.sample_id], mcts_records[r.sample_id].search))
            for r in records
            if r.original.correct and r.sample_id in mcts_records
        ]
        s = summarize(records)
        assert s.decoy.oracle_shorter.value >= s.search.oracle_shorter.value
        fixed += s.search.oracle_fixed.successes
        fixed_random += s.baseline.oracle_fixed.successes
    versus = paired_shortening(wins)
    assert versus.only_a > versus.only_b and versus.p < 0.05 and versus.depth_a < versus.depth_b
    assert fixed <= fixed_random
    # "The length-matched arm shortens most of the same samples too; pooled, best_first is not significantly
    # ahead of it, but cuts deeper; nor is MCTS ahead of its length-matched arm in the pooled pairs".
    for cells, ahead in ((paper.STRATEGY_CELLS, None), (paper.MAIN_CELLS, False)):
        records = [r for cell in cells for r in paper.cell_records(PAPER, cell) if r.length_null is not None]
        pairs = paired_shortening(
            [(shortened(r, r.search), shortened(r, r.length_null)) for r in records if r.original.correct]
        )
        assert pairs.n > 0 and pairs.p > 0.05
        if ahead is None:  # best_first
            assert pairs.b.value > 0.5 and pairs.depth_a < pairs.depth_b
        else:
            assert pairs.only_a <= pairs.only_b
    assert default_runs(PAPER), "no committed cells"


def test_a_stopped_cell_still_records_its_cpu_time(tmp_path, monkeypatch):
    """A long cell is stopped by Ctrl-C or ``kill`` more often than it finishes; its CPU time must not be lost."""

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(paper, "run_search", stopped)
    cell = paper.MAIN_CELLS[0]
    with pytest.raises(KeyboardInterrupt):
        paper.grow(tmp_path, cell, 1, {cell.model: None}, 1)
    timing = paper.read_timing(tmp_path)
    assert timing[cell.name]["samples"] == 0
    assert timing[cell.name]["cpu_seconds"] >= 0 and timing[cell.name]["wall_seconds"] > 0


def test_blocks_are_filled_whole_and_a_missing_block_is_refused():
    document = "intro\n<!-- a -->\nold\n<!-- /a -->\nend\n"
    assert paper.fill_blocks(document, {"a": "new"}) == "intro\n<!-- a -->\nnew\n<!-- /a -->\nend\n"
    assert paper.block_text(paper.fill_blocks(document, {"a": "x\ny"}), "a") == "x\ny"
    with pytest.raises(ValueError, match="0 <!-- b --> blocks"):
        paper.fill_blocks(document, {"b": "new"})
