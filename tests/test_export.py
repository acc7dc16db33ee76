"""Exporting chains: mergekit recipes, unrolled HF checkpoints, PEFT layer_replication adapters."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from cola.engine.chain import full_chain, parse_chain
from cola.errors import ChainSpecError, ColaError
from cola.export import (
    chain_from_mergekit_yaml,
    chain_from_ranges,
    chain_ranges,
    export_chain,
    export_hf,
    export_peft,
    mergekit_config,
    mergekit_yaml,
    peft_layer_replication,
)

CHAINS = [
    (0,),
    (0, 1, 2, 3),
    (0, 1, 2, 2, 3),
    (5, 4, 3),
    (0, 1, 1, 1, 2, 7, 8, 8, 3),
    (3, 3, 3),
    (0, 2, 4, 6),
]


# ------------------------------------------------------------------- ranges
def test_chain_ranges_examples():
    assert chain_ranges((0, 1, 2, 3)) == [(0, 4)]
    assert chain_ranges((0, 1, 2, 2, 3, 7, 5)) == [(0, 3), (2, 4), (7, 8), (5, 6)]
    assert chain_ranges((4, 3)) == [(4, 5), (3, 4)]  # descending: ranges of length one
    assert chain_ranges((2, 2)) == [(2, 3), (2, 3)]


@pytest.mark.parametrize("chain", CHAINS)
def test_ranges_round_trip_and_are_maximal(chain):
    ranges = chain_ranges(chain)
    assert chain_from_ranges(ranges) == chain
    assert all(end > start for start, end in ranges)
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start != end  # consecutive ascending runs are merged into one range


def test_chain_from_ranges_rejects_empty_range():
    with pytest.raises(ColaError, match="empty"):
        chain_from_ranges([[3, 3]])


# ----------------------------------------------------------------- mergekit
@pytest.mark.parametrize("chain", CHAINS)
def test_mergekit_round_trip(chain):
    text = mergekit_yaml("some/model", chain, dtype="bfloat16")
    data = yaml.safe_load(text)
    assert data["merge_method"] == "passthrough"
    assert data["dtype"] == "bfloat16"
    assert [s["sources"][0]["model"] for s in data["slices"]] == ["some/model"] * len(data["slices"])
    assert [tuple(s["sources"][0]["layer_range"]) for s in data["slices"]] == chain_ranges(chain)
    assert chain_from_mergekit_yaml(text) == chain


def test_mergekit_merges_consecutive_runs_into_one_slice():
    config = mergekit_config("m", parse_chain("0-9,11,11,12-29"))
    assert [s["sources"][0]["layer_range"] for s in config["slices"]] == [[0, 10], [11, 12], [11, 30]]


@pytest.mark.parametrize("chain", CHAINS)
def test_mergekit_schema_validates(chain):
    mergekit_config_mod = pytest.importorskip("mergekit.config")
    parsed = mergekit_config_mod.MergeConfiguration.model_validate(yaml.safe_load(mergekit_yaml("m", chain)))
    assert parsed.merge_method == "passthrough"
    assert [tuple(s.sources[0].layer_range) for s in parsed.slices] == chain_ranges(chain)


def test_mergekit_yaml_errors():
    with pytest.raises(ColaError, match="passthrough"):
        chain_from_mergekit_yaml(
            "merge_method: linear\nslices:\n- sources:\n  - {model: m, layer_range: [0, 2]}\n"
        )
    with pytest.raises(ColaError, match="slices"):
        chain_from_mergekit_yaml("merge_method: passthrough\nmodels: []\n")
    with pytest.raises(ColaError, match="several models"):
        chain_from_mergekit_yaml(
            "merge_method: passthrough\nslices:\n- sources:\n  - {model: a, layer_range: [0, 2]}\n"
            "- sources:\n  - {model: b, layer_range: [2, 4]}\n"
        )
    with pytest.raises(ChainSpecError):  # beyond the model's layers
        chain_from_mergekit_yaml(mergekit_yaml("m", (0, 40)), num_layers=30)
    with pytest.raises(ColaError, match="dtype"):
        mergekit_yaml("m", (0,), dtype="int3")


def test_export_chain_mergekit_file(tmp_path, smollm):
    out = export_chain("some-local-model", "0-9,11,11,12-29", "mergekit", tmp_path / "c.yaml", model=smollm)
    assert out == tmp_path / "c.yaml"
    assert chain_from_mergekit_yaml(out.read_text(), 30) == parse_chain("0-9,11,11,12-29")


def test_export_bad_chain_spec_is_chain_spec_error(tmp_path, smollm):
    with pytest.raises(ChainSpecError):
        export_chain("smollm2-135m", "0-3,x", "mergekit", tmp_path / "a.yaml", model=smollm)
    with pytest.raises(ChainSpecError):
        export_chain("smollm2-135m", "0-30", "mergekit", tmp_path / "b.yaml", model=smollm)
    with pytest.raises(ChainSpecError):
        export_chain("smollm2-135m", "5-3", "hf", tmp_path / "c", model=smollm)
    with pytest.raises(ColaError, match="format"):
        export_chain("smollm2-135m", "0-3", "onnx", tmp_path / "d", model=smollm)


# ----------------------------------------------------------------------- hf
def _prompt_ids(model, words: int = 12):
    ids, _ = model.encode([" ".join(["the cat sat on the mat and"] * (words // 7 + 1)) + " then"])
    return ids


def _assert_close(got: torch.Tensor, want: torch.Tensor):
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() <= 1e-4 * scale


def test_hf_export_smollm_reproduces_chain(tmp_path, smollm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    chain = parse_chain("0-9,11,11,12-27,29,29", smollm.num_layers)
    out = export_hf(smollm, chain, tmp_path / "hf")
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert loaded.config.num_hidden_layers == len(chain)
    assert AutoTokenizer.from_pretrained(out).vocab_size == smollm.tokenizer.vocab_size
    ids = _prompt_ids(smollm)
    with torch.no_grad():
        got = loaded(ids).logits
    _assert_close(got, smollm.forward(chain, ids))


def test_hf_export_gemma_repeated_sliding_layer(tmp_path, gemma):
    from transformers import AutoModelForCausalLM

    types = gemma.anatomy.layer_types
    sliding = next(i for i, t in enumerate(types) if t == "sliding_attention")
    full = next(i for i, t in enumerate(types) if t == "full_attention")
    chain = tuple(range(0, full + 1)) + (sliding, sliding) + tuple(range(full + 1, gemma.num_layers))
    out = export_hf(gemma, chain, tmp_path / "hf")
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert loaded.config.num_hidden_layers == len(chain)
    assert list(loaded.config.layer_types) == [types[i] for i in chain]
    # Longer than the sliding window, so a sliding layer run with a full mask would differ.
    window = gemma.anatomy.sliding_window
    ids = torch.randint(100, 5000, (1, window + 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = loaded(ids).logits[:, -32:]
    want = gemma.forward(chain, ids)[:, -32:]
    _assert_close(got, want)


# --------------------------------------------------------------------- peft
def test_peft_replication_every_chain_for_uniform_attention():
    for chain in CHAINS:
        assert [tuple(r) for r in peft_layer_replication(chain)] == chain_ranges(chain)
        assert [tuple(r) for r in peft_layer_replication(chain, ["full_attention"] * 10)] == chain_ranges(
            chain
        )


def test_peft_replication_mixed_attention_rules():
    types = ["sliding_attention"] * 5 + ["full_attention"]
    # Same kind at every position: expressible (skip + repeat + reorder among sliding layers).
    assert peft_layer_replication((0, 1, 1, 3, 2, 5), types) == [[0, 2], [1, 2], [3, 4], [2, 3], [5, 6]]
    assert peft_layer_replication((0, 1, 2), types) == [[0, 3]]  # shorter chains are fine
    with pytest.raises(ColaError, match="position 5 runs layer 4"):  # a sliding layer where full was
        peft_layer_replication((0, 1, 2, 3, 4, 4), types)
    with pytest.raises(ColaError, match="7 positions"):  # longer than the config's layer_types
        peft_layer_replication((0, 1, 2, 3, 4, 5, 5), types)
    with pytest.raises(ChainSpecError):
        peft_layer_replication((0, 6), types)


def test_peft_adapter_reproduces_chain_on_smollm(tmp_path, smollm):
    peft = pytest.importorskip("peft")
    chain = parse_chain("0-3,3,3-5,9,7,8,10-28,29,29", smollm.num_layers)
    out = export_peft(smollm, chain, tmp_path / "peft", model_ref="smollm2-135m")
    config = json.loads((out / "adapter_config.json").read_text())
    assert [tuple(r) for r in config["layer_replication"]] == chain_ranges(chain)
    assert config["base_model_name_or_path"] == "smollm2-135m"

    base = copy.deepcopy(smollm.model)
    original = list(base.model.layers)
    wrapped = peft.PeftModel.from_pretrained(base, out).eval()
    stack = wrapped.base_model.model.model.layers
    assert len(stack) == len(chain)
    # Each replicated position shares its weights with the chain's pretrained layer.
    for position, layer in enumerate(chain):
        got = stack[position].mlp.down_proj.weight
        assert got.data_ptr() == original[layer].mlp.down_proj.weight.data_ptr(), position
    ids = _prompt_ids(smollm)
    with torch.no_grad():
        logits = wrapped(input_ids=ids).logits
    _assert_close(logits, smollm.forward(chain, ids))


def test_peft_export_gemma_refuses_clashing_chain(tmp_path, gemma):
    types = gemma.anatomy.layer_types
    full = types.index("full_attention")
    with pytest.raises(ColaError, match="layer_types"):
        export_peft(
            gemma, tuple(range(full)) + (full - 1,) + tuple(range(full + 1, gemma.num_layers)), tmp_path / "p"
        )
    with pytest.raises(ColaError, match="positions"):
        export_peft(gemma, full_chain(gemma.num_layers) + (0,), tmp_path / "q")


def test_peft_config_only(tmp_path, smollm):
    out = export_peft(smollm, (0, 1, 1, 2), tmp_path / "cfg", config_only=True)
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert config["layer_replication"] == [[0, 2], [1, 3]]
    assert not (out / "adapter_model.safetensors").exists()


def test_cmd_export_mergekit_reads_only_the_config(tmp_path, smollm):
    import argparse

    from cola.cli.export import add_export_arguments, cmd_export

    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    args = parser.parse_args(
        [
            "--model",
            "smollm2-135m",
            "--chain",
            "0-9,11,11,12-29",
            "--format",
            "mergekit",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert cmd_export(args) == 0
    text = (tmp_path / "m" / "mergekit.yaml").read_text()
    assert chain_from_mergekit_yaml(text, smollm.num_layers) == parse_chain("0-9,11,11,12-29")
    assert "NOTE" not in text  # uniform attention: nothing to fix after merging


def test_mergekit_notes_layer_types_for_mixed_attention(tmp_path, gemma):
    types = gemma.anatomy.layer_types
    sliding = types.index("sliding_attention")
    chain = full_chain(gemma.num_layers) + (sliding,)
    out = export_chain("gemma3-270m", chain, "mergekit", tmp_path / "g.yaml", model=gemma)
    text = out.read_text()
    assert "layer_types" in text and "NOTE" in text
    assert chain_from_mergekit_yaml(text, gemma.num_layers) == chain


# ------------------------------------------------------------ no clobbering
@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    """Two tiny random-initialised Llama checkpoints: one whose tokenizer has a chat template, one without."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from cola.engine.loading import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))
    template = tokenizer.chat_template
    assert template
    root = tmp_path_factory.mktemp("tiny")
    dirs = {}
    for name, chat_template in (("chatty", template), ("plain", None)):
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
        )
        LlamaForCausalLM(config).save_pretrained(root / name)
        tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(root / name)
        dirs[name] = root / name
    assert (dirs["chatty"] / "chat_template.jinja").exists() and not (
        dirs["plain"] / "chat_template.jinja"
    ).exists()
    return dirs


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_hf_export_refuses_a_non_empty_dir_and_force_replaces_it_whole(tmp_path, capsys, tiny_checkpoints):
    """Exporting over an earlier export used to keep its extra files (e.g. another model's chat template)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cola.cli import main

    out = tmp_path / "out"
    export = ["export", "--chain", "0,2", "--format", "hf", "--out", str(out), "--model"]
    assert main([*export, str(tiny_checkpoints["chatty"])]) == 0
    assert (out / "chat_template.jinja").exists()
    before = _files(out)
    capsys.readouterr()
    assert main([*export, str(tiny_checkpoints["plain"])]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"cola: error: {out} is not empty (")
        and err.endswith("pass --force to replace it, or choose another --out")
        and "\n" not in err
    )
    assert _files(out) == before  # untouched
    assert main([*export, str(tiny_checkpoints["plain"]), "--force"]) == 0
    fresh = tmp_path / "fresh"
    assert main([*export[:-2], str(fresh), "--model", str(tiny_checkpoints["plain"])]) == 0
    assert sorted(_files(out)) == sorted(_files(fresh))  # exactly the new export: nothing of the old one kept
    assert not (out / "chat_template.jinja").exists()
    assert AutoTokenizer.from_pretrained(out).chat_template is None
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]  # no staging or old copy left


def test_mergekit_export_refuses_to_overwrite_unless_forced(tmp_path, smollm):
    recipe = tmp_path / "r.yaml"
    export_chain("m", "0-3", "mergekit", recipe, model=smollm)
    with pytest.raises(ColaError, match="already exists; pass --force"):
        export_chain("m", "0,1", "mergekit", recipe, model=smollm)
    assert chain_from_mergekit_yaml(recipe.read_text(), 30) == (0, 1, 2, 3)
    export_chain("m", "0,1", "mergekit", recipe, model=smollm, force=True)
    assert chain_from_mergekit_yaml(recipe.read_text(), 30) == (0, 1)
    folder = tmp_path / "dir"
    export_chain("m", "0-3", "mergekit", folder, model=smollm)
    with pytest.raises(ColaError, match="is not empty \\(mergekit.yaml\\)"):
        export_chain("m", "0,1", "mergekit", folder, model=smollm)
    assert export_chain("m", "0,1", "mergekit", folder, model=smollm, force=True) == folder / "mergekit.yaml"
    assert chain_from_mergekit_yaml((folder / "mergekit.yaml").read_text(), 30) == (0, 1)
