"""Evaluation protocols as data: every step a guide takes is a typed field of `Protocol`.

A protocol says how to make the model input from an HR image, how to turn the model output back
into an image, what the reference image is, and how PSNR/SSIM are taken. The built-in guide
protocols below reproduce each guide's procedure on purpose, departures from the standard
benchmark included, because the guide's published figures depend on them (PROTOCOLS.md,
"Pitfalls"). `conventions()` and `deviations` are computed from the fields, so the words can
never disagree with what runs.

    p = get_protocol("vdsr-vacc")
    prep = p.prepare(hr_rgb_uint8, scale=4, spec=get_model_spec("vdsr"))
    image = p.finish(runner.run(prep.input), prep)
    scores = p.score(image, prep)           # {"psnr": ..., "ssim": ...}
    result = evaluate(p, runner.run, dataset, scale=4, spec=spec)   # per image and mean

Model kinds (from the ModelSpec: in_channels, upsamples):
    y-hr    Y channel at HR size on a bicubic-upscaled input (SRCNN, VDSR)
    y-lr    Y channel of the LR image, the model upsamples itself (ESPCN, LapSRN, FSRCNN)
    rgb     RGB LR image, the model upsamples itself (RDN, RCAN)
    rgb-hr  RGB at HR size on a bicubic-upscaled input

Declaring a protocol in YAML (`load_protocols(path)`, `register_protocol(path_or_protocol)`, or
`srharness eval MODEL --protocol my_protocol.yaml`). A file holds one protocol (a mapping with
`name`) or several (`protocols: [ ... ]`). `extends` starts from a registered protocol and the
other keys override its fields; without it every field has the default shown below (the
`benchmark` protocol's values). Unknown keys and values are refused with the file, the key and
the allowed values.

    # my_project/espcn_protocol.yaml
    name: espcn-y
    extends: benchmark                  # optional
    guide: "my team's eval.py (Y of the PIL-bicubic LR in, Y out, shave = scale)"
    models: [y-lr]
    modcrop: crop
    resize: pil-bicubic
    y_convention: y256
    shave: scale
    quantisation: clip

Fields (YAML key: allowed values, default = `benchmark`):
    name            str, required
    extends         name of a registered protocol to start from (YAML only)
    guide           str: where the procedure comes from (YAML default: the file's path)
    models          list of model kinds the protocol takes [y-hr, y-lr, rgb, rgb-hr]
    channel_order   rgb | bgr-as-rgb (cv2.imread BGR fed to an RGB model, never converted back)
    centre_crop     null | int: shorter side resized to N (with `resize`), then centre crop N x N
    letterbox       null | int: fit into N x N keeping the aspect (`letterbox_resize`), centred zero pad
    letterbox_resize  opencv-bilinear | opencv-bicubic | pil-bicubic | matlab
    modcrop         crop (cut bottom/right to a multiple of the scale) | resize (bicubic resize to
                    it, as the yjn870 scripts do, with `resize`)
    lr_source       dataset-if-available (the dataset's own LR files: SelfExSR, DIV2K) | resize
    bicubic_source  resize (bicubic upscale of the LR) | dataset (the dataset's stored
                    bicubic-upscaled images, required) | dataset-if-available
    resize          matlab | pil-bicubic | opencv-bicubic | opencv-bilinear: the down/up bicubic
    resize_rounding per-pass | final | none: MATLAB resize of uint8 images: round after each
                    1-D pass (imresizemex), once per resize, or float64 throughout
    input_stretch   null | [H, W]: the model input is stretched to H x W (`stretch_resize`) and
                    the reference resized to the output size (the VastAI vdsp Resize)
    stretch_resize  opencv-bilinear | opencv-bicubic | pil-bicubic | matlab
    input_dtype     float32 | uint8 (uint8 [0, 255] needs a model with input_range 255)
    transpose       false | true: the input plane is transposed (C x W x H), the output back
    y_convention    matlab (BT.601 16..235) | y256 (64.738 variant) | opencv (YCrCb, full swing)
    metric_colour   y | rgb | bgr: what PSNR/SSIM compare (rgb/bgr: all three channels)
    score_against   hr | bicubic-input | hr-resized
    shave           int | scale | scale+N: border pixels removed per side before the metrics
    data_range      255 | 1: the metric's MAX (1: Y / 255)
    quantisation    none | clip | round | truncate: the output before scoring
    rgb_quantisation  null | none | clip | round | truncate: for RGB outputs (null: as quantisation)
    ssim_variant    standard | vamp-joint
    identical_psnr  inf | number: PSNR printed for identical images (vamp_eval: 100)
    tunable         list of the fields `with_params` may change

In Python: `Protocol(name=..., **fields)` or `get_protocol("benchmark").derive("mine", resize="pil-bicubic")`,
then `register_protocol(p)` (a different protocol under a taken name needs replace=True; the
built-in names are never replaced). `p.with_params(...)` changes a `tunable` field and keeps the name.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from srharness import metrics
from srharness.data import colour
from srharness.data.imresize import cv2_resize, matlab_imresize, pil_bicubic


class ProtocolError(ValueError):
    """The protocol cannot be applied (wrong model kind, missing data) or is malformed."""


class ProtocolFieldError(ProtocolError):
    """Fields with values a protocol cannot have; `problems` is [(field, message)]."""

    def __init__(self, name: str, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__(f"protocol {name!r}: " + "; ".join(f"{f}: {m}" for f, m in problems))


@dataclass
class Prepared:
    """One image made ready for the model, with what the score needs."""
    name: str
    input: np.ndarray                 # NCHW, float32 (or uint8 for rcan-vacc), batch 1
    reference: np.ndarray             # reference image in the metric's space
    bicubic: np.ndarray | None        # the bicubic baseline in the metric's space (panels, sanity)
    context: dict[str, Any] = field(default_factory=dict)


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


def model_kind(spec) -> str:
    if spec.in_channels == 1:
        return "y-lr" if spec.upsamples else "y-hr"
    return "rgb" if spec.upsamples else "rgb-hr"


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


def _resize(img: np.ndarray, size_wh: tuple[int, int], how: str, rounding: str = "per-pass") -> np.ndarray:
    if how == "pil-bicubic":
        return pil_bicubic(img, size_wh)
    if how.startswith("opencv-"):
        return cv2_resize(img, size_wh, how.removeprefix("opencv-"))
    return matlab_imresize(img, output_shape=(size_wh[1], size_wh[0]),
                           rounding=rounding if rounding != "none" else "per-pass")


def _y(img: np.ndarray, convention: str) -> np.ndarray:
    """Y plane: float64 for matlab / y256, uint8 (as OpenCV gives it) for opencv."""
    if convention == "opencv":
        if img.dtype != np.uint8:
            img = np.asarray(img, dtype=np.float32)
        return colour.opencv_ycrcb(img)[..., 0]
    return colour.matlab_y(img) if convention == "matlab" else colour.y256(img)


def _round(img: np.ndarray) -> np.ndarray:
    return np.floor(img + 0.5)


# ------------------------------------------------------------------ the protocol
@dataclass(frozen=True)
class Protocol:
    name: str
    guide: str = "user protocol"
    models: tuple[str, ...] = ("y-hr", "y-lr", "rgb", "rgb-hr")
    channel_order: str = "rgb"
    centre_crop: int | None = None
    letterbox: int | None = None
    letterbox_resize: str = "opencv-bilinear"
    modcrop: str = "crop"
    lr_source: str = "dataset-if-available"
    bicubic_source: str = "resize"
    resize: str = "matlab"
    resize_rounding: str = "final"
    input_stretch: tuple[int, int] | None = None
    stretch_resize: str = "opencv-bilinear"
    input_dtype: str = "float32"
    transpose: bool = False
    y_convention: str = "matlab"
    metric_colour: str = "y"
    score_against: str = "hr"
    shave: int | str = "scale"
    data_range: float = 255.0
    quantisation: str = "clip"
    rgb_quantisation: str | None = "round"
    ssim_variant: str = "standard"
    identical_psnr: float = math.inf
    tunable: tuple[str, ...] = ()
    mean = "mean of per-image dB"            # every guide averages the per-image dB values

    def __post_init__(self):
        problems = _field_problems(self)
        if problems:
            raise ProtocolFieldError(self.name, problems)

    # -- the three steps
    def prepare(self, hr: np.ndarray, scale: int, spec, name: str = "", sample=None) -> Prepared:
        kind = self._check_model(spec)
        prep = self._prepare(hr, scale, spec, kind, name, sample)
        prep.context.update(scale=scale, spec=spec, kind=kind)
        return prep

    def finish(self, output: np.ndarray, prep: Prepared) -> np.ndarray:
        """Model output -> image in the metric's space (colour, range, quantisation)."""
        spec = prep.context["spec"]
        out = np.asarray(output)
        if self.metric_colour == "bgr" and out.ndim >= 3 and out.shape[-3] == 3:
            out = np.asarray(out, dtype=np.float32)
            out = out[:, ::-1] if out.ndim == 4 else out[::-1]      # RGB planes -> BGR
        out = _hwc(out)
        if self.transpose:
            out = out.T
        q = self.quantisation if out.ndim == 2 else (self.rgb_quantisation or self.quantisation)
        # work on [0, 255] where rounding or a Y conversion needs it, else on the metric's range
        top = 255.0 if (self.data_range == 255 or q in ("round", "truncate")
                        or (out.ndim == 3 and self.metric_colour == "y")) else 1.0
        factor = top / float(spec.input_range)
        if factor != 1.0:
            out = out * factor
        if q == "clip":
            out = np.clip(out, 0, top)
        elif q == "round":
            out = _round(np.clip(out, 0, top))
        elif q == "truncate":
            out = np.clip(out, 0, 255).astype(np.uint8)
        if out.ndim == 3 and self.metric_colour == "y":
            out = np.asarray(_y(out, self.y_convention), dtype=np.float64)
        if top == 255.0 and self.data_range == 1:
            out = out / 255.0
        return out

    def crop_border(self, scale: int) -> int:
        if isinstance(self.shave, int):
            return self.shave
        return scale + int(self.shave.removeprefix("scale") or 0)

    def score(self, image: np.ndarray, prep: Prepared) -> dict[str, float]:
        scale = prep.context["scale"]
        if np.shape(image) != np.shape(prep.reference):
            raise ProtocolError(f"{self.name}: {prep.name or 'image'}: the model output gives a "
                                f"{np.shape(image)} image, the reference is {np.shape(prep.reference)}; "
                                "check the model's scale and the protocol's model kind")
        kw = dict(data_range=self.data_range, crop_border=self.crop_border(scale))
        return {"psnr": metrics.psnr(image, prep.reference, identical=self.identical_psnr, **kw),
                "ssim": metrics.ssim(image, prep.reference, ssim_variant=self.ssim_variant, **kw)}

    # -- variants
    def with_params(self, **params) -> "Protocol":
        """A copy with some of its `tunable` fields changed (e.g. a smaller crop for a fast test).
        The old parameter names are accepted: bicubic_from (ours | dataset), bicubic_rounding,
        crop, size, input_hw, clamp, round."""
        changes, unknown = {}, []
        for key, value in params.items():
            fname, value = self._param_field(key, value)
            if fname is None:
                unknown.append(key)
            else:
                changes[fname] = value
        if unknown:
            raise ProtocolError(f"protocol {self.name} has no parameter(s) {sorted(unknown)}; has "
                                f"{sorted(self.params)} (derive() makes a protocol with other fields)")
        return dataclasses.replace(self, **changes)

    def derive(self, name: str, **fields) -> "Protocol":
        """A new protocol: this one with any fields changed (validated)."""
        bad = sorted(set(fields) - set(FIELD_NAMES))
        if bad:
            raise ProtocolError(f"protocol {name!r}: unknown field(s) {bad}; fields: {', '.join(FIELD_NAMES)}")
        return dataclasses.replace(self, name=name, **fields)

    def _param_field(self, key: str, value):
        if key in self.tunable:
            return key, _coerce(key, value)
        target = _ALIASES.get(key)
        if key == "size":
            target = "letterbox" if "letterbox" in self.tunable else "input_stretch"
        if target not in self.tunable:
            return None, None
        if key == "bicubic_from":
            value = {"ours": "resize"}.get(value, value)
        elif key == "size" and target == "input_stretch":
            value = None if value is None else (int(value), int(value))
        elif key == "clamp":
            value = "clip" if value else "none"
        elif key == "round":
            value = "round" if value else "clip"
        return target, _coerce(target, value)

    @property
    def params(self) -> dict[str, Any]:
        """The tunable fields and their values (plus `bicubic_from`, the old spelling)."""
        out = {f: getattr(self, f) for f in self.tunable}
        if "bicubic_source" in out:
            out["bicubic_from"] = "ours" if self.bicubic_source == "resize" else "dataset"
        return out

    # -- words, computed from the fields
    def fields(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in FIELD_NAMES}

    def describe(self, fname: str, value=dataclasses.MISSING) -> str:
        value = getattr(self, fname) if value is dataclasses.MISSING else value
        text = WORDS[fname][1](value)
        extra = None       # the resize a step uses belongs to its description
        if fname == "resize" and value == "matlab":
            extra = self.describe("resize_rounding")
        elif fname in ("centre_crop", "letterbox", "input_stretch") and value is not None:
            extra = self.describe({"centre_crop": "resize", "letterbox": "letterbox_resize",
                                   "input_stretch": "stretch_resize"}[fname])
        return f"{text} ({extra})" if extra else text

    @property
    def model_kind(self) -> str:
        return "any" if set(self.models) == set(MODEL_KINDS) else ",".join(self.models)

    @property
    def reference(self) -> str:
        text = self.describe("score_against")
        if self.score_against == "hr":
            geo = [w for w in (self.centre_crop and "centre-cropped", self.letterbox and "letterboxed",
                               {"crop": "modcropped", "resize": "resized to a multiple of the scale"}[self.modcrop]) if w]
            text = f"HR image, {', '.join(geo)}"
        return text

    @property
    def colour(self) -> str:
        order = " (BGR order kept)" if self.channel_order == "bgr-as-rgb" else ""
        if self.metric_colour == "y":
            return self.describe("y_convention") + (" / 255" if self.data_range == 1 else "") + order
        return self.describe("metric_colour") + order

    @property
    def summary(self) -> str:
        steps = []
        if self.channel_order != "rgb":
            steps.append("BGR fed as RGB")
        if self.centre_crop:
            steps.append(f"resize shorter side + centre crop {self.centre_crop}")
        if self.letterbox:
            steps.append(f"letterbox {self.letterbox} ({self.letterbox_resize}) + zero pad")
        steps.append("modcrop" if self.modcrop == "crop" else f"modcrop by {self.resize} resize")
        lr = "dataset LR or " if self.lr_source == "dataset-if-available" else ""
        steps.append(f"LR = {lr}{self.resize}" + (f" ({self.resize_rounding})" if self.resize == "matlab" else ""))
        if self.bicubic_source != "resize":
            steps.append("bicubic input from the dataset")
        if self.input_stretch:
            steps.append(f"input stretched to {self.input_stretch[0]}x{self.input_stretch[1]} ({self.stretch_resize})")
        if self.input_dtype != "float32":
            steps.append(f"{self.input_dtype} input")
        if self.transpose:
            steps.append("transposed")
        steps.append({"y": f"Y {self.y_convention}", "rgb": "RGB", "bgr": "BGR"}[self.metric_colour]
                     + (" /255" if self.data_range == 1 else ""))
        outs = [f"{k} {q}" for k, q in (("Y", self._y_output), ("RGB", self._rgb_output)) if q]
        steps.append("output " + ", ".join(outs))
        steps.append(f"vs {self.score_against}")
        steps.append(f"shave {self.shave}")
        return "; ".join(steps)

    @property
    def deviations(self) -> tuple[str, ...]:
        """Where this protocol departs from `benchmark`, field by field, in words."""
        base = BENCHMARK
        if self.name == base.name:
            return ()
        out = []
        for f in FIELD_NAMES:
            if f in _NOT_PROCEDURE or f in ("quantisation", "rgb_quantisation"):
                continue
            if f == "resize_rounding" and self.resize != "matlab":
                continue                         # rounding of a resize this protocol does not use
            if getattr(self, f) != getattr(base, f):
                out.append(f"{WORDS[f][0]}: {self.describe(f)} (benchmark: {base.describe(f)})")
        # the output step, for the model kinds this protocol takes
        for label, mine, theirs in (("Y model output", self._y_output, base._y_output),
                                    ("RGB model output", self._rgb_output, base._rgb_output)):
            if mine is not None and mine != theirs:
                out.append(f"{label}: {_Q_WORDS[mine]} (benchmark: {_Q_WORDS[theirs]})")
        return tuple(out)

    @property
    def _y_output(self) -> str | None:
        return self.quantisation if set(self.models) & set(Y_KINDS) else None

    @property
    def _rgb_output(self) -> str | None:
        return (self.rgb_quantisation or self.quantisation) if set(self.models) - set(Y_KINDS) else None

    def conventions(self, scale: int) -> dict[str, Any]:
        return {"protocol": self.name, "guide": self.guide, "summary": self.summary,
                "models": list(self.models), "reference": self.reference, "colour": self.colour,
                "shave": f"{self.describe('shave')} (= {self.crop_border(scale)} px at x{scale})",
                "data_range": self.data_range,
                "quantisation": "; ".join(f"{k} outputs {_Q_WORDS[q]}" for k, q in
                                          (("Y", self._y_output), ("RGB", self._rgb_output)) if q),
                "mean": self.mean, "ssim": self.describe("ssim_variant"),
                "params": dict(self.params), "deviations": list(self.deviations), "fields": self.fields()}

    # -- checks
    def _check_model(self, spec) -> str:
        kind = model_kind(spec)
        if kind not in self.models:
            fits = [n for n, p in PROTOCOLS.items() if kind in p.models]
            raise ProtocolError(f"protocol {self.name} takes {'/'.join(self.models)} models; {spec.name} is {kind} "
                                f"(in_channels {spec.in_channels}, upsamples {spec.upsamples}); "
                                f"protocols for {kind}: {', '.join(fits) or 'none'}")
        if self.input_dtype == "uint8" and float(spec.input_range) != 255.0:
            raise ProtocolError(f"protocol {self.name} feeds uint8 [0, 255]; {spec.name} takes [0, {spec.input_range:g}]")
        return kind

    # -- the input side
    def _prepare(self, hr, scale, spec, kind, name, sample) -> Prepared:
        img = colour.rgb_to_bgr(hr) if self.channel_order == "bgr-as-rgb" else hr
        full = img
        own_geometry = bool(self.centre_crop or self.letterbox)
        if self.centre_crop:
            img = self._centre_crop(img, self.centre_crop)
        box = None
        if self.letterbox:
            img, box = self._letterbox(img, self.letterbox)
        h, w = img.shape[:2]
        if self.modcrop == "crop":
            img = img[: h - h % scale, : w - w % scale]
        else:   # the yjn870 / Ascend "modcrop": a bicubic resize to the multiple (a no-op when it fits)
            img = self._resize(img, ((w // scale) * scale, (h // scale) * scale))
        h, w = img.shape[:2]

        at_hr = kind in ("y-hr", "rgb-hr")
        bicubic = self._dataset_bicubic(scale, name, sample)
        lr, lr_float, own_lr = None, None, False
        if not at_hr or bicubic is None:
            lr, lr_float, own_lr = self._lr(img, scale, name, sample, own_geometry)
        # the bicubic image: the input of HR-size models, the reference of some guides, the
        # baseline panel (none for a stretched LR input: the guide's eval has no such figure)
        if bicubic is None and (at_hr or self.score_against == "bicubic-input" or not self.input_stretch):
            bicubic = self._upscale(lr, lr_float, (w, h), scale)

        # model input
        src = bicubic if at_hr else lr
        if kind in Y_KINDS:
            plane = _y(src, self.y_convention)
            if self.input_stretch:
                plane = self._stretch(plane)
            x = plane / 255.0 if float(spec.input_range) == 1.0 else np.asarray(plane, dtype=np.float64)
            x = np.asarray(x, dtype=np.float32)
            if self.transpose:
                x = np.ascontiguousarray(x.T)               # the Ascend bin is C x W x H
            model_input = _nchw(x)
        else:
            if self.input_stretch:
                src = self._stretch(src)
            if self.input_dtype == "uint8":
                model_input = _nchw(src, np.uint8)
            else:
                x = src.astype(np.float32)
                model_input = _nchw(x / 255.0 if float(spec.input_range) == 1.0 else x)

        # reference and bicubic baseline, in the metric's space
        if self.score_against == "bicubic-input":
            plane = np.asarray(_y(bicubic, self.y_convention) / 255.0, dtype=np.float32).astype(np.float64)
            reference = plane * self.data_range if self.data_range != 1 else plane
            bic = reference
        else:
            if self.score_against == "hr-resized":
                ref_img = self._metric_image(full, uint8_plane=True)
                if self.input_stretch:
                    sh, sw = self.input_stretch
                    if not at_hr:
                        sh, sw = sh * scale, sw * scale
                    ref_img = self._stretch(ref_img, (sw, sh))
                else:
                    ref_img = ref_img[:h, :w]
                reference = self._to_metric_range(np.asarray(ref_img, dtype=np.float64))
            else:
                reference = self._to_metric_range(self._metric_image(img))
            bic = None
            if bicubic is not None:
                b = self._metric_image(bicubic, uint8_plane=True)
                if self.input_stretch:
                    b = self._stretch(b)
                bic = self._to_metric_range(np.asarray(b, dtype=np.float64))
        ctx = {"hr_shape": (h, w), "own_lr": own_lr}
        if box:
            ctx["letterbox"] = box                      # (nh, nw, top, left)
        return Prepared(name, model_input, reference, bic, ctx)

    def _resize(self, img, size_wh, how=None):
        return _resize(img, size_wh, how or self.resize, self.resize_rounding)

    def _stretch(self, img, size_wh=None):
        sh, sw = self.input_stretch
        return _resize(img, size_wh or (sw, sh), self.stretch_resize)

    def _metric_image(self, img, uint8_plane: bool = False) -> np.ndarray:
        """RGB (or BGR-as-RGB) image -> the metric's channels on [0, 255]; the OpenCV Y plane
        stays uint8 when asked (it is resized as bytes, as the guide does)."""
        if self.metric_colour == "y":
            y = _y(img, self.y_convention)
            return y if uint8_plane else np.asarray(y, dtype=np.float64)
        img = colour.rgb_to_bgr(img) if self.metric_colour == "bgr" else img
        return img if uint8_plane else img.astype(np.float64)

    def _to_metric_range(self, img: np.ndarray) -> np.ndarray:
        return img / 255.0 if self.data_range == 1 else img

    def _centre_crop(self, img, crop):
        """torchvision Resize(crop) on the shorter side, then CenterCrop(crop)."""
        h, w = img.shape[:2]
        if h <= w:
            nh, nw = crop, int(crop * w / h)
        else:
            nh, nw = int(crop * h / w), crop
        img = self._resize(img, (nw, nh))
        top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
        return img[top:top + crop, left:left + crop]

    def _letterbox(self, img, size):
        h, w = img.shape[:2]
        r = min(size / w, size / h)
        nw, nh = int(math.floor(w * r)), int(math.floor(h * r))
        small = _resize(img, (nw, nh), self.letterbox_resize)
        canvas = np.zeros((size, size) + img.shape[2:], img.dtype)
        top, left = (size - nh) // 2, (size - nw) // 2
        canvas[top:top + nh, left:left + nw] = small
        return canvas, (nh, nw, top, left)

    def _lr(self, img, scale, name, sample, own_geometry):
        """(uint8 LR, float LR or None, from the dataset?)."""
        h, w = img.shape[:2]
        if self.lr_source == "dataset-if-available" and sample is not None and not own_geometry:
            lr = sample.lr()
            if lr is not None:
                if self.channel_order == "bgr-as-rgb":
                    lr = colour.rgb_to_bgr(lr)
                if not self.input_stretch and lr.shape[:2] != (h // scale, w // scale):
                    raise ProtocolError(f"{self.name}: {name}: the dataset's LR image is {lr.shape[1]}x{lr.shape[0]}, "
                                        f"the HR ({w}x{h} after modcrop) / {scale} is {w // scale}x{h // scale}; "
                                        "the LR file does not belong to this HR at this scale")
                return lr, None, True
        if self.resize == "matlab" and self.resize_rounding == "none":
            lr_float = matlab_imresize(img.astype(np.float64), 1 / scale)
            return np.floor(np.clip(lr_float, 0, 255) + 0.5).astype(np.uint8), lr_float, False
        if self.resize == "matlab":
            return matlab_imresize(img, 1 / scale, rounding=self.resize_rounding), None, False
        return self._resize(img, (w // scale, h // scale)), None, False

    def _dataset_bicubic(self, scale, name, sample):
        """The dataset's stored bicubic-upscaled image (modcropped), or None to make our own."""
        if self.bicubic_source == "resize":
            return None
        if sample is None or "bicubic_up" not in sample.extra:
            if self.bicubic_source == "dataset":
                raise ProtocolError(f"{self.name}: the dataset ships no bicubic-upscaled images for {name!r}; "
                                    "use --dataset set5 with the shared data dir or --protocol benchmark")
            return None
        b = sample.extra["bicubic_up"](scale)
        b = b[: b.shape[0] - b.shape[0] % scale, : b.shape[1] - b.shape[1] % scale]
        return colour.rgb_to_bgr(b) if self.channel_order == "bgr-as-rgb" else b

    def _upscale(self, lr, lr_float, size_wh, scale):
        if self.resize == "matlab":
            if lr_float is not None:
                return matlab_imresize(lr_float, scale)
            return matlab_imresize(lr, scale, rounding=self.resize_rounding)
        return self._resize(lr, size_wh)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Protocol))


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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _field_problems(p: Protocol) -> list[tuple[str, str]]:
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
        if v is not None and not (_is_int(v) and v > 0):
            bad.append((fname, f"must be null or a positive integer, got {v!r}"))
    if p.centre_crop and p.letterbox:
        bad.append(("letterbox", "centre_crop and letterbox exclude each other; give one"))
    st = p.input_stretch
    if st is not None and not (isinstance(st, tuple) and len(st) == 2 and all(_is_int(v) and v > 0 for v in st)):
        bad.append(("input_stretch", f"must be null or [H, W] positive integers, got {st!r}"))
    if not isinstance(p.transpose, bool):
        bad.append(("transpose", f"must be true or false, got {p.transpose!r}"))
    if not ((_is_int(p.shave) and p.shave >= 0) or (isinstance(p.shave, str) and _SHAVE.match(p.shave))):
        bad.append(("shave", f"{p.shave!r} not allowed; allowed: a pixel count (0, 4, ...), scale, scale+N"))
    if p.data_range not in (1.0, 255.0):
        bad.append(("data_range", f"{p.data_range!r} not allowed; allowed: 255, 1"))
    if not isinstance(p.identical_psnr, float) or not (p.identical_psnr > 0):
        bad.append(("identical_psnr", f"must be a positive number or inf, got {p.identical_psnr!r}"))
    settable = [f for f in FIELD_NAMES if f not in ("name", "tunable")]
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
    if p.input_dtype == "uint8" and models & set(Y_KINDS):
        bad.append(("input_dtype", "uint8 is for RGB models on [0, 255]"))
    return bad


def _did_you_mean(value, allowed) -> str:
    names = [str(a) for a in allowed if a is not None]
    close = difflib.get_close_matches(str(value), names, n=1) or [n for n in names if str(value) and str(value) in n][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


# ------------------------------------------------------------------ the guide protocols
BENCHMARK = Protocol(
    "benchmark", guide="standard SR benchmark (MATLAB eval code, BasicSR psnr_ssim.py)",
    tunable=("bicubic_source", "resize_rounding"))

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in [
    BENCHMARK,
    Protocol("benchmark-bmp-inputs", guide="shared/data README measurement", models=("y-hr",),
             bicubic_source="dataset", resize_rounding="per-pass", tunable=("bicubic_source", "resize_rounding")),
    Protocol("srcnn-ascend", guide="Ascend ModelZoo ACL_PyTorch SRCNN (seeds/001) srcnn_preprocess/postprocess.py",
             models=("y-hr",), centre_crop=256, modcrop="resize", lr_source="resize", resize="pil-bicubic",
             transpose=True, y_convention="y256", score_against="bicubic-input", shave=0, data_range=1.0,
             quantisation="none", tunable=("centre_crop", "transpose", "quantisation")),
    Protocol("srcnn-yjn870", guide="yjn870/SRCNN-pytorch test.py",
             models=("y-hr", "y-lr"), modcrop="resize", lr_source="resize", resize="pil-bicubic",
             y_convention="y256", score_against="bicubic-input", shave=0, data_range=1.0,
             quantisation="clip", tunable=("centre_crop", "transpose", "quantisation")),
    Protocol("rdn-ascend", guide="Ascend ModelZoo ACL_PyTorch RDN (seeds/002) RDN_preprocess/postprocess.py",
             models=("rgb",), channel_order="bgr-as-rgb", letterbox=228, letterbox_resize="opencv-bilinear",
             modcrop="resize", lr_source="resize", resize="pil-bicubic", y_convention="y256",
             rgb_quantisation="clip", tunable=("letterbox",)),
    Protocol("rdn-yjn870", guide="yjn870/RDN-pytorch test.py",
             models=("rgb", "y-lr"), modcrop="resize", lr_source="resize", resize="pil-bicubic",
             y_convention="y256", rgb_quantisation="clip"),
    Protocol("vdsr-vacc", guide="VastModelZOO vdsr vamp_eval.py (seeds/004)",
             models=("y-hr",), lr_source="resize", resize_rounding="per-pass", input_stretch=(256, 256),
             y_convention="opencv", score_against="hr-resized", shave=4, quantisation="round",
             identical_psnr=100.0, tunable=("input_stretch", "quantisation", "bicubic_source", "identical_psnr")),
    Protocol("rcan-vacc", guide="VastModelZOO rcan official-vamp_eval.py (seeds/000)",
             models=("rgb",), resize_rounding="per-pass", input_stretch=(1080, 1920), input_dtype="uint8",
             metric_colour="bgr", score_against="hr-resized", shave=0, quantisation="none",
             rgb_quantisation=None, ssim_variant="vamp-joint", tunable=("input_stretch",)),
    Protocol("rcan-train-ascend", guide="Ascend ModelZoo RCAN training main.py eval (seeds/003)",
             models=("rgb",), lr_source="resize", resize="pil-bicubic", shave="scale+6", data_range=1.0,
             rgb_quantisation="truncate"),
]}
BUILTIN_PROTOCOLS = tuple(PROTOCOLS)


def get_protocol(name: str) -> Protocol:
    """A registered protocol by name, or a protocol YAML file (one protocol) by path."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        pass
    if str(name).endswith((".yaml", ".yml")):
        return load_protocol(name)
    raise ProtocolError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}"
                        f"{_did_you_mean(name, list(PROTOCOLS))}; or give a protocol YAML file") from None


def default_protocol(model: str) -> str:
    """The guide protocol for a model (its ModelSpec's `guide_protocol`; the benchmark where the guide has none)."""
    try:
        from srharness.models import get_model_spec
        guide = getattr(get_model_spec(model), "guide_protocol", None)
    except (KeyError, ValueError, ImportError):
        guide = None
    if guide:
        return guide
    return {"srcnn": "srcnn-ascend", "rdn": "rdn-ascend", "vdsr": "vdsr-vacc", "rcan-sr4k": "rcan-vacc",
            "rcan-sr4k-lite": "rcan-vacc", "rcan-training": "rcan-train-ascend"}.get(model, "benchmark")


# ------------------------------------------------------------------ protocols from YAML
YAML_KEYS = ("extends",) + FIELD_NAMES


def protocol_from_dict(data: dict, where: str = "<dict>") -> Protocol:
    """A protocol from a mapping of fields (the YAML form); errors name `where`, the key and the allowed values."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: a protocol is a mapping of fields, got {type(data).__name__}")
    unknown = [k for k in data if k not in YAML_KEYS]
    if unknown:
        k = unknown[0]
        raise ProtocolError(f"{where}: unknown key {k!r}{_did_you_mean(k, YAML_KEYS)}; keys: {', '.join(YAML_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError(f"{where}: key 'name' is required (a non-empty string)")
    where = f"{where}: protocol {name!r}"
    fields = {k: _coerce(k, v) for k, v in data.items() if k not in ("extends", "name")}
    base = data.get("extends")
    if "guide" not in fields:             # not the base's guide: this file is the source
        fields["guide"] = f"{where.split(': protocol')[0]}" + (f" (extends {base})" if base else "")
    if base is not None and base not in PROTOCOLS:
        raise ProtocolError(f"{where}: key 'extends': unknown protocol {base!r}"
                            f"{_did_you_mean(base, list(PROTOCOLS))}; known: {', '.join(PROTOCOLS)}")
    try:
        return PROTOCOLS[base].derive(name, **fields) if base is not None else Protocol(name=name, **fields)
    except ProtocolFieldError as exc:
        raise ProtocolError(f"{where}: " + "; ".join(f"key {f!r}: {m}" for f, m in exc.problems)) from None


def load_protocols(path: str | Path) -> list[Protocol]:
    """Every protocol in a YAML file (one mapping with `name`, or `protocols: [...]`); not registered."""
    import yaml
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read the protocol file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{path}: not valid YAML ({exc})") from None
    if isinstance(data, dict) and "protocols" in data:
        extra = sorted(set(data) - {"protocols"})
        if extra:
            raise ProtocolError(f"{path}: unknown top-level key(s) {extra}; a file holds `protocols: [...]` "
                                "or the fields of one protocol")
        items = data["protocols"]
        if not isinstance(items, list) or not items:
            raise ProtocolError(f"{path}: 'protocols' must be a non-empty list of protocol mappings")
        return [protocol_from_dict(d, f"{path}: protocols[{i}]") for i, d in enumerate(items)]
    if data is None:
        raise ProtocolError(f"{path}: the file is empty; give a protocol (see srharness.protocols for the fields)")
    return [protocol_from_dict(data, str(path))]


def load_protocol(path: str | Path) -> Protocol:
    """The one protocol of a YAML file (not registered; `register_protocol` does that)."""
    found = load_protocols(path)
    if len(found) != 1:
        raise ProtocolError(f"{path}: holds {len(found)} protocols ({', '.join(p.name for p in found)}); "
                            "give one, or register them all with register_protocol(path)")
    return found[0]


def register_protocol(protocol: "Protocol | str | Path", replace: bool = False):
    """Add a protocol (or every protocol of a YAML file) to PROTOCOLS. Re-registering an equal
    protocol is a no-op; a different one under a taken name needs replace=True (never a built-in)."""
    if isinstance(protocol, (str, Path)):
        return [register_protocol(p, replace=replace) for p in load_protocols(protocol)]
    if not isinstance(protocol, Protocol):
        raise ProtocolError(f"register_protocol takes a srharness.protocols.Protocol or a YAML path, "
                            f"got {type(protocol).__name__}")
    existing = PROTOCOLS.get(protocol.name)
    if existing is not None and existing != protocol:
        if protocol.name in BUILTIN_PROTOCOLS:
            raise ProtocolError(f"protocol {protocol.name!r} is built in; give yours another name "
                                f"(extends: {protocol.name} keeps its fields)")
        if not replace:
            raise ProtocolError(f"protocol {protocol.name!r} is already registered with other fields; "
                                "pick another name or pass replace=True")
    PROTOCOLS[protocol.name] = protocol
    return protocol


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
