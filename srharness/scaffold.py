"""`srharness new-model NAME`: a user project that joins srharness's conformance matrix, green at once.

    srharness new-model espcn2 --kind y-lr --scales 3          # in the folder that will hold espcn2/
    cd espcn2 && pip install -e . && pytest -m cpu

It writes NAME/ with: pyproject.toml (the `srharness.plugins` entry point), <pkg>/model.py (a small
network of the kind: ESPCN-style sub-pixel for y-lr and rgb, SRCNN-style at HR size for y-hr),
<pkg>/plugin.py (register_model with every ModelSpec field a new user needs, commented),
<pkg>/<NAME>_protocol.yaml (extends a registered protocol), <pkg>/weights/<NAME>/<NAME>_x<S>.pth
(the --weights file, or seeded initial weights), golden/<NAME>.yaml with one figure recorded by
running `srharness eval` on the embedded images (the command is in the figure's source) and
tests/test_<NAME>.py (export, accuracy, figures, perf checks). examples/espcn is this layout.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from srharness.errors import InputError, OutputPathError, UsageError

KINDS = {"y-lr": 1, "y-hr": 1, "rgb": 3}    # srharness.registry.INPUT_KINDS -> image channels
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def _ident(name: str) -> str:
    return name.replace("-", "_")


MODEL_PY = '''"""{title}: the model of this project ({kind}), written by `srharness new-model`; replace the
layers with your own network (keep the constructor's (scale, channels) or change plugin.py's builder)."""
from __future__ import annotations

from torch import nn


class {cls}(nn.Module):
{body}
'''

BODY_LR = '''    """{kind}: the LR image in ([0, 1]), the SR image out, upsampled by a sub-pixel convolution (ESPCN)."""

    def __init__(self, scale: int, channels: int = {channels}):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 5, padding=2), nn.Tanh(),
            nn.Conv2d(32, 16, 3, padding=1), nn.Tanh(),
        )
        self.to_subpixels = nn.Conv2d(16, channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.to_subpixels(self.features(x)))'''

BODY_HR = '''    """y-hr: the bicubic-upscaled Y in ([0, 1]), the SR Y out at the same size (SRCNN-style, residual)."""

    def __init__(self, scale: int, channels: int = {channels}):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 9, padding=4), nn.ReLU(),
            nn.Conv2d(32, 16, 5, padding=2), nn.ReLU(),
            nn.Conv2d(16, channels, 5, padding=2),
        )

    def forward(self, x):
        return x + self.body(x)'''

PLUGIN_PY = '''"""srharness plugin of this project: found through the `srharness.plugins` entry point in
pyproject.toml by the pytest plugin and the `srharness` CLI alike (written by `srharness new-model`)."""
from __future__ import annotations


def srharness_register(api) -> None:
    from {pkg}.model import {cls}

    api.register_protocol("{name}_protocol.yaml")          # relative to this file
    api.register_model(api.ModelSpec(
        name="{name}",
        builder=lambda scale: {cls}(scale),
        scales={scales!r},
        reference="user model ({pkg}/model.py)",
        in_channels={channels},              # 1: the Y channel, 3: RGB
        input_range=1.0,             # inputs on [0, 1]
        upsamples={upsamples},             # True: LR in, SR out; False: works at HR size on a bicubic input
        guide_input_shape=(1, {channels}, 256, 256),   # NCHW a card compiles for
        guide_opset={opset},
        guide_protocol="{name}-protocol",   # `srharness eval {name}` uses it unless --protocol says otherwise
        test_shape=(24, 24),         # small H x W for the quick weight-independent checks
        # `--weights auto` looks for <weights dir>/{name}/{name}_x<scale>.pth when a run names a weights
        # dir (weight_patterns / weights_subdir change that), else the weights this package ships:
        bundled_weights="weights",
    ))
'''

PROTOCOL_YAML = '''# The protocol {name} is judged under (srharness.protocols fields), written by `srharness new-model`.
# `extends: {extends}` keeps every field of that registered protocol; override below what differs in
# your own evaluation (resize, y_convention, shave, quantisation, data_range, ...).
name: {name}-protocol
extends: {extends}
guide: "{name}: the team's evaluation ({extends} conventions)"
models: [{kind}]
'''

GOLDEN_YAML = '''# {name} (this project's model). No published figure exists for it: the value is recorded by the
# command in its `source`, run in this project with the weights it ships ({weights_note}).
# Rule: a regression floor for our own model: within 0.01 dB of the recorded value, either way.
# Re-record after training: run the command, put its mean_psnr here.
model: {name}
defaults:
  rule: {{type: absolute, tolerance: 0.01, sides: two-sided}}
figures:
  - {{id: {name}/x{scale}/embedded/psnr/recorded, metric: psnr, unit: dB, value: {value}, scale: {scale},
     dataset: embedded, protocol: {name}-protocol, hardware: cpu, backend: torch, precision: fp32,
     conditions: {{weights: "{pkg}/weights/{name}/{name}_x{scale}.pth (sha256 {sha})"}},
     source: {{command: "{command}", recorded: "srharness new-model"}}}}
'''

TEST_PY = '''"""{name} through srharness's reusable checks (written by `srharness new-model`): export
conformance, CPU fidelity of the compiled variants, the protocol's plumbing, CPU performance, and
one item per figure of golden/{name}.yaml. No pytest_plugins line: srharness's pytest11 entry point
loads the plugin, and this project's `srharness.plugins` entry point registers the model."""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.figures import GoldenFigures
from srharness.checks.perf import PerfChecks

pytestmark = [pytest.mark.cpu]


class TestExport(ExportChecks):
    model = "{name}"
    scale = {scale}


class TestAccuracy(AccuracyChecks):
    model = "{name}"
    scale = {scale}


class TestFigures(GoldenFigures):
    models = ("{name}",)


class TestPerf(PerfChecks):
    model = "{name}"
    scale = {scale}
'''

PYPROJECT = '''# {name}: a model of its own joining srharness's conformance matrix (written by `srharness new-model`).
#   pip install -e .     then     pytest -m cpu     and     srharness eval {name} --scale {scale} --weights auto
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{name}: a super-resolution model checked by srharness"
requires-python = ">=3.10"
dependencies = ["srharness"]

# The one line that makes srharness (pytest plugin and CLI) find the model.
[project.entry-points."srharness.plugins"]
{ident} = "{pkg}.plugin"

[tool.setuptools.packages.find]
include = ["{pkg}*"]

[tool.setuptools.package-data]
{pkg} = ["*.yaml", "weights/{name}/*.pth"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
'''


def new_model(name: str, parent: Path, kind: str, scales: list[int], channels: int | None = None,
              extends: str = "benchmark", weights: Path | None = None, say=print) -> Path:
    """Write the project NAME/ under parent and record its golden figure; returns the project folder."""
    if not NAME_RE.match(name):
        raise UsageError(f"model name {name!r}: use lower-case letters, digits and '-', starting with a letter "
                         "(e.g. espcn2)")
    if kind not in KINDS:
        raise UsageError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    want = KINDS[kind]
    if channels is not None and channels != want:
        raise UsageError(f"--channels {channels}: kind {kind} takes {want} channel(s) "
                         f"({'the Y channel' if want == 1 else 'RGB'}); drop --channels or change --kind")
    if not scales or any(s < 2 or s > 8 for s in scales):
        raise UsageError(f"--scales {scales}: give integer scales between 2 and 8, e.g. --scales 2,3,4")
    from srharness import registry
    from srharness.protocols import PROTOCOLS
    registry.load_plugins([])
    if extends not in PROTOCOLS:
        raise UsageError(f"--extends {extends!r}: not a registered protocol; known: {', '.join(sorted(PROTOCOLS))}")
    if weights is not None and not weights.is_file():
        raise InputError(f"--weights {weights}: no such file; give the .pth state_dict of your model")
    dest = parent / name
    if dest.exists():
        raise OutputPathError(f"{dest}: already exists; choose another name or folder (nothing was written)")
    ident, pkg = _ident(name), f"{_ident(name)}_sr"
    cls = "".join(p.capitalize() for p in name.split("-")) + "Net"
    scale = scales[0]
    fields = {"name": name, "ident": ident, "pkg": pkg, "cls": cls, "kind": kind, "channels": want,
              "scales": tuple(scales), "scale": scale, "extends": extends, "upsamples": kind != "y-hr",
              "opset": 9, "dist": f"{name}-sr", "title": name}
    tmp = parent / f".{name}.new-model-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(tmp, fields, weights)
        value, sha, command = _record(tmp, fields)
        note = "the --weights file" if weights else "seeded initial weights, untrained: train and re-record"
        (tmp / "golden" / f"{name}.yaml").write_text(GOLDEN_YAML.format(**fields, value=f"{value:.3f}", sha=sha[:12],
                                                                        command=command, weights_note=note))
        os.replace(tmp, dest)       # all or nothing: the project appears whole
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"wrote {dest}/ ({name}: kind {kind}, scales {', '.join(map(str, scales))}; golden {name}/x{scale}/"
        f"embedded/psnr/recorded = {value:.3f} dB)")
    say(f"next: cd {dest} && pip install -e . && pytest -m cpu")
    return dest


def _write(root: Path, f: dict, weights: Path | None) -> None:
    pkg = root / f["pkg"]
    (pkg / "weights" / f["name"]).mkdir(parents=True)
    (root / "golden").mkdir()
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(**f))
    (pkg / "__init__.py").write_text(f'"""{f["name"]}: a super-resolution model checked by srharness."""\n')
    body = (BODY_HR if f["kind"] == "y-hr" else BODY_LR).format(**f)
    (pkg / "model.py").write_text(MODEL_PY.format(**f, body=body))
    (pkg / "plugin.py").write_text(PLUGIN_PY.format(**f))
    (pkg / f"{f['name']}_protocol.yaml").write_text(PROTOCOL_YAML.format(**f))
    (root / "tests" / f"test_{f['ident']}.py").write_text(TEST_PY.format(**f))
    for s in f["scales"]:
        out = pkg / "weights" / f["name"] / f"{f['name']}_x{s}.pth"
        if weights is not None and s == f["scale"]:
            shutil.copyfile(weights, out)
        else:
            _seeded_weights(root, f, s, out)


def _seeded_weights(root: Path, f: dict, scale: int, out: Path) -> None:
    """Deterministic initial weights (torch.manual_seed(0)) so the recorded figure is reproducible."""
    import importlib.util

    import torch
    spec = importlib.util.spec_from_file_location(f"_{f['pkg']}_model", root / f["pkg"] / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(getattr(module, f["cls"])(scale).state_dict(), out)


def _record(root: Path, f: dict) -> tuple[float, str, str]:
    """The golden figure: `srharness eval` on the embedded images with the project's own weights."""
    import hashlib
    command = f"srharness eval {f['name']} --scale {f['scale']} --weights auto --dataset embedded --json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    env.pop("SRHARNESS_WEIGHTS_DIR", None)
    env.pop("SRHARNESS_DATA_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "srharness", *command.split()[1:], "--sr-plugin", f"{f['pkg']}.plugin"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise InputError(f"recording the golden figure failed ({command}): {proc.stderr.strip()[-500:]}")
    value = float(json.loads(proc.stdout)["mean_psnr"])
    weights = root / f["pkg"] / "weights" / f["name"] / f"{f['name']}_x{f['scale']}.pth"
    return value, hashlib.sha256(weights.read_bytes()).hexdigest(), command
