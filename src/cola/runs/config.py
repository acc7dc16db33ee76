"""What defines a run: its config (saved as ``config.json``), its samples and per-sample seeds."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from cola.errors import SettingError, is_finite_number, is_integer, require, require_choice
from cola.evaluation.config import EvalConfig
from cola.search import SearchConfig

BaselineStrategy = Literal["random_matched", "random_nearby"]
BASELINE_STRATEGIES: tuple[str, ...] = get_args(BaselineStrategy)

# Chains per sample re-evaluated naively by default where fast answers may differ from naive ones.
DEFAULT_RECHECK = 4


def default_recheck(dtype: str, mode: str, distributed: bool = False) -> int:
    """How many chains per sample a run re-checks naively when the user does not say.

    In bfloat16/float16 a batched layer call can round differently from a call of one, so
    every fast run measures its own agreement with the naive path; float32 and the naive
    and exact modes give the naive answers by construction, and the Ray runner has no
    recheck.
    """
    reduced = dtype != "float32" and mode == "fast" and not distributed
    return DEFAULT_RECHECK if reduced else 0


@dataclass
class RunConfig:
    """Everything that determines a run's results (saved as the run's ``config.json``).

    A field's ``metadata["help"]`` is its command-line help (``cola search`` builds its
    options from these fields); ``metadata["flag"]`` names the flag where it is not the
    field's own name.
    """

    model: str = "smollm2-135m"
    task: str = "arith"
    # "bundled", "hf", "generated" or a local JSONL path; the CLI's default is the task's own.
    data: str = field(
        default="bundled", metadata={"help": "bundled (default where shipped), hf, or a local JSONL path"}
    )
    split: str = "test"
    samples: int | None = field(default=20, metadata={"help": "first N samples (0 = all)"})  # None: all
    levels: list[int] | None = field(default=None, metadata={"help": "MATH levels, e.g. 1,2"})
    seed: int = field(default=0, metadata={"help": "seeds the searches"})  # per sample, with its id
    # Picks generated questions (arith); None: the same as ``seed``.
    data_seed: int | None = field(
        default=None,
        metadata={
            "help": "picks generated questions (arith; default: --seed), so search variance can be "
            "measured on fixed questions"
        },
    )
    # Also run the random baseline with the search's budget.
    baseline: bool = field(
        default=True,
        metadata={"flag": "--no-baseline", "help": "skip the random baseline (same budget and reach)"},
    )
    baseline_strategy: BaselineStrategy = field(
        default="random_matched",
        metadata={
            "flag": "--baseline",
            "help": "random_matched: the search's own edit counts (default); random_nearby: 1-4 edits",
        },
    )
    # Also run the search rewarded against each sample's decoy label.
    decoy: bool = field(
        default=True,
        metadata={
            "flag": "--no-decoy",
            "help": "skip the decoy-label control search (it costs up to one more search per sample)",
        },
    )
    # The label-free nulls beside every oracle figure (cola.report.nulls); adding one to a
    # finished run and resuming computes it for the samples already done.
    length_null: bool = field(
        default=True,
        metadata={
            "flag": "--no-length-null",
            "help": "skip the length-matched random null (random chains of the search's lengths and "
            "skip/repeat mix, the same budget)",
        },
    )
    sampling: bool = field(
        default=True,
        metadata={
            "flag": "--no-sampling",
            "help": "skip sampling pass@E (the full model sampled once per distinct chain the search evaluated)",
        },
    )
    sampling_temperature: float = field(default=0.7, metadata={"help": "temperature of sampling pass@E"})
    sampling_top_p: float = field(default=0.95, metadata={"help": "top-p nucleus of sampling pass@E"})
    menu_from: str | None = field(
        default=None,
        metadata={
            "help": "a finished run on other samples (a train split) whose most frequent correct chains "
            "are applied to every sample: the fixed-menu null"
        },
    )
    search: SearchConfig = field(default_factory=SearchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    dtype: str = "float32"

    def validate(self) -> RunConfig:
        """Raise a one-line :class:`SettingError` (or ColaError) for any setting that cannot run; returns ``self``.

        Runners call this before they write anything, so a refused command leaves no run
        directory behind. The data itself is checked by loading it (:func:`load_samples`).
        """
        from cola.tasks import get_task

        name = type(self).__name__
        task = get_task(self.task)  # unknown task: DatasetError naming the known ones
        require(
            isinstance(self.model, str) and self.model.strip() != "",
            name,
            "model",
            "must name a model",
            self.model,
        )
        require(
            isinstance(self.data, str) and self.data.strip() != "",
            name,
            "data",
            "must not be empty",
            self.data,
        )
        require(
            self.samples is None or is_integer(self.samples, 1),
            name,
            "samples",
            "must be a positive integer (or None: all)",
            self.samples,
        )
        if self.levels:
            if not task.has_levels:
                raise SettingError(
                    name, "levels", f"task {task.name} has no difficulty levels; drop {{setting}}"
                )
            ok = all(is_integer(level, 1) for level in self.levels)
            require(ok, name, "levels", "must be positive integers", self.levels)
        require(is_integer(self.seed), name, "seed", "must be an integer", self.seed)
        ok = self.data_seed is None or is_integer(self.data_seed)
        require(ok, name, "data_seed", "must be an integer", self.data_seed)
        require_choice(self.baseline_strategy, BASELINE_STRATEGIES, name, "baseline_strategy")
        self._validate_nulls(name)
        self.search.validate()
        self.eval.validate(task)
        return self

    def _validate_nulls(self, name: str) -> None:
        t = self.sampling_temperature
        require(is_finite_number(t) and t > 0, name, "sampling_temperature", "must be a number > 0", t)
        p = self.sampling_top_p
        require(is_finite_number(p) and 0 < p <= 1, name, "sampling_top_p", "must be in (0, 1]", p)
        ok = self.menu_from is None or (isinstance(self.menu_from, str) and self.menu_from.strip() != "")
        require(ok, name, "menu_from", "must name a run directory", self.menu_from)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["search"]["block_sizes"] = list(self.search.block_sizes)
        data["search"]["repeat_counts"] = list(self.search.repeat_counts)
        data["search"]["match_edits"] = list(self.search.match_edits)
        data["search"]["match_shapes"] = [list(shape) for shape in self.search.match_shapes]
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
        if "match_shapes" in search:
            search["match_shapes"] = tuple(tuple(shape) for shape in search["match_shapes"])
        evaluation = data.pop("eval", {})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            search=SearchConfig(**search),
            eval=EvalConfig(**evaluation),
            **{k: v for k, v in data.items() if k in known},
        )


def default_source(task: str) -> str:
    """The data source a run of ``task`` reads when none is named (:attr:`Task.default_source`)."""
    from cola.tasks import get_task

    return get_task(task).default_source


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
