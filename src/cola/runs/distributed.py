"""Searching a run's samples on a Ray cluster: same run directory, same records as a local run.

:func:`run_search_ray` hands samples to Ray actors (one per GPU when the cluster has
GPUs, else ``workers`` CPU actors). Each actor builds its :class:`ChainModel` and
:class:`ChainScorer` once, then searches one sample per call with
:func:`cola.runs.runner.search_sample`; per-sample seeds come from the run seed and the
sample id, so a record does not depend on which actor made it or when.

Only the driver writes records: it appends each to the run directory through
:class:`cola.runs.store.RunStore` as soon as it arrives (unordered, ``ray.wait``), so a
Ray run resumes locally and vice versa. An actor that sees the run directory (same
machine or a shared filesystem) journals the chains of the sample it is searching
(:mod:`cola.runs.journal`), so a sample resubmitted after its actor died, or resumed after
the run was stopped, replays them instead of computing them again; the driver deletes a
sample's journal once its record is appended. An actor that dies (``RayActorError``) is
replaced and its sample resubmitted; a sample whose call raises is retried too, up to
``max_retries`` times. Nothing here imports Ray at module import time.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from cola.errors import ColaError, ColaWarning, UsageError
from cola.runs.records import SampleRecord

# Test hook: "SAMPLE_ID:MARKER_PATH" makes the first actor to search SAMPLE_ID exit hard
# (os._exit) in the middle of the sample, after its second journaled model pass (at its first
# pass when it does not journal), unless MARKER_PATH exists; it creates the marker first, so
# the retry succeeds.
CRASH_AFTER_PASSES = 2
CRASH_ONCE_ENV = "COLA_RAY_TEST_CRASH_ONCE"


class SearchWorker:
    """The body of a Ray actor: one model, one scorer, many samples."""

    def __init__(
        self,
        config_json: dict[str, Any],
        device: str | None = None,
        crash_once: str | None = None,
        run_dir: str | None = None,
    ):
        from cola.engine.model import ChainModel
        from cola.evaluation.scorer import ChainScorer
        from cola.runs.config import RunConfig, load_samples
        from cola.runs.journal import SampleJournal

        self.config = RunConfig.from_json(config_json)
        self.config_json = config_json
        self.crash_once = crash_once
        reachable = run_dir is not None and SampleJournal.reachable(run_dir, config_json)
        self.journal_dir = run_dir if reachable else None
        task, samples = load_samples(self.config)
        self.pool = [s.gold for s in samples]  # decoy labels are drawn from the run's answers, as locally
        model = ChainModel.from_pretrained(self.config.model, dtype=self.config.dtype, device=device)
        self.scorer = ChainScorer(model, task, self.config.eval)

    def ready(self) -> int:
        return os.getpid()

    def search(self, sample) -> dict[str, Any]:
        """The sample's record (as JSON) and how many of its chains were replayed from a journal."""
        from cola.runs.journal import SampleJournal
        from cola.runs.runner import search_sample

        evaluator = self.scorer.for_sample(sample)
        replayed, problem = 0, None
        if self.journal_dir is not None:
            journal = SampleJournal(self.journal_dir, sample.id, self.config_json)
            replayed, problem = journal.attach(evaluator), journal.problem
        self._arm_crash(sample.id, evaluator)
        record = search_sample(self.scorer, sample, self.config, evaluator, pool=self.pool)
        return {"record": record.to_json(), "replayed": replayed, "journal_problem": problem}

    def _arm_crash(self, sample_id: str, evaluator) -> None:
        if not self.crash_once:
            return
        target, _, marker = self.crash_once.partition(":")
        if target != sample_id or not marker or os.path.exists(marker):
            return
        journal = evaluator.on_evaluated
        passes = []

        def crash_midway(evaluations) -> None:
            if journal is not None:
                journal(evaluations)
            passes.append(len(evaluations))
            if journal is None or len(passes) == CRASH_AFTER_PASSES:
                Path(marker).write_text(str(os.getpid()))
                os._exit(1)

        evaluator.on_evaluated = crash_midway


def _init_ray(address: str | None):
    """Connect to (or start) Ray; returns (ray module, whether we started it)."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ColaError("Ray is not installed: pip install 'cola[ray]' (or pip install ray)") from exc
    if ray.is_initialized():
        return ray, False
    if address in (None, "", "local"):
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return ray, True


class _ActorPool:
    """Ray actors searching samples from a queue; a dead actor is replaced, a failed sample retried."""

    def __init__(self, ray, config, todo: list, workers: int, max_retries: int, run_dir: str | None = None):
        self.ray = ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = max(1, min(gpus if gpus else workers, len(todo)))
        self.options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        self.device = "cuda" if gpus else None
        self.actor_class = ray.remote(max_restarts=0, max_task_retries=0)(SearchWorker)
        self.crash_once = os.environ.get(CRASH_ONCE_ENV)
        self.config_json = config.to_json()
        self.run_dir = run_dir
        self.max_retries = max_retries
        self.queue = list(reversed(todo))  # pop() takes samples in run order
        self.pending: dict[Any, tuple[int, Any]] = {}  # object ref -> (actor slot, sample)
        self.attempts: dict[str, int] = {}
        self.actors = [self._new_actor() for _ in range(count)]
        for slot in range(count):
            self._submit(slot)

    def _new_actor(self):
        return self.actor_class.options(**self.options).remote(
            self.config_json, self.device, self.crash_once, self.run_dir
        )

    def _submit(self, slot: int) -> None:
        if self.queue:
            sample = self.queue.pop()
            self.attempts[sample.id] = self.attempts.get(sample.id, 0) + 1
            self.pending[self.actors[slot].search.remote(sample)] = (slot, sample)

    def results(self):
        """Yield each finished sample's record (as JSON) as soon as any actor returns it."""
        from cola.runs.journal import SampleJournal

        ray = self.ray
        while self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=1)
            slot, sample = self.pending.pop(ready[0])
            try:
                data = ray.get(ready[0])
            except ray.exceptions.RayActorError as exc:
                _retry(sample, self.attempts, self.max_retries, self.queue, exc)
                self._kill(self.actors[slot])
                self.actors[slot] = self._new_actor()
                print(
                    f"cola: Ray actor died on sample {sample.id}; restarted it and resubmitted",
                    file=sys.stderr,
                )
            except ray.exceptions.RayError as exc:  # the call raised: the actor itself is fine
                _retry(sample, self.attempts, self.max_retries, self.queue, exc)
                print(f"cola: sample {sample.id} failed ({type(exc).__name__}); resubmitted", file=sys.stderr)
            else:
                if data.get("journal_problem"):  # an actor's own warnings do not reach the driver's stderr
                    warnings.warn(data["journal_problem"], ColaWarning, stacklevel=2)
                SampleJournal.say_replayed(sample.id, data["replayed"])
                yield data["record"]
            self._submit(slot)  # a restarted actor may find the queue empty while others hold work

    def _kill(self, actor) -> None:
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - it is already dead
            pass

    def close(self) -> None:
        for actor in self.actors:
            self._kill(actor)


def run_search_ray(
    config,
    out_dir: str | Path,
    resume: bool = False,
    address: str | None = "local",
    workers: int = 2,
    progress: bool = True,
    max_retries: int = 3,
) -> list[SampleRecord]:
    """Search every sample not yet in ``out_dir`` on Ray actors; returns all records of the run.

    ``address`` is ``"local"`` (start a local cluster unless Ray is already initialised)
    or a cluster address such as ``"auto"`` or ``"ray://head:10001"``. With GPUs in the
    cluster there is one actor per GPU (capped by the samples to do); otherwise
    ``workers`` single-CPU actors.
    """
    from cola.engine.loading import check_model_source
    from cola.engine.placement import concrete_dtype
    from cola.runs.config import load_samples
    from cola.runs.store import RunStore

    config = dataclasses.replace(
        config, dtype=concrete_dtype(config.dtype)
    )  # "auto" as the driver resolves it
    config.validate()
    if config.menu_from is not None:
        raise UsageError("the fixed-menu null runs locally only; search without Ray, or drop menu_from")
    _, samples = load_samples(config)  # bad settings or data fail before anything is written
    check_model_source(config.model)  # a --model that is no model: one line, nothing written
    with RunStore(out_dir).open(config.to_json(), resume=resume) as store:  # one writer at a time
        return _search_missing(store, config, samples, address, workers, progress, max_retries)


def _search_missing(store, config, samples, address, workers, progress, max_retries) -> list[SampleRecord]:
    """Search the samples ``store`` does not hold yet on Ray actors; the caller holds the run's lock.

    The bar counts chains as a local run's does (:mod:`cola.runs.progress`), a sample's
    whole budget at a time, since the chains are evaluated inside the actors.
    """
    from cola.runs.journal import SampleJournal, remove_stale
    from cola.runs.progress import ChainProgress, chain_budget

    done = set(store.done_ids())
    todo = [s for s in samples if s.id not in done]
    remove_stale(store.path, [s.id for s in todo])  # journals of samples with a record: never replayed
    if not todo:
        return store.load_records()
    ray, started = _init_ray(address)
    bar = ChainProgress(len(samples), len(done), chain_budget(config), progress)
    pool = None
    try:
        pool = _ActorPool(ray, config, todo, workers, max_retries, str(store.path.resolve()))
        for data in pool.results():
            record = SampleRecord.from_json(data)
            if record.sample_id not in done:
                store.append(record)
                SampleJournal(store.path, record.sample_id, pool.config_json).discard()
                done.add(record.sample_id)
                bar.sample_done(record.sample_id)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
        if started:
            ray.shutdown()
    return store.load_records()


def _retry(sample, attempts: dict[str, int], max_retries: int, queue: list, exc: BaseException) -> None:
    if attempts[sample.id] > max_retries:
        raise ColaError(
            f"sample {sample.id} failed {attempts[sample.id]} times on Ray; finished samples are saved "
            f"(continue with --resume). Last error: {exc}"
        ) from exc
    queue.append(sample)  # next pop() takes it
