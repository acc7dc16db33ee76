"""MATH (the MATH-500 subset): competition problems graded by symbolic equivalence.

Rows follow ``HuggingFaceH4/MATH-500``; ``level`` (1-5) and ``subject`` go to
``Sample.meta`` so runs can be filtered and reported by difficulty
(``load(..., levels=[1, 2])``). The answer is the content of the generation's last
``\\boxed{...}``, or failing that whatever final expression ``math-verify`` finds; grading
is ``math_verify.verify``, so ``\\frac{1}{2}``, ``\\dfrac12`` and ``0.5`` all match.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from cola.tasks import sources
from cola.tasks.base import Sample, Style, Task, chat_prompt
from cola.tasks.registry import register_task

INSTRUCTION = "Solve the following math problem. Put the final answer in \\boxed{}."
# An original worked example (not from MATH) for the base-model prompt.
SHOT = (
    "Problem: What is $\\frac{1}{2} + \\frac{1}{3}$?\n"
    "Solution: $\\frac{1}{2} + \\frac{1}{3} = \\frac{3}{6} + \\frac{2}{6} = \\boxed{\\frac{5}{6}}$.\n\n"
)
BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` (nested braces allowed), else None."""
    for match in reversed(list(BOXED_RE.finditer(text))):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    content = text[start:i].strip()
                    if content:
                        return content
                    break
    return None


def _timeout() -> int | None:
    # math-verify's timeout uses SIGALRM, which only the main thread may set.
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parsed(expression: str) -> tuple:
    from math_verify import parse

    return tuple(parse(f"\\boxed{{{expression}}}", parsing_timeout=_timeout()))


def math_equal(gold: str, answer: str) -> bool:
    """``math_verify.verify`` of two answer expressions (LaTeX without ``$``)."""
    from math_verify import verify

    parsed_gold, parsed_answer = _parsed(gold), _parsed(answer)
    if not parsed_gold or not parsed_answer:
        return gold.strip() == answer.strip()
    try:
        return bool(verify(list(parsed_gold), list(parsed_answer), timeout_seconds=_timeout()))
    except Exception:  # sympy can fail on exotic expressions: count as not equal
        return False


def parse_level(value: object) -> int | None:
    """``3`` or ``"Level 3"`` -> 3; anything else (``"Level ?"``) -> None."""
    match = re.search(r"\d+", str(value))
    return int(match.group()) if match else None


@register_task
class MATH(Task):
    name = "math"
    kind = "generative"
    max_new_tokens = 512
    hf_path = "HuggingFaceH4/MATH-500"
    bundled_file = "math500_test.jsonl"
    required_fields = ("problem", "answer")
    has_levels = True

    def parse_row(self, row: dict, index: int, split: str, where: str) -> Sample:
        answer = sources.text_field(row, "answer", where, numbers=True).strip()
        meta: dict[str, Any] = {}
        if row.get("level") is not None:
            meta["level"] = parse_level(sources.text_field(row, "level", where, numbers=True))
        if row.get("subject") is not None:
            meta["subject"] = sources.text_field(row, "subject", where, empty=True)
        id_field = next((f for f in ("unique_id", "id") if row.get(f) not in (None, "")), None)
        sample_id = sources.text_field(row, id_field, where, numbers=True) if id_field else f"{split}-{index}"
        return Sample(id=sample_id, question=sources.text_field(row, "problem", where), gold=answer, meta=meta)

    def prompt(self, sample: Sample, tokenizer: Any, style: Style) -> str:
        if style == "chat":
            return chat_prompt(tokenizer, f"{INSTRUCTION}\n\n{sample.question}")
        return f"{SHOT}Problem: {sample.question}\nSolution:"

    def stop_strings(self, style: Style) -> list[str]:
        return ["Problem:"] if style == "base" else []

    def extract_answer(self, generation: str, sample: Sample) -> str | None:
        boxed = last_boxed(generation)
        if boxed is not None:
            return boxed
        from math_verify import parse

        try:
            parsed = parse(generation, parsing_timeout=_timeout())
        except Exception:
            return None
        return str(parsed[1]) if len(parsed) > 1 and str(parsed[1]).strip() else None

    # settled() stays False: a later \boxed{} would replace the answer, so only EOS or a
    # stop string ends a MATH generation.

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return answer is not None and math_equal(sample.gold, answer)
