"""Benchmark tasks, by name: ``get_task("arc_easy")``, ``list_tasks()``.

Each task lives in its own module and registers itself with :func:`register_task` on
import; adding a task is one new module plus its name in the import below. Tasks see
a tokenizer (for chat templates) but never the model.

May import: cola.errors
"""

from cola.tasks import arc, arith, direct, gsm8k, math500  # noqa: F401  (imported to register the tasks)
from cola.tasks.base import Sample, Task, truncate_at
from cola.tasks.registry import get_task, list_tasks, register_task

__all__ = ["Sample", "Task", "get_task", "list_tasks", "register_task", "truncate_at"]
