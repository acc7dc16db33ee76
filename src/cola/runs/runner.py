"""The main job: run a chain search on every sample of a benchmark, resumably.

For each sample the runner evaluates the full model (the *original* answer), runs the
configured strategy (MCTS by default) and, unless disabled, a random baseline with the
same number of distinct chains and the same reach (edit counts), and the same search
rewarded against a decoy label (:mod:`cola.evaluation.decoy`). Each sample's :class:`SampleRecord` is
appended atomically to the run directory as soon as it is done, so a run killed at any
point resumes without losing or duplicating samples; the chains of a sample still in
flight are journaled (:mod:`cola.runs.journal`), so a resumed run replays them instead of
computing them again. Per-sample seeds derive from the run
seed and the sample id, so results do not depend on order (local, resumed or Ray runs).
The progress bar counts the chains every arm evaluates (:mod:`cola.runs.progress`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cola.errors import RunConfigError
from cola.evaluation.batching import search_together
from cola.evaluation.decoy import DecoyTarget, choose_decoy
from cola.evaluation.limits import check_prompts_fit
from cola.evaluation.recheck import naive_scorer, recheck_sample
from cola.evaluation.scorer import ChainScorer
from cola.runs.config import RunConfig, decoy_seed, load_samples, sample_seed
from cola.runs.journal import SampleJournal, remove_stale
from cola.runs.progress import ChainProgress, chain_budget
from cola.runs.records import SampleRecord
from cola.search import SearchOutcome, get_strategy


def search_sample(
    scorer: ChainScorer,
    sample,
    config: RunConfig,
    evaluator=None,
    pool: Sequence[str] = (),
    share_arms: bool = True,
) -> SampleRecord:
    """Every arm of one sample: the original answer, the main search, its random baseline and its decoy control.

    The arms share the sample's evaluator (its memo and prefix trie), so a chain any arm asks
    for is computed once; ``share_arms=False`` gives the baseline and the decoy control fresh
    evaluators (same records, no sharing). ``pool``: the run's gold answers, from which decoy
    labels are drawn. ``evaluator``: the sample's, when the caller made one (batching), else fresh.
    """
    task = scorer.task
    evaluator, original = _ready(evaluator or scorer.for_sample(sample), task, sample, config, pool)
    shared = (evaluator, original)

    def arm():  # what the baseline and the decoy control run on
        return shared if share_arms else _ready(scorer.for_sample(sample), task, sample, config, pool)

    num_layers = scorer.model.num_layers
    search_config = dataclasses.replace(config.search, seed=sample_seed(config.seed, sample.id))
    outcome = _timed(config.search.strategy, evaluator, num_layers, search_config, original)
    baseline = _baseline(config, search_config, outcome, num_layers, *arm()) if config.baseline else None
    decoy_search = None
    if config.decoy and evaluator.decoy is not None:
        decoy_evaluator, decoy_original = arm()
        decoy_search = _timed(
            config.search.strategy,
            DecoyTarget(decoy_evaluator),
            num_layers,
            search_config,
            decoy_original.swapped(),
        )
        decoy_search.evaluations = [e.swapped() for e in decoy_search.evaluations]
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
        decoy=evaluator.decoy,
        decoy_search=decoy_search,
    )


def _ready(evaluator, task, sample, config: RunConfig, pool: Sequence[str]):
    """``evaluator`` with the sample's decoy label set, and the original answer graded against both labels."""
    original = evaluator.original()
    evaluator.set_decoy(choose_decoy(task, sample, original, pool, decoy_seed(config.seed, sample.id)))
    return evaluator, evaluator.original()  # now graded against the decoy too


def _baseline(config: RunConfig, search_config, outcome: SearchOutcome, num_layers: int, evaluator, original):
    """The random baseline with the search's budget (its distinct chains) and reach (its edit counts)."""
    baseline_config = dataclasses.replace(
        search_config,
        strategy=config.baseline_strategy,
        simulations=len(outcome.evaluations),
        match_edits=tuple(outcome.edits or ()),
    )
    return _timed(config.baseline_strategy, evaluator, num_layers, baseline_config, original)


def _timed(strategy: str, evaluator, num_layers: int, config, original) -> SearchOutcome:
    start = time.perf_counter()
    outcome = get_strategy(strategy)(evaluator, num_layers, config, original)
    outcome.seconds = time.perf_counter() - start
    return outcome


def run_search(
    config: RunConfig,
    out_dir: str | Path,
    resume: bool = False,
    model=None,
    progress: bool = True,
    on_record: Callable[[SampleRecord], None] | None = None,
    concurrent_samples: int = 1,
    limit: int | None = None,
    device: str | None = "auto",
    self_check: bool = True,
    recheck: int = 0,
) -> list[SampleRecord]:
    """Search every sample not yet in ``out_dir``; returns all records of the run.

    ``concurrent_samples > 1`` searches that many samples at once so their candidate
    chains share model passes (:mod:`cola.evaluation.batching`); records are appended as samples
    finish, so their order in the run file may differ from the dataset order. ``limit``
    searches at most that many of the samples not done yet (the first ones in dataset
    order), so a long run can grow in steps.
    ``device`` and ``self_check`` say how the model loads (not part of the run's identity;
    ``config.dtype`` is, and ``auto`` is saved as the dtype it resolves to). ``recheck > 0``
    re-evaluates that many chains per sample naively (:mod:`cola.evaluation.recheck`).
    """
    from cola.runs.store import RunStore

    config = _with_concrete_dtype(config, model, device)
    config.validate()
    task, samples = load_samples(config)  # bad settings or data fail before anything is written
    if model is None:
        from cola.engine.loading import check_model_source

        check_model_source(config.model)  # a --model that is no model: one line, nothing written
    loading = {"device": device, "self_check": self_check}
    with RunStore(out_dir).open(config.to_json(), resume=resume) as store:  # one writer at a time
        return _search_missing(
            store,
            config,
            task,
            samples,
            model,
            progress,
            on_record,
            concurrent_samples,
            limit,
            loading,
            recheck,
        )


def _search_missing(
    store,
    config: RunConfig,
    task,
    samples,
    model,
    progress,
    on_record,
    concurrent_samples: int,
    limit: int | None,
    loading: dict,
    recheck: int,
) -> list[SampleRecord]:
    """Search the samples ``store`` does not hold yet; the caller holds the run's lock."""
    done = store.done_ids()
    remaining = [s for s in samples if s.id not in done]
    remove_stale(store.path, [s.id for s in remaining])  # journals of samples with a record: never replayed
    todo = remaining[:limit]
    if todo:
        if model is None:
            from cola.engine.model import ChainModel

            model = ChainModel.from_pretrained(config.model, dtype=config.dtype, **loading)
        scorer = ChainScorer(model, task, config.eval)
        check_prompts_fit(scorer, todo)
        pool = [s.gold for s in samples]
        journal_config = config.to_json()
        bar = ChainProgress(len(done) + len(todo), len(done), chain_budget(config), progress)

        def search_journaled(evaluator) -> SampleRecord:
            replayed = SampleJournal(store.path, evaluator.sample.id, journal_config).attach(evaluator)
            SampleJournal.say_replayed(evaluator.sample.id, replayed)
            bar.track(evaluator)
            return search_sample(scorer, evaluator.sample, config, evaluator, pool)

        records = search_together(scorer, todo, search_journaled, concurrent_samples)
        naive = naive_scorer(scorer) if recheck > 0 else None
        try:
            for index, record in records:
                if naive is not None:  # here, in the thread that owns the model
                    _recheck(naive, todo[index], record, recheck, config.seed)
                store.append(record)
                SampleJournal(store.path, record.sample_id, journal_config).discard()
                bar.sample_done(record.sample_id)
                if on_record is not None:
                    on_record(record)
        finally:
            bar.close()
    return store.load_records()


def _with_concrete_dtype(config: RunConfig, model, device: str | None) -> RunConfig:
    """The config with ``dtype`` resolved (``auto`` -> what it means here), checked against a given model."""
    from cola.engine.placement import concrete_dtype, dtype_name

    dtype = dtype_name(model.dtype) if model is not None and config.dtype == "auto" else config.dtype
    config = dataclasses.replace(config, dtype=concrete_dtype(dtype, device))
    if model is not None and dtype_name(model.dtype) != config.dtype:
        raise RunConfigError(
            f"the run's dtype is {config.dtype} but the given model is in {dtype_name(model.dtype)}"
        )
    return config


def _recheck(naive: ChainScorer, sample, record: SampleRecord, count: int, run_seed: int) -> None:
    """Re-evaluate ``count`` of the record's chains through the naive path (seeded by the sample)."""
    tried = [
        record.original,
        *record.search.evaluations,
        *(record.baseline.evaluations if record.baseline else []),
    ]
    record.recheck = recheck_sample(naive, sample, tried, count, sample_seed(run_seed, record.sample_id))
