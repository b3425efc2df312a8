"""The protocol fields' vocabulary: allowed values, their words, and the checks of one protocol's fields."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from typing import Any, Callable

from srharness import metrics
from srharness.errors import InputError



class ProtocolError(InputError):
    """The protocol cannot be applied (wrong model kind, missing data) or is malformed."""


class ProtocolFieldError(ProtocolError):
    """Fields with values a protocol cannot have; `problems` is [(field, message)]."""

    def __init__(self, name: str, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__(f"protocol {name!r}: " + "; ".join(f"{f}: {m}" for f, m in problems))


# ------------------------------------------------------------------ the vocabulary
MODEL_KINDS = ("y-hr", "y-lr", "rgb", "rgb-hr")
Y_KINDS = ("y-hr", "y-lr")
RESIZES = ("matlab", "pil-bicubic", "opencv-bicubic", "opencv-bilinear")
CHOICES: dict[str, tuple] = {
    "channel_order": ("rgb", "bgr-as-rgb"),
    "letterbox_resize": RESIZES,
    "modcrop": ("crop", "resize"),
    "lr_source": ("dataset-if-available", "resize"),
    "bicubic_source": ("resize", "dataset", "dataset-if-available"),
    "resize": RESIZES,
    "resize_rounding": ("per-pass", "final", "none"),
    "lr_precision": ("uint8", "float"),
    "stretch_resize": RESIZES,
    "input_dtype": ("float32", "uint8"),
    "y_convention": ("matlab", "y256", "opencv"),
    "metric_colour": ("y", "rgb", "bgr"),
    "score_against": ("hr", "bicubic-input", "hr-resized"),
    "quantisation": ("none", "clip", "round", "truncate"),
    "rgb_quantisation": (None, "none", "clip", "round", "truncate"),
    "ssim_variant": metrics.SSIM_VARIANTS,
}
_SHAVE = re.compile(r"^scale(\+\d+)?$")

# words for conventions() and deviations: field -> (label, value -> words)
_RESIZE_WORDS = {"matlab": "MATLAB imresize bicubic (antialiased)", "pil-bicubic": "PIL BICUBIC",
                 "opencv-bicubic": "OpenCV INTER_CUBIC", "opencv-bilinear": "OpenCV INTER_LINEAR (bilinear)"}
_Q_WORDS = {"none": "neither clipped nor rounded", "clip": "clipped, not rounded",
            "round": "clipped and rounded to integers", "truncate": "clipped and truncated to uint8 (.byte())"}
_Y_WORDS = {"matlab": "MATLAB rgb2ycbcr BT.601 Y, 16..235 (65.481, 128.553, 24.966)",
            "y256": "Y256: 16 + (64.738 R + 129.057 G + 25.064 B) / 256 (yjn870; not BT.601's 65.738)",
            "opencv": "OpenCV YCrCb Y, full swing, uint8"}
WORDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "models": ("model kinds", lambda v: ", ".join(v)),
    "channel_order": ("channel order", {"rgb": "RGB as read",
                                        "bgr-as-rgb": "BGR (cv2.imread) fed to the model as if RGB, and kept for the metric"}.get),
    "centre_crop": ("centre crop", lambda v: "none" if v is None else
                    f"shorter side resized to {v} and centre-cropped to {v}x{v} (torchvision Resize + CenterCrop)"),
    "letterbox": ("letterbox", lambda v: "none" if v is None else
                  f"fitted into {v}x{v} keeping the aspect, centred zero padding"),
    "letterbox_resize": ("letterbox resize", _RESIZE_WORDS.get),
    "modcrop": ("modcrop", {"crop": "crop bottom/right to a multiple of the scale",
                            "resize": "resize to a multiple of the scale (yjn870 'modcrop')"}.get),
    "lr_source": ("LR image", {"dataset-if-available": "the dataset's own LR files where it ships them, else HR downscaled",
                               "resize": "HR downscaled, even where the dataset ships LR files"}.get),
    "bicubic_source": ("bicubic image", {"resize": "bicubic upscale of the LR",
                                         "dataset": "the dataset's stored bicubic-upscaled images",
                                         "dataset-if-available": "the dataset's stored bicubic-upscaled images "
                                                                 "where it ships them, else bicubic upscale of the LR"}.get),
    "resize": ("bicubic resize", _RESIZE_WORDS.get),
    "resize_rounding": ("resize rounding", {"per-pass": "uint8, rounded after each 1-D pass (MATLAB imresizemex)",
                                            "final": "uint8, rounded once per resize",
                                            "none": "float64 throughout (bytes only where an RGB model reads the LR)"}.get),
    "lr_precision": ("LR fed to the model", {"uint8": "the LR rounded to uint8, as an image file holds it",
                                             "float": "the float64 LR of the resize, unrounded (MATLAB double); "
                                                      "a dataset's own LR files stay uint8"}.get),
    "input_stretch": ("input stretch", lambda v: "none" if v is None else
                      f"model input stretched to {v[0]}x{v[1]}; reference resized to the output size"),
    "stretch_resize": ("stretch resize", _RESIZE_WORDS.get),
    "input_dtype": ("input dtype", {"float32": "float32 on the model's input range",
                                    "uint8": "uint8 on [0, 255]"}.get),
    "transpose": ("transpose", lambda v: "input transposed (C x W x H), output transposed back" if v else "none"),
    "y_convention": ("Y", _Y_WORDS.get),
    "metric_colour": ("metric channels", {"y": "Y only", "rgb": "all three RGB channels",
                                          "bgr": "all three channels in BGR order"}.get),
    "score_against": ("reference", {"hr": "the HR image after the geometry steps",
                                    "bicubic-input": "the bicubic input itself, not HR",
                                    "hr-resized": "the full HR (not modcropped) resized to the output size"}.get),
    "shave": ("border shave", lambda v: f"{v} px per side whatever the scale" if isinstance(v, int) and v
              else "none" if v == 0 else f"{v} px per side"),
    "data_range": ("data range", lambda v: "[0, 255]" if v == 255 else "[0, 1] (values / 255)"),
    "quantisation": ("output", lambda v: _Q_WORDS[v]),
    "rgb_quantisation": ("RGB output", lambda v: "as Y output" if v is None else _Q_WORDS[v]),
    "ssim_variant": ("SSIM", {"standard": "Gaussian 11/1.5, valid, per channel then mean",
                              "vamp-joint": "Gaussian 11/1.5, valid, one map over all channels (VastAI loop)"}.get),
    "identical_psnr": ("PSNR of identical images", lambda v: "+inf" if math.isinf(v) else f"{v:g} dB"),
}
# `with_params` names kept from the lambda protocols -> field
_ALIASES = {"bicubic_from": "bicubic_source", "bicubic_rounding": "resize_rounding", "crop": "centre_crop",
            "input_hw": "input_stretch", "clamp": "quantisation", "round": "quantisation"}
_NOT_PROCEDURE = ("name", "guide", "models", "tunable")      # not compared in `deviations`


def _coerce(fname: str, value):
    """YAML / with_params values -> the field's type (lists -> tuples, "inf" -> inf)."""
    if fname in ("models", "tunable") and isinstance(value, (list, tuple)):
        return tuple(value)
    if fname == "models" and isinstance(value, str):
        return (value,)
    if fname == "input_stretch" and isinstance(value, (list, tuple)):
        return tuple(value)
    if fname in ("identical_psnr", "data_range") and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    return value


MAX_SIDE = 8192   # pixels: a protocol's crop or stretch side (an 8K frame); 100000 would allocate ~224 GiB


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _field_problems(p) -> list[tuple[str, str]]:
    """Every field checked against its allowed values, and the combinations that cannot run."""
    bad = []
    if not isinstance(p.name, str) or not p.name.strip():
        bad.append(("name", f"must be a non-empty string, got {p.name!r}"))
    for fname, allowed in CHOICES.items():
        v = getattr(p, fname)
        try:
            ok = v in allowed
        except TypeError:           # an unhashable YAML value (a list or mapping)
            ok = False
        if not ok:
            shown = ", ".join("null" if a is None else str(a) for a in allowed)
            bad.append((fname, f"{v!r} not allowed; allowed: {shown}{_did_you_mean(v, allowed)}"))
    if not isinstance(p.models, tuple) or not p.models:
        bad.append(("models", f"{p.models!r} not allowed; give a list of model kinds from {', '.join(MODEL_KINDS)}"))
    else:
        for k in p.models:
            if k not in MODEL_KINDS:
                bad.append(("models", f"{k!r} is not a model kind; allowed: {', '.join(MODEL_KINDS)}"
                                      f"{_did_you_mean(k, MODEL_KINDS)}"))
    for fname in ("centre_crop", "letterbox"):
        v = getattr(p, fname)
        if v is not None and not (_is_int(v) and 0 < v <= MAX_SIDE):
            bad.append((fname, f"must be null or a whole number of pixels in 1..{MAX_SIDE}, got {v!r}"))
    if p.centre_crop and p.letterbox:
        bad.append(("letterbox", "centre_crop and letterbox exclude each other; give one"))
    st = p.input_stretch
    if st is not None and not (isinstance(st, tuple) and len(st) == 2 and all(_is_int(v) and 0 < v <= MAX_SIDE
                                                                              for v in st)):
        bad.append(("input_stretch", f"must be null or [H, W], whole numbers of pixels in 1..{MAX_SIDE}, got {st!r}"))
    if not isinstance(p.transpose, bool):
        bad.append(("transpose", f"must be true or false, got {p.transpose!r}"))
    if not ((_is_int(p.shave) and 0 <= p.shave <= MAX_SIDE) or (isinstance(p.shave, str) and _SHAVE.match(p.shave))):
        bad.append(("shave", f"{p.shave!r} not allowed; allowed: a pixel count (0, 4, ...), scale, scale+N"))
    if p.data_range not in (1.0, 255.0):
        bad.append(("data_range", f"{p.data_range!r} not allowed; allowed: 255, 1"))
    if not isinstance(p.identical_psnr, float) or not (p.identical_psnr > 0):
        bad.append(("identical_psnr", f"must be a positive number or inf, got {p.identical_psnr!r}"))
    settable = [f.name for f in dataclasses.fields(p) if f.name not in ("name", "tunable")]
    if not isinstance(p.tunable, tuple) or any(f not in settable for f in p.tunable):
        bad.append(("tunable", f"{p.tunable!r}: give field names from {', '.join(settable)}"))
    models = set(p.models) if isinstance(p.models, tuple) else set()
    if p.metric_colour in ("rgb", "bgr") and models & set(Y_KINDS):
        bad.append(("metric_colour", f"{p.metric_colour} compares RGB images; models {sorted(models & set(Y_KINDS))} "
                                     "output Y only (use y)"))
    if p.transpose and models - set(Y_KINDS):
        bad.append(("transpose", "applies to one-plane (Y) inputs; models must be y-hr / y-lr"))
    if p.score_against == "bicubic-input" and models - set(Y_KINDS):
        bad.append(("score_against", "bicubic-input is defined for Y models (y-hr / y-lr)"))
    if p.lr_precision == "float" and (p.resize != "matlab" or p.resize_rounding != "none"):
        bad.append(("lr_precision", "float feeds the unrounded LR of the MATLAB resize: it needs resize: matlab "
                                    f"and resize_rounding: none (here {p.resize}, {p.resize_rounding})"))
    if p.lr_precision == "float" and p.input_dtype == "uint8":
        bad.append(("lr_precision", "float contradicts input_dtype: uint8"))
    if p.input_dtype == "uint8" and models & set(Y_KINDS):
        bad.append(("input_dtype", "uint8 is for RGB models on [0, 255]"))
    return bad


def _did_you_mean(value, allowed) -> str:
    names = [str(a) for a in allowed if a is not None]
    close = difflib.get_close_matches(str(value), names, n=1) or [n for n in names if str(value) and str(value) in n][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""
