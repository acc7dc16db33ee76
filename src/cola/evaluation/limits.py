"""Checking, before a search starts, that every sample's prompt fits the model's context.

A prompt past the context window would run on positions the model never saw and give
silently degraded answers; one found halfway through a run would stop it with records
already written. So the runner checks all prompts (plus the answer budget) up front and
refuses with the sample and both lengths named. Tokenizing prompts is cheap next to a
search.
"""

from __future__ import annotations

from collections.abc import Iterable


def check_prompts_fit(scorer, samples: Iterable) -> None:
    """ContextLengthError for the first sample whose prompt + ``max_new_tokens`` exceeds the context."""
    model = scorer.model
    for sample in samples:
        prompt = scorer.task.prompt(sample, model.tokenizer, scorer.style)
        new_tokens = scorer.max_new_tokens if scorer.config.scoring == "generate" else 0
        model.check_fits(model.count_tokens(prompt), new_tokens, f"the prompt of sample {sample.id!r}")
