"""The guide's Set5 evaluation of the RCAN training port, through the shared protocol
`rcan-train-ascend` (srharness.protocols; PROTOCOLS.md section B): top-left modcrop, PIL bicubic
LR, prediction x255 clamped and truncated like `.byte()`, BT.601 Y (65.481) /255, shave scale+6,
PSNR with data_range 1, mean over images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

PROTOCOL = "rcan-train-ascend"


def torch_runner(model: torch.nn.Module, device: torch.device):
    """`run(NCHW float32 numpy) -> NCHW numpy` for srharness.protocols.evaluate."""
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x).to(device)).float().cpu().numpy()
    return run


def evaluate(model: torch.nn.Module, image_dir: str | Path, scale: int, device: torch.device | str = "cpu"):
    """srharness.protocols.EvalResult of `model` on the HR images of `image_dir` (e.g. Set5 HR)."""
    from srharness.data.datasets import folder_dataset
    from srharness.models import get_model_spec
    from srharness.protocols import evaluate as evaluate_protocol, get_protocol

    device = torch.device(device)
    was_training = model.training
    model.eval()
    try:
        return evaluate_protocol(get_protocol(PROTOCOL), torch_runner(model, device),
                                 folder_dataset(image_dir, name=Path(image_dir).name), scale,
                                 get_model_spec("rcan-training"))
    finally:
        model.train(was_training)
