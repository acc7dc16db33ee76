"""The direct-answer math protocol: ``math_direct`` and ``gsm8k_direct``.

PoLar's released MCTS (tianyi-lab/PoLar, ``mcts_discovery/run_mcts.py``) grades chains on
a direct answer: the prompt asks for the final answer only, as ``\\boxed{...}``, within
50 new tokens, and the reward is 0/1 math equivalence with the gold answer. These tasks
are that protocol on cola's data: the same rows, ids, levels and gold answers as
``math`` and ``gsm8k`` (they subclass them), with another prompt, budget, stop rule and
grader. MATH-500's levels 1-5 stand in for the DART-Math difficulty levels the authors
search on (``--levels``). The chain-of-thought tasks ``math`` and ``gsm8k`` are unchanged.

The prompt is PoLar's, word for word, with one addition: it ends with the box already
opened (``Answer: \\boxed{``). The models cola ships cannot follow the format on their
own (SmolLM2-135M boxed none of MATH-500's first level-1 problems, in chat or raw form),
so without the opener every chain would score 0 for format alone, not for its answer.

The stop rule: a generation ends once the opened box closes (braces balanced), or at 50
tokens, whichever comes first; the answer is the box's content. A box that never closes
within the budget is no answer and scores 0, as an unboxed answer does in PoLar's grader.
"""

from __future__ import annotations

from typing import Any

from cola.tasks.base import Sample, Style, Task, chat_prompt
from cola.tasks.gsm8k import GSM8K
from cola.tasks.math500 import MATH, math_equal
from cola.tasks.registry import register_task

# PoLar's instruction (run_mcts.py); the problem goes between its markers.
INSTRUCTION = (
    "Solve the following math problem and output ONLY the final answer directly, "
    "formatted strictly as \\boxed{ANSWER}."
)
OPENER = "Answer: \\boxed{"  # PoLar's prompt ends with "Answer:"; the box is opened for the model
MAX_NEW_TOKENS = 50


def problem_block(question: str) -> str:
    """The instruction and the problem between PoLar's markers."""
    return f"{INSTRUCTION}\n### Problem Start\n{question}\n### Problem End"


def box_close(generation: str) -> int | None:
    """Index of the ``}`` that closes the box the prompt opened, or None while it is open.

    Braces count as in :func:`cola.tasks.math500.last_boxed` (every ``{`` and ``}``,
    escaped or not), so ``\\frac{1}{2}}`` closes at its last brace.
    """
    depth = 1
    for i, char in enumerate(generation):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


class DirectAnswer(Task):
    """The direct-answer protocol over a math task's data: mixed in before MATH or GSM8K.

    Chat style puts the instruction and problem in the user turn and pre-fills the
    assistant turn with the opener; base style is PoLar's raw prompt plus the opener.
    """

    max_new_tokens = MAX_NEW_TOKENS

    def prompt(self, sample: Sample, tokenizer: Any, style: Style) -> str:
        if style == "chat":
            return chat_prompt(tokenizer, problem_block(sample.question), prefill=OPENER)
        return f"{problem_block(sample.question)}\n{OPENER}"

    def stop_strings(self, style: Style) -> list[str]:
        return []  # the closing brace or the token budget ends a generation

    def extract_answer(self, generation: str, sample: Sample) -> str | None:
        close = box_close(generation)
        if close is None:
            return None
        return generation[:close].strip() or None  # an empty box is no answer

    def settled(self, text: str, sample: Sample) -> bool:
        return box_close(text) is not None

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return answer is not None and math_equal(sample.gold, answer)


@register_task
class MATHDirect(DirectAnswer, MATH):
    """MATH-500 in the direct protocol: rows, ids and levels as ``math``."""

    name = "math_direct"


@register_task
class GSM8KDirect(DirectAnswer, GSM8K):
    """GSM8K in the direct protocol: the gold is the number after ``####``, compared by math-verify."""

    name = "gsm8k_direct"
