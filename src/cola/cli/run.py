"""``cola run`` (generate with a chain) and ``cola models`` (the embedded models)."""

from __future__ import annotations

import argparse
import sys

from cola.cli.placement import add_placement_arguments, placement_from_args
from cola.cli.registry import command


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m", help="embedded name, local dir or hub id")
    p.add_argument("--chain", default=None, help='chain spec, e.g. "0-9,11,11,12-29" (default: full model)')
    p.add_argument("--prompt", required=True, help="prompt text (use --chat to wrap it in the chat template)")
    p.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template to the prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    add_placement_arguments(p)


@command("run", "generate text with a chain of layers", add_run_arguments)
def cmd_run(args) -> int:
    from cola.engine.chain import format_chain, parse_chain
    from cola.engine.model import ChainModel

    if args.chain is not None:
        parse_chain(args.chain)  # fail on a malformed spec before loading any weights
    placement = placement_from_args(args)
    model = ChainModel.from_pretrained(args.model, dtype=placement.dtype, device=placement.device,
                                       self_check=args.self_check)
    chain = model.chain(args.chain)
    prompt = args.prompt
    if args.chat:
        prompt = model.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    out = model.generate(prompt, chain=chain, max_new_tokens=args.max_new_tokens)[0]
    print(f"# chain {format_chain(chain)} ({len(chain)} of {model.num_layers} layers)", file=sys.stderr)
    print(out.text)
    return 0


@command("models", "list the embedded models", lambda p: None)
def cmd_models(args) -> int:
    from cola.engine.loading import EMBEDDED_MODELS

    for spec in EMBEDDED_MODELS.values():
        print(f"{spec.name:14s} {spec.description}  [{spec.install}]")
    return 0
