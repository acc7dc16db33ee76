"""The ``cola`` command line: a thin layer over the Python API.

One module per group of subcommands registers them with :func:`cola.cli.registry.command`;
each parses its options, calls the library and prints. Heavy imports (torch, the model)
happen inside the command functions, so ``cola --help`` starts at once.

Errors caused by the user's input (:class:`cola.errors.ColaError`) print as one line
and exit with status 2; anything else is a bug and keeps its traceback.

May import: everything in cola (it is the top of the dependency order).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cola.cli import export, predict, report, run, search, sweep  # noqa: F401  (register their subcommands)
from cola.cli.registry import COMMANDS
from cola.errors import ColaError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cola", description="Chains of layers: skip, loop and re-order LLM layers per input.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, entry in COMMANDS.items():
        p = sub.add_parser(name, help=entry.help, description=entry.help)
        entry.add_arguments(p)
        p.set_defaults(func=entry.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ColaError as exc:
        print(f"cola: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cola: interrupted; finished samples are saved (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
