"""How chains are evaluated (:class:`EvalConfig`): the evaluation mode, scoring and prompt style.

Each choice is a ``Literal``; its arguments are the one list of valid values, which
validation, error messages and the command line's ``choices`` all read. The module
imports no torch, so ``cola --help`` can build its options from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from cola.errors import SettingError, is_finite_number, is_integer, require, require_choice
from cola.tasks.base import Style

Mode = Literal["fast", "naive", "exact"]
Scoring = Literal["generate", "choice"]
PromptStyle = Literal["auto", Style]  # "auto": "chat" when the tokenizer has a chat template, else "base"

MODES: tuple[str, ...] = get_args(Mode)
SCORINGS: tuple[str, ...] = get_args(Scoring)
PROMPT_STYLES: tuple[str, ...] = get_args(PromptStyle)


@dataclass
class EvalConfig:
    """How chains are evaluated; every field here can change answers or speed, so runs record it."""

    mode: Mode = field(
        default="fast",
        metadata={
            "help": "exact: fast, but each chain in its own layer calls, so answers never depend on "
            "batch-mates (in bfloat16/float16 fast ones can)"
        },
    )
    # "choice": one forward over the choice letters (multiple-choice tasks only).
    scoring: Scoring = "generate"
    style: PromptStyle = "auto"  # "chat" (chat template), "base" (plain few-shot) or "auto"
    max_new_tokens: int | None = None  # None: the task's default
    # Byte budget of the prompt-prefix tries, shared by the samples searched together.
    prefix_cache_mb: float = field(
        default=1024.0,
        metadata={"help": "memory for cached prompt states, shared by the samples searched together"},
    )
    # Check drafted tokens several at a time while decoding (cola.engine.drafting): the same
    # greedy text in fewer sequential steps. Exact mode never drafts (it stays bit for bit naive).
    draft: bool = field(
        default=True,
        metadata={"flag": "--no-draft", "help": "decode one token per step, without drafted tokens"},
    )

    def validate(self, task=None) -> EvalConfig:
        """Raise a :class:`SettingError` naming the first setting that cannot run; returns ``self``.

        With ``task``, also refuse choice scoring for a task that has no choices.
        """
        name = type(self).__name__
        require_choice(self.mode, MODES, name, "mode")
        require_choice(self.style, PROMPT_STYLES, name, "style")
        require_choice(self.scoring, SCORINGS, name, "scoring")
        if task is not None and self.scoring == "choice" and task.kind != "multiple_choice":
            raise SettingError(
                name,
                "scoring",
                f"{{setting}} choice needs a multiple-choice task; {task.name} is {task.kind}",
            )
        require(
            self.max_new_tokens is None or is_integer(self.max_new_tokens, 1),
            name,
            "max_new_tokens",
            "must be a positive integer",
            self.max_new_tokens,
        )
        require(
            is_finite_number(self.prefix_cache_mb) and self.prefix_cache_mb >= 0,
            name,
            "prefix_cache_mb",
            "must be a number >= 0",
            self.prefix_cache_mb,
        )
        require(isinstance(self.draft, bool), name, "draft", "must be true or false", self.draft)
        return self
