"""How a predictor is fitted (:class:`FitOptions`); no torch, so the CLI builds its options from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class FitOptions:
    """How a predictor is fitted from a training run (each field is read by some predictors only).

    ``metadata["help"]`` is a field's command-line help (``cola predict``/``evaluate``/``sweep``
    build their fitting options from these fields), ``metadata["flag"]`` and ``["dest"]``
    its flag and argparse name where they are not the field's own.
    """

    # Embedding layer (default: half the depth).
    layer: int | None = field(default=None, metadata={"help": "embedding layer (default: half the depth)"})
    # Training samples with no correct chain: dropped, or the full chain as their target.
    no_correct: Literal["skip", "full"] = field(
        default="skip",
        metadata={"help": "training samples with no correct chain: drop them or target the full chain"},
    )
    seed: int = field(  # PoLar initialisation / dataset search seed
        default=0,
        metadata={"flag": "--fit-seed", "dest": "fit_seed", "help": "PoLar init / dataset-search seed"},
    )
    epochs: int = field(default=300, metadata={"help": "PoLar training epochs"})
    hidden: int = 64  # PoLar hidden width
    # Dataset-level search budget (chains tried).
    simulations: int = field(default=64, metadata={"help": "dataset-level search budget"})
    length_penalty: float = field(  # dataset objective: accuracy - penalty * len / L
        default=0.1, metadata={"help": "dataset chain objective: train accuracy - penalty * len/L"}
    )
    # Dataset search: first N training samples (None: all).
    train_samples: int | None = field(
        default=None, metadata={"help": "dataset search: first N training samples"}
    )
    # Importance baselines: layers to drop (required for them).
    drop: int | None = field(
        default=None, metadata={"help": "layers to drop (block-influence, angular, greedy-drop)"}
    )
