"""``cola run`` (generate with a chain) and ``cola models`` (the embedded models)."""

from __future__ import annotations

import argparse
import sys

from cola.cli.placement import add_placement_arguments, placement_from_args
from cola.cli.registry import command
from cola.errors import UsageError


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m", help="embedded name, local dir or hub id")
    p.add_argument("--chain", default=None, help='chain spec, e.g. "0-9,11,11,12-29" (default: full model)')
    p.add_argument(
        "--max-chain-length",
        type=int,
        default=None,
        help="longest chain the spec may name (default: 4 x the model's layers)",
    )
    p.add_argument("--prompt", required=True, help="prompt text (use --chat to wrap it in the chat template)")
    p.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template to the prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument(
        "--no-draft",
        dest="draft",
        action="store_false",
        help="decode one token per step, without drafted tokens (the text is the same)",
    )
    add_placement_arguments(p)


@command("run", "generate text with a chain of layers", add_run_arguments)
def cmd_run(args) -> int:
    from cola.engine.chain import format_chain, parse_chain
    from cola.engine.model import ChainModel

    if not args.prompt:
        raise UsageError("--prompt is empty; give the text to continue")
    if args.max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if args.chain is not None:
        parse_chain(args.chain, max_length=args.max_chain_length)  # a bad spec fails before loading weights
    placement = placement_from_args(args)
    model = ChainModel.from_pretrained(
        args.model, dtype=placement.dtype, device=placement.device, self_check=args.self_check
    )
    chain = model.chain(args.chain, max_length=args.max_chain_length)
    prompt = args.prompt
    if args.chat:
        if not getattr(model.tokenizer, "chat_template", None):
            raise UsageError(
                f"{args.model} has no chat template; drop --chat and write the prompt as plain text"
            )
        prompt = model.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    out = model.generate(prompt, chain=chain, max_new_tokens=args.max_new_tokens, draft=args.draft)[0]
    print(f"# chain {format_chain(chain)} ({len(chain)} of {model.num_layers} layers)", file=sys.stderr)
    print(out.text)
    return 0


@command("models", "list the embedded models", lambda p: None)
def cmd_models(args) -> int:
    from cola.engine.loading import EMBEDDED_MODELS

    for spec in EMBEDDED_MODELS.values():
        print(f"{spec.name:14s} {spec.description}  [{spec.install}]")
    return 0
