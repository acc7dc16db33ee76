"""GSM8K: grade-school math word problems with a numeric final answer.

Rows follow ``openai/gsm8k`` (config ``main``); the gold answer is the number after
``#### `` in the reference solution. A generation's answer is the number after its first
``####`` when there is one (the format both prompts ask for), else its last number.
"""

from __future__ import annotations

import re
from typing import Any

from cola.errors import DatasetError
from cola.tasks import sources
from cola.tasks.base import Sample, Style, Task, chat_prompt
from cola.tasks.numbers import NUMBER, NUMBER_RE, canonical_number, number_closed, numbers_equal
from cola.tasks.registry import register_task

FINAL_RE = re.compile(rf"####\s*\$?\s*({NUMBER})")

INSTRUCTION = (
    "Solve the following math problem. Reason briefly, then give the final answer "
    "on the last line in the form '#### <number>'."
)
# A short GSM8K *train* problem (MIT, OpenAI) for the base-model prompt.
SHOT_QUESTION = (
    "John books 3 nights at a hotel room for $250 a night.  He has a $100 discount.  How much does he pay?"
)
SHOT_SOLUTION = "The cost is 250*3=$750\nSo he spends 750-100=$650\n#### 650"


@register_task
class GSM8K(Task):
    name = "gsm8k"
    kind = "generative"
    max_new_tokens = 256
    hf_path = "openai/gsm8k"
    hf_config = "main"
    bundled_file = "gsm8k_test.jsonl"
    required_fields = ("question", "answer")

    def parse_row(self, row: dict, index: int, split: str, where: str) -> Sample:
        solution = sources.text_field(row, "answer", where)
        _, marker, final = solution.rpartition("####")
        gold = canonical_number(final) if marker else None
        if gold is None:
            raise DatasetError(f"{where}: field 'answer' does not end with '#### <number>'")
        has_id = row.get("id") not in (None, "")
        return Sample(
            id=sources.text_field(row, "id", where, numbers=True) if has_id else f"{split}-{index}",
            question=sources.text_field(row, "question", where),
            gold=gold,
        )

    def prompt(self, sample: Sample, tokenizer: Any, style: Style) -> str:
        if style == "chat":
            return chat_prompt(tokenizer, f"{INSTRUCTION}\n\n{sample.question}")
        return f"Question: {SHOT_QUESTION}\nAnswer: {SHOT_SOLUTION}\n\nQuestion: {sample.question}\nAnswer:"

    def stop_strings(self, style: Style) -> list[str]:
        return ["Question:"] if style == "base" else []

    def extract_answer(self, generation: str, sample: Sample) -> str | None:
        final = FINAL_RE.search(generation)
        if final:
            return canonical_number(final.group(1))
        numbers = NUMBER_RE.findall(generation)
        return canonical_number(numbers[-1]) if numbers else None

    def settled(self, text: str, sample: Sample) -> bool:
        # Only a finished "#### <number>" is final: a last-number answer can always be overtaken.
        final = FINAL_RE.search(text)
        return final is not None and number_closed(text, final.end(1))

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return numbers_equal(answer, sample.gold)
