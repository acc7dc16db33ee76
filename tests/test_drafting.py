"""Drafted decoding: the multi-token step with a cut-back cache, and the same text as without drafts.

The multi-token step is checked on a tiny random Gemma-3 whose sliding window (8 tokens)
is shorter than its prompt, against stepping token by token and against the stock
transformers forward of the physically unrolled chain. The decoder is checked on real
searches of every task with the embedded SmolLM2: every chain's text is the same with and
without drafts (and the drafted run really accepted drafted tokens).
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import SUPPORTED, WINDOW, tiny_model, tiny_tokenizer

from cola.cli import main
from cola.engine import ChainModel, unroll_model
from cola.engine.drafting import NgramIndex
from cola.engine.lanes import Lane, decode_step_inputs, run_lanes
from cola.engine.state import cut_back, hold_keys, slot_seen
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.runs import sample_seed
from cola.search import SearchConfig, get_strategy
from cola.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GEMMA3 = next(arch for arch in SUPPORTED if arch.name == "gemma3-sliding")
CHAIN = (0, 1, 1, 2, 3, 0)  # a repeated sliding layer, the full layer, layer 0 again at the end
PROMPT = 3 * WINDOW - 3  # longer than the window
CONTINUATION = 2 * WINDOW + 2


@pytest.fixture(scope="module")
def tiny_gemma3():
    stock = tiny_model(GEMMA3)
    return stock, ChainModel(stock, tiny_tokenizer())


def _tokens(count: int, seed: int) -> torch.Tensor:
    return torch.randint(4, 128, (1, count), generator=torch.Generator().manual_seed(seed))


def test_multi_token_steps_cut_back_equal_token_by_token_and_stock(tiny_gemma3):
    stock, model = tiny_gemma3
    prompt, more = _tokens(PROMPT, 1), _tokens(CONTINUATION, 2)
    with torch.inference_mode():
        # the stock transformers forward of the unrolled chain, whole sequence, no cache
        reference = unroll_model(stock, CHAIN)(input_ids=torch.cat([prompt, more], 1)).logits[
            :, PROMPT - 1 : -1
        ]
        single_cache = model.new_cache(CHAIN)
        single = [model.forward(CHAIN, prompt, cache=single_cache)[:, -1:]]
        for t in range(CONTINUATION - 1):
            single.append(model.forward(CHAIN, more[:, t : t + 1], cache=single_cache))
        single = torch.cat(single, 1)
        # blocks of drafted tokens, of which only some are kept: the cache is cut back to those
        cache = model.new_cache(CHAIN)
        multi = [model.forward(CHAIN, prompt, cache=cache)[:, -1:]]
        at = 0
        for fed, kept in [(6, 2), (WINDOW + 3, WINDOW), (1, 1), (5, 5), (2, 1)]:  # 17 = CONTINUATION - 1
            hold_keys(cache)
            block = model.forward(CHAIN, more[:, at : at + fed], cache=cache)
            multi.append(block[:, :kept])
            at += kept
            cut_back(cache, PROMPT + at)
        multi = torch.cat(multi, 1)[:, :CONTINUATION]
    assert at == CONTINUATION - 1 and multi.shape == single.shape == reference.shape
    assert (multi - single).abs().max() < 1e-4
    assert (multi - reference).abs().max() < 1e-4
    for a, b in zip(cache.layers, single_cache.layers):  # cut back, the slots hold what stepping holds
        assert slot_seen(a) == slot_seen(b) == PROMPT + CONTINUATION - 1
        assert a.keys.shape == b.keys.shape and (a.keys - b.keys).abs().max() < 1e-5
    assert any(layer.keys.shape[-2] == WINDOW - 1 for layer in cache.layers)  # windows really slid


def test_lanes_with_their_own_number_of_new_tokens_run_together(tiny_gemma3):
    """Lock-step lanes of different prompts, each with its own k: one padded call per layer."""
    _, model = tiny_gemma3
    prompts = [_tokens(PROMPT, 3), _tokens(5, 4), _tokens(PROMPT + 4, 5)]
    feeds = [_tokens(k, 10 + k) for k in (4, 7, 1)]
    chains = [CHAIN, CHAIN, (0, 2, 2, 1, 3)]
    with torch.inference_mode():
        alone = []
        for prompt, feed, chain in zip(prompts, feeds, chains):
            cache = model.new_cache(chain)
            model.forward(chain, prompt, cache=cache)
            alone.append(
                torch.cat(
                    [model.forward(chain, feed[:, t : t + 1], cache=cache) for t in range(feed.shape[1])], 1
                )
            )
        lanes = []
        for prompt, feed, chain in zip(prompts, feeds, chains):
            cache = model.new_cache(chain)
            model.forward(chain, prompt, cache=cache)
            hold_keys(cache)
            positions = torch.arange(feed.shape[1]).unsqueeze(0) + prompt.shape[1]
            lane = Lane(
                chain, cache, model.embed(feed, positions), history=tuple(feed[0].tolist()), group=object()
            )
            lane.step = decode_step_inputs(model, [lane], lane.hidden, prompt.shape[1])
            lanes.append(lane)
        run_lanes(model, lanes)
        together = [model.head(lane.hidden) for lane in lanes]
    for a, b in zip(alone, together):
        assert a.shape == b.shape and (a - b).abs().max() < 1e-4


def test_ngram_drafts_continue_a_loop_past_its_period():
    index = NgramIndex([5, 6, 7, 8, 5, 6])  # "... 5 6" was followed by 7 8 before
    assert index.lookup(7) == [7, 8, 5, 6, 7, 8, 5]
    assert NgramIndex([1, 2, 3]).lookup(4) == []  # nothing seen twice: no draft


def _search_texts(model, task, sample, draft: bool, simulations: int, max_new_tokens: int, mode="fast"):
    config = EvalConfig(mode=mode, max_new_tokens=max_new_tokens, draft=draft)
    scorer = ChainScorer(model, task, config)
    evaluator = scorer.for_sample(sample)
    original = evaluator.original()
    search = SearchConfig(simulations=simulations, batch_size=4, seed=sample_seed(0, sample.id))
    outcome = get_strategy("mcts")(evaluator, model.num_layers, search, original)
    texts = [(e.chain, e.text, e.answer, e.reward) for e in [original, *outcome.evaluations]]
    return texts, outcome.best_chain, scorer.stats


@pytest.mark.parametrize(
    "task_name, max_new_tokens", [("arith", 24), ("arc_easy", 24), ("gsm8k", 32), ("math", 24)]
)
def test_drafted_search_gives_every_chain_the_undrafted_text(smollm, task_name, max_new_tokens):
    task = get_task(task_name)
    sample = task.load(limit=1)[0]
    plain, plain_best, plain_stats = _search_texts(smollm, task, sample, False, 6, max_new_tokens)
    drafted, drafted_best, stats = _search_texts(smollm, task, sample, True, 6, max_new_tokens)
    assert len({chain for chain, *_ in plain}) > 3  # the search really evaluated several chains
    assert drafted == plain and drafted_best == plain_best
    assert stats.generated_tokens == plain_stats.generated_tokens
    assert plain_stats.decode_accepted == plain_stats.decode_steps
    assert stats.decode_accepted > stats.decode_steps  # drafts were accepted: fewer steps
    assert stats.decode_steps < plain_stats.decode_steps


def test_exact_mode_never_drafts(smollm):
    task = get_task("arith")
    sample = task.load(limit=1)[0]
    scorer = ChainScorer(smollm, task, EvalConfig(mode="exact", max_new_tokens=16, draft=True))
    scorer.for_sample(sample).evaluate([smollm.chain(None), smollm.chain("0-12,12,13-29")])
    assert scorer.stats.decode_steps > 0 and scorer.stats.decode_accepted == scorer.stats.decode_steps


def test_cola_run_prints_the_same_text_with_and_without_drafts(capsys):
    command = ["run", "--chain", "0-12,12,13-29", "--prompt", "1, 2, 3, 4, 5,", "--max-new-tokens", "24"]
    assert main(command) == 0
    drafted = capsys.readouterr().out
    assert main([*command, "--no-draft"]) == 0
    assert capsys.readouterr().out == drafted and drafted.strip()
