"""Searching several samples at once, so their candidate chains share model passes.

A search strategy is ordinary sequential code that calls ``evaluator.evaluate(chains)``
and waits. To batch across samples without rewriting every strategy as a coroutine,
each sample's search runs in its own thread; its evaluator hands requests to an
:class:`EvaluationBatcher` and blocks. Once every running search is blocked (or done),
the calling thread evaluates all pending requests in one pass
(:meth:`cola.evaluation.scorer.ChainScorer.evaluate_many`: one lock-step decode for all samples)
and wakes them. Only the calling thread touches the model; the search threads run the
cheap tree bookkeeping (evaluators, which tokenize, are made in the calling thread too).
Each sample's search stays deterministic: it sees exactly the
evaluations it would see alone (batched kernels only reorder float sums).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cola.engine.chain import Chain


class _Aborted(Exception):
    """Raised in search threads when the batch they wait for will never come."""


@dataclass
class _Request:
    evaluator: Any
    chains: list[Chain]
    result: list | None = None


@dataclass
class _Finished:
    index: int
    value: Any = None
    error: BaseException | None = None


@dataclass
class EvaluationBatcher:
    """Collects ``evaluate`` requests from search threads; the owner thread serves them."""

    scorer: Any
    _cv: threading.Condition = field(default_factory=threading.Condition)
    _pending: list[_Request] = field(default_factory=list)
    _finished: deque = field(default_factory=deque)
    _live: int = 0
    _aborted: bool = False

    def submit(self, evaluator, chains: list[Chain]) -> list:
        """Called by a search thread: wait until the owner has evaluated ``chains``."""
        request = _Request(evaluator, chains)
        with self._cv:
            if self._aborted:
                raise _Aborted
            self._pending.append(request)
            self._cv.notify_all()
            while request.result is None and not self._aborted:
                self._cv.wait()
            if request.result is None:
                raise _Aborted
            return request.result

    def run(
        self, samples: Sequence, work: Callable[[Any], Any], concurrency: int
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, work(evaluator))`` for every sample as searches finish.

        At most ``concurrency`` searches run at once; an error in any search or in the
        model pass stops all of them and is raised here.
        """
        todo = deque(enumerate(samples))
        try:
            while True:
                with self._cv:
                    while todo and self._live < concurrency:
                        index, sample = todo.popleft()
                        self._start(index, sample, work, concurrency)
                    while not self._finished and not (self._pending and len(self._pending) == self._live):
                        if not self._live:
                            return
                        self._cv.wait()
                    finished = list(self._finished)
                    self._finished.clear()
                    batch = [] if finished else list(self._pending)
                    if batch:
                        self._pending.clear()
                for item in finished:
                    if item.error is not None:
                        raise item.error
                    yield item.index, item.value
                if batch:
                    results = self.scorer.evaluate_many([(r.evaluator, r.chains) for r in batch])
                    with self._cv:
                        for request, result in zip(batch, results):
                            request.result = result
                        self._cv.notify_all()
        finally:
            with self._cv:
                self._aborted = True
                self._cv.notify_all()

    def _start(self, index: int, sample, work: Callable[[Any], Any], concurrency: int) -> None:
        # Made here, in the owner thread: tokenizers are not safe to share across threads.
        evaluator = self.scorer.for_sample(sample, batcher=self, concurrent_samples=concurrency)
        self._live += 1

        def body() -> None:
            outcome = _Finished(index)
            try:
                outcome.value = work(evaluator)
            except _Aborted:
                pass
            except BaseException as error:  # handed to the owner thread, which raises it
                outcome.error = error
            with self._cv:
                self._live -= 1
                self._finished.append(outcome)
                self._cv.notify_all()

        threading.Thread(target=body, name=f"cola-search-{index}", daemon=True).start()


def search_together(
    scorer, samples: Sequence, work: Callable[[Any], Any], concurrency: int
) -> Iterator[tuple[int, Any]]:
    """Run ``work(evaluator)`` for each sample, ``concurrency`` samples sharing each model pass.

    With ``concurrency <= 1`` this is a plain loop (no threads). Yields ``(index, result)``
    in completion order.
    """
    if concurrency <= 1:
        for index, sample in enumerate(samples):
            yield index, work(scorer.for_sample(sample))
        return
    yield from EvaluationBatcher(scorer).run(samples, work, concurrency)
