"""AI2 ARC (Easy and Challenge): grade-school science multiple choice.

Rows follow ``allenai/ai2_arc``. Real quirks handled here: about 4% of rows label their
choices ``"1".."4"`` instead of ``"A".."D"``, and a few have 3 or 5 choices. Choices are
always shown and graded as letters by position, so the gold letter is the position of
``answerKey`` within ``choices.label``.
"""

from __future__ import annotations

from cola.errors import DatasetError
from cola.tasks import sources
from cola.tasks.base import Sample
from cola.tasks.choice import MultipleChoiceTask, labels_for
from cola.tasks.registry import register_task

# Two short ARC-Easy *train* questions (CC BY-SA 4.0, AI2), for the base-model prompt.
ARC_SHOTS = (
    ("Which area is coldest?", ("rainforest", "tundra", "grassland", "reef"), "B"),
    ("When ice melts, it becomes a", ("gas.", "solid.", "liquid.", "plasma."), "C"),
)


class ARCTask(MultipleChoiceTask):
    hf_path = "allenai/ai2_arc"
    required_fields = ("id", "question", "choices.text", "choices.label", "answerKey")
    shots = ARC_SHOTS
    preamble = "The following are multiple choice questions about science.\n\n"

    def parse_row(self, row: dict, index: int, split: str, where: str) -> Sample:
        texts = sources.text_list_field(row, "choices.text", where)
        source_labels = [
            label.strip() for label in sources.text_list_field(row, "choices.label", where, numbers=True)
        ]
        if len(texts) != len(source_labels) or not 1 <= len(texts) <= 26:
            raise DatasetError(
                f"{where}: choices.text and choices.label must be lists of the same length (1-26), "
                f"got {len(texts)} texts and {len(source_labels)} labels"
            )
        if len(set(source_labels)) != len(source_labels):
            raise DatasetError(f"{where}: field 'choices.label' repeats a label: {source_labels}")
        key = sources.text_field(row, "answerKey", where, numbers=True).strip()
        if key not in source_labels:
            raise DatasetError(f"{where}: answerKey {key!r} is not one of the choice labels {source_labels}")
        gold = labels_for(len(texts))[source_labels.index(key)]
        return Sample(
            id=sources.text_field(row, "id", where, numbers=True),
            question=sources.text_field(row, "question", where),
            gold=gold,
            choices=tuple(texts),
            meta={"source_labels": source_labels, "answer_key": key},
        )


@register_task
class ARCEasy(ARCTask):
    name = "arc_easy"
    hf_config = "ARC-Easy"
    bundled_file = "arc_easy_test.jsonl"


@register_task
class ARCChallenge(ARCTask):
    name = "arc_challenge"
    hf_config = "ARC-Challenge"
    bundled_file = "arc_challenge_test.jsonl"
