"""The task interface: how a benchmark's rows become prompts, and generations become grades.

A :class:`Task` owns everything benchmark-specific so that the search and the evaluator
stay generic: loading rows (bundled sample, Hugging Face hub or a local JSONL), building
the model input for a prompt style, pulling the answer out of a generation, grading it,
and saying when greedy decoding can stop early without changing the answer
(:meth:`Task.answer_complete`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

from cola.errors import ColaError, DatasetError
from cola.tasks import sources

PARTIAL_CHARACTER = "\ufffd"  # what decoding shows for a character whose bytes are incomplete

Style = Literal["chat", "base"]
Kind = Literal["multiple_choice", "generative"]
STYLES: tuple[Style, ...] = get_args(Style)  # every concrete prompt style


class GradingTimeout(Exception):
    """A grader gave up on an answer (e.g. a symbolic comparison ran out of time): counted wrong, recorded."""


@dataclass(frozen=True)
class Sample:
    """One benchmark question, normalised so graders never see a dataset's quirks."""

    id: str
    question: str  # question text (for multiple choice, without the choices)
    gold: str  # a letter "A".."E" for multiple choice; the answer string otherwise
    choices: tuple[str, ...] = ()  # choice texts in order; labelled "A", "B", ... by position
    meta: dict = field(default_factory=dict, hash=False, compare=False)


def truncate_at(text: str, stops: Sequence[str]) -> str:
    """``text`` cut at the first occurrence of any stop string (what the engine grades)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]


def stable_prefix(text: str, stops: Iterable[str]) -> str:
    """The part of a stop-free ``text`` that no continuation's stop-string cut can remove.

    A stop string completed by a later token starts at some position ``i`` where
    ``text[i:]`` is a prefix of that stop string; everything before the earliest such ``i``
    survives truncation whatever comes next. Answer-completeness checks look only at this
    part, which is what keeps early stopping exact.
    """
    stops = [s for s in stops if s]
    longest = max((len(s) for s in stops), default=0)
    for i in range(max(0, len(text) - longest), len(text)):
        tail = text[i:]
        if any(s.startswith(tail) for s in stops):
            return text[:i]
    return text


def chat_prompt(tokenizer: Any, user: str, system: str | None = None, prefill: str = "") -> str:
    """A chat-template prompt ending in the assistant turn, optionally pre-filled.

    A short pre-fill (e.g. ``"The answer is"``) steers tiny instruct models straight to the
    answer, which keeps generations and therefore the search cheap.
    """
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ColaError("the 'chat' prompt style needs a tokenizer with a chat template; use style 'base'")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + prefill


class Task(ABC):
    """A benchmark: data loading, prompting, answer extraction, grading, early-stop rule.

    Subclasses set the class attributes and implement :meth:`parse_row` plus the answer
    methods. The data-source attributes (``hf_path``, ``bundled_file`` ...) drive the
    shared :meth:`load`; tasks without a dataset (e.g. generated ones) override ``load``.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind]
    max_new_tokens: ClassVar[int]
    hf_path: ClassVar[str | None] = None
    hf_config: ClassVar[str | None] = None
    bundled_file: ClassVar[str | None] = None  # file name in cola/data (test split only)
    required_fields: ClassVar[tuple[str, ...]] = ()  # dotted paths, e.g. "choices.label"
    has_levels: ClassVar[bool] = False
    # The source a run reads when none is named: the sample shipped with cola, where there is one.
    default_source: ClassVar[str] = "bundled"

    # ------------------------------------------------------------------ data
    def load(
        self,
        source: str = "bundled",
        split: str = "test",
        limit: int | None = None,
        seed: int = 0,
        levels: Sequence[int] | None = None,
    ) -> list[Sample]:
        """Samples from ``"bundled"``, ``"hf"`` or a local JSONL path, in source order.

        ``levels`` keeps only samples whose ``meta["level"]`` is listed (tasks with
        difficulty levels only); ``limit`` then takes the first N. ``seed`` is unused by
        dataset tasks: their order is the source's, so runs are comparable across seeds.
        Two rows with the same sample id, or no sample at all, are a DatasetError: a run
        keys its records by id, so a duplicate would silently drop a row.
        """
        if levels and not self.has_levels:
            raise DatasetError(f"task {self.name} has no difficulty levels; drop the levels filter")
        wanted = {int(level) for level in levels} if levels else None
        samples: list[Sample] = []
        if limit is not None and limit <= 0:
            return samples
        first_row: dict[str, str] = {}
        for where, index, row in self._rows(source, split):
            sources.check_fields(row, self.required_fields, where)
            sample = self.parse_row(row, index, split, where)
            if sample.id in first_row:
                raise DatasetError(
                    f"{where}: duplicate sample id {sample.id!r} (first at {first_row[sample.id]})"
                )
            first_row[sample.id] = where
            if wanted is not None and sample.meta.get("level") not in wanted:
                continue
            samples.append(sample)
            if limit is not None and len(samples) >= limit:
                break
        if not samples:
            at = f" at levels {sorted(wanted)}" if wanted is not None else ""
            raise DatasetError(f"task {self.name}: no samples{at} in {source!r} (split {split!r})")
        return samples

    def _rows(self, source: str, split: str) -> Iterator[tuple[str, int, dict]]:
        if source == "bundled":
            if self.bundled_file is None:
                raise DatasetError(f"task {self.name} has no bundled sample; use 'hf' or a JSONL path")
            if split != "test":
                raise DatasetError(
                    f"the bundled {self.name} sample has only the test split, not {split!r}; "
                    "use --data hf or a local JSONL path"
                )
            return sources.jsonl_rows(sources.bundled_path(self.bundled_file))
        if source == "hf":
            if self.hf_path is None:
                raise DatasetError(f"task {self.name} has no Hugging Face dataset")
            return sources.hf_rows(self.hf_path, self.hf_config, split)
        return sources.jsonl_rows(source)

    @abstractmethod
    def parse_row(self, row: dict, index: int, split: str, where: str) -> Sample:
        """One validated source row (0-based ``index``) as a :class:`Sample`.

        ``where`` names the file and row, for error messages about bad values.
        """

    # ------------------------------------------------------------------ prompting
    @abstractmethod
    def prompt(self, sample: Sample, tokenizer: Any, style: Style) -> str:
        """The full model input; ``chat`` applies the tokenizer's chat template."""

    def stop_strings(self, style: Style) -> list[str]:
        """Text at which the engine cuts a generation before extracting the answer."""
        return []

    # ------------------------------------------------------------------ grading
    @abstractmethod
    def extract_answer(self, generation: str, sample: Sample) -> str | None:
        """The answer in a (stop-truncated) generation, or None if there is none."""

    @abstractmethod
    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        """Whether an extracted answer matches the sample's gold answer."""

    def answer_complete(self, generation: str, sample: Sample) -> bool:
        """True only if no continuation can change :meth:`extract_answer`'s result.

        ``generation`` is stop-truncated. Completeness is judged on the part that survives
        any later stop-string cut (for every style's stop strings), so a True here lets
        greedy decoding stop early with exactly the answer it would have produced.
        """
        stops = {s for style in STYLES for s in self.stop_strings(style)}
        # A trailing U+FFFD is a character whose UTF-8 bytes are not all decoded yet: the next
        # token may complete it (into a digit, say), so judge only the text before it.
        return self.settled(stable_prefix(generation.rstrip(PARTIAL_CHARACTER), stops), sample)

    def settled(self, text: str, sample: Sample) -> bool:
        """True only if ``extract_answer(text + s) == extract_answer(text)`` for every ``s``.

        The default never stops early, which is always exact.
        """
        return False

    # ------------------------------------------------------------------ choices
    def choice_labels(self, sample: Sample) -> list[str]:
        """Answer letters of a multiple-choice sample (``[]`` for generative tasks)."""
        return []

    def num_choices(self, sample: Sample) -> int | None:
        """Number of choices (None for generative tasks): sets the chance-level accuracy."""
        return None

    def wrong_answer(
        self, sample: Sample, rng: random.Random, pool: Sequence[str], exclude: str | None = None
    ) -> str | None:
        """A seeded wrong answer for ``sample`` (the decoy label), other than ``exclude`` when possible.

        The default draws from ``pool`` (answers of the task's own distribution, e.g. other
        samples' gold answers): any pool answer the grader does not accept for ``sample``.
        None when the pool holds no wrong answer.
        """
        wrong = [a for a in sorted(set(pool)) if not self.is_correct(a, sample)]
        preferred = [a for a in wrong if a != exclude] or wrong
        return rng.choice(preferred) if preferred else None

    def __repr__(self) -> str:
        return f"<task {self.name}>"
