"""The fixed-menu null: a train run's most frequent correct chains, applied unchanged to every sample.

The oracle picks, per sample, a chain the gold label calls correct; nothing label-free
can do that. The fixed menu is its label-free-selectable counterpart (Re-PoLar's
"fixed menu of frequent programs"): rank every chain the *main search* of a finished
run on other samples (a train split) evaluated by the number of those samples it
answered correctly, keep the first :data:`MENU_SIZE`, and run that same list on every
sample of this run. "Some chain of the top K is right" (K in :data:`MENU_KS`) is then a
pass@K that needs no per-sample search, and the top-1 chain's accuracy is what a single
fixed chain achieves; if a router's chosen chain does no better, it has learned the menu.

Ties rank shorter chains first, then fewer distinct layers, then the chain itself, so
the menu is a function of the train run's records alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cola.engine.chain import Chain, distinct_layers
from cola.errors import ColaError
from cola.runs.records import SampleRecord
from cola.search.base import SearchOutcome, best_chain

MENU_SIZE = 100
MENU_KS = (1, 5, 20, 100)


def menu_chains(records: Sequence[SampleRecord], size: int = MENU_SIZE) -> list[Chain]:
    """The ``size`` chains correct on the most of ``records``' samples (main search and original)."""
    wins: Counter[Chain] = Counter()
    for record in records:
        correct = {tuple(e.chain) for e in [record.original, *record.search.evaluations] if e.correct}
        wins.update(correct)
    ranked = sorted(wins, key=lambda c: (-wins[c], len(c), distinct_layers(c), c))
    return ranked[:size]


def load_menu(run_dir: str | Path, sample_ids: Sequence[str], num_layers: int | None = None) -> list[Chain]:
    """The menu of the finished run in ``run_dir``, refused in one line if it shares a sample with this run."""
    from cola.runs.saved import check_layout, checked_config_json
    from cola.runs.store import RunStore

    if not Path(run_dir).is_dir() or checked_config_json(run_dir) is None:
        raise ColaError(f"menu run {run_dir}: not a search run directory (no config.json)")
    check_layout(run_dir)
    records = RunStore(run_dir).load_records()
    if not records:
        raise ColaError(f"menu run {run_dir}: the run has no records to build a menu from")
    shared = sorted({r.sample_id for r in records} & set(sample_ids))
    if shared:
        raise ColaError(
            f"menu run {run_dir}: the run shares {len(shared)} samples with this one (e.g. {shared[0]!r}); "
            "a menu must come from other samples, such as the train split"
        )
    depths = {r.num_layers for r in records}
    if num_layers is not None and depths != {num_layers}:
        raise ColaError(
            f"menu run {run_dir}: its chains are for {sorted(depths)} layers, this model has {num_layers}"
        )
    return menu_chains(records)


def menu_outcome(evaluator, menu: Sequence[Chain]) -> SearchOutcome:
    """Every menu chain evaluated on ``evaluator``'s sample, in menu order (one batched call)."""
    evaluations = list(evaluator.evaluate(list(menu))) if menu else []
    return SearchOutcome(
        strategy="fixed_menu",
        evaluations=evaluations,
        simulations=len(evaluations),
        best_chain=best_chain(evaluations),
    )


def with_menu(
    run_dir: str | Path, menu_run: str | Path, device: str | None = "auto", model=None
) -> list[SampleRecord]:
    """The run's records, each with the fixed menu of ``menu_run`` evaluated on its sample; writes nothing.

    For ``cola summary --menu-from`` on a run searched without one: the model (``model``,
    or loaded as the run's config says) evaluates every menu chain on every sample.
    """
    from cola.engine.model import ChainModel
    from cola.evaluation.scorer import ChainScorer
    from cola.runs.config import load_samples
    from cola.runs.saved import load_run_config
    from cola.runs.store import RunStore

    config = load_run_config(run_dir)
    records = RunStore(run_dir).load_records()
    task, samples = load_samples(config)
    by_id = {s.id: s for s in samples}
    missing = [r.sample_id for r in records if r.sample_id not in by_id]
    if missing:
        raise ColaError(
            f"{run_dir}: its config no longer loads sample {missing[0]!r}; cannot evaluate a menu"
        )
    if model is None:
        model = ChainModel.from_pretrained(config.model, dtype=config.dtype, device=device)
    menu = load_menu(menu_run, list(by_id), model.num_layers)
    scorer = ChainScorer(model, task, config.eval)
    for record in records:
        record.menu = menu_outcome(scorer.for_sample(by_id[record.sample_id]), menu)
    return records
