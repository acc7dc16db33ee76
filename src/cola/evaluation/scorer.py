"""Evaluating chains on one sample: prompt -> chain forward -> answer -> reward.

Three modes give identical answers in float32:

* ``naive`` mirrors public CoLa code: every chain re-encodes the whole prompt from the
  embeddings, one chain at a time, and greedy-decodes up to ``max_new_tokens`` (or EOS).
* ``fast`` resumes each chain from the longest cached chain prefix
  (:class:`cola.evaluation.prefix_cache.PrefixCache`), reuses the prompt's masks and rotary tables,
  runs all candidate chains in lock-step (:mod:`cola.engine.lanes`), and stops decoding as
  soon as the task says the answer can no longer change (``Task.answer_complete``),
  which is exact by that method's contract. :meth:`ChainScorer.evaluate_many` takes the
  new chains of several samples at once (see :mod:`cola.evaluation.batching`): their lanes decode
  together, in shared layer calls and one LM-head call per token. Unless ``EvalConfig.draft``
  is off, each step also checks drafted tokens (:mod:`cola.engine.drafting`), which keeps
  the greedy text and takes fewer steps.
* ``exact`` is ``fast`` (prefix trie, exact early stop) with every chain in its own layer
  and LM-head calls and no drafts, so an answer never depends on the chains batched beside it. In
  bfloat16/float16 a batched call can round differently from a call of one, and ``fast``
  answers can then differ from ``naive`` ones; ``exact`` answers are the ``naive`` ones.

Multiple-choice tasks may instead be scored by one forward over the choice letters
(``scoring="choice"``): the answer is the letter with the highest next-token logit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from cola.engine.chain import Chain, full_chain
from cola.engine.decoding import Prefilled, decode_lanes
from cola.engine.drafting import DraftPool
from cola.engine.lanes import Lane, run_lanes
from cola.engine.model import ChainModel
from cola.engine.state import load_slot
from cola.evaluation.config import EvalConfig, Mode, Scoring
from cola.evaluation.prefix_cache import PrefixCache, PrefixState
from cola.evaluation.reference import naive_generate
from cola.evaluation.result import Evaluation
from cola.tasks.base import STYLES, GradingTimeout, truncate_at

__all__ = ["ChainScorer", "EvalConfig", "EvalStats", "Mode", "SampleEvaluator", "Scoring", "resolve_style"]


@dataclass
class EvalStats:
    """Work counters, for the speed benchmark (layer-forwards are per token block)."""

    chains: int = 0
    prefill_layer_forwards: int = 0
    decode_steps: int = 0  # lane steps: one pass of a chain's newest token (and its draft)
    decode_layer_forwards: int = 0
    generated_tokens: int = 0  # tokens the chains generated (kept in their texts)
    decode_accepted: int = 0  # tokens the decode steps gave (decode_accepted / decode_steps per step)
    decode_rounds: int = 0  # sequential lock-step rounds (fast mode; naive: its steps)
    seconds: float = 0.0
    prefill_seconds: float = 0.0  # fast mode: time in prompt passes (the rest is decoding and grading)
    # The least prefill work possible: each distinct chain prefix of each sample computed once.
    min_prefill_layer_forwards: int = 0
    # Largest total size of the prefix tries of the samples evaluated together.
    prefix_cache_peak_bytes: int = 0

    def count_prefixes(self, seen: set[tuple[int, ...]], chain: Chain) -> None:
        """Add the prefixes of ``chain`` not in ``seen`` (one sample's prefixes so far)."""
        before = len(seen)
        seen.update(chain[: i + 1] for i in range(len(chain)))
        self.min_prefill_layer_forwards += len(seen) - before


def resolve_style(style: str, tokenizer) -> str:
    """The prompt style a config's ``style`` means for ``tokenizer`` (``auto``: chat if it has a template)."""
    if style == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "base"
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; use {', '.join(STYLES)} or auto")
    return style


class ChainScorer:
    """Evaluates chains for (model, task, config); one :class:`SampleEvaluator` per sample."""

    def __init__(self, model: ChainModel, task, config: EvalConfig | None = None):
        self.model = model
        self.task = task
        self.config = (config or EvalConfig()).validate(task)
        self.style = resolve_style(self.config.style, model.tokenizer)
        self.max_new_tokens = self.config.max_new_tokens or task.max_new_tokens
        self.stops = list(task.stop_strings(self.style))
        self.stats = EvalStats()
        self._letter_ids: dict[str, list[int]] = {}

    def for_sample(self, sample, batcher=None, concurrent_samples: int = 1) -> SampleEvaluator:
        """An evaluator for one sample; with ``batcher`` its evaluations join other samples'.

        Prefix states are prompt-specific, so each sample gets its own trie, with an equal
        share of the byte budget among ``concurrent_samples``.
        """
        budget = int(self.config.prefix_cache_mb * 2**20 / max(concurrent_samples, 1))
        return SampleEvaluator(self, sample, PrefixCache(budget), batcher)

    def evaluate_many(
        self, requests: Sequence[tuple[SampleEvaluator, list[Chain]]]
    ) -> list[list[Evaluation]]:
        """Evaluate new chains of one or more samples; in fast mode all of them decode together."""
        stats = self.stats
        start = time.perf_counter()
        for evaluator, chains in requests:
            for chain in chains:
                stats.count_prefixes(evaluator.prefixes, chain)
        with torch.inference_mode():
            if self.config.mode == "naive":
                results = [[ev.evaluate_naive(chain) for chain in chains] for ev, chains in requests]
            else:
                results = self._evaluate_fast([ev for ev, _ in requests], [chains for _, chains in requests])
        stats.seconds += time.perf_counter() - start
        stats.chains += sum(len(chains) for _, chains in requests)
        in_use = sum(ev.prefix_cache.bytes for ev, _ in requests)
        stats.prefix_cache_peak_bytes = max(stats.prefix_cache_peak_bytes, in_use)
        return results

    def _evaluate_fast(
        self, evaluators: list[SampleEvaluator], chains: list[list[Chain]]
    ) -> list[list[Evaluation]]:
        """Prefill each sample's chains from its trie, then one LM-head call and one decode for all."""
        lanes = [evaluator.prefill(sample_chains) for evaluator, sample_chains in zip(evaluators, chains)]
        start = time.perf_counter()
        separate = self.config.mode == "exact"
        last = self.model.head_rows([lane.hidden[:, -1:] for group in lanes for lane in group], separate)[
            :, -1
        ]
        self.stats.prefill_seconds += time.perf_counter() - start
        bounds = [0]
        for group in lanes:
            bounds.append(bounds[-1] + len(group))
        logits = [last[a:b] for a, b in zip(bounds, bounds[1:])]
        if self.config.scoring == "choice":
            return [
                [evaluator.choose(lane.chain, sample_logits[i : i + 1]) for i, lane in enumerate(group)]
                for evaluator, group, sample_logits in zip(evaluators, lanes, logits)
            ]
        rows = [
            Prefilled(
                lane,
                sample_logits[i : i + 1],
                evaluator.prompt_length,
                evaluator.answer_final,
                prompt_ids=evaluator.prompt_ids,
                pool=evaluator.draft_pool,
            )
            for evaluator, group, sample_logits in zip(evaluators, lanes, logits)
            for i, lane in enumerate(group)
        ]
        # Exact mode never drafts: a multi-token step rounds otherwise than the naive single steps.
        draft = self.config.draft and not separate
        decoded = decode_lanes(self.model, rows, self.max_new_tokens, separate, draft=draft)
        self.stats.decode_layer_forwards += decoded.layer_forwards
        self.stats.decode_steps += decoded.steps
        self.stats.decode_accepted += decoded.accepted
        self.stats.decode_rounds += decoded.rounds
        self.stats.generated_tokens += sum(len(g.token_ids) for g in decoded.generations)
        texts = iter(g.text for g in decoded.generations)
        return [
            [evaluator.grade(lane.chain, next(texts)) for lane in group]
            for evaluator, group in zip(evaluators, lanes)
        ]

    def letter_token_ids(self, label: str) -> list[int]:
        """First token of the label with and without a leading space (both are plausible next tokens)."""
        if label not in self._letter_ids:
            ids = set()
            for text in (label, " " + label):
                encoded = self.model.tokenizer.encode(text, add_special_tokens=False)
                if encoded:
                    ids.add(encoded[0])
            self._letter_ids[label] = sorted(ids)
        return self._letter_ids[label]


class SampleEvaluator:
    """Implements the search's ``ChainEvaluator`` protocol for one sample."""

    def __init__(self, scorer: ChainScorer, sample, prefix_cache: PrefixCache, batcher=None):
        self.scorer = scorer
        self.sample = sample
        self.model = scorer.model
        self.prefix_cache = prefix_cache
        # A cola.evaluation.batching.EvaluationBatcher when samples are searched together.
        self.batcher = batcher
        self.prompt = scorer.task.prompt(sample, self.model.tokenizer, scorer.style)
        self.input_ids, self.attention_mask = self.model.encode([self.prompt])
        self.prompt_length = self.input_ids.shape[1]
        self.prefixes: set[tuple[int, ...]] = set()  # every chain prefix asked for (work minimum)
        self._step = None  # masks and rotary tables of the prompt, shared by every chain
        self.prompt_ids = self.input_ids[0].tolist()  # where drafts are looked up
        self.draft_pool = DraftPool()  # this sample's generations so far, drafted from
        self._memo: dict[Chain, Evaluation] = {}
        self.decoy: str | None = None  # a wrong label to grade every answer against too (set_decoy)
        self._decoy_sample = None
        # Told of every chain the model newly evaluated for this sample (e.g. a run's sample
        # journal, so a stopped run can replay them instead of computing them again).
        self.on_evaluated: Callable[[list[Evaluation]], None] | None = None

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    def evaluate(self, chains: Sequence[Chain]) -> list[Evaluation]:
        """Evaluate a batch of chains (one batched pass in fast mode); repeats are free."""
        chains = [tuple(c) for c in chains]
        new = [c for c in dict.fromkeys(chains) if c not in self._memo]
        if new:
            if self.batcher is not None:
                results = self.batcher.submit(self, new)
            else:
                results = self.scorer.evaluate_many([(self, new)])[0]
            self._memo.update(zip(new, results))
            if self.on_evaluated is not None:
                self.on_evaluated(list(results))
        return [self._with_decoy(c) for c in chains]

    def preload(self, evaluations: Sequence[Evaluation]) -> None:
        """Take evaluations made earlier for this sample (same model, task and settings) as already done.

        A search asking for them again gets them back without a model pass, so a
        deterministic search replays up to where an earlier, stopped run got.
        """
        for evaluation in evaluations:
            self._memo.setdefault(tuple(evaluation.chain), evaluation)

    def original(self) -> Evaluation:
        return self.evaluate([full_chain(self.num_layers)])[0]

    def set_decoy(self, label: str | None) -> None:
        """Grade every answer (past and future) against ``label`` too, as ``Evaluation.decoy_reward``."""
        self.decoy = label
        self._decoy_sample = None if label is None else dataclasses.replace(self.sample, gold=label)

    # ------------------------------------------- grading, and the passes ChainScorer runs per sample
    def _with_decoy(self, chain: Chain) -> Evaluation:
        """The memoised evaluation, graded against the decoy label once one is set."""
        evaluation = self._memo[chain]
        if self._decoy_sample is not None and evaluation.decoy_reward is None:
            reward, timed_out = self._correctness(evaluation.answer, self._decoy_sample)
            evaluation = dataclasses.replace(
                evaluation, decoy_reward=reward, grading_timed_out=evaluation.grading_timed_out or timed_out
            )
            if not timed_out:  # a timed-out grading is never cached: it is tried again next time
                self._memo[chain] = evaluation
        return evaluation

    def _correctness(self, answer: str | None, sample) -> tuple[float, bool]:
        """``(1.0 or 0.0, timed out)``: a grader that gives up counts as wrong and says so."""
        try:
            return (1.0 if self.scorer.task.is_correct(answer, sample) else 0.0), False
        except GradingTimeout:
            return 0.0, True

    def _evaluation(self, chain: Chain, answer: str | None, text: str, timed_out: bool = False) -> Evaluation:
        """The evaluation of an extracted ``answer``, graded against the sample's gold label."""
        reward, late = self._correctness(answer, self.sample)
        return Evaluation(
            chain=chain, answer=answer, reward=reward, text=text, grading_timed_out=timed_out or late
        )

    def grade_answer(self, chain: Chain, answer: str | None) -> Evaluation:
        """The evaluation of an answer given directly (a sampled choice label), graded against the gold label."""
        return self._evaluation(chain, answer, "")

    def grade(self, chain: Chain, text: str) -> Evaluation:
        """A generation's evaluation: its answer (cut at the stop strings) and that answer's reward."""
        try:
            answer = self.scorer.task.extract_answer(truncate_at(text, self.scorer.stops), self.sample)
        except GradingTimeout:
            return self._evaluation(chain, None, text, timed_out=True)
        return self._evaluation(chain, answer, text)

    def evaluate_naive(self, chain: Chain) -> Evaluation:
        """One chain re-encoding the whole prompt and decoding alone (``naive`` mode)."""
        stats = self.scorer.stats
        if self.scorer.config.scoring == "choice":
            logits = self.model.forward(chain, self.input_ids, logits_to_keep=1)[:, -1]
            stats.prefill_layer_forwards += len(chain)
            return self.choose(chain, logits)
        generation = naive_generate(self.model, chain, self.input_ids, self.scorer.max_new_tokens)
        steps = max(len(generation.token_ids) - 1, 0)
        stats.prefill_layer_forwards += len(chain)
        stats.decode_steps += steps
        stats.decode_accepted += steps
        stats.decode_rounds += steps
        stats.generated_tokens += len(generation.token_ids)
        stats.decode_layer_forwards += steps * len(chain)
        return self.grade(chain, generation.text)

    def _prompt_step(self):
        """The prompt's embeddings, masks and rotary tables: the same for every chain."""
        if self._step is None:
            self._embedded, self._step = self.model.prompt_step(self.input_ids)
        return self._step

    def answer_final(self, text: str) -> bool:
        """Decoding may stop: a stop string appeared, or the task says the answer cannot change."""
        stops = self.scorer.stops
        return any(s in text for s in stops) or self.scorer.task.answer_complete(
            truncate_at(text, stops), self.sample
        )

    def prefill(self, chains: list[Chain]) -> list[Lane]:
        """Run the prompt through every chain, resuming each from its longest cached prefix."""
        model, prefix_cache, stats = self.model, self.prefix_cache, self.scorer.stats
        step = self._prompt_step()
        seen = self.prompt_length
        lanes = []
        for chain in chains:
            states = prefix_cache.lookup(chain)
            cache = model.new_cache(chain)
            for slot, state in enumerate(states):
                load_slot(cache, slot, state.keys, state.values, state.seen)
            lanes.append(
                Lane(chain, cache, states[-1].hidden if states else self._embedded, len(states), group=self)
            )

        def remember(lane: Lane) -> None:
            slot = lane.cache.layers[lane.position]
            prefix_cache.insert(
                lane.chain, lane.position, PrefixState(lane.hidden, slot.keys, slot.values, seen)
            )

        start = time.perf_counter()
        separate = self.scorer.config.mode == "exact"
        stats.prefill_layer_forwards += run_lanes(model, lanes, step, remember, separate)
        stats.prefill_seconds += time.perf_counter() - start
        return lanes

    def choose(self, chain: Chain, last_logits: torch.Tensor) -> Evaluation:
        """Choice scoring: the label whose token has the highest next-token logit is the answer."""
        labels = self.scorer.task.choice_labels(self.sample)
        scores = []
        for label in labels:
            ids = self.scorer.letter_token_ids(label)
            scores.append(max(float(last_logits[0, i]) for i in ids))
        return self._evaluation(chain, labels[max(range(len(labels)), key=scores.__getitem__)], "")
