"""Chain search on synthetic rewards (no model): actions, MCTS invariants, random baseline."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cola.engine.chain import full_chain
from cola.errors import ColaError
from cola.runs.records import Evaluation
from cola.search import (
    MCTS,
    Action,
    ActionSpace,
    SearchConfig,
    best_chain,
    get_strategy,
    register_strategy,
    strategy_names,
)


# ------------------------------------------------------------------- helpers
class FakeEvaluator:
    """Deterministic rewards from a predicate; records every call so tests can count them."""

    def __init__(self, predicate):
        self.predicate = predicate
        self.calls: list[list[tuple[int, ...]]] = []

    def evaluate(self, chains):
        chains = [tuple(c) for c in chains]
        self.calls.append(chains)
        return [
            Evaluation(
                chain=c, answer="A" if self.predicate(c) else "B", reward=1.0 if self.predicate(c) else 0.0
            )
            for c in chains
        ]

    @property
    def sent(self) -> list[tuple[int, ...]]:
        return [c for call in self.calls for c in call]


def hashed(chain) -> bool:
    """A rugged landscape: about one chain in three is 'correct', unrelated to its neighbours."""
    return hashlib.sha256(repr(tuple(chain)).encode()).digest()[0] % 3 == 0


def loop3(chain) -> bool:
    """Correct iff layer 3 runs at least twice: needs a repeat, then survives most edits."""
    return chain.count(3) >= 2


def root_eval(num_layers: int, predicate) -> Evaluation:
    chain = full_chain(num_layers)
    return Evaluation(chain, "A" if predicate(chain) else "B", 1.0 if predicate(chain) else 0.0)


def signature(outcome):
    return [(e.chain, e.reward) for e in outcome.evaluations], outcome.simulations, outcome.best_chain


def ev(chain, correct: bool) -> Evaluation:
    return Evaluation(tuple(chain), None, 1.0 if correct else 0.0)


# ------------------------------------------------------------- base utilities
def test_best_chain_shortest_then_fewest_distinct_then_first():
    evals = [
        ev((0, 1, 2, 3), True),
        ev((0, 1, 2), False),  # shortest but wrong
        ev((0, 1, 1, 2), True),  # same length as the first, fewer distinct layers
        ev((1, 1, 2, 0), True),  # same length and distinct count: evaluated later, loses
    ]
    assert best_chain(evals) == (0, 1, 1, 2)
    assert best_chain(evals + [ev((5, 6, 7), True)]) == (5, 6, 7)
    assert best_chain([ev((0,), False)]) is None
    assert best_chain([]) is None


def test_registry():
    assert {"mcts", "random_matched", "random_nearby"} <= set(strategy_names())
    with pytest.raises(ColaError, match=r"unknown search strategy 'nope'.*mcts.*random"):
        get_strategy("nope")

    @register_strategy("test-dummy")
    def dummy(evaluator, num_layers, config, root_evaluation=None):
        raise AssertionError

    assert get_strategy("test-dummy") is dummy
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("test-dummy")(lambda *a: None)


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 0},
        {"simulations": -1},
        {"random_expand_prob": 1.5},
        {"min_length": 0},
        {"max_length_factor": 0.01},
        {"block_sizes": ()},
        {"repeat_counts": (0,)},
    ],
)
def test_config_validation(change):
    with pytest.raises(ColaError):
        get_strategy("mcts")(FakeEvaluator(loop3), 6, replace(SearchConfig(), **change), None)


def test_max_length_rounds_half_up():
    assert SearchConfig(max_length_factor=2.0).max_length(30) == 60
    assert SearchConfig(max_length_factor=1.5).max_length(3) == 5  # 4.5 -> 5, not banker's 4


# -------------------------------------------------------------------- actions
def test_actions_small_example_exact_order():
    space = ActionSpace(min_length=1, max_length=4, block_sizes=(1, 2), repeat_counts=(1, 2))
    children = space.children((0, 1, 2))
    assert children == [
        (Action("skip", 0, 1), (1, 2)),
        (Action("skip", 1, 1), (0, 2)),
        (Action("skip", 2, 1), (0, 1)),
        (Action("skip", 0, 2), (2,)),
        (Action("skip", 1, 2), (0,)),
        (Action("repeat", 0, 1, 1), (0, 0, 1, 2)),
        (Action("repeat", 1, 1, 1), (0, 1, 1, 2)),
        (Action("repeat", 2, 1, 1), (0, 1, 2, 2)),
        # length 5 (r=2 of one layer, r=1 of two layers) exceeds max_length 4
    ]


def test_actions_merge_identical_results():
    space = ActionSpace(min_length=1, max_length=10, block_sizes=(1,), repeat_counts=(1,))
    # skipping either 5 gives (5,); repeating either 5 gives (5, 5, 5): one child each
    assert space.children((5, 5)) == [(Action("skip", 0, 1), (5,)), (Action("repeat", 0, 1, 1), (5, 5, 5))]
    assert len(space.enumerate((5, 5))) == 4


def test_no_actions_when_bounds_forbid_everything():
    assert ActionSpace(min_length=1, max_length=1).children((0,)) == []
    with pytest.raises(ValueError):
        Action("skip", 2, 2).apply((0, 1, 2))


chains = st.lists(st.integers(0, 7), min_size=1, max_size=10).map(tuple)
sizes = st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True).map(tuple)


@settings(max_examples=150, deadline=None)
@given(chain=chains, blocks=sizes, repeats=sizes, min_len=st.integers(1, 4), extra=st.integers(0, 12))
def test_actions_properties(chain, blocks, repeats, min_len, extra):
    max_len = min_len + extra
    space = ActionSpace(min_length=min_len, max_length=max_len, block_sizes=blocks, repeat_counts=repeats)
    children = space.children(chain)
    results = [result for _, result in children]
    assert len(results) == len(set(results))  # merged: one child per distinct chain
    assert chain not in results  # every edit changes the chain
    assert children == space.children(chain)  # deterministic
    for action, result in children:
        assert min_len <= len(result) <= max_len
        assert set(result) <= set(chain)  # edits never invent layers
        assert action.apply(chain) == result
        k, s = action.size, action.start
        block = chain[s : s + k]
        assert k in blocks and len(block) == k
        if action.kind == "skip":
            assert len(result) == len(chain) - k
            assert result == chain[:s] + chain[s + k :]
        else:
            assert action.repeats in repeats
            assert len(result) == len(chain) + k * action.repeats
            assert result[s : s + k * (action.repeats + 1)] == block * (action.repeats + 1)
            assert result[:s] == chain[:s] and result[s + k * (action.repeats + 1) :] == chain[s + k :]
    # complete: brute force over every (kind, size, start, count) finds no other legal chain
    expected = set()
    for k in blocks:
        for s in range(len(chain) - k + 1):
            cut = chain[:s] + chain[s + k :]
            if min_len <= len(cut) <= max_len:
                expected.add(cut)
            for r in repeats:
                looped = chain[: s + k] + chain[s : s + k] * r + chain[s + k :]
                if min_len <= len(looped) <= max_len:
                    expected.add(looped)
    assert set(results) == expected


# ----------------------------------------------------------------------- MCTS
def check_tree(search: MCTS, predicate) -> None:
    """Visit and value bookkeeping of every node, and legality of every chain."""
    cfg, L = search.config, search.num_layers
    max_len = cfg.max_length(L)
    count = 0
    for node in search.root.walk():
        count += 1
        assert node.visits == sum(ch.visits for ch in node.children) + node.own
        reward = 1.0 if predicate(node.chain) else 0.0
        assert node.value == pytest.approx(sum(ch.value for ch in node.children) + node.own * reward)
        assert all(0 <= i < L for i in node.chain)
        if node is not search.root:
            assert cfg.min_length <= len(node.chain) <= max_len
            assert node.action.apply(node.parent.chain) == node.chain
            assert node.own >= 1  # created by a simulation that evaluated it
        assert len({ch.chain for ch in node.children}) == len(node.children)  # one child per chain
    assert search.root.visits == search.simulations


@pytest.mark.parametrize("batch_size", [1, 3, 8])
@pytest.mark.parametrize("predicate", [hashed, loop3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mcts_invariants(batch_size, predicate, seed):
    L, sims = 8, 60
    evaluator = FakeEvaluator(predicate)
    config = SearchConfig(simulations=sims, batch_size=batch_size, seed=seed)
    search = MCTS(evaluator, L, config, root_eval(L, predicate))
    outcome = search.run()
    check_tree(search, predicate)
    assert outcome.strategy == "mcts" and outcome.simulations == sims == search.root.visits
    sent = evaluator.sent
    assert len(sent) == len(set(sent))  # no chain sent twice
    assert full_chain(L) not in sent  # the given root evaluation is reused
    assert [e.chain for e in outcome.evaluations] == [full_chain(L), *sent]  # evaluation order, root first
    assert all(1 <= len(call) <= batch_size for call in evaluator.calls)
    assert len(evaluator.calls) <= math.ceil(sims / batch_size)
    assert sum(1 for _ in search.root.walk()) == sims + 1  # every simulation created one node
    for e in outcome.evaluations:
        assert e.reward == (1.0 if predicate(e.chain) else 0.0)
    assert outcome.best_chain == best_chain(outcome.evaluations)


def test_mcts_dedupes_chains_reached_by_two_paths():
    L = 6
    evaluator = FakeEvaluator(hashed)
    search = MCTS(evaluator, L, SearchConfig(simulations=200, seed=0), root_eval(L, hashed))
    outcome = search.run()
    tree_chains = [node.chain for node in search.root.walk()]
    assert len(tree_chains) == 201
    assert len(set(tree_chains)) < len(tree_chains)  # the same chain under different parents...
    assert len(evaluator.sent) == len(set(tree_chains)) - 1  # ...was evaluated once
    assert len(outcome.evaluations) == len(set(tree_chains))


def test_mcts_evaluates_root_when_not_given():
    evaluator = FakeEvaluator(loop3)
    outcome = get_strategy("mcts")(evaluator, 6, SearchConfig(simulations=5), None)
    assert evaluator.calls[0] == [full_chain(6)]
    assert outcome.evaluations[0].chain == full_chain(6)
    with pytest.raises(ValueError, match="not the full chain"):
        get_strategy("mcts")(evaluator, 6, SearchConfig(), ev((0, 1), False))


def test_mcts_deterministic_and_seed_dependent():
    def run(seed, batch_size=1):
        evaluator = FakeEvaluator(hashed)
        config = SearchConfig(simulations=80, seed=seed, batch_size=batch_size)
        return signature(get_strategy("mcts")(evaluator, 10, config, root_eval(10, hashed)))

    assert run(7) == run(7)
    assert run(7, 4) == run(7, 4)
    assert len({repr(run(seed)) for seed in range(4)}) == 4


def reference_mcts(predicate, L: int, config: SearchConfig) -> list[tuple[int, ...]]:
    """Plain sequential MCTS written from the rules, without virtual loss or batching."""
    rng = random.Random(config.seed)
    space = ActionSpace(config.min_length, config.max_length(L), config.block_sizes, config.repeat_counts)

    def node(chain):
        return {"chain": chain, "children": [], "todo": None, "n": 0, "w": 0.0}

    root = node(full_chain(L))
    rewards = {root["chain"]: float(predicate(root["chain"]))}
    order = [root["chain"]]
    for _ in range(config.simulations):
        current, path = root, [root]
        while True:
            if current["todo"] is None:
                current["todo"] = space.actions(current["chain"])
            if not current["children"] and not current["todo"]:
                break
            if not current["children"] or (current["todo"] and rng.random() < config.random_expand_prob):
                action = current["todo"].pop(rng.randrange(len(current["todo"])))
                child = node(action.apply(current["chain"]))
                current["children"].append(child)
                path.append(child)
                break
            parent = current

            def ucb(ch, parent=parent):
                return (
                    ch["w"] / ch["n"]
                    + config.exploration_c * math.sqrt(math.log(parent["n"]) / ch["n"])
                    - config.length_penalty * len(ch["chain"]) / L
                )

            current = max(parent["children"], key=ucb)
            path.append(current)
        leaf = path[-1]["chain"]
        if leaf not in rewards:
            rewards[leaf] = float(predicate(leaf))
            order.append(leaf)
        for n in path:
            n["n"] += 1
            n["w"] += rewards[leaf]
    return order


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("predicate", [hashed, loop3])
def test_batch_size_one_is_sequential_mcts(seed, predicate):
    L = 9
    config = SearchConfig(simulations=120, seed=seed, batch_size=1)
    evaluator = FakeEvaluator(predicate)
    outcome = get_strategy("mcts")(evaluator, L, config, root_eval(L, predicate))
    assert [e.chain for e in outcome.evaluations] == reference_mcts(predicate, L, config)
    assert all(len(call) == 1 for call in evaluator.calls)


def test_batches_diverge_under_virtual_loss():
    L, sims, batch = 8, 64, 8
    evaluator = FakeEvaluator(hashed)
    outcome = get_strategy("mcts")(evaluator, L, SearchConfig(simulations=sims, batch_size=batch), None)
    search_calls = evaluator.calls[1:]  # the first call is the root
    assert len(search_calls) == sims // batch  # one evaluator call per round
    assert max(len(call) for call in search_calls) == batch  # a whole round of distinct new chains
    assert outcome.simulations == sims


def test_mcts_leaf_without_actions_is_reevaluated_from_cache():
    evaluator = FakeEvaluator(lambda c: True)
    config = SearchConfig(simulations=7, max_length_factor=1.0, batch_size=3)
    search = MCTS(evaluator, 1, config, root_eval(1, lambda c: True))
    outcome = search.run()
    assert evaluator.calls == []
    assert search.root.visits == search.root.own == 7 and search.root.value == 7.0
    assert [e.chain for e in outcome.evaluations] == [(0,)]


@pytest.mark.parametrize("batch_size", [1, 4])
def test_early_stop(batch_size):
    L = 10

    def short(chain):
        return len(chain) < L and 0 in chain

    full = get_strategy("mcts")(
        FakeEvaluator(short), L, SearchConfig(simulations=100, batch_size=batch_size), root_eval(L, short)
    )
    stopped = get_strategy("mcts")(
        FakeEvaluator(short),
        L,
        SearchConfig(simulations=100, batch_size=batch_size, early_stop=True),
        root_eval(L, short),
    )
    assert stopped.simulations < 100
    assert stopped.best_chain is not None and len(stopped.best_chain) < L
    # identical randomness up to the stop: the stopped run is a prefix of the full one
    assert stopped.evaluations == full.evaluations[: len(stopped.evaluations)]
    if batch_size == 1:  # stops right after the first short correct chain
        first = next(i for i, e in enumerate(full.evaluations) if e.correct and len(e.chain) < L)
        assert len(stopped.evaluations) == first + 1


def test_early_stop_ignores_correct_chains_that_are_not_shorter():
    L = 6
    outcome = get_strategy("mcts")(
        FakeEvaluator(lambda c: len(c) >= L), L, SearchConfig(simulations=30, early_stop=True), None
    )
    assert outcome.simulations == 30


def test_mcts_beats_random_on_a_looping_reward():
    """Regression guard, not a statistical claim: fixed seeds, so the outcome is exact.

    With reward "layer 3 runs twice", correct chains cluster (most edits of a correct
    chain stay correct), which MCTS exploits and random search cannot; at the same
    budget MCTS finds the shorter best chain on clearly more of the 20 seeds.
    """
    L, wins, losses = 12, 0, 0
    for seed in range(20):
        mcts = get_strategy("mcts")(FakeEvaluator(loop3), L, SearchConfig(simulations=100, seed=seed), None)
        budget = SearchConfig(simulations=len(mcts.evaluations), seed=seed)
        rand = get_strategy("random_nearby")(FakeEvaluator(loop3), L, budget, None)
        assert mcts.best_chain is not None and rand.best_chain is not None
        wins += len(mcts.best_chain) < len(rand.best_chain)
        losses += len(mcts.best_chain) > len(rand.best_chain)
    assert wins > 2 * losses


# ---------------------------------------------------------------- random search
@pytest.mark.parametrize("batch_size", [1, 5])
def test_random_uses_exactly_the_budget(batch_size):
    L, budget = 8, 37
    evaluator = FakeEvaluator(hashed)
    config = SearchConfig(strategy="random_nearby", simulations=budget, batch_size=batch_size, seed=3)
    outcome = get_strategy("random_nearby")(evaluator, L, config, root_eval(L, hashed))
    chains = [e.chain for e in outcome.evaluations]
    assert len(chains) == len(set(chains)) == budget
    assert chains[0] == full_chain(L) and full_chain(L) not in evaluator.sent
    assert chains[1:] == evaluator.sent
    assert all(1 <= len(call) <= batch_size for call in evaluator.calls)
    assert len(evaluator.calls) == math.ceil((budget - 1) / batch_size)
    assert outcome.simulations >= len(chains)
    assert outcome.strategy == "random_nearby" and outcome.best_chain == best_chain(outcome.evaluations)
    max_len = config.max_length(L)
    for chain in chains[1:]:
        assert 1 <= len(chain) <= max_len and all(0 <= i < L for i in chain)


def test_random_candidate_sequence_does_not_depend_on_batch_size():
    def chains(batch_size, seed=1):
        config = SearchConfig(simulations=40, batch_size=batch_size, seed=seed)
        return [
            e.chain for e in get_strategy("random_nearby")(FakeEvaluator(hashed), 9, config, None).evaluations
        ]

    assert chains(1) == chains(6) == chains(1)
    assert chains(1, seed=1) != chains(1, seed=2)


def test_random_candidates_are_one_to_four_edits_away():
    """Every candidate is reachable from the root in <= 4 edits (breadth-first check)."""
    L = 5
    config = SearchConfig(simulations=60, seed=0, block_sizes=(1, 2), repeat_counts=(1,))
    outcome = get_strategy("random_nearby")(FakeEvaluator(hashed), L, config, None)
    space = ActionSpace(1, config.max_length(L), (1, 2), (1,))
    reachable, frontier = set(), {full_chain(L)}
    for _ in range(4):
        frontier = {child for chain in frontier for _, child in space.children(chain)}
        reachable |= frontier
    assert {e.chain for e in outcome.evaluations[1:]} <= reachable


def test_random_stops_when_the_space_is_exhausted():
    # L=2, max length 2: the reachable chains are these five only
    evaluator = FakeEvaluator(hashed)
    outcome = get_strategy("random_nearby")(
        evaluator, 2, SearchConfig(simulations=10, max_length_factor=1.0), None
    )
    assert sorted(e.chain for e in outcome.evaluations) == [(0,), (0, 0), (0, 1), (1,), (1, 1)]
    one = get_strategy("random_nearby")(
        FakeEvaluator(hashed), 1, SearchConfig(simulations=5, max_length_factor=1.0), None
    )
    assert [e.chain for e in one.evaluations] == [(0,)]


def test_random_early_stop():
    L = 8
    outcome = get_strategy("random_nearby")(
        FakeEvaluator(lambda c: len(c) < L), L, SearchConfig(simulations=50, early_stop=True), None
    )
    assert len(outcome.evaluations) < 50 and outcome.evaluations[-1].correct


def test_evaluator_contract_is_checked():
    class Short:
        def evaluate(self, chains):
            return []

    with pytest.raises(RuntimeError, match="returned 0 evaluations"):
        get_strategy("mcts")(Short(), 4, SearchConfig(simulations=3), None)


# ------------------------------------------------------------------ best-first search
def keeps_ends(chain) -> bool:
    """Correct iff the first and last layers both run: every middle layer is redundant."""
    return 0 in chain and 11 in chain


def test_best_first_descends_through_correct_chains():
    """On a reward where correct chains are nested (drop any middle layer, stay correct),
    best-first shortens step by step and ends far shorter than MCTS at the same budget."""
    L = 12
    for seed in range(3):
        config = SearchConfig(simulations=60, batch_size=4, seed=seed)
        first = get_strategy("best_first")(FakeEvaluator(keeps_ends), L, config, None)
        mcts = get_strategy("mcts")(FakeEvaluator(keeps_ends), L, config, None)
        assert len(first.evaluations) == 61 >= len(mcts.evaluations)  # the root plus the budget
        assert len(first.best_chain) <= 3 < len(mcts.best_chain)
        assert first.edits[0] == 0 and max(first.edits) >= 3  # reach: it descended several edits
        assert first.best_chain == best_chain(first.evaluations)


def test_best_first_stops_when_the_space_is_exhausted():
    evaluator = FakeEvaluator(hashed)
    outcome = get_strategy("best_first")(
        evaluator, 2, SearchConfig(simulations=50, max_length_factor=1.0), None
    )
    assert len(outcome.evaluations) == len({e.chain for e in outcome.evaluations}) < 51
    assert len(evaluator.sent) == len(outcome.evaluations)  # nothing sent twice


# ------------------------------------------------------- length-matched null
@given(st.integers(2, 12), st.data())
@settings(max_examples=40, deadline=None)
def test_random_chain_of_shape_has_exactly_that_shape(num_layers, data):
    from cola.search.random_length import chain_shape, random_chain_of_shape

    skipped = data.draw(st.integers(0, num_layers - 1))
    repeated = data.draw(st.integers(0, 2 * num_layers))
    chain = random_chain_of_shape(num_layers, skipped, repeated, random.Random(data.draw(st.integers(0, 99))))
    assert chain_shape(chain, num_layers) == (skipped, repeated)
    assert len(chain) == num_layers - skipped + repeated
    assert list(chain) == sorted(chain)  # kept layers in their order, each loop right after its layer


def test_length_matched_null_matches_every_shape_with_the_same_budget():
    from cola.search.random_length import chain_shape

    L = 10
    compared = get_strategy("mcts")(FakeEvaluator(hashed), L, SearchConfig(simulations=40, seed=3))
    shapes = tuple(chain_shape(e.chain, L) for e in compared.evaluations)
    assert any(s != (0, 0) for s in shapes) and any(s[0] > 0 for s in shapes)  # skips and repeats to match
    config = SearchConfig(strategy="random_length", simulations=len(shapes), seed=5, match_shapes=shapes)
    evaluator = FakeEvaluator(hashed)
    null = get_strategy("random_length")(evaluator, L, config)
    got = sorted(chain_shape(e.chain, L) for e in null.evaluations)
    assert got == sorted(shapes)  # the root (0, 0) once, then one chain per shape of the compared search
    assert len(set(evaluator.sent)) == len(evaluator.sent)  # distinct chains, each sent once
    again = get_strategy("random_length")(FakeEvaluator(hashed), L, config)
    assert [e.chain for e in again.evaluations] == [e.chain for e in null.evaluations]  # seeded
    other = get_strategy("random_length")(FakeEvaluator(hashed), L, replace(config, seed=6))
    assert [e.chain for e in other.evaluations] != [e.chain for e in null.evaluations]
    with pytest.raises(ColaError, match="match_shapes"):
        get_strategy("random_length")(FakeEvaluator(hashed), L, replace(config, match_shapes=()))
