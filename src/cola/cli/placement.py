"""``--device`` / ``--dtype`` / ``--no-self-check``: the options of every command that loads a model.

The choice is resolved (and so checked) before anything else runs (``auto``: a CUDA GPU in
bfloat16 when present, else the CPU in float32; see :mod:`cola.engine.placement`). The line
saying where a run computed is logged when the weights load, so a refused command prints
only its one error line.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - the CLI starts without importing torch
    from cola.engine.placement import Placement


def add_placement_arguments(
    p: argparse.ArgumentParser, dtype_default: str | None = "auto", dtype_help: str = ""
) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="auto (a CUDA GPU when present, else the CPU), cpu, cuda, cuda:N or mps",
    )
    p.add_argument(
        "--dtype",
        default=dtype_default,
        help=dtype_help
        or "auto (bfloat16 on a GPU, float16 where bf16 is unsupported; float32 on "
        "the CPU), float32, bfloat16 or float16",
    )
    p.add_argument(
        "--no-self-check",
        dest="self_check",
        action="store_false",
        help="skip checking the chain forward against the model's own forward at load (prints a warning)",
    )


def placement_from_args(args: argparse.Namespace, dtype: str | None = None) -> Placement:
    """Resolve ``--device`` and ``--dtype`` (or ``dtype``); an unknown or unavailable one is one line."""
    from cola.engine.placement import resolve_placement

    return resolve_placement(args.device, dtype if dtype is not None else args.dtype)
