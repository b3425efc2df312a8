"""A seeded checkpoint of a public SR architecture, made with spandrel's own class at the
deployability table's small configuration (srharness.zoo.catalogue): a file with no model code,
for trying `--weights FILE` / `--sr-weights FILE` / a golden's `weights:` where no published
checkpoint can be downloaded. The weights are torch's default init under the seed: not trained.

    python -m srharness.zoo.seeded Compact compact_seed0_x4.safetensors --seed 0

`.safetensors` files are byte-for-byte reproducible (same torch, same seed); `.pth` files are a
torch.save of the state_dict.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from srharness.errors import UsageError


def make_checkpoint(architecture: str, out: Path | str, seed: int = 0) -> Path:
    """Write the seeded state_dict of catalogue row `architecture` to `out` (.safetensors or .pth)."""
    import torch

    from srharness.fileio import atomic_path
    from srharness.zoo import require_spandrel
    from srharness.zoo.catalogue import CATALOGUE
    rows = {row: (pkg, cls, kwargs) for row, pkg, cls, kwargs in CATALOGUE}
    if architecture not in rows:
        raise UsageError(f"{architecture}: not a row of the zoo catalogue; known: {', '.join(rows)}",
                         subject=architecture)
    out = Path(out)
    if out.suffix not in (".safetensors", ".pth"):
        raise UsageError(f"{out}: give a .safetensors or .pth file name", subject=str(out))
    require_spandrel()
    pkg, cls, kwargs = rows[architecture]
    torch.manual_seed(seed)
    model = getattr(importlib.import_module(f"spandrel.architectures.{pkg}"), cls)(**kwargs).eval()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if out.suffix == ".safetensors":
        from safetensors.torch import save
        data = save(state)
    else:
        import io
        buf = io.BytesIO()
        torch.save(state, buf)
        data = buf.getvalue()
    with atomic_path(out) as tmp:          # never a half-written checkpoint
        tmp.write_bytes(data)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m srharness.zoo.seeded", description=__doc__.split("\n\n")[0])
    p.add_argument("architecture", help="a row of srharness.zoo.catalogue, e.g. Compact, ESRGAN, SPAN")
    p.add_argument("out", type=Path, help="the checkpoint to write (.safetensors or .pth)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        path = make_checkpoint(args.architecture, args.out, args.seed)
    except UsageError as exc:
        p.exit(2, f"error: {exc}\n")
    from srharness.fileio import sha256_file
    print(f"{path}  sha256 {sha256_file(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
