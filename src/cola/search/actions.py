"""The paper's edit actions on a chain: skip a block, or repeat (loop) a block.

A *block* is ``k`` contiguous chain positions. Skipping removes it; repeating inserts
``r`` extra copies right after it (``r=1`` runs the block twice). Actions address chain
positions, not layer indices, so they compose: after a repeat, a later skip may cut into
the looped copy. Two actions giving the same chain are one child (the search tree should
not split its statistics between identical chains under one parent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from cola.engine.chain import Chain


class Action(NamedTuple):
    """One edit; a NamedTuple so it is cheap, hashable and prints readably."""

    kind: Literal["skip", "repeat"]
    start: int  # first chain position of the block
    size: int  # k: block length in chain positions
    repeats: int = 0  # r: extra copies (repeat only)

    def apply(self, chain: Chain) -> Chain:
        end = self.start + self.size
        if self.start < 0 or end > len(chain):
            raise ValueError(f"{self} does not fit a chain of length {len(chain)}")
        if self.kind == "skip":
            return chain[: self.start] + chain[end:]
        return chain[:end] + chain[self.start : end] * self.repeats + chain[end:]

    def describe(self) -> str:
        if self.kind == "skip":
            return f"skip positions {self.start}..{self.start + self.size - 1}"
        return f"repeat positions {self.start}..{self.start + self.size - 1} x{self.repeats} more"


def _unique(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(int(v) for v in values))


@dataclass(frozen=True)
class ActionSpace:
    """Legal edits under the length bounds; deterministic order, identical results merged."""

    min_length: int
    max_length: int
    block_sizes: tuple[int, ...] = (1, 2, 3, 4)
    repeat_counts: tuple[int, ...] = (1, 2, 3, 4)

    def enumerate(self, chain: Chain) -> list[Action]:
        """Every action that fits ``chain`` and respects the bounds, merged duplicates included.

        Order: all skips (by block size, then start), then all repeats (by block size,
        start, repeat count); sizes and counts in the order configured.
        """
        n = len(chain)
        out: list[Action] = []
        for k in _unique(self.block_sizes):
            if k <= n and self.min_length <= n - k <= self.max_length:
                out.extend(Action("skip", start, k) for start in range(n - k + 1))
        for k in _unique(self.block_sizes):
            if k > n:
                continue
            for start in range(n - k + 1):
                for r in _unique(self.repeat_counts):
                    if self.min_length <= n + k * r <= self.max_length:
                        out.append(Action("repeat", start, k, r))
        return out

    def children(self, chain: Chain) -> list[tuple[Action, Chain]]:
        """One ``(action, result)`` per distinct resulting chain: the first action that makes it.

        Same order as :meth:`enumerate`, written out with direct slicing because this is the
        search's inner loop.
        """
        n = len(chain)
        lo, hi = self.min_length, self.max_length
        seen: dict[Chain, Action] = {}
        blocks = _unique(self.block_sizes)
        counts = _unique(self.repeat_counts)
        for k in blocks:
            if k <= n and lo <= n - k <= hi:
                for start in range(n - k + 1):
                    result = chain[:start] + chain[start + k :]
                    if result not in seen:
                        seen[result] = Action("skip", start, k)
        for k in blocks:
            if k > n:
                continue
            legal = [r for r in counts if lo <= n + k * r <= hi]
            if not legal:
                continue
            for start in range(n - k + 1):
                head, block, tail = chain[: start + k], chain[start : start + k], chain[start + k :]
                for r in legal:
                    result = head + block * r + tail
                    if result not in seen:
                        seen[result] = Action("repeat", start, k, r)
        return [(action, result) for result, action in seen.items()]

    def actions(self, chain: Chain) -> list[Action]:
        """The representative action of each distinct child (see :meth:`children`)."""
        return [action for action, _ in self.children(chain)]
