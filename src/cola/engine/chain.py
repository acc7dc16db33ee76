"""Chain-of-layers specs: parsing, formatting and validation.

A *chain* is the sequence of pretrained decoder-layer indices a forward pass runs,
in order. Layers may be skipped, repeated (looped) or re-ordered. In code a chain is
a plain ``tuple[int, ...]`` so it can be hashed, compared and stored as JSON without
ceremony. Users type the compact text form, e.g. ``"0-9,11,11,12-29"``: comma
separated items, each a layer index or an inclusive ascending range ``a-b``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from cola.errors import ChainSpecError

Chain = tuple[int, ...]

_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def full_chain(num_layers: int) -> Chain:
    """The stock model: every layer once, in order."""
    return tuple(range(num_layers))


def validate_chain(chain: Sequence[int], num_layers: int | None = None) -> Chain:
    """Return ``chain`` as a tuple, or raise :class:`ChainSpecError` naming the problem."""
    if isinstance(chain, (str, bytes)):
        raise ChainSpecError(f"chain must be a list of layer indices, got the string {chain!r}")
    items = tuple(chain)
    if not items:
        raise ChainSpecError("chain is empty: it must name at least one layer")
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


def parse_chain(spec: str | Sequence[int], num_layers: int | None = None) -> Chain:
    """Parse a chain from its text form (``"0-9,11,11,12-29"``), a JSON list, or a sequence.

    ``num_layers``, when given, bounds the indices so a typo fails here rather than deep
    inside a forward pass.
    """
    if not isinstance(spec, str):
        return validate_chain(spec, num_layers)
    text = spec.strip()
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ChainSpecError(f"bad chain spec {spec!r}: not valid JSON ({exc.msg})") from None
        if not isinstance(loaded, list):
            raise ChainSpecError(f"bad chain spec {spec!r}: JSON form must be a list of integers")
        return validate_chain(loaded, num_layers)
    if not text:
        raise ChainSpecError("bad chain spec '': it is empty")
    layers: list[int] = []
    for raw in text.split(","):
        match = _ITEM.match(raw)
        if match is None:
            raise ChainSpecError(
                f"bad chain spec {spec!r}: item {raw.strip()!r} is not an index or a range like 3-7"
            )
        start = int(match.group(1))
        stop = int(match.group(2)) if match.group(2) is not None else start
        if stop < start:
            raise ChainSpecError(
                f"bad chain spec {spec!r}: range {start}-{stop} runs backwards; list indices instead"
            )
        layers.extend(range(start, stop + 1))
    return validate_chain(layers, num_layers)


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
