"""What a search checks before it writes a byte or loads a weight.

A setting that cannot run must be refused while nothing exists yet: not after the model
has loaded and an ``inflight/`` journal was created, not after ``config.json`` was written
over someone's model. :func:`check_search` runs every check that needs more than the
config itself:

* a task that generates its questions takes no data source;
* settings that depend on the model's depth (``max_length_factor``) are checked against
  the depth read from the model's config file alone (no weights; skipped when only the
  hub has it, so no network is touched here);
* the output directory must be empty, absent or a run (:meth:`RunStore.check_target`),
  and a resumed run's records must all be of this run's task and samples.
"""

from __future__ import annotations

from pathlib import Path

from cola.errors import UsageError
from cola.runs.config import RunConfig, load_samples


def check_search(config: RunConfig, out_dir: str | Path, resume: bool = False) -> None:
    """Raise a one-line ColaError for anything that would fail the search later; writes nothing."""
    from cola.runs.store import RunStore
    from cola.tasks import get_task

    task = get_task(config.task)
    unchosen = RunConfig().data  # the dataclass default: a library caller who named no source
    if task.default_source == "generated" and config.data not in ("generated", unchosen):
        raise UsageError(
            f"task {task.name} generates its questions and reads no data; drop data {config.data!r}"
        )
    depth = model_depth(config.model)
    if depth is not None:
        config.search.validate(depth)
    store = RunStore(out_dir)
    store.check_target()
    if resume and store.exists():
        _, samples = load_samples(config)
        store.check_resume(config.to_json(), [s.id for s in samples])


def model_depth(name: str) -> int | None:
    """The number of decoder layers from a model's config file on this machine, or None if not at hand."""
    from transformers import AutoConfig

    from cola.engine.anatomy import text_config
    from cola.engine.loading import EMBEDDED_MODELS, resolve_model_path

    try:
        ref = resolve_model_path(name) if name in EMBEDDED_MODELS else name
        config = text_config(AutoConfig.from_pretrained(ref, local_files_only=True))
        depth = int(config.num_hidden_layers)
    except Exception:  # noqa: BLE001 - not at hand or not a model: the load reports it in one line
        return None
    return depth if depth > 0 else None
