"""Arithmetic: generated questions with exact integer answers, the cheapest task.

No dataset: ``load`` draws ``limit`` questions (default 50) from ``seed``, so a run is
reproducible without any download. The default, single-digit multiplication with
factors 2-9, sits near 50% accuracy for the tiny default model, so depth changes can
visibly help or hurt; answers are one or two tokens, so ``max_new_tokens`` is tiny and
decoding stops as soon as the number is followed by anything else.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Sequence
from typing import Any

from cola.errors import DatasetError
from cola.tasks.base import Sample, Style, Task, chat_prompt
from cola.tasks.numbers import NUMBER_RE, canonical_number, number_closed, numbers_equal
from cola.tasks.registry import register_task

OPERATIONS = {"*": operator.mul, "+": operator.add, "-": operator.sub}
SHOTS = ((3, 4), (6, 7))  # few-shot pairs of the base prompt; never asked, so never copied
# No stop strings: the answer is the first number, final once anything follows it.


@register_task
class Arith(Task):
    name = "arith"
    kind = "generative"
    max_new_tokens = 6
    default_source = "generated"  # questions are drawn from a seed; there is no file to read
    default_count = 50

    def __init__(self, op: str = "*", low: int = 2, high: int = 9):
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; use one of {', '.join(OPERATIONS)}")
        self.op, self.low, self.high = op, low, high

    def load(
        self,
        source: str = "bundled",
        split: str = "test",
        limit: int | None = None,
        seed: int = 0,
        levels: Sequence[int] | None = None,
    ) -> list[Sample]:
        """``limit`` questions drawn from ``seed``; ``source`` and ``split`` are ignored.

        Each pass shuffles every operand pair once, so questions repeat only after all
        pairs were used, and a smaller ``limit`` yields a prefix of a larger one.
        """
        if levels:
            raise DatasetError(f"task {self.name} has no difficulty levels; drop the levels filter")
        count = self.default_count if limit is None else max(limit, 0)
        rng = random.Random(seed)
        operands = range(self.low, self.high + 1)
        pairs = [pair for pair in itertools.product(operands, repeat=2) if pair not in SHOTS]
        questions: list[tuple[int, int]] = []
        while len(questions) < count:
            batch = pairs[:]
            rng.shuffle(batch)
            questions.extend(batch)
        return [self._sample(a, b, seed, i) for i, (a, b) in enumerate(questions[:count])]

    def _sample(self, a: int, b: int, seed: int, index: int) -> Sample:
        return Sample(
            id=f"arith-{seed}-{index:04d}",
            question=f"What is {a} {self.op} {b}?",
            gold=str(OPERATIONS[self.op](a, b)),
            meta={"a": a, "b": b, "op": self.op},
        )

    def parse_row(self, row: dict, index: int, split: str, where: str) -> Sample:
        raise DatasetError("the arith task generates its questions; it reads no dataset rows")

    def prompt(self, sample: Sample, tokenizer: Any, style: Style) -> str:
        if style == "chat":
            # Pre-filling "The answer is" makes an instruct model state the number first.
            return chat_prompt(tokenizer, sample.question, prefill="The answer is")
        # Bare equations: a "Q: ... A: ..." format made Gemma-3-270M copy the shots' answers.
        shots = "".join(f"{a} {self.op} {b} = {OPERATIONS[self.op](a, b)}\n" for a, b in SHOTS)
        return f"{shots}{sample.meta['a']} {self.op} {sample.meta['b']} ="

    def extract_answer(self, generation: str, sample: Sample) -> str | None:
        match = NUMBER_RE.search(generation)
        return canonical_number(match.group()) if match else None

    def settled(self, text: str, sample: Sample) -> bool:
        match = NUMBER_RE.search(text)
        return match is not None and number_closed(text, match.end())

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return numbers_equal(answer, sample.gold)

    def wrong_answer(
        self, sample: Sample, rng: random.Random, pool: Sequence[str], exclude: str | None = None
    ) -> str | None:
        """The result of a random question of the same kind, differing from the gold (and ``exclude``)."""
        operands = range(self.low, self.high + 1)
        # One entry per operand pair, so answers are drawn with the task's own frequencies.
        values = [str(OPERATIONS[self.op](a, b)) for a, b in itertools.product(operands, repeat=2)]
        wrong = [v for v in values if not self.is_correct(v, sample)]
        preferred = [v for v in wrong if not numbers_equal(v, exclude)] or wrong
        return rng.choice(preferred) if preferred else None
