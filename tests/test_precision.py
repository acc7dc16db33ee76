"""Reduced precision: exact lanes reproduce the naive path bit for bit; --recheck measures the rest.

In bfloat16 a batched layer call may round differently from a call of one, so the fast
evaluator's answers can depend on batch-mates. ``exact`` mode gives every chain its own
calls; here its logits and tokens must equal the one-chain-at-a-time reference exactly
(``torch.equal``, not a tolerance), on the real SmolLM2 in bfloat16.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cola.engine import ChainModel
from cola.engine.decoding import Prefilled, decode_lanes
from cola.engine.lanes import Lane, run_lanes
from cola.evaluation.recheck import Recheck, naive_scorer, recheck_sample
from cola.evaluation.reference import naive_generate
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.tasks import get_task

PROMPTS = ["The capital of France is", "Count: one, two, three, four,"]
SPECS = ["0-12,12,13-29", "0-12,14-29", "0-5,3-5,6-29"]  # shared prefixes, a loop, a skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def smollm_bf16() -> ChainModel:
    return ChainModel.from_pretrained("smollm2-135m", dtype="bfloat16", device="cpu")


def test_model_loads_in_the_requested_dtype_and_passes_the_self_check(smollm_bf16: ChainModel):
    assert smollm_bf16.dtype == torch.bfloat16 and smollm_bf16.device.type == "cpu"
    assert smollm_bf16.self_check_diff is not None and smollm_bf16.self_check_diff <= 0.5


def test_exact_lanes_are_bitwise_the_one_at_a_time_path_in_bfloat16(smollm_bf16: ChainModel):
    model = smollm_bf16
    chains = [model.chain(spec) for spec in SPECS]
    rows, naive_logits, naive_tokens = [], [], []
    with torch.inference_mode():
        for prompt in PROMPTS:
            ids, _ = model.encode([prompt])
            hidden, step = model.prompt_step(ids)
            group = object()
            lanes = [Lane(chain, model.new_cache(chain), hidden, group=group) for chain in chains]
            run_lanes(model, lanes, step, separate=True)  # shared prefixes computed once, each lane alone
            logits = model.head_rows([lane.hidden[:, -1:] for lane in lanes], separate=True)[:, -1]
            rows += [Prefilled(lane, logits[i : i + 1], ids.shape[1]) for i, lane in enumerate(lanes)]
            for chain in chains:
                naive_logits.append(model.forward(chain, ids, logits_to_keep=1)[:, -1])
                naive_tokens.append(naive_generate(model, chain, ids, 4).token_ids)
        assert all(torch.equal(row.logits, ref) for row, ref in zip(rows, naive_logits))
        decoded = decode_lanes(model, rows, 4, separate=True)  # both prompts' lanes decode together
    assert [g.token_ids for g in decoded.generations] == naive_tokens


def test_exact_mode_answers_equal_naive_answers_in_bfloat16(smollm_bf16: ChainModel):
    task = get_task("arith")
    sample = task.load(limit=1)[0]
    chains = [smollm_bf16.chain(spec) for spec in SPECS]
    exact = ChainScorer(smollm_bf16, task, EvalConfig(mode="exact")).for_sample(sample).evaluate(chains)
    naive = ChainScorer(smollm_bf16, task, EvalConfig(mode="naive")).for_sample(sample).evaluate(chains)
    assert [(e.answer, e.reward) for e in exact] == [(e.answer, e.reward) for e in naive]


def test_recheck_counts_answers_and_verdicts_that_differ(smollm: ChainModel):
    task = get_task("arith")
    sample = task.load(limit=1)[0]
    scorer = ChainScorer(smollm, task)
    evaluations = scorer.for_sample(sample).evaluate([smollm.chain(spec) for spec in SPECS[:2]])
    naive = naive_scorer(scorer)
    assert naive.config.mode == "naive" and naive.config.style == scorer.config.style
    # float32: the fast answers are the naive ones
    assert recheck_sample(naive, sample, evaluations, 10, seed=0) == Recheck(2, 0, 0)
    # an evaluation whose answer and verdict are not what the naive path gives is counted
    wrong = dataclasses.replace(evaluations[1], answer="not an answer", reward=1.0 - evaluations[1].reward)
    assert recheck_sample(naive, sample, [evaluations[0], wrong], 10, seed=0) == Recheck(2, 1, 1)
    # fewer than all: a subset of the distinct chains (repeats count once), chosen by the seed
    assert recheck_sample(naive, sample, [wrong, evaluations[0], wrong], 1, seed=5).checked == 1
    with pytest.raises(ValueError, match="naive scorer"):
        recheck_sample(scorer, sample, evaluations, 1, seed=0)
