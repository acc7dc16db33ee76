"""A sample's journal: every chain evaluated for a sample still in flight, so a stopped run loses none.

A record is written only when all of a sample's arms are done. On long generative tasks
(GSM8K, MATH: up to 512 generated tokens per chain) one sample costs an hour or more of
CPU, so a run stopped mid-sample would otherwise compute it all again. The runner hands
each new evaluation to the sample's journal (``<run>/inflight/<hash of sample id>.jsonl``,
one JSON line per evaluation, flushed and fsynced); a resumed run preloads them into the
sample's evaluator, and since every search is seeded and deterministic given its rewards,
it replays the same chains without a model pass until it reaches the first chain not
evaluated yet. The record is then the one an unstopped run would have written (only its
``seconds`` are shorter). The journal is deleted once the record is appended.

The journal's first line names the sample and the run's settings; a journal written under
other settings (a run restarted with a changed config) is ignored and replaced, never replayed.

Ray actors journal too, when they see the run directory (same machine or a shared
filesystem; :meth:`SampleJournal.reachable`), so a sample an actor was searching when it
died, or when the run was stopped, resumes from its journal, locally or on Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from cola.errors import RunConfigError
from cola.evaluation.result import Evaluation
from cola.runs.store import RunStore, _normalise, config_differences

INFLIGHT_DIR = "inflight"


class SampleJournal:
    """The journal of one sample of one run directory."""

    def __init__(self, run_dir: str | Path, sample_id: str, config: dict[str, Any]):
        self.sample_id = sample_id
        self.config = _normalise(config)  # as JSON gives it back, so comparisons are fair
        digest = hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:20]
        self.path = Path(run_dir) / INFLIGHT_DIR / f"{digest}.jsonl"

    @staticmethod
    def reachable(run_dir: str | Path, config: dict[str, Any]) -> bool:
        """Whether this process sees ``run_dir`` as the directory of the run with ``config``.

        A Ray actor on another machine without the run's filesystem does not (it then
        searches without a journal, as before), and must not create a stray directory there.
        """
        try:
            saved = RunStore(run_dir).load_config()
        except (OSError, RunConfigError):  # unreadable from here: not reachable
            return False
        return saved is not None and not config_differences(saved, _normalise(config))

    def replay(self) -> list[Evaluation]:
        """The evaluations a stopped run made for this sample under the same settings (else none).

        A torn last line (the process died while writing it) is dropped.
        """
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
        if not rows or not self._same_run(rows[0]):
            return []
        return [Evaluation.from_json(row) for row in rows[1:]]

    def start(self, replayed: list[Evaluation]) -> None:
        """Rewrite the journal as its header plus ``replayed`` (dropping a torn line or a stale journal)."""
        staged = self.path.with_suffix(".tmp")
        with self._create(staged) as handle:
            handle.write(json.dumps({"sample_id": self.sample_id, "config": self.config}) + "\n")
            handle.writelines(json.dumps(e.to_json()) + "\n" for e in replayed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, self.path)

    def _create(self, path: Path):
        """Open ``path`` for writing, making the journal folder; retried because another
        sample's :meth:`discard` may remove the (then empty) folder in between."""
        for _ in range(5):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return open(path, "w", encoding="utf-8")
            except FileNotFoundError:
                continue
        return open(path, "w", encoding="utf-8")

    def append(self, evaluations: list[Evaluation]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(e.to_json()) + "\n" for e in evaluations)
            handle.flush()
            os.fsync(handle.fileno())

    def attach(self, evaluator) -> int:
        """Preload ``evaluator`` with what a stopped run evaluated, and journal every new evaluation.

        Returns how many evaluations were replayed.
        """
        replayed = self.replay()
        self.start(replayed)
        evaluator.preload(replayed)
        evaluator.on_evaluated = self.append
        return len(replayed)

    @staticmethod
    def say_replayed(sample_id: str, count: int) -> None:
        """One line on stderr when a sample resumes from its journal, so a user sees the work kept."""
        if count:
            print(f"cola: sample {sample_id}: {count} chains replayed from its journal", file=sys.stderr)

    def discard(self) -> None:
        """The sample's record is written: its journal is no longer needed."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        try:
            self.path.parent.rmdir()  # only if no other sample is in flight
        except OSError:
            pass

    def _same_run(self, header: Any) -> bool:
        return (
            isinstance(header, dict)
            and header.get("sample_id") == self.sample_id
            and not config_differences(header.get("config"), self.config)
        )
