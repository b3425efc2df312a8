"""The Protocol: a frozen set of fields and the three steps (prepare, finish, score) they drive."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from srharness import metrics
from srharness.data import colour
from srharness.data.imresize import matlab_imresize

from .fields import (
    _ALIASES,
    _NOT_PROCEDURE,
    _Q_WORDS,
    MODEL_KINDS,
    WORDS,
    Y_KINDS,
    ProtocolError,
    ProtocolFieldError,
    _coerce,
    _field_problems,
)
from .steps import Prepared, _hwc, _nchw, _resize, _round, _y, model_kind


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
    lr_precision: str = "uint8"        # the LR an LR-input model gets: uint8-rounded, or the resize's float
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
    # name -> Protocol: the registered protocols, handed in by .catalogue (which sits above this module)
    catalogue: ClassVar[dict[str, "Protocol"]] = {}
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
        steps.append(f"LR = {lr}{self.resize}" + (f" ({self.resize_rounding})" if self.resize == "matlab" else "")
                     + (", fed as float" if self.lr_precision == "float" else ""))
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
        base = self.catalogue["benchmark"]      # set by the catalogue, which is built from this class
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
            fits = [n for n, p in self.catalogue.items() if kind in p.models]
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
        # an LR-input model gets the LR as a file holds it (uint8), or the resize's float LR
        src = bicubic if at_hr else (lr_float if self.lr_precision == "float" and lr_float is not None else lr)
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
