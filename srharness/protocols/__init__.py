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
    lr_precision    uint8 | float: the LR an LR-input model (y-lr, rgb) is fed: rounded to uint8
                    (an image file's bytes), or the float64 LR of a MATLAB resize with
                    resize_rounding none (the MATLAB double pipeline); HR-size models get the bicubic
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

from .catalogue import (  # noqa: F401
    BENCHMARK,
    BUILTIN_PROTOCOLS,
    PROTOCOLS,
    default_protocol,
)
from .evaluation import EvalResult, ImageScore, evaluate  # noqa: F401
from .fields import (  # noqa: F401
    CHOICES,
    MODEL_KINDS,
    RESIZES,
    WORDS,
    Y_KINDS,
    ProtocolError,
    ProtocolFieldError,
)
from .loading import (  # noqa: F401
    YAML_KEYS,
    get_protocol,
    load_protocol,
    load_protocols,
    protocol_from_dict,
    register_protocol,
)
from .protocol import FIELD_NAMES, Protocol  # noqa: F401
from .steps import Prepared, model_kind  # noqa: F401
from .tiling import run_tiled  # noqa: F401
