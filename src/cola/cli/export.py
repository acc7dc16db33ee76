"""``cola export``: a chain as a mergekit recipe, an unrolled HF checkpoint or a PEFT adapter."""

from __future__ import annotations

from cola.cli.placement import add_placement_arguments, placement_from_args
from cola.cli.registry import command
from cola.export import FORMATS, formats_help


def add_export_arguments(p) -> None:
    """The export options; the formats and their help come from the table of formats."""
    p.add_argument("--model", default="smollm2-135m", help="embedded name, local dir or hub id")
    p.add_argument("--chain", required=True, help='chain spec, e.g. "0-9,11,11,12-29"')
    p.add_argument(
        "--format",
        dest="fmt",
        choices=tuple(FORMATS),
        required=True,
        help=formats_help(),
    )
    p.add_argument("--out", required=True, help="output directory (mergekit: a .yaml file or a directory)")
    add_placement_arguments(
        p,
        dtype_help="dtype of the loaded and exported weights (mergekit: of the merge): "
        "auto (bfloat16 on a GPU, float32 on the CPU), float32, bfloat16 or float16",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a non-empty --out that holds an earlier export (never merges into it)",
    )
    p.add_argument(
        "--max-chain-length",
        type=int,
        default=None,
        help="longest chain the spec may name (default: 4 x the model's layers)",
    )


@command(
    "export",
    "export a chain: mergekit passthrough YAML, unrolled HF checkpoint, or PEFT adapter",
    add_export_arguments,
)
def cmd_export(args) -> int:
    from cola.engine.chain import format_chain, parse_chain
    from cola.export import export_chain

    placement = placement_from_args(args)
    path = export_chain(
        args.model,
        args.chain,
        args.fmt,
        args.out,
        dtype=placement.dtype,
        device=placement.device,
        self_check=args.self_check,
        force=args.force,
        max_length=args.max_chain_length,
    )
    chain = parse_chain(args.chain, max_length=args.max_chain_length)
    print(f"wrote {args.fmt} export of chain {format_chain(chain)} to {path}")
    return 0
