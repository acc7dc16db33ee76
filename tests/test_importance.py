"""Layer-importance baselines: each computes its published criterion (hand-computed tiny cases, real states)."""

from __future__ import annotations

import math

import pytest
import torch

from cola.predict.importance import (
    Calibration,
    calibrate,
    criterion_chains,
    drop_block,
    drop_lowest,
    greedy_drop,
    residual_states,
)

PI = math.pi


def _states(angles: list[list[float]], radii: list[float], dims: int = 3) -> torch.Tensor:
    """``[L+1, T, dims]`` unit-circle states at the given angles (per token, per boundary), scaled."""
    tokens = []
    for token_angles, radius in zip(angles, radii):
        tokens.append(
            [[radius * math.cos(a), radius * math.sin(a)] + [0.0] * (dims - 2) for a in token_angles]
        )
    return torch.tensor(tokens, dtype=torch.float32).transpose(0, 1)  # [T, L+1, d] -> [L+1, T, d]


# Two prompts through a 3-layer model. Prompt A has 2 tokens, prompt B one; each list gives a
# token's angle at the 4 layer boundaries (input of layer 0, 1, 2, output of layer 2).
PROMPT_A = _states([[0, 0, PI, PI], [0, PI / 3, PI / 3, PI]], radii=[2.0, 5.0])
PROMPT_B = _states([[0, PI, PI, PI]], radii=[0.5])


def test_block_influence_is_one_minus_mean_token_cosine_over_all_tokens():
    calibration = Calibration.from_states([PROMPT_A, PROMPT_B])
    # cos per layer: layer 0: 1, 1/2, -1 -> mean 1/6; layer 1: -1, 1, 1 -> 1/3; layer 2: 1, -1/2, 1 -> 1/2.
    # (A mean of per-prompt means would give layer 0: 1 - (3/4 - 1)/2 = 9/8 instead.)
    assert calibration.block_influence().tolist() == pytest.approx([5 / 6, 2 / 3, 1 / 2])
    assert criterion_chains("block-influence", calibration, [0, 1, 2]) == {0: (0, 1, 2), 1: (0, 1), 2: (0,)}


def test_angular_distance_uses_the_last_token_and_drops_the_closest_block():
    calibration = Calibration.from_states([PROMPT_A, PROMPT_B])
    # last tokens: A at angles (0, pi/3, pi/3, pi), B at (0, pi, pi, pi); d = angle / pi, averaged.
    assert calibration.angular_distances(1).tolist() == pytest.approx([(1 / 3 + 1) / 2, 0.0, (2 / 3 + 0) / 2])
    assert calibration.angular_distances(2).tolist() == pytest.approx([(1 / 3 + 1) / 2, (2 / 3 + 0) / 2])
    assert calibration.angular_distances(3).tolist() == pytest.approx([(1 + 1) / 2])
    # Over all tokens, n=1 would pick block 2 (A's first token moves only at layer 1): last token picks 1.
    assert criterion_chains("angular", calibration, [0, 1, 2]) == {0: (0, 1, 2), 1: (0, 2), 2: (0,)}


def test_ties_drop_the_deeper_layer_or_block_and_bad_drops_are_refused():
    assert drop_lowest([1.0, 1.0, 1.0], 1) == (0, 1)
    assert drop_lowest([0.2, 0.1, 0.3, 0.1], 2) == (0, 2)
    assert drop_block([0.0, 0.0], 2, 3) == (0,)
    assert drop_block([0.3, 0.1, 0.2], 2, 4) == (0, 3)
    with pytest.raises(ValueError):
        drop_lowest([1.0, 2.0], 2)  # nothing would be left
    with pytest.raises(ValueError):
        drop_block([0.1], 2, 4)  # wrong number of distances


def test_greedy_drop_re_evaluates_after_every_drop():
    weights = [5.0, 1.0, 3.0, 2.0]

    def accuracy(chains):  # kept weight, minus 4 while layer 1 is kept without layer 2
        return [sum(weights[i] for i in c) - (4.0 if 1 in c and 2 not in c else 0.0) for c in chains]

    result = greedy_drop(accuracy, 4, 3)
    # full: 11; drop 1 -> 10 (drop 2 would give 4); then drop 3 -> 8; then drop 2 -> 5.
    assert result.chains == [(0, 1, 2, 3), (0, 2, 3), (0, 2), (0,)]
    assert result.accuracies == [11.0, 10.0, 8.0, 5.0]
    assert result.chains_evaluated == 1 + 4 + 3 + 2
    flat = greedy_drop(lambda chains: [0.5] * len(chains), 4, 2)
    assert flat.chains == [(0, 1, 2, 3), (0, 1, 2), (0, 1)]  # ties: the deeper layer goes


def test_residual_states_are_the_stock_hidden_states(smollm):
    ids, _ = smollm.encode(["Question: Which gas do plants take in?\nAnswer:"])
    captured = {}
    last = smollm.anatomy.layers[-1]
    handle = last.register_forward_hook(lambda module, args, output: captured.update(out=output))
    try:
        with torch.inference_mode():
            hidden = smollm.model(input_ids=ids, output_hidden_states=True).hidden_states
    finally:
        handle.remove()
    ours = residual_states(smollm, ids)
    stock_last = captured["out"][0] if isinstance(captured["out"], tuple) else captured["out"]
    stock = torch.stack(
        [h[0] for h in hidden[:-1]] + [stock_last[0]]
    )  # HF's last entry is after the final norm
    assert torch.allclose(ours, stock.float(), atol=1e-5)


def test_calibration_on_real_prompts_matches_the_definitions(smollm):
    prompts = ["What is 3 * 4?", "Name a planet larger than Earth.", "The sky is blue because"]
    calibration = calibrate(smollm, prompts)
    states = [residual_states(smollm, smollm.encode([p])[0]).double() for p in prompts]
    tokens = torch.cat([s for s in states], dim=1)  # [L+1, all tokens, d]
    cos = torch.nn.functional.cosine_similarity(tokens[:-1], tokens[1:], dim=-1).mean(dim=1)
    assert torch.allclose(calibration.block_influence(), 1 - cos, atol=1e-9)
    last = torch.stack([s[:, -1] for s in states])  # [N, L+1, d]
    for n in (1, 4):
        angle = torch.arccos(
            torch.nn.functional.cosine_similarity(last[:, :-n], last[:, n:], dim=-1).clamp(-1, 1)
        )
        assert torch.allclose(calibration.angular_distances(n), (angle / math.pi).mean(0), atol=1e-9)
    chains = criterion_chains("angular", calibration, [4])
    kept = set(chains[4])
    dropped = sorted(set(range(smollm.num_layers)) - kept)
    assert len(chains[4]) == smollm.num_layers - 4 and dropped == list(range(dropped[0], dropped[0] + 4))
