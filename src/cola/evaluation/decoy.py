"""Decoy labels: the control that shows what label-guided search finds when the label says nothing.

Every oracle statistic ("a shorter correct chain exists", "some chain fixes the wrong
answer") is measured by a search that looks at the gold label. With hundreds of chains
tried, many such findings happen by chance. The decoy control repeats the measurement
with a *wrong* label in place of the gold one, chosen by a rule that swaps which
samples count as "originally correct":

* where the full model is wrong and gave an answer, the decoy is that answer: the
  decoy's "shorter chain" rate is then how often a shorter chain keeps a wrong answer;
* everywhere else (the full model is right, or gave no answer) the decoy is a seeded
  wrong answer that differs from the full model's: the decoy's "fix" rate is how often
  search reaches a specific wrong answer.

The wrong answers come from the task (:meth:`cola.tasks.base.Task.wrong_answer`: another
choice letter, another number from the task's answer distribution, another sample's
gold answer). Grading against the decoy reuses each chain's answer, so it costs nothing
for strategies that do not look at the label; a decoy-guided search is a second search
(:class:`DecoyTarget` hands it the decoy reward).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from cola.engine.chain import Chain
from cola.evaluation.result import Evaluation


def choose_decoy(task, sample, original: Evaluation, pool: Sequence[str], seed: int) -> str | None:
    """The decoy label of ``sample`` given the full model's evaluation (see the module docstring).

    ``pool`` is the task's answer distribution at hand (e.g. the gold answers of the run's
    samples); ``seed`` makes the choice reproducible. None when the task has no wrong answer
    to offer (e.g. every pool answer is equivalent to the gold one).
    """
    if not original.correct and original.answer is not None and not task.is_correct(original.answer, sample):
        return original.answer
    return task.wrong_answer(sample, random.Random(seed), pool, exclude=original.answer)


class DecoyTarget:
    """An evaluator view whose rewards are the decoy rewards: what a decoy-guided search sees.

    The evaluations it returns have ``reward`` and ``decoy_reward`` exchanged; call
    :meth:`~cola.evaluation.result.Evaluation.swapped` again to store them the right way round.
    """

    def __init__(self, evaluator):
        if evaluator.decoy is None:
            raise ValueError("the evaluator has no decoy label: call set_decoy first")
        self.evaluator = evaluator

    def evaluate(self, chains: Sequence[Chain]) -> list[Evaluation]:
        return [evaluation.swapped() for evaluation in self.evaluator.evaluate(chains)]
