"""A chain as half-open layer ranges, the shape both mergekit slices and PEFT ``layer_replication`` take.

Every chain is a concatenation of maximal runs of consecutive ascending layers, so any
chain can be written as ranges (a lone, repeated or out-of-order layer is a range of
length one) and read back exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from cola.engine.chain import Chain, validate_chain
from cola.errors import ColaError


def chain_ranges(chain: Sequence[int]) -> list[tuple[int, int]]:
    """Half-open ``[start, end)`` ranges, one per maximal run of consecutive ascending layers.

    ``(0, 1, 2, 2, 3, 7, 5)`` gives ``[(0, 3), (2, 4), (7, 8), (5, 6)]``; concatenating
    ``range(start, end)`` over the result gives the chain back.
    """
    items = validate_chain(chain)
    ranges: list[tuple[int, int]] = []
    start = prev = items[0]
    for layer in items[1:]:
        if layer == prev + 1:
            prev = layer
            continue
        ranges.append((start, prev + 1))
        start = prev = layer
    ranges.append((start, prev + 1))
    return ranges


def chain_from_ranges(ranges: Sequence[Sequence[int]], num_layers: int | None = None) -> Chain:
    """The chain that stacks half-open ``[start, end)`` ranges in order.

    The ranges come from files people edit (a mergekit recipe), so each one is checked
    here and refused in one line rather than silently stacking nothing.
    """
    layers: list[int] = []
    for item in ranges:
        if len(item) != 2:
            raise ColaError(f"layer range {list(item)!r} must be a pair [start, end)")
        start, end = item
        if (
            isinstance(start, bool)
            or isinstance(end, bool)
            or not isinstance(start, int)
            or not isinstance(end, int)
        ):
            raise ColaError(f"layer range {list(item)!r} must hold integers")
        if end <= start:
            raise ColaError(f"layer range [{start}, {end}) is empty: ranges are half-open, end > start")
        layers.extend(range(start, end))
    return validate_chain(layers, num_layers)
