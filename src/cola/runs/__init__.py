"""Runs: a search over every sample of a benchmark, written to a resumable run directory.

Owns the run config (:mod:`~cola.runs.config`), the per-sample record schema
(:mod:`~cola.runs.records`), the runner (:mod:`~cola.runs.runner`), the crash-safe run
store (:mod:`~cola.runs.store`) with its one-writer lock (:mod:`~cola.runs.lock`), the journal
of a sample in flight (:mod:`~cola.runs.journal`) and the Ray runner (:mod:`~cola.runs.distributed`).

May import: cola.errors, cola.outputs, cola.engine, cola.tasks, cola.evaluation, cola.search
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "RunConfig": "config",
    "load_samples": "config",
    "sample_seed": "config",
    "SampleRecord": "records",
    "run_search": "runner",
    "search_sample": "runner",
    "RunStore": "store",
    "RunLock": "lock",
    "run_search_ray": "distributed",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
