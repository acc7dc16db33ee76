"""Device and dtype on every command, one-line refusals at the CLI, and a bfloat16 search end to end."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import SUPPORTED, UNSUPPORTED, tiny_model, tiny_tokenizer

from cola.cli import build_parser, main
from cola.engine.placement import Placement, concrete_dtype, resolve_placement
from cola.errors import PlacementError
from cola.runs.store import RunStore


def test_auto_placement_follows_the_machine():
    placement = resolve_placement()
    if torch.cuda.is_available():
        assert placement.device == "cuda" and placement.dtype in ("bfloat16", "float16")
    else:
        assert (placement.device, placement.dtype) == ("cpu", "float32")
    assert placement.device_auto and placement.dtype_auto
    assert concrete_dtype("auto") == placement.dtype


def test_explicit_placement_and_dtype_aliases():
    assert resolve_placement("cpu", "bf16") == Placement("cpu", "bfloat16")
    assert resolve_placement("CPU", torch.float16) == Placement("cpu", "float16")
    assert resolve_placement("cpu", "bf16").describe() == "device cpu, dtype bfloat16"


@pytest.mark.parametrize(
    ("device", "dtype", "message"),
    [
        ("tpu", "auto", "unknown device 'tpu'"),
        ("cuda:x", "auto", "unknown device"),
        ("cpu", "float8", "unknown dtype 'float8'"),
        ("cpu:1", "auto", "unknown device"),
    ],
)
def test_bad_placement_is_one_line(device: str, dtype: str, message: str):
    with pytest.raises(PlacementError, match=message) as info:
        resolve_placement(device, dtype)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line():
    with pytest.raises(PlacementError, match="no CUDA GPU is available"):
        resolve_placement("cuda:0", "auto")


@pytest.mark.parametrize("command", ["run", "search", "predict", "evaluate", "export"])
def test_every_command_that_loads_a_model_takes_device_and_dtype(command: str):
    required = {
        "run": ["--prompt", "x"],
        "search": ["--out", "x"],
        "predict": ["--run", "x", "--out", "y"],
        "evaluate": ["--run", "x"],
        "export": ["--chain", "0", "--format", "hf", "--out", "x"],
    }[command]
    args = build_parser().parse_args(
        [command, *required, "--device", "cpu", "--dtype", "bfloat16", "--no-self-check"]
    )
    assert (args.device, args.dtype, args.self_check) == ("cpu", "bfloat16", False)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, str]:
    """Saved tiny models (with a tokenizer), as a user would point ``--model`` at them."""
    from transformers import T5Config, T5ForConditionalGeneration

    root = tmp_path_factory.mktemp("tiny")
    models = {
        a.name: tiny_model(a) for a in SUPPORTED + UNSUPPORTED if a.name in ("gpt2", "opt", "mamba", "bloom")
    }
    models["t5"] = T5ForConditionalGeneration(
        T5Config(d_model=32, d_ff=64, num_layers=2, num_heads=2, vocab_size=128)
    )
    for name, model in models.items():
        model.save_pretrained(root / name)
        tiny_tokenizer().save_pretrained(root / name)
    return {name: str(root / name) for name in models}


@pytest.mark.parametrize("name", ["gpt2", "opt"])
def test_cli_runs_learned_position_models(tiny_dirs, capsys, name: str):
    assert main(["run", "--model", tiny_dirs[name], "--prompt", "w5 w9 w17", "--max-new-tokens", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and "cola: device cpu" in err and "# chain 0-3 (4 of 4 layers)" in err


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("mamba", "MambaForCausalLM: its layers are of kind linear_attention"),
        ("bloom", "BloomForCausalLM: it uses ALiBi"),
        ("t5", "T5Config: encoder-decoder models are not supported"),
    ],
)
def test_cli_refuses_unsupported_models_in_one_line(tiny_dirs, capsys, name: str, reason: str):
    assert main(["run", "--model", tiny_dirs[name], "--prompt", "w5"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("cola: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"cola: error: {reason}") and "Traceback" not in err


def test_search_in_bfloat16_end_to_end(tmp_path, capsys):
    """``cola search --device cpu --dtype bfloat16``: in reduced precision each sample re-checks up to 4
    chains naively by default, and the summary reports it; the dtype is part of the run's identity."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bfloat16 on a CPU: small matmuls split over threads cost more than they gain
    try:
        _search_in_bfloat16(tmp_path, capsys)
    finally:
        torch.set_num_threads(threads)


def _search_in_bfloat16(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "search",
        "--task",
        "arith",
        "--samples",
        "2",
        "--simulations",
        "2",
        "--batch-size",
        "2",
        "--no-baseline",
        "--concurrent-samples",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main([*args, "--device", "cpu", "--dtype", "bfloat16"]) == 0
    printed = capsys.readouterr()
    assert "cola: device cpu, dtype bfloat16" in printed.err
    assert "fast vs naive re-check in bfloat16: answers differ in " in printed.out
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    records = RunStore(out).load_records()
    assert len(records) == 2
    for record in records:
        distinct = {record.original.chain, *(e.chain for e in record.search.evaluations)}
        assert record.recheck is not None and record.recheck.checked == min(4, len(distinct)) >= 2
    # a resume that changes the dtype is refused; auto resolves to float32 here, so it is refused too
    for dtype in ("float32", "auto"):
        assert main([*args, "--resume", "--dtype", dtype]) == 2
        assert "dtype: saved 'bfloat16', now 'float32'" in capsys.readouterr().err
    assert main(["summary", str(out)]) == 0
    assert "re-check in bfloat16" in capsys.readouterr().out
