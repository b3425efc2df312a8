"""srharness new-model NAME: scaffold a user project (srharness.scaffold) that runs green at once.

Writes NAME/ in the current folder: pyproject.toml with the srharness.plugins entry point, the
model, its plugin, a protocol YAML, weights, golden/NAME.yaml with one figure recorded by
`srharness eval` (its command in the figure's source) and tests/. Then:

    cd NAME && pip install -e . && pytest -m cpu
"""
from __future__ import annotations

from pathlib import Path


def arguments(p):
    p.add_argument("name", help="model name: lower-case letters, digits, '-' (e.g. espcn2)")
    p.add_argument("--kind", default="y-lr", choices=["y-lr", "y-hr", "rgb"],
                   help="y-lr: Y channel, LR in, upsamples itself (ESPCN); y-hr: Y at HR size on a bicubic input "
                        "(SRCNN, VDSR); rgb: RGB LR in (RDN, RCAN). Default y-lr")
    p.add_argument("--scales", default="2", help="comma-separated scales, e.g. 2,3,4 (the first is the tests' and "
                                                 "the golden figure's)")
    p.add_argument("--channels", type=int, default=None, help="image channels the model takes (1: Y, 3: RGB); "
                                                              "must agree with --kind")
    p.add_argument("--extends", default="benchmark", metavar="PROTOCOL",
                   help="registered protocol the project's protocol YAML extends (default benchmark)")
    p.add_argument("--weights", type=Path, default=None, metavar="FILE",
                   help="your model's state_dict for the first scale (default: seeded initial weights)")
    p.add_argument("--dir", type=Path, default=Path("."), help="folder to write NAME/ in (default: here)")


def run(args) -> int:
    from srharness.errors import UsageError
    from srharness.scaffold import new_model
    try:
        scales = [int(s) for s in args.scales.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--scales {args.scales!r}: give integers separated by commas, e.g. 2,3,4") from None
    new_model(args.name, args.dir, args.kind, scales, channels=args.channels, extends=args.extends,
              weights=args.weights)
    return 0
