"""The ``cola`` command line: a thin layer over the Python API.

One module per group of subcommands registers them with :func:`cola.cli.registry.command`;
each parses its options, calls the library and prints. Heavy imports (torch, the model)
happen inside the command functions, so ``cola --help`` starts at once.

Errors caused by the user's input (:class:`cola.errors.ColaError`) print as one line
and exit with status 2; anything else is a bug and keeps its traceback. cola's warnings
(:class:`cola.errors.ColaWarning`) print as one ``cola: warning:`` line.

May import: everything in cola (it is the top of the dependency order).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from cola.cli import export, predict, report, run, search, sweep  # noqa: F401  (register their subcommands)
from cola.cli.options import flag_naming
from cola.cli.registry import COMMANDS
from cola.errors import ColaError, ColaWarning, SettingError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cola", description="Chains of layers: skip, loop and re-order LLM layers per input."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, entry in COMMANDS.items():
        p = sub.add_parser(name, help=entry.help, description=entry.help)
        entry.add_arguments(p)
        p.set_defaults(func=entry.run)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """cola's own warnings (a torn record line, ...) as one line; others as Python prints them."""
    if issubclass(category, ColaWarning):
        print(f"cola: warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log = _log_to_stderr()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return args.func(args)
    except ColaError as exc:
        text = flag_naming(exc, args) if isinstance(exc, SettingError) else str(exc)
        message = " ".join(text.split("\n"))  # one line, whatever a library message held
        print(f"cola: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cola: interrupted; finished samples are saved (continue with --resume)", file=sys.stderr)
        return 130
    finally:
        logging.getLogger("cola").removeHandler(log)


def _log_to_stderr() -> logging.Handler:
    """cola's information lines (e.g. where the model loads) as ``cola: ...`` on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cola: %(message)s"))
    logger = logging.getLogger("cola")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


if __name__ == "__main__":
    sys.exit(main())
