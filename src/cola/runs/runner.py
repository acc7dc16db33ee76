"""The main job: run a chain search on every sample of a benchmark, resumably.

For each sample the runner evaluates the full model (the *original* answer), runs the
configured strategy (MCTS by default) and, unless disabled, a random-search baseline with
the same number of distinct chain evaluations. Each sample's :class:`SampleRecord` is
appended atomically to the run directory as soon as it is done, so a run killed at any
point resumes without losing or duplicating samples. Per-sample seeds derive from the run
seed and the sample id, so results do not depend on order (local, resumed or Ray runs).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from cola.engine.chain import full_chain
from cola.evaluation.batching import search_together
from cola.evaluation.limits import check_prompts_fit
from cola.evaluation.scorer import ChainScorer
from cola.runs.config import RunConfig, load_samples, sample_seed
from cola.runs.records import SampleRecord
from cola.search import get_strategy


def search_sample(scorer: ChainScorer, sample, config: RunConfig, evaluator=None) -> SampleRecord:
    """Original answer, main search and same-budget random baseline for one sample.

    ``evaluator``: the sample's evaluator when the caller made it (e.g. one that batches
    its evaluations with other samples'); by default a fresh one.
    """
    task = scorer.task
    evaluator = evaluator or scorer.for_sample(sample)
    num_layers = scorer.model.num_layers
    original = evaluator.evaluate([full_chain(num_layers)])[0]
    search_config = dataclasses.replace(config.search, seed=sample_seed(config.seed, sample.id))
    start = time.perf_counter()
    outcome = get_strategy(search_config.strategy)(evaluator, num_layers, search_config, original)
    outcome.seconds = time.perf_counter() - start
    baseline = None
    if config.baseline:
        budget = len(outcome.evaluations)
        baseline_config = dataclasses.replace(search_config, strategy="random", simulations=budget)
        start = time.perf_counter()
        baseline = get_strategy("random")(evaluator, num_layers, baseline_config, original)
        baseline.seconds = time.perf_counter() - start
    return SampleRecord(
        sample_id=sample.id,
        task=task.name,
        gold=sample.gold,
        num_layers=num_layers,
        original=original,
        search=outcome,
        baseline=baseline,
        num_choices=task.num_choices(sample),
        meta=dict(sample.meta),
    )


def run_search(
    config: RunConfig,
    out_dir: str | Path,
    resume: bool = False,
    model=None,
    progress: bool = True,
    on_record: Callable[[SampleRecord], None] | None = None,
    concurrent_samples: int = 1,
) -> list[SampleRecord]:
    """Search every sample not yet in ``out_dir``; returns all records of the run.

    ``concurrent_samples > 1`` searches that many samples at once so their candidate
    chains share model passes (:mod:`cola.evaluation.batching`); records are appended as samples
    finish, so their order in the run file may differ from the dataset order.
    """
    from cola.runs.store import RunStore

    config.validate()
    task, samples = load_samples(config)  # bad settings or data fail before anything is written
    with RunStore(out_dir).open(config.to_json(), resume=resume) as store:  # one writer at a time
        return _search_missing(store, config, task, samples, model, progress, on_record, concurrent_samples)


def _search_missing(store, config: RunConfig, task, samples, model, progress, on_record,
                    concurrent_samples: int) -> list[SampleRecord]:
    """Search the samples ``store`` does not hold yet; the caller holds the run's lock."""
    done = store.done_ids()
    todo = [s for s in samples if s.id not in done]
    if todo:
        if model is None:
            from cola.engine.model import ChainModel

            model = ChainModel.from_pretrained(config.model, dtype=config.dtype)
        scorer = ChainScorer(model, task, config.eval)
        check_prompts_fit(scorer, todo)
        records = search_together(scorer, todo, lambda ev: search_sample(scorer, ev.sample, config, ev),
                                  concurrent_samples)
        for record in _progress((r for _, r in records), len(samples), len(done), scorer, progress):
            store.append(record)
            if on_record is not None:
                on_record(record)
    return store.load_records()


def _progress(records: Iterable[SampleRecord], total, already, scorer, enabled) -> Iterable[SampleRecord]:
    """Yield records while showing samples done, chain evaluations per second and ETA."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=already, unit="sample", disable=not enabled, dynamic_ncols=True)
    try:
        for record in records:
            stats = scorer.stats
            rate = stats.chains / stats.seconds if stats.seconds else 0.0
            bar.set_postfix_str(f"{rate:.1f} evals/s")
            bar.update(1)
            yield record
    finally:
        bar.close()
