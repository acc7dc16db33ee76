"""MATH (the MATH-500 subset): competition problems graded by symbolic equivalence.

Rows follow ``HuggingFaceH4/MATH-500``; ``level`` (1-5) and ``subject`` go to
``Sample.meta`` so runs can be filtered and reported by difficulty
(``load(..., levels=[1, 2])``). The answer is the content of the generation's last
``\\boxed{...}``, or failing that whatever final expression ``math-verify`` finds; grading
is ``math_verify.verify``, so ``\\frac{1}{2}``, ``\\dfrac12`` and ``0.5`` all match.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from cola.tasks import sources
from cola.tasks.base import GradingTimeout, Sample, Style, Task, chat_prompt
from cola.tasks.registry import register_task

INSTRUCTION = "Solve the following math problem. Put the final answer in \\boxed{}."
# An original worked example (not from MATH) for the base-model prompt.
SHOT = (
    "Problem: What is $\\frac{1}{2} + \\frac{1}{3}$?\n"
    "Solution: $\\frac{1}{2} + \\frac{1}{3} = \\frac{3}{6} + \\frac{2}{6} = \\boxed{\\frac{5}{6}}$.\n\n"
)
# math-verify warns once that we disabled its wall-clock timeouts: we bound CPU time instead.
logging.getLogger("math_verify").setLevel(logging.ERROR)
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


# Grading budget in CPU seconds of this process, not wall-clock seconds: a busy machine
# slows the clock, not the CPU time a sympy comparison needs, so verdicts do not depend
# on load. An expression that needs more is recorded as "grading timed out".
GRADING_CPU_SECONDS = 10.0
MAX_EXPRESSION_CHARS = 400  # longer "answers" are babble, not expressions: compared as text


class _OutOfTime(BaseException):
    """A BaseException, so that math-verify's own ``except Exception`` cannot turn it into "unparseable"."""


@contextmanager
def _cpu_time_limit(seconds: float):
    """Raise GradingTimeout if the block uses more than ``seconds`` of CPU time (main thread only).

    Off the main thread no signal can be delivered, so the block runs unbounded (it still
    gives the same verdict; it may only take longer).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    except _OutOfTime:
        raise GradingTimeout(f"math grading used more than {seconds:g} CPU seconds") from None
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


@lru_cache(maxsize=4096)
def _parsed(expression: str) -> tuple:
    """math-verify's parse of ``\\boxed{expression}``; a timeout raises (and lru_cache keeps nothing)."""
    from math_verify import parse

    with _cpu_time_limit(GRADING_CPU_SECONDS):
        return tuple(parse(f"\\boxed{{{expression}}}", parsing_timeout=None))


def math_equal(gold: str, answer: str) -> bool:
    """``math_verify.verify`` of two answer expressions (LaTeX without ``$``)."""
    from math_verify import verify

    if len(answer) > MAX_EXPRESSION_CHARS:
        return gold.strip() == answer.strip()
    parsed_gold, parsed_answer = _parsed(gold), _parsed(answer)
    if not parsed_gold or not parsed_answer:
        return gold.strip() == answer.strip()
    try:
        with _cpu_time_limit(GRADING_CPU_SECONDS):
            return bool(verify(list(parsed_gold), list(parsed_answer), timeout_seconds=None))
    except GradingTimeout:
        raise
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
        return Sample(
            id=sample_id, question=sources.text_field(row, "problem", where), gold=answer, meta=meta
        )

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
            with _cpu_time_limit(GRADING_CPU_SECONDS):
                parsed = parse(generation, parsing_timeout=None)
        except GradingTimeout:
            raise
        except Exception:
            return None
        return str(parsed[1]) if len(parsed) > 1 and str(parsed[1]).strip() else None

    # settled() stays False: a later \boxed{} would replace the answer, so only EOS or a
    # stop string ends a MATH generation.

    def is_correct(self, answer: str | None, sample: Sample) -> bool:
        return answer is not None and math_equal(sample.gold, answer)
