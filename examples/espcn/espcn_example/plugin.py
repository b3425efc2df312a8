"""srharness plugin of this project: found through the `srharness.plugins` entry point in
pyproject.toml, by the pytest plugin and by the `srharness` CLI alike."""
from __future__ import annotations


def srharness_register(api) -> None:
    from espcn_example.model import ESPCN

    api.register_protocol("espcn_protocol.yaml")          # relative to this file
    api.register_model(api.ModelSpec(
        name="espcn",
        builder=lambda scale: ESPCN(scale),
        scales=(2, 3, 4),
        reference="Shi et al., CVPR 2016 (examples/espcn/espcn_example/model.py)",
        in_channels=1, input_range=1.0, upsamples=True,    # Y channel, LR input: kind y-lr
        guide_input_shape=(1, 1, 256, 256), guide_opset=9,   # opset 9: PixelShuffle without DepthToSpace
        guide_input_name="lr_y", guide_output_name="sr_y",
        guide_protocol="espcn-team",
        test_shape=(24, 24),
        param_count={2: 21_284, 3: 22_729, 4: 24_752},
        # `--weights auto`: <weights dir>/espcn/espcn_x3.pth when a run names a weights dir, else
        # the x3 weights this package ships (espcn_example/weights/espcn/, made by train.py)
        bundled_weights="weights",
    ))
