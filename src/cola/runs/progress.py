"""The progress bar of ``cola search``: chains evaluated across every arm, samples done beside it.

One sample of a long task takes minutes (every arm evaluates up to ``simulations`` chains),
so a bar counting samples sits at ``0/N`` for most of a run and its ETA means nothing. The
bar counts chains instead: each sample is worth its chain budget (:func:`chain_budget`: the
full model once, plus ``simulations`` for each arm), every chain an arm asks for moves the
bar by one (chains answered from the sample's memo too: an arm's budget is spent either
way), and a finished sample tops its share up to the budget (a search may stop early),
so the bar reaches its total exactly when the last sample is done.
"""

from __future__ import annotations

import threading


def chain_budget(config) -> int:
    """Chains one sample may ask for: the full model, ``simulations`` per arm (search, baseline, decoy,
    length-matched null) and the fixed menu's chains (sampling pass@E evaluates no chain)."""
    from cola.runs.menu import MENU_SIZE

    arms = 1 + sum(bool(on) for on in (config.baseline, config.decoy, config.length_null))
    return 1 + arms * config.search.simulations + (MENU_SIZE if config.menu_from else 0)


class ChainProgress:
    """A tqdm bar over ``samples * budget`` chains; safe to update from the search threads."""

    def __init__(self, samples: int, done: int, budget: int, enabled: bool = True):
        from tqdm import tqdm

        self.budget = max(1, budget)
        self.samples = samples
        self.done = done
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.bar = tqdm(
            total=samples * self.budget,
            initial=done * self.budget,
            unit="chain",
            disable=not enabled,
            dynamic_ncols=True,
        )
        self._postfix()

    def track(self, evaluator) -> None:
        """Count every chain ``evaluator``'s arms ask for (its ``evaluate`` calls) on this bar."""
        evaluate, sample_id = evaluator.evaluate, evaluator.sample.id

        def counting(chains):
            results = evaluate(chains)
            self._advance(sample_id, len(results))
            return results

        evaluator.evaluate = counting

    def _advance(self, sample_id: str, chains: int) -> None:
        with self._lock:
            before = self._counts.get(sample_id, 0)
            after = min(self.budget, before + chains)
            self._counts[sample_id] = after
            self.bar.update(after - before)

    def sample_done(self, sample_id: str) -> None:
        """The sample's record is written: its share of the bar is full."""
        with self._lock:
            self.done += 1
            self._postfix()
        self._advance(sample_id, self.budget)

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"{self.done}/{self.samples} samples", refresh=False)

    def close(self) -> None:
        self.bar.close()
