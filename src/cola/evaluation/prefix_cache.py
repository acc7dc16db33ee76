"""A bounded trie of prompt states keyed by chain prefix.

Two chains that agree on their first ``j`` layers produce identical hidden states and
identical KV for the prompt after ``j`` layers. The trie stores, per chain position, the
hidden state leaving that position and the KV its slot wrote, so a new candidate only runs
the layers after its longest cached prefix. Memory is bounded by bytes with LRU eviction;
evicting a node evicts its subtree, because a node's KV is only usable together with all
of its ancestors' (and a lookup touches the whole path, so ancestors are never older).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class PrefixState:
    """What chain position ``p`` leaves behind for the prompt."""

    hidden: torch.Tensor  # hidden states after this position, [B, T, D]
    keys: torch.Tensor  # this slot's cached keys
    values: torch.Tensor
    seen: int  # tokens this slot has seen (sliding slots may keep fewer keys)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.hidden, self.keys, self.values))


@dataclass
class _Node:
    key: tuple[int, ...]
    state: PrefixState | None = None
    children: dict[int, _Node] = field(default_factory=dict)
    parent: _Node | None = None


class PrefixCache:
    """Longest-prefix lookup of prompt states with an LRU byte budget."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.peak_bytes = 0
        self._root = _Node(key=())
        self._lru: OrderedDict[tuple[int, ...], _Node] = OrderedDict()

    def __len__(self) -> int:
        return len(self._lru)

    def lookup(self, chain: Sequence[int]) -> list[PrefixState]:
        """States of the longest cached prefix of ``chain`` (may be empty); touches the path."""
        node, states = self._root, []
        for layer in chain:
            child = node.children.get(layer)
            if child is None or child.state is None:
                break
            states.append(child.state)
            node = child
        for depth in range(len(states)):  # oldest first, so the deepest ends most recent
            self._lru.move_to_end(tuple(chain[: depth + 1]))
        return states

    def insert(self, chain: Sequence[int], position: int, state: PrefixState) -> bool:
        """Store the state of ``chain[: position + 1]``; its parent prefix must be cached.

        Room is made *before* storing, so ``bytes`` never exceeds ``max_bytes``. Returns
        whether the state was stored.
        """
        key = tuple(chain[: position + 1])
        parent = self._root if position == 0 else self._lru.get(key[:-1])
        if parent is None:
            return False  # the parent was evicted: this state could never be resumed from
        existing = parent.children.get(key[-1])
        if existing is not None:
            self._lru.move_to_end(key)
            return True
        for depth in range(1, len(key)):  # the path is in use: never evict it for this insert
            self._lru.move_to_end(key[:depth])
        while self.bytes + state.nbytes > self.max_bytes:
            oldest = next(iter(self._lru.values()), None)
            if oldest is None or key[: len(oldest.key)] == oldest.key:
                return False  # only the path itself is left and the new state does not fit
            self._evict(oldest)
        node = _Node(key=key, state=state, parent=parent)
        parent.children[key[-1]] = node
        self._lru[key] = node
        self.bytes += state.nbytes
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        return True

    def _evict(self, node: _Node) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            stack.extend(current.children.values())
            if current.state is not None:
                self.bytes -= current.state.nbytes
            self._lru.pop(current.key, None)
            current.children = {}
            current.state = None
        if node.parent is not None:
            node.parent.children.pop(node.key[-1], None)
