"""The ``cola`` command line: a thin layer over the Python API.

Errors caused by the user's input (:class:`cola.errors.ColaError`) print as one line
and exit with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from cola.errors import ColaError

COMMANDS = {}


def command(name: str, help_text: str):
    """Register ``func(args)`` as a subcommand whose options ``func.add_arguments`` declares."""

    def wrap(func):
        COMMANDS[name] = (func, help_text)
        return func

    return wrap


# --------------------------------------------------------------------------- run
def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m", help="embedded name, local dir or hub id")
    p.add_argument("--chain", default=None, help='chain spec, e.g. "0-9,11,11,12-29" (default: full model)')
    p.add_argument("--prompt", required=True, help="prompt text (use --chat to wrap it in the chat template)")
    p.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template to the prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default=None)


@command("run", "generate text with a chain of layers")
def cmd_run(args) -> int:
    from cola.chain import format_chain, parse_chain
    from cola.engine import ChainModel

    if args.chain is not None:
        parse_chain(args.chain)  # fail on a malformed spec before loading any weights
    model = ChainModel.from_pretrained(args.model, dtype=args.dtype, device=args.device)
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


cmd_run.add_arguments = _add_run


# ------------------------------------------------------------------------ search
def _add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--task", default="arith", help="arc_easy, arc_challenge, gsm8k, math, arith")
    p.add_argument("--data", default=None, help="bundled (default where shipped), hf, or a local JSONL path")
    p.add_argument("--split", default="test")
    p.add_argument("--samples", type=int, default=20, help="first N samples (0 = all)")
    p.add_argument("--levels", default=None, help="MATH levels, e.g. 1,2")
    p.add_argument("--strategy", default="mcts")
    p.add_argument("--simulations", type=int, default=200)
    p.add_argument("--c", dest="exploration_c", type=float, default=math.sqrt(2), help="UCB exploration constant")
    p.add_argument("--length-penalty", type=float, default=5.0, help="lambda in the UCB length penalty")
    p.add_argument("--max-length-factor", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=1, help="leaves per MCTS round (virtual loss)")
    p.add_argument("--early-stop", action="store_true", help="stop once a shorter correct chain is found")
    p.add_argument("--no-baseline", action="store_true", help="skip the same-budget random-search baseline")
    p.add_argument("--scoring", choices=["generate", "choice"], default="generate")
    p.add_argument("--style", choices=["auto", "chat", "base"], default="auto")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--mode", choices=["fast", "naive"], default="fast")
    p.add_argument("--prefix-cache-mb", type=float, default=1024.0,
                   help="memory for cached prompt states, shared by the samples searched together")
    p.add_argument("--concurrent-samples", type=int, default=4,
                   help="samples searched at once, sharing model passes (1 = one after another)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue an existing run directory")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="distribute samples over Ray actors (local cluster, or ADDRESS)")
    p.add_argument("--workers", type=int, default=2, help="Ray actors (with --ray)")
    p.add_argument("--quiet", action="store_true")


def run_config_from_args(args):
    from cola.evaluator import EvalConfig
    from cola.runner import RunConfig
    from cola.search import SearchConfig

    levels = [int(x) for x in args.levels.split(",")] if args.levels else None
    data = args.data or ("generated" if args.task == "arith" else "bundled")
    return RunConfig(
        model=args.model,
        task=args.task,
        data=data,
        split=args.split,
        samples=args.samples or None,
        levels=levels,
        seed=args.seed,
        baseline=not args.no_baseline,
        search=SearchConfig(
            strategy=args.strategy,
            simulations=args.simulations,
            exploration_c=args.exploration_c,
            length_penalty=args.length_penalty,
            max_length_factor=args.max_length_factor,
            batch_size=args.batch_size,
            early_stop=args.early_stop,
        ),
        eval=EvalConfig(mode=args.mode, scoring=args.scoring, style=args.style, max_new_tokens=args.max_new_tokens,
                        prefix_cache_mb=args.prefix_cache_mb),
        dtype=args.dtype,
    )


@command("search", "search chains of layers per sample (MCTS + random baseline), resumable")
def cmd_search(args) -> int:
    from cola.runner import run_search
    from cola.stats import format_summary, summarize

    config = run_config_from_args(args)
    if args.concurrent_samples < 1:
        raise ColaError(f"--concurrent-samples must be at least 1, got {args.concurrent_samples}")
    if args.ray:
        from cola.distributed import run_search_ray

        records = run_search_ray(config, args.out, resume=args.resume, address=args.ray,
                                 workers=args.workers, progress=not args.quiet)
    else:
        records = run_search(config, args.out, resume=args.resume, progress=not args.quiet,
                             concurrent_samples=args.concurrent_samples)
    print(format_summary(summarize(records)))
    return 0


cmd_search.add_arguments = _add_search


# ----------------------------------------------------------------------- summary
def _add_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")


@command("summary", "print oracle statistics of a run beside its random baseline and chance")
def cmd_summary(args) -> int:
    from cola.runstore import RunStore
    from cola.stats import format_summary, summarize

    records = RunStore(args.run).load_records()
    if not records:
        raise ColaError(f"no records in {args.run}")
    print(format_summary(summarize(records)))
    return 0


cmd_summary.add_arguments = _add_summary


# ------------------------------------------------------------------ report, export
def _register_lazy(name: str, module: str, func: str, help_text: str) -> None:
    """Register a subcommand implemented elsewhere without importing its heavy deps up front."""
    import importlib

    target = getattr(importlib.import_module(module), func)
    COMMANDS[name] = (target, help_text)


_register_lazy("report", "cola.report", "cmd_report",
               "HTML + Markdown report of one or more runs (oracle stats beside baseline, plots)")
_register_lazy("export", "cola.export", "cmd_export",
               "export a chain: mergekit passthrough YAML, unrolled HF checkpoint, or PEFT adapter")
_register_lazy("predict", "cola.predict.cli", "cmd_predict",
               "predict chains for unseen samples from a search run (no labels used)")
_register_lazy("evaluate", "cola.predict.cli", "cmd_evaluate",
               "score a chain predictor (knn|polar|dataset) on a held-out split vs the full model")


# ------------------------------------------------------------------------ models
@command("models", "list the embedded models")
def cmd_models(args) -> int:
    from cola.models import EMBEDDED_MODELS

    for spec in EMBEDDED_MODELS.values():
        print(f"{spec.name:14s} {spec.description}  [{spec.install}]")
    return 0


cmd_models.add_arguments = lambda p: None


# -------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cola", description="Chains of layers: skip, loop and re-order LLM layers per input.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        func.add_arguments(p)
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ColaError as exc:
        print(f"cola: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cola: interrupted; finished samples are saved (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
