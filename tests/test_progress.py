"""``cola search``'s bar counts chains across arms (with samples done beside it), on a real SmolLM2 run."""

from __future__ import annotations

import re

import pytest

from cola.cli import main
from cola.runs import RunConfig, run_search
from cola.runs.progress import chain_budget
from cola.search import SearchConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _last_bar(err: str) -> str:
    """The bar as tqdm last drew it (redraws are separated by carriage returns)."""
    return [part for part in re.split(r"[\r\n]", err) if "chain" in part][-1]


def test_the_bar_counts_chains_to_the_chain_budget_and_samples_beside_it(smollm, tmp_path, capsys):
    config = RunConfig(task="arith", samples=2, decoy=False, search=SearchConfig(simulations=3, batch_size=2))
    budget = chain_budget(config)
    # the full model, then 3 chains each for the search, its baseline and its length-matched null
    assert budget == 1 + 3 * 3
    run_search(config, tmp_path / "run", model=smollm, progress=True, concurrent_samples=2)
    bar = _last_bar(capsys.readouterr().err)
    assert f"{2 * budget}/{2 * budget}" in bar and "2/2 samples" in bar, bar
    assert "chain/s" in bar or "s/chain" in bar, bar  # a rate (and so an ETA) in chains, not samples

    # a resumed run starts where the first one stopped: the done samples' budgets are full
    run_search(
        RunConfig(task="arith", samples=3, decoy=False, search=config.search),
        tmp_path / "run-3",
        model=smollm,
        progress=True,
        limit=1,
    )
    capsys.readouterr()
    run_search(
        RunConfig(task="arith", samples=3, decoy=False, search=config.search),
        tmp_path / "run-3",
        resume=True,
        model=smollm,
        progress=True,
        limit=1,
    )
    bar = _last_bar(capsys.readouterr().err)
    assert f"{2 * budget}/{2 * budget}" in bar and "2/2 samples" in bar, bar


def test_quiet_stays_quiet(smollm, tmp_path, monkeypatch, capsys):
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))
    args = [
        "search",
        "--task",
        "arith",
        "--samples",
        "1",
        "--simulations",
        "2",
        "--no-decoy",
        "--no-baseline",
    ]
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "chain" not in capsys.readouterr().err
