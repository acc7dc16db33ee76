"""Multiple-choice answers: letters by position, a strict letter extractor, and its stop rule.

The extractor accepts a letter only where it clearly is the answer: at the start of the
generation followed by punctuation or a line end (``"B."``, ``"(C)"``, ``" A\\n"``), or
after "answer"/"answer is"/"answer:". A bare letter followed by more letters (``"A plant"``,
``"Answer"``) is not an answer, so broken chains that babble are not graded at chance level.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Any, ClassVar

from cola.tasks.base import Sample, Style, Task, chat_prompt

# Characters that end a letter answer ("B." "B)" "B:" "B\n" ...); end of text also does.
TERMINATORS = ".):],;\n\r"
INSTRUCTION = "Answer the following multiple-choice question with only the letter of the correct choice."


def labels_for(count: int) -> list[str]:
    return list(string.ascii_uppercase[:count])


@lru_cache(maxsize=32)
def _answer_regex(labels: str) -> re.Pattern[str]:
    term = re.escape(TERMINATORS)
    return re.compile(rf"(?i:answer)\s*(?:is\s*)?:?\s*[(\[]?([{labels}])(?=[{term}]|\Z)")


def leading_letter(text: str, labels: str) -> tuple[str | None, bool]:
    """The letter a generation opens with, and whether more text could still change that.

    Returns ``(letter, decided)``; ``decided`` is False while the opening is ambiguous
    (empty, ``"("``, or a letter with nothing after it yet).
    """
    rest = text.lstrip()
    if rest[:1] in ("(", "["):
        rest = rest[1:]
    if not rest:
        return None, False
    if rest[0] not in labels:
        return None, True
    if len(rest) == 1:
        return rest[0], False
    return (rest[0], True) if rest[1] in TERMINATORS else (None, True)


def format_choices(sample: Sample) -> str:
    return "\n".join(
        f"{label}. {text}" for label, text in zip(labels_for(len(sample.choices)), sample.choices)
    )


class MultipleChoiceTask(Task):
    """Shared prompting and grading for lettered multiple-choice tasks."""

    kind = "multiple_choice"
    max_new_tokens = 8  # room for "The correct answer is B." when the model ignores the format
    # Few-shot examples for the base style: (question, choices, gold letter).
    shots: ClassVar[tuple[tuple[str, tuple[str, ...], str], ...]] = ()
    preamble: ClassVar[str] = ""

    def choice_labels(self, sample: Sample) -> list[str]:
        return labels_for(len(sample.choices))

    def num_choices(self, sample: Sample) -> int | None:
        return len(sample.choices)

    def question_block(self, sample: Sample) -> str:
        return f"Question: {sample.question}\n{format_choices(sample)}\nAnswer:"

    def prompt(self, sample: Sample, tokenizer: Any, style: Style) -> str:
        if style == "chat":
            # The instruction as system message replaces any long default system prompt.
            return chat_prompt(tokenizer, self.question_block(sample), system=INSTRUCTION)
        shots = [
            self.question_block(Sample(id="shot", question=q, gold=g, choices=c)) + f" {g}\n\n"
            for q, c, g in self.shots
        ]
        return self.preamble + "".join(shots) + self.question_block(sample)

    def stop_strings(self, style: Style) -> list[str]:
        # No leading newline: "B\n" must already settle the answer (see Task.answer_complete).
        return ["Question:"] if style == "base" else []

    def extract_answer(self, generation: str, sample: Sample) -> str | None:
        labels = "".join(self.choice_labels(sample))
        letter, _ = leading_letter(generation, labels)
        if letter is not None:
            return letter
        match = _answer_regex(labels).search(generation)
        return match.group(1) if match else None

    def settled(self, text: str, sample: Sample) -> bool:
        labels = "".join(self.choice_labels(sample))
        letter, decided = leading_letter(text, labels)
        if not decided:
            return False
        if letter is not None:
            return True
        # The first "answer is X" followed by a terminator stays the first match forever.
        match = _answer_regex(labels).search(text)
        return match is not None and match.end(1) < len(text)

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return answer is not None and answer == sample.gold
