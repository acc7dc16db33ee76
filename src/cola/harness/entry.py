"""Registering ``cola`` with lm-eval, and the ``cola-lm-eval`` command (lm-eval's CLI with cola known).

lm-eval 0.4.x has no plugin hook for model types: a model is known once something in
the process registers it. :func:`register` adds ``cola`` as a lazy entry
(``cola.harness.lm:ColaLM``, imported on first use). Since lm-eval 0.4.10 the registry is
itself lazy and lm-eval fills it only while it is empty, so lm-eval's own models are
loaded first; otherwise registering ``cola`` would hide ``hf`` and the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cola.errors import ColaError

TARGET = "cola.harness.lm:ColaLM"
# How lm-eval 0.4.x words a task list it cannot use (a ValueError raised before any model loads).
TASK_ERRORS = ("Tasks not found", "Need to specify task")


def register() -> None:
    """Make ``--model cola`` / ``simple_evaluate(model="cola")`` resolve in this process (idempotent)."""
    try:
        import lm_eval.models  # noqa: F401  (fill lm-eval's own entries first)
        from lm_eval.api.registry import model_registry  # lm-eval 0.4.10+
    except ImportError:
        raise ColaError(
            "lm-evaluation-harness >= 0.4.10 is not installed: pip install 'cola[harness]'"
        ) from None
    if "cola" not in model_registry:
        model_registry.register("cola", target=TARGET)


def main(argv: Sequence[str] | None = None) -> int:
    """``cola-lm-eval ARGS``: exactly ``lm-eval ARGS``, with ``--model cola`` available."""
    try:
        register()
        from lm_eval.__main__ import cli_evaluate

        if argv is not None:
            sys.argv = ["cola-lm-eval", *argv]
        cli_evaluate()
    except ColaError as exc:
        print(f"cola-lm-eval: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # lm-eval's own refusals of the task list (not its other ValueErrors: bugs)
        message = " ".join(str(exc).split())
        if not message.startswith(TASK_ERRORS):
            raise
        print(f"cola-lm-eval: error: {message} (lm-eval ls tasks lists the known tasks)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
