"""Sampling pass@E: the unmodified model's own diversity, as the null for chain diversity.

An oracle over E chains asks "is some chain right?"; the same question can be asked of
E *samples* of the full model, decoded with temperature. If sampling finds the answer as
often, the search's "fixes" measure answer diversity, not what depth adaptation adds
(the comparison Re-PoLar asks every chain predictor to pass). Each sample is drawn with
a seeded generator and graded by the task's own rule, exactly as a chain's answer is.

Generation (free-form tasks) samples with transformers' ``generate`` (``do_sample``,
``temperature``, ``top_p``) on the model itself: the full chain is the stock forward.
Choice scoring has no generation: each draw is a label sampled from the softmax of the
labels' logits divided by the temperature, restricted to the top-p nucleus of the labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

CHUNK = 16  # sequences sampled per generate call: bounds memory, not results (each has its own seed)


@dataclass
class SamplingOutcome:
    """``count`` seeded samples of the full model on one sample, graded against the gold label."""

    temperature: float
    top_p: float
    seed: int
    answers: list[str | None] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def correct(self) -> int:
        return sum(reward > 0.0 for reward in self.rewards)

    def to_json(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "answers": list(self.answers),
            "rewards": list(self.rewards),
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SamplingOutcome:
        return cls(
            temperature=float(data["temperature"]),
            top_p=float(data["top_p"]),
            seed=int(data["seed"]),
            answers=[None if a is None else str(a) for a in data["answers"]],
            rewards=[float(r) for r in data["rewards"]],
            seconds=float(data.get("seconds", 0.0)),
        )


@torch.inference_mode()
def sample_full_model(evaluator, count: int, temperature: float, top_p: float, seed: int) -> SamplingOutcome:
    """``count`` samples of the full model on ``evaluator``'s sample (a :class:`SampleEvaluator`)."""
    start = time.perf_counter()
    outcome = SamplingOutcome(temperature, top_p, seed)
    if count > 0:
        if evaluator.scorer.config.scoring == "choice":
            answers = _sample_labels(evaluator, count, temperature, top_p, seed)
        else:
            answers = _sample_generations(evaluator, count, temperature, top_p, seed)
        for answer in answers:
            outcome.answers.append(answer.answer)
            outcome.rewards.append(answer.reward)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _sample_generations(evaluator, count: int, temperature: float, top_p: float, seed: int):
    """Graded evaluations of ``count`` sampled continuations, ``CHUNK`` per seeded generate call."""
    model, scorer = evaluator.model, evaluator.scorer
    chain = tuple(range(model.num_layers))
    graded = []
    for offset in range(0, count, CHUNK):
        size = min(CHUNK, count - offset)
        with torch.random.fork_rng(devices=[]):  # seeded draws that leave the global generator alone
            torch.manual_seed(seed + offset)
            out = model.model.generate(
                input_ids=evaluator.input_ids.expand(size, -1),
                attention_mask=evaluator.attention_mask.expand(size, -1),
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                max_new_tokens=scorer.max_new_tokens,
                pad_token_id=model.eos_ids()[0] if model.eos_ids() else None,
                eos_token_id=model.eos_ids() or None,
                **({"stop_strings": scorer.stops, "tokenizer": model.tokenizer} if scorer.stops else {}),
            )
        eos = set(model.eos_ids())
        for row in out[:, evaluator.prompt_length :].tolist():
            graded.append(evaluator.grade(chain, model.tokenizer.decode(_until_eos(row, eos))))
    return graded


def _until_eos(tokens: list[int], eos: set[int]) -> list[int]:
    for index, token in enumerate(tokens):
        if token in eos:
            return tokens[:index]
    return tokens


def _sample_labels(evaluator, count: int, temperature: float, top_p: float, seed: int):
    """Graded labels drawn from the tempered softmax over the choice labels' logits (top-p nucleus)."""
    model, scorer = evaluator.model, evaluator.scorer
    chain = tuple(range(model.num_layers))
    labels = scorer.task.choice_labels(evaluator.sample)
    logits = model.forward(chain, evaluator.input_ids, logits_to_keep=1)[0, -1].float()
    scores = torch.tensor([max(float(logits[i]) for i in scorer.letter_token_ids(label)) for label in labels])
    probs = torch.softmax(scores / temperature, dim=0)
    order = torch.argsort(probs, descending=True)
    before = torch.cumsum(probs[order], dim=0) - probs[order]
    nucleus = torch.zeros_like(probs)
    nucleus[order[before < top_p]] = probs[order[before < top_p]]
    generator = torch.Generator().manual_seed(seed)
    draws = torch.multinomial(nucleus / nucleus.sum(), count, replacement=True, generator=generator)
    return [evaluator.grade_answer(chain, labels[int(i)]) for i in draws.tolist()]
