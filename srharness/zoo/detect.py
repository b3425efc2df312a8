"""Checkpoint in, model spec out: a .pth / .safetensors file of a public SR architecture becomes a
registered `ModelSpec`, with no model code from the user.

    from srharness.zoo import register_checkpoint
    spec = register_checkpoint("RealESRGAN_x4plus.pth")    # ModelSpec "esrgan-realesrgan_x4plus"

The file is read by srharness.checkpoints.load_state_dict (weights_only / allow-list, or
safetensors); a hostile pickle is refused there, before spandrel is imported. spandrel's
`ModelLoader.load_from_state_dict` then detects the architecture, scale, channels and size
requirements. A user plugin changes what the spec carries with `override`:

    # my_plugin.py (loaded with --sr-plugin my_plugin)
    from srharness.zoo import override
    override("ESRGAN", guide_opset=9, guide_protocol="rdn-ascend")  # architecture id or spec name
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

from srharness.zoo import ZooError, require_spandrel

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
# what every detected spec says unless a plugin overrides it: 1x3xHxW RGB in 0..1 (spandrel's
# convention for every architecture), exported at the newest opset every row of the table reaches
DEFAULT_OPSET = 17
GUIDE_SIDE = 256

_OVERRIDES: dict[str, dict] = {}


def override(match: str, **fields) -> None:
    """Fields (any ModelSpec field) a detected spec takes instead of the detected ones; `match` is a
    spandrel architecture id ("ESRGAN") or a spec name ("esrgan-realesrgan_x4plus"); a spec name
    wins over its architecture's entry."""
    from srharness.registry import ModelSpec, RegistryError
    known = set(ModelSpec.__dataclass_fields__) - {"name", "builder", "registered_by", "convert_state_dict",
                                                   "weights_file"}
    bad = sorted(set(fields) - known)
    if bad:
        raise RegistryError(f"srharness.zoo.override({match!r}): {', '.join(bad)} is not a ModelSpec field one may "
                            f"override; known: {', '.join(sorted(known))}")
    _OVERRIDES.setdefault(match, {}).update(fields)


@dataclass(frozen=True)
class DetectedCheckpoint:
    path: Path
    architecture: str          # spandrel's id, e.g. "ESRGAN"
    architecture_name: str     # spandrel's display name
    scale: int
    in_channels: int
    out_channels: int
    purpose: str               # SR, Restoration, ...
    multiple_of: int
    minimum: int
    square: bool
    tiling: str
    sha256: str
    checkpoint_format: str
    params: int

    def summary(self) -> str:
        size = f"H, W multiples of {self.multiple_of}" if self.multiple_of > 1 else "any H, W"
        if self.minimum:
            size += f", at least {self.minimum} px"
        return (f"detected {self.architecture_name} ({self.architecture}) x{self.scale}, {self.in_channels}->"
                f"{self.out_channels} channels, {self.purpose}, {size}, {self.params:,} parameters "
                f"(spandrel, from {self.path.name}: {self.checkpoint_format})")


def _copy_inputs(module, args):
    """Forward pre-hook: the model gets a copy of its input. spandrel's RCAN scales its input in
    place (`x *= self.rgb_range`): without the copy a runner's input array (shared memory via
    torch.from_numpy) would come back multiplied by 255."""
    return tuple(a.clone() if hasattr(a, "clone") else a for a in args)


def _tried(spandrel) -> str:
    return ", ".join(s.architecture.id for s in spandrel.MAIN_REGISTRY.architectures())


def _load_descriptor(sd: dict, path: Path):
    """spandrel's ImageModelDescriptor of a state_dict, or ZooError saying what was tried."""
    spandrel = require_spandrel()
    try:
        desc = spandrel.ModelLoader(device="cpu").load_from_state_dict(dict(sd))
    except spandrel.UnsupportedModelError:
        raise ZooError(f"{path}: no architecture spandrel {spandrel.__version__} knows matches this state_dict "
                       f"({len(sd)} tensors, first keys {', '.join(list(sd)[:4])}); tried: {_tried(spandrel)}. "
                       "Register the model yourself (README, 'Adding your own model')", subject=str(path)) from None
    except (KeyError, ValueError, RuntimeError, TypeError, AssertionError, IndexError) as exc:
        # an architecture matched the keys but its hyper-parameters do not build: a damaged or edited file
        raise ZooError(f"{path}: spandrel took it for an architecture but could not build it "
                       f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); tried: "
                       f"{_tried(spandrel)}", subject=str(path)) from None
    if not isinstance(desc, spandrel.ImageModelDescriptor):
        raise ZooError(f"{path}: {desc.architecture.name} is a {type(desc).__name__} (e.g. inpainting, needs a mask), "
                       "not an image-to-image model srharness can evaluate", subject=str(path))
    return desc.eval()


def detect_checkpoint(path) -> tuple[DetectedCheckpoint, object]:
    """(what was detected, spandrel's descriptor) for a checkpoint file, read safely."""
    from srharness.checkpoints import load_state_dict
    path = Path(path)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ZooError(f"{path}: not a checkpoint file name (expected {', '.join(CHECKPOINT_SUFFIXES)})",
                       subject=str(path))
    # the file is read (and a hostile pickle refused, CheckpointError) before spandrel is imported
    sd, info = load_state_dict(path)
    desc = _load_descriptor(sd, path)
    req = desc.size_requirements
    det = DetectedCheckpoint(
        path=path, architecture=desc.architecture.id, architecture_name=desc.architecture.name,
        scale=int(desc.scale), in_channels=int(desc.input_channels), out_channels=int(desc.output_channels),
        purpose=str(desc.purpose), multiple_of=int(req.multiple_of or 1), minimum=int(req.minimum or 0),
        square=bool(req.square), tiling=str(getattr(desc.tiling, "name", desc.tiling)), sha256=info.sha256,
        checkpoint_format=info.format, params=sum(p.numel() for p in desc.model.parameters()))
    return det, desc


def spec_name(det: DetectedCheckpoint) -> str:
    stem = re.sub(r"[^a-z0-9_.]+", "_", det.path.stem.lower()).strip("_.") or "weights"
    return f"{det.architecture.lower()}-{stem}"


def _test_side(det: DetectedCheckpoint, at_least: int = 32) -> int:
    side = max(at_least, det.minimum)
    return -(-side // det.multiple_of) * det.multiple_of


_MEMO: dict[tuple, tuple] = {}     # (file, size, mtime, name) -> (spec, det): a golden read again re-detects nothing


def register_checkpoint(path, *, name: str | None = None, replace: bool = True):
    """Detect a checkpoint's architecture and register a ModelSpec for it (once per file and name):
    rgb LR input in 0..1, the detected scale, input_multiple from the size requirements, `--weights
    auto` = this file. A spec of that name a user plugin registered already is returned as it is.
    The one path from a checkpoint to a model: the CLI (`--weights FILE`, no MODEL), pytest
    (`--sr-weights FILE`) and a golden naming its `weights` all come here. replace=False (pytest,
    goldens): another checkpoint already registered under the same name is a ZooError instead of
    being replaced in the middle of a run."""
    from srharness.registry import MODELS, ModelSpec, register_model
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, name)
    except OSError:
        key = None                    # load_state_dict names the problem
    if key in _MEMO and MODELS.get(_MEMO[key][0].name) is _MEMO[key][0]:
        return _MEMO[key]
    det, desc = detect_checkpoint(path)
    name = name or spec_name(det)
    if name in MODELS and MODELS[name].registered_by != __name__:
        return MODELS[name], det      # a user plugin's own spec of that name wins
    taken = MODELS.get(name)
    if not replace and taken is not None and taken.weights_file and taken.reference != _reference(det):
        raise ZooError(f"{det.path}: model name {name} is already the checkpoint {taken.weights_file} (a different "
                       f"file: {taken.reference}); rename one of the files", subject=str(det.path))
    if det.in_channels != det.out_channels or det.in_channels not in (1, 3):
        raise ZooError(f"{det.path}: {det.architecture} maps {det.in_channels} to {det.out_channels} channels; "
                       "srharness evaluates RGB (3->3) or Y (1->1) models", subject=str(det.path))
    if det.square:
        raise ZooError(f"{det.path}: {det.architecture} needs square inputs; not supported yet", subject=str(det.path))
    model = desc.model

    def build(scale: int):
        m = copy.deepcopy(model).eval()
        m.register_forward_pre_hook(_copy_inputs)
        return m

    def convert(sd: dict) -> dict:
        # spandrel's own key conversion (old ESRGAN layouts...): load, then read back the model's keys
        return _load_descriptor(sd, det.path).model.state_dict()

    side = _test_side(det)
    fields = dict(
        name=name, builder=build, scales=(det.scale,),
        reference=_reference(det), weights_file=str(det.path.resolve()),
        in_channels=det.in_channels, input_range=1.0, upsamples=det.scale > 1,
        guide_input_shape=(1, det.in_channels, _test_side(det, GUIDE_SIDE), _test_side(det, GUIDE_SIDE)),
        guide_opset=DEFAULT_OPSET, guide_protocol="benchmark", input_multiple=det.multiple_of,
        test_shape=(side, side), param_count={det.scale: det.params},
        # the builder holds the file's weights: its bytes are part of every export's cache key
        source_files=(str(det.path.resolve()),),
        convert_state_dict=convert)
    fields.update(_OVERRIDES.get(det.architecture, {}))
    fields.update(_OVERRIDES.get(name, {}))
    spec = register_model(ModelSpec(**fields), replace_existing=True)
    if key is not None:
        _MEMO[key] = (spec, det)
    return spec, det


def _reference(det: DetectedCheckpoint) -> str:
    spandrel = require_spandrel()
    return (f"spandrel {spandrel.__version__} {det.architecture_name}, detected from {det.path.name} "
            f"sha256 {det.sha256[:12]}")
