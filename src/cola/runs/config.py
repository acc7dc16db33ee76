"""What defines a run: its config (saved as ``config.json``), its samples and per-sample seeds."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cola.evaluation.scorer import EvalConfig
from cola.search import SearchConfig


@dataclass
class RunConfig:
    """Everything that determines a run's results (saved as the run's ``config.json``)."""

    model: str = "smollm2-135m"
    task: str = "arith"
    data: str = "bundled"  # "bundled", "hf", or a local JSONL path
    split: str = "test"
    samples: int | None = 20
    levels: list[int] | None = None  # MATH difficulty filter
    seed: int = 0
    baseline: bool = True  # also run same-budget random search
    search: SearchConfig = field(default_factory=SearchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["search"]["block_sizes"] = list(self.search.block_sizes)
        data["search"]["repeat_counts"] = list(self.search.repeat_counts)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        search = dict(data.pop("search", {}))
        for key in ("block_sizes", "repeat_counts"):
            if key in search:
                search[key] = tuple(search[key])
        evaluation = data.pop("eval", {})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            search=SearchConfig(**search),
            eval=EvalConfig(**evaluation),
            **{k: v for k, v in data.items() if k in known},
        )


def sample_seed(run_seed: int, sample_id: str) -> int:
    """A per-sample seed independent of processing order and of Python's hash randomization."""
    digest = hashlib.sha256(f"{run_seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def load_samples(config: RunConfig):
    from cola.tasks import get_task

    task = get_task(config.task)
    kwargs: dict[str, Any] = {}
    if config.levels:
        kwargs["levels"] = list(config.levels)
    samples = task.load(source=config.data, split=config.split, limit=config.samples, seed=config.seed, **kwargs)
    return task, samples
