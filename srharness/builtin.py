"""srharness's own plugin: the built-in models, backends and hardware, registered through the
same public calls (`srharness.registry.register_*`) a user's package makes. Loaded as the
`builtin` entry point of the `srharness.plugins` group (see pyproject.toml)."""
from __future__ import annotations

# the owners of the protocol table (and, below, hardware and backends) hand their register
# functions to srharness.registry when imported; loading this plugin first makes them all present
import srharness.protocols  # noqa: F401
import srharness.zoo  # noqa: F401  (provides registry.register_checkpoint; spandrel is imported only on use)


def _net(module: str, cls: str):
    """The network class, imported when a model is built (registering imports no torch)."""
    import importlib
    return getattr(importlib.import_module(f"srharness.models.{module}"), cls)


def SRCNN(*a, **kw):
    return _net("srcnn", "SRCNN")(*a, **kw)


def VDSR(*a, **kw):
    return _net("vdsr", "VDSR")(*a, **kw)


def RDN(*a, **kw):
    return _net("rdn", "RDN")(*a, **kw)


def RCAN(*a, **kw):
    return _net("rcan", "RCAN")(*a, **kw)


def RCANTraining(*a, **kw):
    return _net("rcan_training", "RCANTraining")(*a, **kw)


def _rcan_sr4k(ModelSpec, name: str, *, n_resgroups: int, n_feats: int, params: int, reference: str):
    """VastModelZOO's 4K RCAN (channel attention removed, x2 only) at a given size; the two sizes
    differ only in the body's width and depth."""
    return ModelSpec(
        name=name, builder=lambda s: RCAN(scale=s, n_resgroups=n_resgroups, n_resblocks=2, n_feats=n_feats,
                                          channel_attention=False, sr4k=True),
        scales=(2,), reference=reference,
        in_channels=3, input_range=255.0, upsamples=True, guide_input_shape=(1, 3, 1080, 1920),
        guide_opset=9, guide_protocol="rcan-vacc", input_multiple=2, param_count={2: params},
        cpu_perf_shape=(270, 480), graph_partition=True,    # a quarter of each side of 1080x1920
    )


def srharness_register(api) -> None:
    ModelSpec = api.ModelSpec

    for spec in [
        ModelSpec(
            name="srcnn", builder=lambda s: SRCNN(), scales=(2, 3, 4),
            reference="yjn870/SRCNN-pytorch@064dbaac models.py", in_channels=1, input_range=1.0,
            upsamples=False, guide_input_shape=(1, 1, 256, 256), guide_opset=9,
            guide_input_name="input.1", guide_output_name="11", guide_protocol="srcnn-ascend",
            param_count={2: 57_281, 3: 57_281, 4: 57_281},
        ),
        ModelSpec(
            name="vdsr", builder=lambda s: VDSR(), scales=(2, 3, 4),
            reference="twtygqyy/pytorch-vdsr@514b0210 vdsr.py", in_channels=1, input_range=1.0,
            upsamples=False, guide_input_shape=(1, 1, 256, 256), guide_opset=10, guide_protocol="vdsr-vacc",
            param_count={2: 664_704, 3: 664_704, 4: 664_704},
            # one model for every scale: our re-saved state_dict first, then the official pickle
            weight_patterns=("vdsr_state_dict.pth", "model_epoch_50.pth"),
        ),
        ModelSpec(
            name="rdn", builder=lambda s: RDN(scale_factor=s), scales=(2, 3, 4),
            reference="yjn870/RDN-pytorch models.py", in_channels=3, input_range=1.0,
            upsamples=True, guide_input_shape=(1, 3, 114, 114), guide_opset=9, guide_protocol="rdn-ascend",
            guide_input_name="image", guide_output_name="class", test_shape=(24, 24),
            param_count={2: 22_123_395},
            # the guide's 1x3x114x114 takes 15 s per torch call on one thread: a third of each side
            cpu_perf_shape=(38, 38),
        ),
        ModelSpec(
            name="rcan", builder=lambda s: RCAN(scale=s), scales=(2, 3, 4),
            reference="yulunzhang/RCAN@3339ebc5 RCAN_TestCode/code/model/rcan.py", in_channels=3,
            input_range=255.0, upsamples=True, guide_input_shape=(1, 3, 1080, 1920), guide_opset=9,
            test_shape=(16, 16), param_count={2: 15_444_667},
            # 1,632 state tensors: MinMax calibration takes 77 s on 2 cores and its random init saturates int8
            int8_cpu_check=False, graph_partition=True,
        ),
        _rcan_sr4k(ModelSpec, "rcan-sr4k", n_resgroups=3, n_feats=32, params=297_723,
                   reference="VastModelZOO rcan_modify.py (yulunzhang/RCAN, CA removed)"),
        _rcan_sr4k(ModelSpec, "rcan-sr4k-lite", n_resgroups=2, n_feats=16, params=63_547,
                   reference="VastModelZOO rcan_modify.py, RCAN2 config 2 2 16"),
        ModelSpec(
            name="rcan-training", builder=lambda s: RCANTraining(scale=s), scales=(2, 3, 4),
            reference="yjn870/RCAN-pytorch@0cba4c71 model.py", in_channels=3, input_range=1.0,
            upsamples=True, guide_input_shape=(16, 3, 48, 48), guide_opset=9, guide_protocol="rcan-train-ascend",
            test_shape=(16, 16), graph_partition=True,
        ),
    ]:
        api.register_model(spec)

    from srharness.hardware import register_builtin_hardware
    register_builtin_hardware(api)
    from srharness.backends.builtin import register_builtin_backends
    register_builtin_backends(api)
