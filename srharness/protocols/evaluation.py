"""The evaluation loop: one protocol, one model, one dataset -> per-image and mean scores."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from srharness import metrics, progress

from .protocol import Protocol
from .steps import Prepared


# ------------------------------------------------------------------ running a protocol
@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float
    bicubic_psnr: float | None = None


@dataclass
class EvalResult:
    protocol: str
    dataset: str
    scale: int
    images: list[ImageScore]

    @property
    def mean_psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.images]))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.images]))

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "dataset": self.dataset, "scale": self.scale,
                "images": [dataclasses.asdict(s) for s in self.images],
                "mean_psnr": self.mean_psnr, "mean_ssim": self.mean_ssim}


def evaluate(protocol: Protocol, run: Callable[[np.ndarray], np.ndarray], dataset, scale: int, spec,
             on_image: Callable[[str, np.ndarray, Prepared, ImageScore], None] | None = None) -> EvalResult:
    """Score a model (any `run(NCHW) -> NCHW` callable, e.g. `runner.run`) on a dataset, one image
    at a time; `on_image(name, image, prep, score)` sees each result (panels, progress)."""
    scores = []
    for sample in dataset:
        prep = protocol.prepare(sample.hr(), scale, spec, name=sample.name, sample=sample)
        image = protocol.finish(run(prep.input), prep)
        s = protocol.score(image, prep)
        bic = None
        if prep.bicubic is not None and prep.bicubic.shape == prep.reference.shape:
            bic = metrics.psnr(prep.bicubic, prep.reference, data_range=protocol.data_range,
                               crop_border=protocol.crop_border(scale))
        score = ImageScore(sample.name, s["psnr"], s["ssim"], bic)
        scores.append(score)
        if on_image:
            on_image(sample.name, image, prep, score)
        progress.step()
    return EvalResult(protocol.name, dataset.name, scale, scores)
