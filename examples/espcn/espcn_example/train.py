"""Train the example's ESPCN x3 weights (the file this project ships), on CPU in about a minute:

    python -m espcn_example.train --scale 3 --steps 3000 -o espcn_example/weights/espcn/espcn_x3.pth

Training images: scikit-image's bundled photos that srharness's checks do NOT evaluate on (not
the embedded astronaut/camera/chelsea/coffee, not Set5), so every figure measured with these
weights is held out. LR patches are made as the team's protocol does (PIL bicubic, MATLAB Y).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

TRAIN_IMAGES = ("rocket", "coins", "immunohistochemistry", "hubble_deep_field", "horse", "moon", "page",
                "text", "clock", "logo", "colorwheel", "brick", "grass", "gravel")


def _rgb_images() -> list[np.ndarray]:
    from skimage import data
    images = []
    for name in TRAIN_IMAGES:
        try:
            img = getattr(data, name)()
        except Exception:          # an image that needs a download: skip it
            continue
        img = np.asarray(img)
        if img.dtype != np.uint8:
            img = (np.clip(img.astype(np.float64) / max(img.max(), 1), 0, 1) * 255).round().astype(np.uint8)
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        images.append(np.ascontiguousarray(img[..., :3]))
    return images


def make_pairs(scale: int, patch: int, rng) -> tuple[np.ndarray, np.ndarray]:
    from srharness.data.colour import matlab_y
    from srharness.data.imresize import pil_bicubic
    lrs, hrs = [], []
    for rgb in _rgb_images():
        h, w = (s - s % scale for s in rgb.shape[:2])
        rgb = np.ascontiguousarray(rgb[:h, :w])
        hr = matlab_y(rgb).astype(np.float64)
        lr = matlab_y(pil_bicubic(rgb, (w // scale, h // scale))).astype(np.float64)
        for _ in range(200):
            top, left = rng.integers(0, lr.shape[0] - patch), rng.integers(0, lr.shape[1] - patch)
            lrs.append(lr[top:top + patch, left:left + patch])
            hrs.append(hr[top * scale:(top + patch) * scale, left * scale:(left + patch) * scale])
    return (np.stack(lrs)[:, None] / 255.0).astype(np.float32), (np.stack(hrs)[:, None] / 255.0).astype(np.float32)


def main(argv=None) -> int:
    from espcn_example.model import ESPCN
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--patch", type=int, default=17)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    lr, hr = make_pairs(args.scale, args.patch, rng)
    model = ESPCN(args.scale)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(args.steps * 0.6), int(args.steps * 0.85)], 0.1)
    lr_t, hr_t = torch.from_numpy(lr), torch.from_numpy(hr)
    for step in range(args.steps):
        idx = torch.from_numpy(rng.integers(0, len(lr_t), args.batch))
        loss = torch.nn.functional.mse_loss(model(lr_t[idx]), hr_t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.6f} (patch PSNR {-10 * np.log10(loss.item()):.2f} dB)", flush=True)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
