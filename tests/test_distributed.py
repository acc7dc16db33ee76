"""Ray-distributed search: same records as a local run, crashes retried, Ray imported lazily."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest


def test_cli_and_runner_do_not_import_ray():
    code = (
        "import sys, cola.cli, cola.runs.runner, cola.runs.distributed, cola.predict\n"
        "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_cli_starts_without_importing_torch():
    """``cola --help`` and ``cola models`` should not pay for torch (about a second)."""
    code = "import sys, cola.cli\nassert 'torch' not in sys.modules\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _comparable(record):
    data = record.to_json()
    for outcome in (data["search"], data["baseline"], data["decoy_search"]):
        if outcome is not None:
            outcome.pop("seconds", None)
    return data


@pytest.mark.slow
def test_ray_run_matches_local_run_and_retries_a_dead_actor(smollm, tmp_path, monkeypatch, capfd):
    """An actor dies in the middle of a sample; the resubmitted sample replays the chains the
    dead actor journaled, and every record equals the local run's."""
    ray = pytest.importorskip("ray")
    from cola.runs import RunConfig, run_search
    from cola.runs.distributed import CRASH_ONCE_ENV, run_search_ray
    from cola.runs.store import RunStore
    from cola.search import SearchConfig

    config = RunConfig(
        model="smollm2-135m",
        task="arith",
        data="generated",
        samples=4,
        seed=7,
        length_null=False,  # the nulls are seeded per sample like the search (tests/test_nulls.py)
        sampling=False,
        search=SearchConfig(simulations=8),
    )
    local = {r.sample_id: r for r in run_search(config, tmp_path / "local", model=smollm, progress=False)}
    crash_id = sorted(local)[1]
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, f"{crash_id}:{marker}")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        records = run_search_ray(config, tmp_path / "ray", address="local", workers=2, progress=False)
        assert marker.exists()  # an actor really died on crash_id ...
        replayed = re.findall(
            rf"cola: sample {re.escape(crash_id)}: (\d+) chains replayed", capfd.readouterr().err
        )
        assert len(replayed) == 1 and int(replayed[0]) >= 2  # ... after two journaled passes, kept
        assert not (tmp_path / "ray" / "inflight").exists()  # records written: journals gone
        ids = [r.sample_id for r in records]
        assert sorted(ids) == sorted(local)  # ... and its sample was redone, once
        assert len(ids) == len(set(ids))
        for record in records:
            assert _comparable(record) == _comparable(local[record.sample_id])
        # Resuming the finished Ray run (here: locally, no model needed) adds nothing.
        again = run_search(config, tmp_path / "ray", resume=True, model=smollm, progress=False)
        assert sorted(r.sample_id for r in again) == sorted(local)
        assert len(RunStore(tmp_path / "ray").load_records()) == 4
        local_config = json.loads((tmp_path / "local" / "config.json").read_text())
        assert json.loads((tmp_path / "ray" / "config.json").read_text()) == local_config
    finally:
        ray.shutdown()
