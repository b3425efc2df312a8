"""Evaluation protocols: one small object per guide (named after it) plus the standard benchmark.

A protocol says how to make the model input from an HR image, how to turn the model output
back into an image, what the reference image is, and how PSNR/SSIM are taken. `deviations`
lists, in words, where a guide departs from the standard `benchmark` protocol; those
departures are reproduced on purpose, because the guide's published figures depend on them
(PROTOCOLS.md, "Pitfalls").

    p = get_protocol("vdsr-vacc")
    prep = p.prepare(hr_rgb_uint8, scale=4, spec=get_model_spec("vdsr"))
    image = p.finish(runner.run(prep.input), prep)
    scores = p.score(image, prep)           # {"psnr": ..., "ssim": ...}
    result = evaluate(p, runner, dataset, scale=4, spec=spec)   # per image and mean
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from srharness import metrics
from srharness.data import colour
from srharness.data.imresize import cv2_resize, matlab_imresize, modcrop, pil_bicubic


class ProtocolError(ValueError):
    """The protocol cannot be applied (wrong model kind, missing data)."""


@dataclass
class Prepared:
    """One image made ready for the model, with what the score needs."""
    name: str
    input: np.ndarray                 # NCHW, float32 (or uint8 for rcan-vacc), batch 1
    reference: np.ndarray             # reference image in the metric's space
    bicubic: np.ndarray | None        # the bicubic baseline in the metric's space (panels, sanity)
    context: dict[str, Any] = field(default_factory=dict)


def _nchw(img: np.ndarray, dtype=np.float32) -> np.ndarray:
    """HxW or HxWxC -> 1xCxHxW."""
    if img.ndim == 2:
        img = img[..., None]
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None]).astype(dtype)


def _hwc(out: np.ndarray) -> np.ndarray:
    """1xCxHxW (or CxHxW) -> HxWxC, or HxW for one channel; float64."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 4:
        out = out[0]
    out = out.transpose(1, 2, 0)
    return out[..., 0] if out.shape[2] == 1 else out


@dataclass(frozen=True)
class Protocol:
    name: str
    guide: str                               # source of the procedure
    summary: str
    model_kind: str                          # "y-hr" (SRCNN/VDSR: Y at HR size), "rgb-sr" (RDN/RCAN), "any"
    reference: str                           # what the output is scored against, in words
    colour: str                              # metric colour space, in words
    shave: str                               # border crop rule, in words
    data_range: float
    quantisation: str                        # what happens to the output before scoring
    mean: str = "mean of per-image dB"
    deviations: tuple[str, ...] = ()
    ssim_variant: str = "standard"
    _prepare: Callable[..., Prepared] | None = None
    _finish: Callable[..., np.ndarray] | None = None
    _crop_border: Callable[[int], int] = lambda s: s
    params: dict[str, Any] = field(default_factory=dict)   # sizes etc.; change with `with_params`

    # -- the three steps
    def prepare(self, hr: np.ndarray, scale: int, spec, name: str = "", sample=None) -> Prepared:
        self._check_model(spec)
        prep = self._prepare(self, hr, scale, spec, name, sample)
        prep.context["spec"] = spec
        return prep

    def finish(self, output: np.ndarray, prep: Prepared) -> np.ndarray:
        return self._finish(self, output, prep)

    def crop_border(self, scale: int) -> int:
        return self._crop_border(scale)

    def score(self, image: np.ndarray, prep: Prepared) -> dict[str, float]:
        scale = prep.context["scale"]
        kw = dict(data_range=self.data_range, crop_border=self.crop_border(scale))
        return {"psnr": metrics.psnr(image, prep.reference, identical=self.params.get("identical_psnr", math.inf), **kw),
                "ssim": metrics.ssim(image, prep.reference, ssim_variant=self.ssim_variant, **kw)}

    def with_params(self, **params) -> "Protocol":
        """A copy with some parameters changed (e.g. a smaller crop for a fast test)."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ProtocolError(f"protocol {self.name} has no parameter(s) {sorted(unknown)}; has {sorted(self.params)}")
        return dataclasses.replace(self, params={**self.params, **params})

    def conventions(self, scale: int) -> dict[str, Any]:
        return {"protocol": self.name, "guide": self.guide, "summary": self.summary,
                "reference": self.reference, "colour": self.colour,
                "shave": f"{self.shave} (= {self.crop_border(scale)} px at x{scale})",
                "data_range": self.data_range, "quantisation": self.quantisation, "mean": self.mean,
                "ssim": f"Gaussian 11/1.5, valid, variant {self.ssim_variant}",
                "params": dict(self.params), "deviations": list(self.deviations)}

    def _check_model(self, spec) -> None:
        kind = "y-hr" if (spec.in_channels == 1 and not spec.upsamples) else "rgb-sr"
        if self.model_kind not in ("any", kind):
            raise ProtocolError(f"protocol {self.name} is for {self.model_kind} models; "
                                f"{spec.name} is {kind}; pick a protocol from {sorted(PROTOCOLS)}")


# ------------------------------------------------------------------ helpers shared by protocols
def _model_input_rgb(img_uint8: np.ndarray, spec) -> np.ndarray:
    """RGB uint8 HxWx3 -> NCHW float32 on the model's input range ([0,1] or [0,255])."""
    x = img_uint8.astype(np.float32)
    return _nchw(x / 255.0 if spec.input_range == 1.0 else x)


def _output_rgb_255(output: np.ndarray, spec) -> np.ndarray:
    """Model RGB output -> HxWx3 float on [0,255], clipped (not rounded)."""
    img = _hwc(output) * (255.0 if spec.input_range == 1.0 else 1.0)
    return np.clip(img, 0, 255)


def _round(img: np.ndarray) -> np.ndarray:
    return np.floor(img + 0.5)


# ------------------------------------------------------------------ benchmark (standard)
def _benchmark_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    hr = modcrop(hr, scale)
    if p.params.get("bicubic_from") == "dataset":
        if sample is None or "bicubic_up" not in sample.extra:
            raise ProtocolError(f"{p.name}: the dataset ships no bicubic-upscaled images for {name!r}; "
                                "use --dataset set5 with the shared data dir or --protocol benchmark")
        bicubic = modcrop(sample.extra["bicubic_up"](scale), scale)
        lr = None
    else:
        # bicubic_rounding: "per-pass" = MATLAB's uint8 imresize exactly (the stored BMPs);
        # "final" = one rounding per resize (the issue-3 MATLAB-style computation);
        # "none" = double throughout (the upstream VDSR .mat generator and its README figures).
        rounding = p.params["bicubic_rounding"]
        if rounding == "none":
            lr = matlab_imresize(hr.astype(np.float64), 1 / scale)
            bicubic = matlab_imresize(lr, scale)
            lr = np.floor(np.clip(lr, 0, 255) + 0.5).astype(np.uint8)   # RGB models still read bytes
        else:
            lr = matlab_imresize(hr, 1 / scale, rounding=rounding)
            bicubic = matlab_imresize(lr, scale, rounding=rounding)
    ref_y = colour.matlab_y(hr)
    ctx = {"scale": scale, "hr_shape": hr.shape[:2]}
    if spec.upsamples:
        if lr is None:
            raise ProtocolError(f"{p.name}: needs LR images for an upsampling model")
        return Prepared(name, _model_input_rgb(lr, spec), ref_y, colour.matlab_y(bicubic), ctx)
    bic_y = colour.matlab_y(bicubic)
    return Prepared(name, _nchw(bic_y / 255.0), ref_y, bic_y, ctx)


def _benchmark_finish(p: Protocol, output, prep) -> np.ndarray:
    out = _hwc(output)
    if out.ndim == 2:           # Y model (VDSR eval.py): x255, clip, no rounding
        return np.clip(out * 255.0, 0, 255)
    return colour.matlab_y(_round(_output_rgb_255(output, prep.context["spec"])))


# ------------------------------------------------------------------ srcnn-ascend / srcnn-yjn870
def _srcnn_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    crop = p.params.get("crop")
    img = hr
    if crop:   # torchvision Resize(crop, BICUBIC) on the shorter side + CenterCrop(crop)
        h, w = img.shape[:2]
        if h <= w:
            nh, nw = crop, int(crop * w / h)
        else:
            nh, nw = int(crop * h / w), crop
        img = pil_bicubic(img, (nw, nh))
        top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
        img = img[top:top + crop, left:left + crop]
    h, w = img.shape[:2]
    # "modcrop" is a BICUBIC resize to the multiple of scale (a no-op at 256)
    img = pil_bicubic(img, ((w // scale) * scale, (h // scale) * scale))
    h, w = img.shape[:2]
    lr = pil_bicubic(img, (w // scale, h // scale))
    bicubic = pil_bicubic(lr, (w, h))
    y = (colour.y256(bicubic) / 255.0).astype(np.float32)
    transpose = p.params.get("transpose", False)
    x = y.T if transpose else y                       # the Ascend bin is C x W x H
    return Prepared(name, _nchw(np.ascontiguousarray(x)), y.astype(np.float64), y.astype(np.float64),
                    {"scale": scale, "transpose": transpose})


def _srcnn_finish(p: Protocol, output, prep) -> np.ndarray:
    out = _hwc(output)
    if prep.context["transpose"]:
        out = out.T
    return np.clip(out, 0, 1) if p.params.get("clamp") else out


# ------------------------------------------------------------------ rdn-ascend / rdn-yjn870
def _rdn_ascend_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    size = p.params["size"]
    bgr = colour.rgb_to_bgr(hr)                       # cv2.imread; never converted back
    h, w = bgr.shape[:2]
    r = min(size / w, size / h)
    nw, nh = int(math.floor(w * r)), int(math.floor(h * r))
    small = cv2_resize(bgr, (nw, nh), "bilinear")     # mmcv.imresize default
    canvas = np.zeros((size, size, 3), np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top:top + nh, left:left + nw] = small
    lr = pil_bicubic(canvas, (size // scale, size // scale))
    label = canvas.astype(np.float64)                  # stored /255, scored x255: the same values
    return Prepared(name, _nchw(lr / np.float32(255.0)), colour.y256(label),
                    colour.y256(pil_bicubic(lr, (size, size)).astype(np.float64)),
                    {"scale": scale, "letterbox": (nh, nw, top, left)})


def _rdn_yjn870_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    h, w = hr.shape[:2]
    img = pil_bicubic(hr, ((w // scale) * scale, (h // scale) * scale))
    h, w = img.shape[:2]
    lr = pil_bicubic(img, (w // scale, h // scale))
    return Prepared(name, _nchw(lr / np.float32(255.0)), colour.y256(img),
                    colour.y256(pil_bicubic(lr, (w, h))), {"scale": scale})


def _rdn_finish(p: Protocol, output, prep) -> np.ndarray:
    return colour.y256(np.clip(_hwc(output) * 255.0, 0, 255))    # x255, clamp, no round


# ------------------------------------------------------------------ vdsr-vacc
def _vdsr_vacc_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    size = p.params.get("size")
    if sample is not None and "bicubic_up" in sample.extra and p.params.get("bicubic_from") == "dataset":
        bicubic = sample.extra["bicubic_up"](scale)   # the guide reads Set5_BMP/scale_4
    else:
        cropped = modcrop(hr, scale)
        bicubic = matlab_imresize(matlab_imresize(cropped, 1 / scale), scale)
    b = colour.opencv_ycrcb(bicubic)
    g = colour.opencv_ycrcb(hr)                        # GT: the full HR image, not modcropped
    if size:
        b = cv2_resize(b, (size, size), "bilinear")
        g = cv2_resize(g, (size, size), "bilinear")
    elif g.shape != b.shape:
        g = g[: b.shape[0], : b.shape[1]]
    y_in = b[..., 0].astype(np.float32) / 255.0
    return Prepared(name, _nchw(y_in), g[..., 0].astype(np.float64), b[..., 0].astype(np.float64),
                    {"scale": scale})


def _vdsr_vacc_finish(p: Protocol, output, prep) -> np.ndarray:
    out = np.clip(_hwc(output), 0, 1) * 255.0
    return _round(out) if p.params.get("round", True) else out   # vamp_eval rounds, vsx does not


# ------------------------------------------------------------------ rcan-vacc
def _rcan_vacc_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    ih, iw = p.params["input_hw"]
    lr = sample.lr() if sample is not None else None
    own_lr = lr is not None
    if lr is None:
        lr = matlab_imresize(modcrop(hr, scale), 1 / scale)    # stand-in for DIV2K's own X2 files
    x = cv2_resize(lr, (iw, ih), "bilinear")          # Resize [1080,1920]; no /255, input on [0,255]
    oh, ow = ih * scale, iw * scale
    gt = cv2_resize(colour.rgb_to_bgr(hr), (ow, oh), "bilinear").astype(np.float64)
    del lr
    return Prepared(name, _nchw(x, np.uint8), gt, None, {"scale": scale, "own_lr": own_lr})


def _rcan_vacc_finish(p: Protocol, output, prep) -> np.ndarray:
    out = np.asarray(output, dtype=np.float32)
    return _hwc(out[:, ::-1] if out.ndim == 4 else out[::-1])   # RGB planes -> BGR HWC, not clipped


# ------------------------------------------------------------------ rcan-train-ascend
def _rcan_train_prepare(p: Protocol, hr, scale, spec, name, sample) -> Prepared:
    hr = modcrop(hr, scale)                            # top-left modcrop
    h, w = hr.shape[:2]
    lr = pil_bicubic(hr, (w // scale, h // scale))
    return Prepared(name, _nchw(lr / np.float32(255.0)), colour.matlab_y(hr) / 255.0,
                    colour.matlab_y(pil_bicubic(lr, (w, h))) / 255.0, {"scale": scale})


def _rcan_train_finish(p: Protocol, output, prep) -> np.ndarray:
    img = np.clip(_hwc(output) * 255.0, 0, 255).astype(np.uint8)   # .byte(): truncation
    return colour.matlab_y(img) / 255.0


_BENCH = dict(reference="HR image, modcropped to a multiple of the scale", colour="Y, MATLAB BT.601 (16..235)",
              data_range=255.0)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in [
    Protocol("benchmark", guide="standard SR benchmark (MATLAB eval code, BasicSR psnr_ssim.py)",
             summary="modcrop; LR = MATLAB bicubic imresize (uint8, rounded once per resize); MATLAB Y; shave = scale; full image",
             model_kind="any", shave="scale", **_BENCH,
             quantisation="Y models: x255, clip, no rounding (VDSR eval); RGB models: x255, clip, round (BasicSR tensor2img)",
             _prepare=_benchmark_prepare, _finish=_benchmark_finish,
             params={"bicubic_from": "ours", "bicubic_rounding": "final"}),
    Protocol("benchmark-bmp-inputs", guide="shared/data README measurement",
             summary="as benchmark, but the model input is the dataset's MATLAB bicubic_up BMP (uint8)",
             model_kind="y-hr", shave="scale", **_BENCH, quantisation="x255, clip, no rounding",
             deviations=("input is the stored uint8 bicubic-upscaled BMP, not our resize of HR",),
             _prepare=_benchmark_prepare, _finish=_benchmark_finish,
             params={"bicubic_from": "dataset", "bicubic_rounding": "per-pass"}),
    Protocol("srcnn-ascend", guide="Ascend ModelZoo ACL_PyTorch SRCNN (seeds/001) srcnn_preprocess/postprocess.py",
             summary="torchvision Resize(256)+CenterCrop(256); PIL bicubic /2 x2; Y256/255; input transposed; no clamp",
             model_kind="y-hr", reference="the bicubic input itself (Y256/255), not HR",
             colour="Y256 (64.738 coefficient) /255", shave="none", data_range=1.0,
             quantisation="none, output not clamped", _crop_border=lambda s: 0,
             deviations=("scores against the bicubic input, not the HR image",
                         "HR is resized (shorter side 256) and centre-cropped to 256x256, not the Set5 GT",
                         "PIL bicubic instead of MATLAB bicubic", "Y with 64.738, not BT.601's 65.481 (/255 scale)",
                         "the input bin is transposed (C x W x H); the output is transposed back",
                         "output not clamped", "no border shave"),
             _prepare=_srcnn_prepare, _finish=_srcnn_finish, params={"crop": 256, "transpose": True, "clamp": False}),
    Protocol("srcnn-yjn870", guide="yjn870/SRCNN-pytorch test.py",
             summary="PIL modcrop-resize; PIL bicubic /s xs; Y256/255; clamp; PSNR vs bicubic input",
             model_kind="y-hr", reference="the bicubic input itself (Y256/255), not HR",
             colour="Y256 /255", shave="none", data_range=1.0, quantisation="clamp to [0,1]",
             _crop_border=lambda s: 0,
             deviations=("scores against the bicubic input, not the HR image", "PIL bicubic", "Y256", "no shave"),
             _prepare=_srcnn_prepare, _finish=_srcnn_finish, params={"crop": None, "transpose": False, "clamp": True}),
    Protocol("rdn-ascend", guide="Ascend ModelZoo ACL_PyTorch RDN (seeds/002) RDN_preprocess/postprocess.py",
             summary="cv2 BGR fed as RGB; bilinear letterbox to 228 + zero pad; PIL bicubic /2 -> 114; Y256 of stored order; shave 2",
             model_kind="rgb-sr", reference="the 228x228 letterboxed, zero-padded HR (BGR order)",
             colour="Y256 applied to BGR as if RGB (ch0 = B)", shave="scale", data_range=255.0,
             quantisation="x255, clamp, no round",
             deviations=("BGR channel order fed to an RGB model and kept for Y",
                         "reference is a cv2-bilinear letterbox of HR with zero padding, not the modcropped HR",
                         "PIL bicubic LR", "Y256 (64.738)"),
             _prepare=_rdn_ascend_prepare, _finish=_rdn_finish, params={"size": 228}),
    Protocol("rdn-yjn870", guide="yjn870/RDN-pytorch test.py",
             summary="PIL modcrop-resize; LR = PIL bicubic /s; x255 clamp; Y256; shave s",
             model_kind="rgb-sr", reference="HR resized to a multiple of the scale (PIL bicubic)",
             colour="Y256", shave="scale", data_range=255.0, quantisation="x255, clamp, no round",
             deviations=("PIL bicubic LR and modcrop by resize", "Y256 (64.738)", "output not rounded"),
             _prepare=_rdn_yjn870_prepare, _finish=_rdn_finish),
    Protocol("vdsr-vacc", guide="VastModelZOO vdsr vamp_eval.py (seeds/004)",
             summary="bicubic BMP -> OpenCV YCrCb -> cv2.resize 256x256; Y/255; output clip x255 round; GT resized too; shave 4",
             model_kind="y-hr", reference="HR (full, not modcropped) -> YCrCb -> cv2 bilinear resize to 256x256, Y",
             colour="OpenCV YCrCb Y (full swing, uint8)", shave="4 px whatever the scale", data_range=255.0,
             quantisation="clip [0,1], x255, round (vamp_eval)", _crop_border=lambda s: 4,
             params={"size": 256, "round": True, "bicubic_from": "ours", "identical_psnr": 100.0},
             deviations=("both input and GT are stretched to 256x256 with cv2 bilinear",
                         "OpenCV full-swing Y instead of MATLAB BT.601", "shave 4 regardless of scale",
                         "GT is the full HR image (not modcropped)", "PSNR 100 for identical images"),
             _prepare=_vdsr_vacc_prepare, _finish=_vdsr_vacc_finish),
    Protocol("rcan-vacc", guide="VastModelZOO rcan official-vamp_eval.py (seeds/000)",
             summary="LR (DIV2K X2) stretched to 1080x1920 uint8 RGB [0,255]; output as BGR, unclipped; GT cv2-resized to output; PSNR on BGR; SSIM Gaussian",
             model_kind="rgb-sr", reference="HR (BGR) cv2-bilinear-resized to the output size",
             colour="all three BGR channels", shave="none", data_range=255.0,
             quantisation="none: output neither clipped nor rounded", ssim_variant="vamp-joint",
             _crop_border=lambda s: 0, params={"input_hw": (1080, 1920)},
             deviations=("every LR is stretched to 1080x1920, then GT is stretched to the output size (not modcropped)",
                         "PSNR on BGR, all channels, no shave", "output not clipped",
                         "SSIM loop passes the whole image per channel (joint SSIM; numerically the per-channel mean)",
                         "the guide's printed 'mean ssim' is the last image's value (its bug, not reproduced)",
                         "outputs paired with inputs by sorted index"),
             _prepare=_rcan_vacc_prepare, _finish=_rcan_vacc_finish),
    Protocol("rcan-train-ascend", guide="Ascend ModelZoo RCAN training main.py eval (seeds/003)",
             summary="top-left modcrop; PIL bicubic LR; x255 clamp .byte() truncation; Y 65.481 on [0,1]; shave scale+6; data_range 1",
             model_kind="rgb-sr", reference="HR modcropped, Y/255", colour="MATLAB BT.601 Y /255",
             shave="scale + 6", data_range=1.0, quantisation="x255, clamp, truncate to uint8",
             _crop_border=lambda s: s + 6,
             deviations=("PIL bicubic LR", "output truncated, not rounded", "shave scale+6"),
             _prepare=_rcan_train_prepare, _finish=_rcan_train_finish),
]}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def default_protocol(model: str) -> str:
    """The guide protocol for a model (the benchmark where the guide has none)."""
    return {"srcnn": "srcnn-ascend", "rdn": "rdn-ascend", "vdsr": "vdsr-vacc", "rcan-sr4k": "rcan-vacc",
            "rcan-sr4k-lite": "rcan-vacc", "rcan-training": "rcan-train-ascend"}.get(model, "benchmark")


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


def run_tiled(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, scale: int, tile: int, overlap: int = 16,
              multiple: int = 1) -> np.ndarray:
    """Run a fully convolutional SR model tile by tile (bounded memory for 1080x1920 inputs):
    overlapping input tiles, each output tile's inner part pasted back. `multiple` keeps tile
    origins on the model's stride (SR4K's stride-2 head)."""
    _, _, h, w = x.shape
    if tile >= h and tile >= w:
        return run(x)
    out = None
    step = tile - 2 * overlap
    if step <= 0 or step % multiple or overlap % multiple or tile % multiple:
        raise ValueError(f"tile {tile}, overlap {overlap} must leave a positive step, all multiples of {multiple}")
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            ya, xa = max(0, y0 - overlap), max(0, x0 - overlap)
            yb, xb = min(h, y0 + step + overlap), min(w, x0 + step + overlap)
            # keep the tile on the stride grid and inside the image
            ya -= ya % multiple
            xa -= xa % multiple
            y = run(np.ascontiguousarray(x[:, :, ya:yb, xa:xb]))
            if out is None:
                out = np.zeros((x.shape[0], y.shape[1], h * scale, w * scale), dtype=y.dtype)
            ye, xe = min(h, y0 + step), min(w, x0 + step)
            out[:, :, y0 * scale:ye * scale, x0 * scale:xe * scale] = \
                y[:, :, (y0 - ya) * scale:(ye - ya) * scale, (x0 - xa) * scale:(xe - xa) * scale]
    return out


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
    return EvalResult(protocol.name, dataset.name, scale, scores)
