"""The predictors and depth methods, by name: the one list the library, the CLI and the harness read.

A name maps to the family that fits it (:func:`cola.predict.fit.fit_predictor` holds
one fitter per family). This module imports no torch, so ``cola --help`` lists the
names without loading the predictors. As with task names, ``-`` and ``_`` are the same
letter in a name: ``block_influence`` finds ``block-influence``.
"""

from __future__ import annotations

from typing import Literal

from cola.errors import ColaError

Family = Literal["embeddings", "dataset", "layer_drop"]

# The layer-importance baselines (ShortGPT's block influence, the angular distance of
# consecutive blocks, greedy dropping on validation accuracy): one chain per requested depth.
IMPORTANCE_METHODS: tuple[str, ...] = ("block-influence", "angular", "greedy-drop")
# What ``cola sweep`` compares at every depth: the baselines and CoLa's dataset chain.
DEPTH_METHODS: tuple[str, ...] = (*IMPORTANCE_METHODS, "dataset")

PREDICTOR_FAMILIES: dict[str, Family] = {
    "knn": "embeddings",  # nearest training prompts' best chains
    "polar": "embeddings",  # a per-layer skip/keep/repeat MLP on the prompt embedding
    "dataset": "dataset",  # one chain for the whole task
    **{method: "layer_drop" for method in IMPORTANCE_METHODS},
}
PREDICTORS: tuple[str, ...] = tuple(PREDICTOR_FAMILIES)


def canonical_name(name: str, known: tuple[str, ...], what: str = "predictor") -> str:
    """The registered spelling of ``name`` (``_`` for ``-`` or the reverse); unknown: one ColaError line."""
    for candidate in (name, name.replace("_", "-"), name.replace("-", "_")):
        if candidate in known:
            return candidate
    raise ColaError(f"unknown {what} {name!r}; choose from {', '.join(known)}")


def predictor_family(name: str) -> Family:
    """How the predictor ``name`` is fitted."""
    return PREDICTOR_FAMILIES[canonical_name(name, PREDICTORS)]
