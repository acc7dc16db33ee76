"""Multiple-choice answers: letters by position, a strict letter extractor, and its stop rule.

The extractor accepts a letter only where it clearly is the answer: at the start of the
generation followed by punctuation, markdown emphasis or a line end (``"B."``, ``"(C)"``,
``" A\\n"``, ``"**B**"``) or by a connector word (``"B because ..."``), or after a cue
("the answer is b", "Answer: (C)", "I think B.", any case). A bare letter followed by
other words (``"A plant"``, ``"Answer"``) is not an answer, so broken chains that babble
are not graded at chance level. The README lists the accepted and refused outputs.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar

from cola.tasks.base import Sample, Style, Task, chat_prompt

# Characters that end a letter answer ("B." "B)" "B:" "B\n" "**B**" ...); end of text also does.
TERMINATORS = ".):],;*_\n\r"
WRAPPERS = "([*_"  # may open a letter answer: "(B)", "[C]", "**D**"
# Words that may follow a letter answer after a space ("B because ...", "C is correct").
CONNECTORS = ("because", "since", "as", "is")
CUES = r"answer|i think|i believe|i choose|i pick|i'd say|i would say"
INSTRUCTION = "Answer the following multiple-choice question with only the letter of the correct choice."


def labels_for(count: int) -> list[str]:
    return list(string.ascii_uppercase[:count])


@lru_cache(maxsize=32)
def _answer_regex(labels: str) -> re.Pattern[str]:
    """A letter after a cue ("the answer is b", "I think B.", "Answer: (C)"), any case, then a terminator,
    the end, or a connector word ("answer is B because ...")."""
    term = re.escape(TERMINATORS)
    letters = labels + labels.lower()
    connector = "|".join(CONNECTORS)
    return re.compile(
        rf"(?i:{CUES})\s*(?:is\s*)?:?\s*[(\[*_]*([{letters}])(?=[{term}]|\Z|[ \t]+(?i:{connector})\b)"
    )


def _cued_letter(text: str, labels: str) -> re.Match[str] | None:
    """The first cued letter; a lowercase "a" counts only before a terminator (else it is the article)."""
    for match in _answer_regex(labels).finditer(text):
        after = match.end(1)
        if match.group(1) == "a" and (after == len(text) or text[after] not in TERMINATORS):
            continue
        return match
    return None


def _connector_state(after: str) -> tuple[bool, bool]:
    """For the text after a leading letter's space: ``(accepts, decided)``.

    Accepted when the next word is a connector (or a dash/colon follows); decided once no
    appended text can change that (the word is followed by a non-letter).
    """
    rest = after.lstrip(" \t")
    if not rest:
        return False, False
    if rest[0] in "-:":
        return True, True
    match = re.match(r"[A-Za-z]+", rest)
    if match is None:
        return False, True
    word = match.group().lower()
    complete = match.end() < len(rest)
    if complete:
        return word in CONNECTORS, True
    return word in CONNECTORS, not any(c.startswith(word) for c in CONNECTORS)


def leading_letter(text: str, labels: str) -> tuple[str | None, bool]:
    """The letter a generation opens with, and whether more text could still change that.

    Returns ``(letter, decided)``; ``decided`` is False while the opening is ambiguous
    (empty, ``"("``, a letter with nothing after it yet, or a letter, a space and a word
    that may still become a connector). An uppercase label opens an answer when a
    terminator follows it (``"B."``, ``"**B**"``) or a space and a connector word
    (``"B because"``); a bare letter followed by other words (``"A plant"``) does not.
    """
    rest = text.lstrip().lstrip(WRAPPERS)
    if not rest:
        return None, False
    if rest[0] not in labels:
        return None, True
    if len(rest) == 1:
        return rest[0], False
    if rest[1] in TERMINATORS:
        return rest[0], True
    if rest[1] in " \t":
        accepts, decided = _connector_state(rest[1:])
        return (rest[0] if accepts else None), decided
    return None, True


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
        match = _cued_letter(generation, labels)
        return match.group(1).upper() if match else None

    def settled(self, text: str, sample: Sample) -> bool:
        labels = "".join(self.choice_labels(sample))
        letter, decided = leading_letter(text, labels)
        if not decided:
            return False
        if letter is not None:
            return True
        # The first "answer is X" followed by a terminator character stays the first match
        # forever; one followed by the end or a connector word could still change, so wait.
        match = _cued_letter(text, labels)
        return match is not None and match.end(1) < len(text) and text[match.end(1)] in TERMINATORS

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return answer is not None and answer == sample.gold

    def wrong_answer(
        self, sample: Sample, rng: random.Random, pool: Sequence[str], exclude: str | None = None
    ) -> str | None:
        """A seeded wrong letter, other than ``exclude`` when another wrong letter exists."""
        wrong = [label for label in self.choice_labels(sample) if label != sample.gold]
        preferred = [label for label in wrong if label != exclude] or wrong
        return rng.choice(preferred) if preferred else None
