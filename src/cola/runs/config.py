"""What defines a run: its config (saved as ``config.json``), its samples and per-sample seeds."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from cola.errors import UsageError
from cola.evaluation.scorer import EvalConfig
from cola.search import SearchConfig, get_strategy


@dataclass
class RunConfig:
    """Everything that determines a run's results (saved as the run's ``config.json``)."""

    model: str = "smollm2-135m"
    task: str = "arith"
    data: str = "bundled"  # "bundled", "hf", or a local JSONL path
    split: str = "test"
    samples: int | None = 20
    levels: list[int] | None = None  # MATH difficulty filter
    seed: int = 0  # seeds the searches (per sample, with the sample id)
    data_seed: int | None = None  # picks generated questions (arith); None: the same as ``seed``
    baseline: bool = True  # also run the random baseline with the search's budget
    baseline_strategy: str = "random_matched"  # reach-matched (default) or "random_nearby"
    decoy: bool = True  # also run the search rewarded against each sample's decoy label
    search: SearchConfig = field(default_factory=SearchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    dtype: str = "float32"

    def validate(self) -> RunConfig:
        """Raise a one-line ColaError for any setting that cannot run; returns ``self``.

        Runners call this before they write anything, so a refused command leaves no run
        directory behind. The data itself is checked by loading it (:func:`load_samples`).
        """
        from cola.tasks import get_task

        task = get_task(self.task)  # unknown task: DatasetError naming the known ones
        _check(
            isinstance(self.model, str) and self.model.strip() != "", "--model must name a model", self.model
        )
        _check(isinstance(self.data, str) and self.data.strip() != "", "--data must not be empty", self.data)
        _check(
            self.samples is None or _int(self.samples, 1),
            "--samples must be a positive integer (0 = all)",
            self.samples,
        )
        if self.levels:
            if not task.has_levels:
                raise UsageError(f"task {task.name} has no difficulty levels; drop --levels")
            _check(
                all(_int(level, 1) for level in self.levels),
                "--levels must be positive integers",
                self.levels,
            )
        _check(_int(self.seed, None), "--seed must be an integer", self.seed)
        _check(
            self.data_seed is None or _int(self.data_seed, None),
            "--data-seed must be an integer",
            self.data_seed,
        )
        _check(
            self.baseline_strategy in ("random_matched", "random_nearby"),
            "--baseline must be random_matched or random_nearby",
            self.baseline_strategy,
        )
        _check_search(self.search)
        _check_eval(self.eval, task)
        return self

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["search"]["block_sizes"] = list(self.search.block_sizes)
        data["search"]["repeat_counts"] = list(self.search.repeat_counts)
        data["search"]["match_edits"] = list(self.search.match_edits)
        return data

    @property
    def questions_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        search = dict(data.pop("search", {}))
        for key in ("block_sizes", "repeat_counts", "match_edits"):
            if key in search:
                search[key] = tuple(search[key])
        evaluation = data.pop("eval", {})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            search=SearchConfig(**search),
            eval=EvalConfig(**evaluation),
            **{k: v for k, v in data.items() if k in known},
        )


def _int(value: Any, minimum: int | None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(ok: bool, message: str, value: Any) -> None:
    if not ok:
        raise UsageError(f"{message}, got {value!r}")


def _check_search(search: SearchConfig) -> None:
    get_strategy(search.strategy)  # unknown strategy: ColaError naming the known ones
    _check(_int(search.simulations, 0), "--simulations must be an integer >= 0", search.simulations)
    _check(_int(search.batch_size, 1), "--batch-size must be an integer >= 1", search.batch_size)
    _check(
        _number(search.exploration_c) and search.exploration_c >= 0,
        "--c must be a number >= 0",
        search.exploration_c,
    )
    _check(_number(search.length_penalty), "--length-penalty must be a finite number", search.length_penalty)
    _check(
        _number(search.max_length_factor) and search.max_length_factor > 0,
        "--max-length-factor must be a number > 0",
        search.max_length_factor,
    )


def _check_eval(evaluation: EvalConfig, task) -> None:
    _check(
        evaluation.mode in ("fast", "naive", "exact"), "--mode must be fast, naive or exact", evaluation.mode
    )
    _check(
        evaluation.style in ("auto", "chat", "base"), "--style must be auto, chat or base", evaluation.style
    )
    _check(
        evaluation.scoring in ("generate", "choice"),
        "--scoring must be generate or choice",
        evaluation.scoring,
    )
    if evaluation.scoring == "choice" and task.kind != "multiple_choice":
        raise UsageError(f"--scoring choice needs a multiple-choice task; {task.name} is {task.kind}")
    _check(
        evaluation.max_new_tokens is None or _int(evaluation.max_new_tokens, 1),
        "--max-new-tokens must be a positive integer",
        evaluation.max_new_tokens,
    )
    _check(
        _number(evaluation.prefix_cache_mb) and evaluation.prefix_cache_mb >= 0,
        "--prefix-cache-mb must be a number >= 0",
        evaluation.prefix_cache_mb,
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
    samples = task.load(
        source=config.data, split=config.split, limit=config.samples, seed=config.questions_seed, **kwargs
    )
    return task, samples


def decoy_seed(run_seed: int, sample_id: str) -> int:
    """The seed of a sample's decoy label: independent of its search seed."""
    return sample_seed(run_seed, f"decoy:{sample_id}")
