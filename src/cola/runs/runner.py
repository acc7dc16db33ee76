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

from cola.engine.chain import Chain
from cola.errors import RunConfigError
from cola.evaluation.batching import search_together
from cola.evaluation.decoy import DecoyTarget, choose_decoy
from cola.evaluation.limits import check_prompts_fit
from cola.evaluation.recheck import naive_scorer, recheck_sample
from cola.evaluation.sampling import sample_full_model
from cola.evaluation.scorer import ChainScorer
from cola.runs.config import RunConfig, decoy_seed, load_samples, sample_seed
from cola.runs.journal import SampleJournal, remove_stale
from cola.runs.menu import load_menu, menu_outcome
from cola.runs.preflight import check_search, model_depth
from cola.runs.progress import ChainProgress, chain_budget
from cola.runs.records import NULL_ARMS, OUTCOME_ARMS, SampleRecord
from cola.search import SearchOutcome, get_strategy
from cola.search.random_length import chain_shape


def search_sample(
    scorer: ChainScorer,
    sample,
    config: RunConfig,
    evaluator=None,
    pool: Sequence[str] = (),
    share_arms: bool = True,
    existing: SampleRecord | None = None,
    menu: Sequence[Chain] = (),
) -> SampleRecord:
    """Every arm of one sample: the original answer, the main search, its random baseline, its decoy
    control, then the label-free nulls (length-matched random, sampling pass@E, the fixed ``menu``).

    The arms share the sample's evaluator (its memo and prefix trie), so a chain any arm asks
    for is computed once; ``share_arms=False`` gives the baseline and the decoy control fresh
    evaluators (same records, no sharing). ``pool``: the run's gold answers, from which decoy
    labels are drawn. ``evaluator``: the sample's, when the caller made one (batching), else fresh.
    ``existing``: a record made without some null the config asks for; its arms are kept and
    only the missing nulls are computed (each null is seeded by the sample alone, so it is
    what the original run would have recorded).
    """
    evaluator, original = _ready(evaluator or scorer.for_sample(sample), scorer.task, sample, config, pool)
    if existing is None:
        record = _main_arms(scorer, sample, config, (evaluator, original), pool, share_arms)
    else:
        evaluator.preload(
            [e for name in OUTCOME_ARMS if (o := existing.outcome(name)) for e in o.evaluations]
        )
        record = existing
    _add_nulls(record, config, evaluator, original, menu)
    return record


def _main_arms(
    scorer: ChainScorer, sample, config: RunConfig, shared, pool, share_arms: bool
) -> SampleRecord:
    """The record of the label-guided arms: the search, its random baseline and its decoy control."""
    task = scorer.task
    evaluator, original = shared

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


def wanted_nulls(config: RunConfig) -> tuple[str, ...]:
    """The null arms ``config`` asks for (:data:`cola.runs.records.NULL_ARMS`)."""
    on = {
        "length_null": config.length_null,
        "sampling": config.sampling,
        "menu": config.menu_from is not None,
    }
    return tuple(name for name in NULL_ARMS if on[name])


def _add_nulls(record: SampleRecord, config: RunConfig, evaluator, original, menu: Sequence[Chain]) -> None:
    """Compute each null ``config`` asks for that ``record`` lacks (see :func:`search_sample`)."""
    missing = record.missing_nulls(wanted_nulls(config))
    budget = len(record.search.evaluations)  # E: the distinct chains the main search evaluated
    if "length_null" in missing:
        shapes = tuple(chain_shape(e.chain, record.num_layers) for e in record.search.evaluations)
        null_config = dataclasses.replace(
            config.search,
            strategy="random_length",
            simulations=budget,
            seed=sample_seed(config.seed, f"length:{record.sample_id}"),
            match_shapes=shapes,
        )
        record.length_null = _timed("random_length", evaluator, record.num_layers, null_config, original)
    if "sampling" in missing:
        seed = sample_seed(config.seed, f"sampling:{record.sample_id}")
        record.sampling = sample_full_model(
            evaluator, budget, config.sampling_temperature, config.sampling_top_p, seed
        )
    if "menu" in missing and menu:
        record.menu = menu_outcome(evaluator, menu)


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
    check_search(config, out_dir, resume)
    if model is None:
        from cola.engine.loading import check_model_source

        check_model_source(config.model)  # a --model that is no model: one line, nothing written
    ids = [s.id for s in samples]
    menu = _menu(config, ids, model)
    loading = {"device": device, "self_check": self_check}
    with RunStore(out_dir).open(config.to_json(), resume=resume, sample_ids=ids) as store:  # one writer
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
            {"loading": loading, "recheck": recheck, "menu": menu},
        )


def _menu(config: RunConfig, sample_ids: list[str], model) -> list[Chain]:
    """The fixed menu's chains when the config names a train run (checked against this run's samples)."""
    if config.menu_from is None:
        return []
    depth = model.num_layers if model is not None else model_depth(config.model)
    return load_menu(config.menu_from, sample_ids, depth)


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
    options: dict,
) -> list[SampleRecord]:
    """Search the samples ``store`` does not hold yet, and add missing nulls to those it does.

    The caller holds the run's lock. ``options``: ``loading`` (how the model loads),
    ``recheck`` (chains re-checked naively per sample) and ``menu`` (the fixed menu's chains).
    """
    stored = {r.sample_id: r for r in store.load_records()}
    wanted = wanted_nulls(config)
    remaining = [s for s in samples if s.id not in stored]
    incomplete = [s for s in samples if s.id in stored and stored[s.id].missing_nulls(wanted)]
    if "menu" in wanted and not options["menu"]:  # a train run with no correct chain has an empty menu
        incomplete = [s for s in incomplete if stored[s.id].missing_nulls(wanted) != ["menu"]]
    # Journals of samples that are done (a record with every null asked for) are never replayed.
    remove_stale(store.path, [s.id for s in remaining + incomplete])
    todo = incomplete + remaining[:limit]
    if todo:
        if model is None:
            from cola.engine.model import ChainModel

            model = ChainModel.from_pretrained(config.model, dtype=config.dtype, **options["loading"])
        _search_todo(
            store,
            config,
            task,
            samples,
            todo,
            stored,
            model,
            progress,
            on_record,
            concurrent_samples,
            options,
        )
    return store.load_records()


def _search_todo(store, config, task, samples, todo, stored, model, progress, on_record, concurrent, options):
    """Search (or complete) every sample of ``todo``, storing each record as it finishes."""
    scorer = ChainScorer(model, task, config.eval)
    check_prompts_fit(scorer, todo)
    pool = [s.gold for s in samples]
    journal_config = config.to_json()
    done = len(stored) - sum(s.id in stored for s in todo)
    bar = ChainProgress(done + len(todo), done, chain_budget(config), progress)

    def search_journaled(evaluator) -> SampleRecord:
        replayed = SampleJournal(store.path, evaluator.sample.id, journal_config).attach(evaluator)
        SampleJournal.say_replayed(evaluator.sample.id, replayed)
        bar.track(evaluator)
        existing = stored.get(evaluator.sample.id)
        return search_sample(
            scorer, evaluator.sample, config, evaluator, pool, existing=existing, menu=options["menu"]
        )

    records = search_together(scorer, todo, search_journaled, concurrent)
    naive = naive_scorer(scorer) if options["recheck"] > 0 else None
    try:
        for index, record in records:
            if record.sample_id in stored:
                store.replace(record)
            else:
                if naive is not None:  # here, in the thread that owns the model
                    _recheck(naive, todo[index], record, options["recheck"], config.seed)
                store.append(record)
            SampleJournal(store.path, record.sample_id, journal_config).discard()
            bar.sample_done(record.sample_id)
            if on_record is not None:
                on_record(record)
    finally:
        bar.close()


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
