"""polar_mcts, the authors' released MCTS: its rules on a toy reward, and a real CLI run.

The rule tests use a toy evaluator (a deterministic function of the chain as the reward):
what they check is the search's bookkeeping, not the engine. The last test runs the
strategy end to end through ``cola search`` on the real SmolLM2 and arith.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence

import pytest

from cola.cli import main
from cola.engine.chain import Chain, full_chain
from cola.errors import ColaError
from cola.evaluation.result import Evaluation
from cola.search import SearchConfig, get_strategy, strategy_names
from cola.search.polar_mcts import PolarMCTS, PolarNode, polar_candidates, polar_length_bounds


def toy_reward(chain: Chain) -> float:
    """Correct for about a third of the chains, deterministically."""
    return 1.0 if sum((i + 1) * (layer + 3) for i, layer in enumerate(chain)) % 3 == 0 else 0.0


class ToyEvaluator:
    """Stands in for the reward only; records every chain it is asked for."""

    def __init__(self) -> None:
        self.sent: list[Chain] = []
        self.calls = 0

    def evaluate(self, chains: Sequence[Chain]) -> list[Evaluation]:
        self.calls += 1
        out = []
        for chain in chains:
            self.sent.append(tuple(chain))
            reward = toy_reward(tuple(chain))
            out.append(Evaluation(tuple(chain), answer=str(int(reward)), reward=reward))
        return out


def _search(num_layers: int, **settings) -> tuple[PolarMCTS, ToyEvaluator]:
    evaluator = ToyEvaluator()
    config = SearchConfig(strategy="polar_mcts", **{"simulations": 50, "seed": 3, **settings})
    return PolarMCTS(evaluator, num_layers, config), evaluator


def _nodes(search: PolarMCTS) -> list[PolarNode]:
    return list(search.root.walk())


def _expected_candidates(chain: Chain, at_root: bool, bounds: tuple[int, int]) -> set[Chain]:
    """The candidate rules written out independently: skip or repeat once a block, in bounds, uses <= 2."""
    lo, hi = bounds
    out = set()
    for k in (1, 2, 3, 4) if at_root else (1,):
        for i in range(len(chain) - k + 1):
            skipped = tuple(x for j, x in enumerate(chain) if not i <= j < i + k)
            repeated = chain[:i] + chain[i : i + k] * 2 + chain[i + k :]
            out.add(skipped)
            if max(Counter(repeated).values()) <= 2:
                out.add(repeated)
    return {c for c in out if lo <= len(c) <= hi}


# ----------------------------------------------------------------------------- bounds


def test_length_bounds_reproduce_the_presets_and_follow_the_stated_rule():
    assert polar_length_bounds(28) == (16, 32)
    assert polar_length_bounds(36) == (24, 44)
    assert polar_length_bounds(24) == (16, 28)
    assert polar_length_bounds(48) == (36, 54)
    # the embedded models: Gemma-3-270M (18 layers: 24's bounds scaled), SmolLM2-135M (30: between 28 and 36)
    assert polar_length_bounds(18) == (12, 21)
    assert polar_length_bounds(30) == (18, 35)
    assert polar_length_bounds(96) == (72, 108)  # 48's bounds scaled
    previous = (0, 0)
    for depth in range(1, 120):
        lo, hi = polar_length_bounds(depth)
        assert 1 <= lo <= depth <= hi
        assert lo >= previous[0] and hi >= previous[1]  # monotone in depth
        previous = (lo, hi)
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ColaError):
            polar_length_bounds(bad)


def test_candidates_at_the_root_and_below_it():
    bounds = polar_length_bounds(12)
    assert bounds == (8, 14)
    root = full_chain(12)
    made = polar_candidates(root, True, bounds)
    chains = [chain for _, chain in made]
    assert len(chains) == len(set(chains))
    assert set(chains) == _expected_candidates(root, True, bounds)
    kinds = Counter((action.kind, action.size) for action, _ in made)
    assert kinds[("skip", 4)] == 9 and kinds[("repeat", 2)] == 11  # 4-skips reach 8; repeats only up to 14
    assert kinds[("repeat", 3)] == kinds[("repeat", 4)] == 0  # 15 and 16 layers: over the bound
    assert all(action.apply(root) == chain for action, chain in made)
    below = (0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    made = polar_candidates(below, False, bounds)
    assert {chain for _, chain in made} == _expected_candidates(below, False, bounds)
    assert all(action.size == 1 for action, _ in made)
    assert not any(Counter(chain)[1] > 2 for _, chain in made)  # layer 1 is not repeated a third time
    longest = polar_candidates(full_chain(14), False, bounds)
    assert longest and all(
        len(chain) == 13 for _, chain in longest
    )  # at the longest length only skips remain


# -------------------------------------------------------------------- expansion rules


def test_full_expansion_then_exactly_one_new_evaluation_per_simulation():
    search, evaluator = _search(8, simulations=80)
    assert evaluator.sent == [full_chain(8)]  # the root, before any simulation
    expanded_with_children = 0
    for _ in range(80):
        before = {id(node) for node in _nodes(search)}
        created_before = set(search.created)
        sent_before = len(evaluator.sent)
        target = search.step()
        assert target is not None
        new_nodes = [node for node in _nodes(search) if id(node) not in before]
        new_evaluations = evaluator.sent[sent_before:]
        if new_nodes:
            parent = new_nodes[0].parent
            assert all(node.parent is parent for node in new_nodes)  # one node expanded ...
            assert [id(n) for n in parent.children] == [id(n) for n in new_nodes]  # ... from a leaf ...
            expected = _expected_candidates(parent.chain, parent is search.root, search.bounds)
            assert {n.chain for n in new_nodes} == expected - created_before  # ... fully, at once
            assert new_evaluations == [target.chain] and target in new_nodes  # one of them evaluated
            expanded_with_children += 1
        else:  # a leaf with no new candidate: it is fully explored, and evaluated now if it was not
            assert target.explored and not target.children
            assert len(new_evaluations) <= 1
    assert expanded_with_children >= 70
    assert search.root.visits == 80


def test_global_visited_set_no_chain_created_or_evaluated_twice():
    search, evaluator = _search(7, simulations=400, seed=11)
    outcome = search.run()
    nodes = _nodes(search)
    chains = [node.chain for node in nodes]
    assert len(chains) == len(set(chains)) == len(search.created)  # each chain once in the whole tree
    assert set(chains) == search.created
    assert len(evaluator.sent) == len(set(evaluator.sent))  # no chain evaluated twice
    assert set(evaluator.sent) <= set(chains)
    assert [e.chain for e in outcome.evaluations] == evaluator.sent
    by_chain = {node.chain: node for node in nodes}
    assert outcome.edits == [by_chain[c].depth for c in evaluator.sent]  # reach = tree depth
    for node in nodes:  # a candidate an expanded node lacks as a child was created elsewhere first
        if node.children:
            expected = _expected_candidates(node.chain, node is search.root, search.bounds)
            assert {child.chain for child in node.children} <= expected
            assert expected <= search.created
    assert any(  # the visited set really removed candidates somewhere
        node.children
        and len(node.children) < len(_expected_candidates(node.chain, node is search.root, search.bounds))
        for node in nodes
    )


def test_every_chain_in_the_tree_respects_the_bounds_and_the_rules():
    search, _ = _search(12, simulations=300, seed=5)
    search.run()
    lo, hi = search.bounds
    nodes = _nodes(search)
    assert len(nodes) > 500
    for node in nodes:
        assert lo <= len(node.chain) <= hi
        assert max(Counter(node.chain).values()) <= 2
        if node.parent is not None:
            assert node.action.apply(node.parent.chain) == node.chain
            if node.parent is not search.root:
                assert node.action.size == 1
    root_sizes = {child.action.size for child in search.root.children}
    assert root_sizes == {1, 2, 3, 4}


# ---------------------------------------------------------------------------- UCB


def test_ucb_uses_root_visits_and_selection_takes_the_highest():
    search, _ = _search(8, simulations=60, random_expand_prob=0.0)
    search.run()
    lam, c, n_layers = 5.0, math.sqrt(2), 8
    nodes = _nodes(search)
    deep = [n for n in nodes if n.depth >= 2 and n.visits > 0 and n.parent.visits != search.root.visits]
    assert deep
    for node in deep:
        mean = node.value / node.visits
        root_term = math.sqrt(2 * math.log(search.root.visits + 1) / node.visits)
        parent_term = math.sqrt(2 * math.log(node.parent.visits + 1) / node.visits)
        assert search.ucb(node) == pytest.approx(mean - lam * len(node.chain) / n_layers + root_term)
        assert search.ucb(node) != pytest.approx(mean - lam * len(node.chain) / n_layers + parent_term)
    assert all(search.ucb(n) == -math.inf for n in nodes if n.visits == 0)
    # no random picks: every step of a selection is the first open child of highest UCB
    path = search.select()
    assert len(path) >= 3
    for parent, chosen in zip(path, path[1:]):
        open_children = [ch for ch in parent.children if not ch.explored]
        scores = [
            ch.value / ch.visits
            - lam * len(ch.chain) / n_layers
            + c * math.sqrt(math.log(search.root.visits + 1) / ch.visits)
            if ch.visits
            else -math.inf
            for ch in open_children
        ]
        assert chosen is open_children[scores.index(max(scores))]
    assert search.random_picks == 0 and search.ucb_picks > 0


def test_backup_adds_the_evaluated_nodes_own_reward_and_an_exhausted_tree_stops():
    search, evaluator = _search(5, simulations=10_000, seed=1)
    backed_up: list[float] = []
    reused = stale_would_differ = 0
    while True:
        sent = len(evaluator.sent)
        target = search.step()
        if target is None:
            break
        backed_up.append(target.evaluation.reward)
        if len(evaluator.sent) == sent:  # it ended on a node evaluated before: its own reward is backed up
            reused += 1
            stale_would_differ += len(backed_up) > 1 and backed_up[-1] != backed_up[-2]
    assert reused > 0 and stale_would_differ > 0  # the previous simulation's score would have been wrong
    assert search.root.value == sum(backed_up) and search.root.visits == len(backed_up)
    assert all(node.explored for node in _nodes(search))  # the whole tree is fully explored ...
    assert search.simulations == len(backed_up) < 10_000  # ... so the search stopped
    outcome = PolarMCTS(ToyEvaluator(), 5, SearchConfig(simulations=10_000, seed=1)).run()
    assert outcome.simulations == len(backed_up)
    assert len(outcome.evaluations) == len(backed_up) + 1 - reused


# ------------------------------------------------------------- seeded random selection


def test_random_selection_is_seeded_and_about_one_in_ten():
    runs = []
    for seed in (7, 7, 8):
        search, evaluator = _search(12, simulations=500, seed=seed)
        search.run()
        runs.append((evaluator.sent, search.random_picks, search.ucb_picks))
    assert runs[0] == runs[1]  # same seed, same chains in the same order, same picks
    assert runs[0][0] != runs[2][0]
    for _, random_picks, ucb_picks in runs:
        total = random_picks + ucb_picks
        assert total > 1500
        assert abs(random_picks / total - 0.1) < 0.02
    for p, expected in ((0.0, 0.0), (1.0, 1.0)):
        search, _ = _search(12, simulations=100, random_expand_prob=p)
        search.run()
        assert search.random_picks / (search.random_picks + search.ucb_picks) == expected


# ------------------------------------------------------------------ as a strategy


def test_registered_strategy_interface_early_stop_and_bad_batch_size():
    assert "polar_mcts" in strategy_names()
    strategy = get_strategy("polar_mcts")
    evaluator = ToyEvaluator()
    root = ToyEvaluator().evaluate([full_chain(10)])[0]
    outcome = strategy(evaluator, 10, SearchConfig(strategy="polar_mcts", simulations=30, seed=2), root)
    assert outcome.strategy == "polar_mcts" and outcome.simulations == 30
    assert full_chain(10) not in evaluator.sent  # a given root evaluation is reused
    assert len(outcome.evaluations) == 31 and outcome.evaluations[0] is root
    again = strategy(ToyEvaluator(), 10, SearchConfig(strategy="polar_mcts", simulations=30, seed=2), root)
    assert again.to_json() | {"seconds": 0} == outcome.to_json() | {"seconds": 0}  # replays identically
    stopped = strategy(ToyEvaluator(), 10, SearchConfig(simulations=200, early_stop=True, seed=2))
    shorter = [e for e in stopped.evaluations if e.correct and len(e.chain) < 10]
    assert len(shorter) == 1 and stopped.evaluations[-1] is shorter[0]
    with pytest.raises(ColaError, match="--batch-size must be 1"):
        strategy(ToyEvaluator(), 10, SearchConfig(simulations=5, batch_size=4))


def test_cli_search_polar_mcts_end_to_end(tmp_path, capsys):
    out = tmp_path / "polar"
    args = ["search", "--task", "arith", "--strategy", "polar_mcts", "--samples", "1", "--simulations", "8"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert json.loads((out / "config.json").read_text())["search"]["strategy"] == "polar_mcts"
    (line,) = (out / "records.jsonl").read_text().splitlines()
    record = json.loads(line)
    search = record["search"]
    assert search["strategy"] == "polar_mcts" and search["simulations"] == 8
    assert len(search["evaluations"]) == 9  # the root, then one new chain per simulation
    assert search["edits"][0] == 0 and all(d >= 1 for d in search["edits"][1:])
    lo, hi = polar_length_bounds(record["num_layers"])
    assert all(lo <= len(e["chain"]) <= hi for e in search["evaluations"])
    baseline, decoy = record["baseline"], record["decoy_search"]
    assert baseline["strategy"] == "random_matched" and len(baseline["evaluations"]) == 9
    assert decoy is not None and decoy["strategy"] == "polar_mcts"
    assert main(["summary", str(out)]) == 0
    assert "oracle" in capsys.readouterr().out.lower()
