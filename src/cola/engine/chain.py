"""Chain-of-layers specs: parsing, formatting and validation.

A *chain* is the sequence of pretrained decoder-layer indices a forward pass runs,
in order. Layers may be skipped, repeated (looped) or re-ordered. In code a chain is
a plain ``tuple[int, ...]`` so it can be hashed, compared and stored as JSON without
ceremony. Users type the compact text form, e.g. ``"0-9,11,11,12-29"``: comma
separated items, each a layer index or an inclusive ascending range ``a-b``.

A spec is bounds-checked before it is expanded, so ``"0-2000000000"`` is a one-line
error, not a ``MemoryError``. A spec may name at most :data:`MAX_LENGTH_FACTOR` times the
model's depth positions (four times the depth: twice the search's longest chain by
default), or ``max_length`` when given; when the depth is unknown (syntax-only parsing)
the cap is :data:`MAX_SPEC_LENGTH`. Chains built in code (tuples) are not capped: their
length is already in memory, and the search bounds its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from cola.errors import ChainSpecError

Chain = tuple[int, ...]

_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$", re.ASCII)
_MAX_DIGITS = 9  # a layer index past 999,999,999 is a typo; longer digit runs are not even parsed

MAX_LENGTH_FACTOR = 4  # default longest spec: 4 x the model's depth
MAX_SPEC_LENGTH = 100_000  # longest spec when the model's depth is unknown, and the absolute cap


def max_chain_length(num_layers: int | None = None, max_length: int | None = None) -> int:
    """The longest chain a spec may name: ``max_length``, else 4 x depth, never above MAX_SPEC_LENGTH."""
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ChainSpecError(f"the maximum chain length must be a positive integer, got {max_length!r}")
        return min(max_length, MAX_SPEC_LENGTH)
    return min(MAX_LENGTH_FACTOR * num_layers, MAX_SPEC_LENGTH) if num_layers else MAX_SPEC_LENGTH


def full_chain(num_layers: int) -> Chain:
    """The stock model: every layer once, in order."""
    return tuple(range(num_layers))


def validate_chain(
    chain: Sequence[int], num_layers: int | None = None, max_length: int | None = None
) -> Chain:
    """Return ``chain`` as a tuple, or raise :class:`ChainSpecError` naming the problem.

    ``max_length``, when given, bounds the chain's length (see :func:`max_chain_length`).
    """
    if isinstance(chain, (str, bytes)):
        raise ChainSpecError(f"chain must be a list of layer indices, got the string {chain!r}")
    items = tuple(chain)
    if not items:
        raise ChainSpecError("chain is empty: it must name at least one layer")
    if max_length is not None and len(items) > max_length:
        raise ChainSpecError(_too_long(len(items), num_layers, max_length))
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ChainSpecError(f"chain item {item!r} is not an integer layer index")
        if item < 0:
            raise ChainSpecError(f"layer index {item} is negative")
        if num_layers is not None and item >= num_layers:
            raise ChainSpecError(
                f"unknown layer index {item}: the model has {num_layers} layers (0-{num_layers - 1})"
            )
    return items


def parse_chain(
    spec: str | Sequence[int], num_layers: int | None = None, max_length: int | None = None
) -> Chain:
    """Parse a chain from its text form (``"0-9,11,11,12-29"``), a JSON list, or a sequence.

    ``num_layers``, when given, bounds the indices so a typo fails here rather than deep
    inside a forward pass. A text or JSON spec is also bounded in length (``max_length``,
    default :func:`max_chain_length`), checked before any range is expanded.
    """
    if not isinstance(spec, str):
        return validate_chain(spec, num_layers)
    limit = max_chain_length(num_layers, max_length)
    text = spec.strip()
    if text.startswith("["):
        return validate_chain(_json_items(spec, text), num_layers, limit)
    if not text:
        raise ChainSpecError("bad chain spec '': it is empty")
    ranges: list[tuple[int, int]] = []
    total = 0
    for raw in text.split(","):
        start, stop = _parse_item(spec, raw, num_layers)
        total += stop - start + 1
        if total > limit:
            raise ChainSpecError(_too_long(f"at least {total}", num_layers, limit, spec))
        ranges.append((start, stop))
    return validate_chain([layer for start, stop in ranges for layer in range(start, stop + 1)], num_layers)


def _parse_item(spec: str, raw: str, num_layers: int | None) -> tuple[int, int]:
    """One ``a`` or ``a-b`` item as an inclusive ``(start, stop)``, bounds-checked, not expanded."""
    match = _ITEM.match(raw)
    if match is None:
        raise ChainSpecError(
            f"bad chain spec {_short(spec)}: item {_short(raw.strip())} is not an index or a range like 3-7"
        )
    if any(group is not None and len(group) > _MAX_DIGITS for group in match.groups()):
        raise ChainSpecError(
            f"bad chain spec {_short(spec)}: layer index {_short(raw.strip())} is far too large"
        )
    start = int(match.group(1))
    stop = int(match.group(2)) if match.group(2) is not None else start
    if stop < start:
        raise ChainSpecError(
            f"bad chain spec {_short(spec)}: range {start}-{stop} runs backwards; list indices instead"
        )
    if num_layers is not None and stop >= num_layers:
        raise ChainSpecError(
            f"unknown layer index {stop}: the model has {num_layers} layers (0-{num_layers - 1})"
        )
    return start, stop


def _json_items(spec: str, text: str) -> list:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChainSpecError(f"bad chain spec {_short(spec)}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer with thousands of digits, deep nesting
        raise ChainSpecError(
            f"bad chain spec {_short(spec)}: not a JSON list of layer indices ({exc})"
        ) from None
    if not isinstance(loaded, list):
        raise ChainSpecError(f"bad chain spec {_short(spec)}: JSON form must be a list of integers")
    return loaded


def _short(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut in the middle when long, so an error stays one readable line."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[: limit // 2]}...{shown[-limit // 2 :]}"


def _too_long(length: int | str, num_layers: int | None, limit: int, spec: str | None = None) -> str:
    what = f"chain spec {_short(spec)}" if spec is not None else "chain"
    if num_layers and limit == min(MAX_LENGTH_FACTOR * num_layers, MAX_SPEC_LENGTH):
        why = f"{MAX_LENGTH_FACTOR} x the model's {num_layers} layers"
    else:
        why = "the limit"
    return (
        f"{what} has {length} positions; the longest allowed is {limit} ({why}; "
        f"raise it with --max-chain-length, at most {MAX_SPEC_LENGTH})"
    )


def format_chain(chain: Sequence[int]) -> str:
    """Compact text form; runs of consecutive ascending indices collapse to ``a-b``."""
    items = validate_chain(chain)
    parts: list[str] = []
    start = prev = items[0]
    for item in items[1:]:
        if item == prev + 1:
            prev = item
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = item
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)


def chain_to_json(chain: Sequence[int]) -> str:
    return json.dumps(list(validate_chain(chain)))


def chain_from_json(text: str, num_layers: int | None = None) -> Chain:
    return parse_chain(text if text.strip().startswith("[") else f"[{text}]", num_layers)


def distinct_layers(chain: Sequence[int]) -> int:
    """How many different pretrained layers a chain uses (a looped layer counts once)."""
    return len(set(chain))
