"""The built-in guide protocols and the registry lookups."""

from __future__ import annotations

from .protocol import Protocol

# ------------------------------------------------------------------ the guide protocols
BENCHMARK = Protocol(
    "benchmark", guide="standard SR benchmark (MATLAB eval code, BasicSR psnr_ssim.py)",
    tunable=("bicubic_source", "resize_rounding", "lr_precision"))

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
# the class reads its catalogue from here (its errors list the protocols that fit, `deviations`
# compares with the benchmark); protocol.py sits below this module and never imports it
Protocol.catalogue = PROTOCOLS


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
