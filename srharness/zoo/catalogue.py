"""The SR architectures spandrel supports, each built from spandrel's own class with a small
configuration: the deployability table is about the graph, not the weights, so random weights
and few blocks keep the whole table inside CI's time while keeping every op type of the design.

Each entry: (row name, spandrel architecture package, class, constructor kwargs). The row name
is the architecture as spandrel's detection names it (checked: detection of the built model's
own state_dict must agree, or the row says so).
"""
from __future__ import annotations

# rows that are not SR (1x restoration) but whose opset-9 census the issue names
RESTORATION = frozenset({"SAFMNBCIE", "SCUNet", "MixDehazeNet", "FFTformer"})

# the smallest input side a row is judged at, where the default (32, or spandrel's size rule) is
# too small for the design. GRL pads its input to a multiple of its pad size (64 for the window 32 /
# stripe 64 that spandrel detects) with reflect padding, which fails below half that; its forward
# catches the error and retries with constant padding, and torch.jit's tracer (the ONNX exporter)
# does not survive an exception caught inside the traced forward: SIGSEGV in
# TracingState::getOutput at 32x32 (torch 2.13), a clean export at 64x64.
MIN_SIDE = {"GRL": 64}

# the rows that took longest (seconds per row, `srharness deployability` on 2 shared cores: GRL 191,
# DRCT 90, CRAFT 80, SwinIR 74, DCTLSA 64, SCUNet 50, Swin2SR 48; the rest 5-45): started first, so
# that the workers finish together instead of one running GRL alone at the end
SLOWEST_FIRST = ("GRL", "DRCT", "CRAFT", "SwinIR", "DCTLSA", "SCUNet", "Swin2SR")

# small configurations: fewest blocks / narrowest features the constructor accepts that keep
# each block type (attention, upsampler) of the published design
CATALOGUE: tuple[tuple[str, str, str, dict], ...] = (
    ("Compact", "Compact", "Compact", dict(num_feat=16, num_conv=4, upscale=4)),
    ("ESRGAN", "ESRGAN", "ESRGAN", dict(num_filters=16, num_blocks=2, scale=4)),
    ("SwiftSRGAN", "SwiftSRGAN", "SwiftSRGAN", dict(num_channels=16, num_blocks=2, upscale_factor=4)),
    ("RCAN", "RCAN", "RCAN", dict(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)),
    ("SwinIR", "SwinIR", "SwinIR", dict(embed_dim=24, depths=[2, 2], num_heads=[2, 2], window_size=8, upscale=2,
                                          upsampler="pixelshuffledirect", mlp_ratio=2.0)),
    ("Swin2SR", "Swin2SR", "Swin2SR", dict(embed_dim=24, depths=[2], num_heads=[2], window_size=8, upscale=2,
                                             upsampler="pixelshuffledirect", mlp_ratio=2.0)),
    ("HAT", "HAT", "HAT", dict(embed_dim=24, depths=(2,), num_heads=(2,), window_size=8, upscale=2,
                               upsampler="pixelshuffle", compress_ratio=3, squeeze_factor=8, mlp_ratio=2.0)),
    ("DRCT", "DRCT", "DRCT", dict(embed_dim=24, depths=(1,), num_heads=(2,), window_size=8, upscale=2,
                                  upsampler="pixelshuffle", gc=8)),
    ("ATD", "ATD", "ATD", dict(embed_dim=24, depths=(2,), num_heads=(2,), window_size=8, category_size=64,
                               num_tokens=16, upscale=2, upsampler="pixelshuffledirect")),
    ("DAT", "DAT", "DAT", dict(embed_dim=48, depth=[2], num_heads=[2], split_size=[2, 4], upscale=2)),
    ("RGT", "RGT", "RGT", dict(embed_dim=48, depth=[2], num_heads=[2], upscale=2)),
    ("CRAFT", "CRAFT", "CRAFT", dict(embed_dim=48, depths=[1, 1], num_heads=[2, 2], upscale=2)),
    # window and stripe sizes are not in a GRL state_dict (non-persistent buffers): spandrel detects
    # an SR checkpoint as window 32, stripe 64 (the official SR models' values); built so, the row's
    # network is the detected one
    ("GRL", "GRL", "GRL", dict(embed_dim=16, depths=[1, 1], num_heads_window=[2, 2], num_heads_stripe=[2, 2],
                               upscale=2, upsampler="pixelshuffledirect", window_size=32, stripe_size=[64, 64])),
    ("FDAT", "FDAT", "FDAT", dict(embed_dim=24, num_groups=1, depth_per_group=2, num_heads=2, scale=2, mid_dim=16)),
    ("OmniSR", "OmniSR", "OmniSR", dict(num_feat=16, up_scale=2)),
    ("DITN", "DITN", "DITN", dict(dim=24, ITL_blocks=1, SAL_blocks=1, upscale=2)),
    ("DCTLSA", "DCTLSA", "DCTLSA", dict(nf=10, num_modules=6, upscale=2, num_head=5)),
    ("SPAN", "SPAN", "SPAN", dict(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2)),
    ("SAFMN", "SAFMN", "SAFMN", dict(dim=16, n_blocks=2, upscaling_factor=2)),
    ("SAFMNBCIE", "SAFMNBCIE", "SAFMNBCIE", dict(dim=16, n_blocks=2, num_layers=2, upscaling_factor=2)),
    ("PLKSR", "PLKSR", "PLKSR", dict(dim=16, n_blocks=2, upscaling_factor=2)),
    ("RealPLKSR", "PLKSR", "RealPLKSR", dict(dim=16, n_blocks=2, upscaling_factor=2)),
    ("SeemoRe", "SeemoRe", "SeemoRe", dict(scale=2, num_layers=2, embedding_dim=16)),
    ("MoSR", "MoSR", "MoSR", dict(upscale=2, n_block=2, dim=16)),
    ("MoESR", "MoESR", "MoESR", dict(scale=2, dim=16, n_blocks=2, n_block=1, upsample_dim=16)),
    ("MMRealSR", "MMRealSR", "MMRealSR", dict(num_in_ch=3, num_out_ch=3, scale=4, num_feat=16, num_block=2,
                                              num_grow_ch=8)),
    ("RealCUGAN", "RealCUGAN", "UpCunet2x", dict()),
    ("RealCUGAN-fast", "RealCUGAN", "UpCunet2x_fast", dict()),
    # restoration (1x) architectures the opset-9 census names
    ("SCUNet", "SCUNet", "SCUNet", dict(config=[1, 1, 1, 1, 1, 1, 1], dim=64)),
    ("MixDehazeNet", "MixDehazeNet", "MixDehazeNet", dict(embed_dims=[8, 16, 32, 16, 8], depths=[1, 1, 1, 1, 1])),
    ("FFTformer", "FFTformer", "FFTformer", dict(dim=16, num_blocks=[1, 1, 1], num_refinement_blocks=1)),
)
