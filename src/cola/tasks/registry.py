"""Name -> task class. Adding a task is one module that decorates its class with :func:`register_task`."""

from __future__ import annotations

from typing import TypeVar

from cola.errors import DatasetError
from cola.tasks.base import Task

T = TypeVar("T", bound=type[Task])

_TASKS: dict[str, type[Task]] = {}


def _key(name: str) -> str:
    # "arc-easy", "ARC_Easy" and "arc_easy" all name the same task.
    return name.strip().lower().replace("-", "_")


def register_task(cls: T) -> T:
    """Class decorator: make ``cls`` available as ``get_task(cls.name)``."""
    key = _key(cls.name)
    if key in _TASKS and _TASKS[key] is not cls:
        raise ValueError(f"task name {cls.name!r} is already registered by {_TASKS[key].__qualname__}")
    _TASKS[key] = cls
    return cls


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as ``name``."""
    cls = _TASKS.get(_key(name))
    if cls is None:
        raise DatasetError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    return cls()


def list_tasks() -> list[str]:
    """Registered task names, sorted."""
    return sorted(cls.name for cls in _TASKS.values())
