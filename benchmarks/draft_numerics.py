"""What a multi-token (drafted) step does to the numbers, in float32.

Drafted decoding feeds a lane's newest token plus up to 16 drafted ones in one forward,
keeps the prefix the model confirms and cuts the KV cache back. The logits of a block of
k tokens come from other kernel shapes than k single-token steps, so they may round
differently. This script greedy-decodes a few chains on a few prompts one token at a time,
then feeds the same tokens in blocks of 16 (keeping 9 of each, cutting the cache back, as
a partly accepted draft does), and prints the largest logit difference and how many
argmax tokens differ (a flip would change a generated answer).

    python benchmarks/draft_numerics.py --model smollm2-135m
    python benchmarks/draft_numerics.py --model gemma3-270m     # adds a prompt past the sliding window
"""

from __future__ import annotations

import argparse

import torch

from cola.engine import ChainModel
from cola.engine.state import cut_back, hold_keys
from cola.evaluation.reference import naive_generate

PROMPTS = [
    "Question: Tom has 3 apples and buys 5 more. How many apples does he have?\nAnswer:",
    "x = 10\n\nx = 10\n\nx =",
    "def f(x):\n    return x + 1\n\ndef g(x):\n",
]
BLOCK, KEEP, NEW_TOKENS = 16, 9, 48


def chains(num_layers: int) -> list[str | None]:
    half = num_layers // 2
    return [
        None,
        f"0-{half},{half},{half + 1}-{num_layers - 1}",
        f"0-5,3-5,6-{num_layers - 1}",
        f"0-{num_layers - 3},{num_layers - 1}",
    ]


def compare(model: ChainModel, chain, prompt: str) -> tuple[float, int, int]:
    """(max |logit difference|, argmax flips, positions) of blocked vs single-token steps."""
    ids = model.encode([prompt])[0]
    tokens = naive_generate(model, chain, ids, NEW_TOKENS).token_ids
    if len(tokens) < 2:
        return 0.0, 0, 0
    with torch.inference_mode():
        cache = model.new_cache(chain)
        model.forward(chain, ids, cache=cache)
        single = torch.cat([model.forward(chain, torch.tensor([[t]]), cache=cache) for t in tokens[:-1]], 1)
        cache = model.new_cache(chain)
        model.forward(chain, ids, cache=cache)
        blocks, at = [], 0
        while at < len(tokens) - 1:
            fed = tokens[at : at + BLOCK]
            hold_keys(cache)
            out = model.forward(chain, torch.tensor([fed]), cache=cache)
            keep = min(len(fed), KEEP)
            blocks.append(out[:, :keep])
            at += keep
            cut_back(cache, ids.shape[1] + at)
        blocked = torch.cat(blocks, 1)[:, : single.shape[1]]
    flips = int((blocked.argmax(-1) != single.argmax(-1)).sum())
    return (blocked - single).abs().max().item(), flips, single.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = ChainModel.from_pretrained(args.model, dtype="float32")
    prompts = PROMPTS + ([" ".join(["word"] * 600) + " and then"] if model.anatomy.sliding_window else [])
    worst, flips, positions = 0.0, 0, 0
    for spec in chains(model.num_layers):
        chain = model.chain(spec) if spec else model.chain(f"0-{model.num_layers - 1}")
        for prompt in prompts:
            diff, flipped, count = compare(model, chain, prompt)
            worst, flips, positions = max(worst, diff), flips + flipped, positions + count
    print(f"{args.model}: max |logit diff| {worst:.3g} over {positions} positions, argmax flips {flips}")


if __name__ == "__main__":
    main()
