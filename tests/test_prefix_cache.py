"""The prefix trie: longest-prefix hits, subtree eviction, and a hard byte budget."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cola.evaluation.prefix_cache import PrefixCache, PrefixState


def _state(nbytes_floats: int = 8) -> PrefixState:
    t = torch.zeros(nbytes_floats)  # float32: 4 bytes each
    return PrefixState(hidden=t, keys=t.clone(), values=t.clone(), seen=1)


def _insert_chain(cache: PrefixCache, chain, start: int = 0) -> None:
    for position in range(start, len(chain)):
        cache.insert(chain, position, _state())


def test_longest_prefix_lookup():
    cache = PrefixCache(max_bytes=10**6)
    _insert_chain(cache, (0, 1, 2, 3))
    assert len(cache.lookup((0, 1, 2, 3))) == 4
    assert len(cache.lookup((0, 1, 5, 3))) == 2
    assert len(cache.lookup((7, 1))) == 0


def test_insert_needs_cached_parent():
    cache = PrefixCache(max_bytes=10**6)
    assert not cache.insert((0, 1, 2), 2, _state())
    assert len(cache) == 0


def test_eviction_is_lru_and_drops_subtrees():
    per_state = _state().nbytes
    cache = PrefixCache(max_bytes=6 * per_state)
    _insert_chain(cache, (0, 1, 2))  # 3 states
    _insert_chain(cache, (5, 6, 7))  # 6 states: full
    cache.lookup((0, 1, 2))  # touch the first chain
    _insert_chain(cache, (9,))  # must evict from the older chain (5, 6, 7), starting at its root
    assert len(cache.lookup((0, 1, 2))) == 3
    assert len(cache.lookup((5, 6, 7))) == 0  # subtree of 5 went with it
    assert cache.bytes <= cache.max_bytes


@settings(max_examples=60, deadline=None)
@given(
    chains=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=8), min_size=1, max_size=30),
    budget_states=st.integers(1, 12),
)
def test_byte_budget_is_never_exceeded(chains, budget_states):
    per_state = _state().nbytes
    cache = PrefixCache(max_bytes=budget_states * per_state)
    for chain in chains:
        hit = len(cache.lookup(chain))
        _insert_chain(cache, chain, start=hit)
        assert cache.bytes <= cache.max_bytes
        assert cache.peak_bytes <= cache.max_bytes
        assert cache.bytes == len(cache) * per_state
        # every cached node's parent is cached too (a state is only useful with its ancestors)
        for key in list(cache._lru):
            assert len(key) == 1 or key[:-1] in cache._lru
