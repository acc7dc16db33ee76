"""The subcommand registry: each ``cola`` subcommand is a function plus its argument declarations."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None]


COMMANDS: dict[str, Command] = {}


def command(name: str, help_text: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register ``func(args) -> exit status`` as subcommand ``name`` (registration order is help order)."""

    def wrap(func: Callable[[argparse.Namespace], int]):
        if name in COMMANDS:
            raise ValueError(f"cola subcommand {name!r} is already registered")
        COMMANDS[name] = Command(name, help_text, func, add_arguments)
        return func

    return wrap
