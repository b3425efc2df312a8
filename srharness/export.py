"""torch -> ONNX export, and what the exported file really is.

Two exporters on torch 2.13 (SPEC.md, acceptance rule 2):
- "legacy": `torch.onnx.export(..., dynamo=False)` (deprecated, TorchScript based) honours
  opset 9, where PixelShuffle becomes Reshape/Transpose/Reshape (the Ascend guides need this).
- "dynamo": the default exporter. Asked for opset 9 it silently stays at 18 and emits
  DepthToSpace(CRD) for PixelShuffle.
So every figure here is read back from the written file (`opset_import`, node census), never
taken from the arguments. Files are written to a temporary name and renamed.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from srharness import progress
from srharness.models import get_model_spec, build_model
from srharness.fileio import atomic_path
from srharness.errors import SrHarnessError

EXPORTERS = ("legacy", "dynamo")
DEFAULT_OPSET_DOMAIN = ("", "ai.onnx")


class ExportError(SrHarnessError):
    """An export that cannot be done as asked; the message says why and what to change."""


@dataclass
class ExportResult:
    path: Path
    opset: int                       # from the file's opset_import
    requested_opset: int
    exporter: str
    op_census: dict[str, int]        # {"Conv": 3, ...}, sorted by op type
    inputs: list[tuple[str, list]]   # [(name, [1, 3, 114, 114])]; a dynamic dim is its name (str)
    outputs: list[tuple[str, list]]
    model: str | None = None
    scale: int | None = None
    dynamic: bool = False
    rewritten_depth_to_space: int = 0
    details: dict = field(default_factory=dict)

    @property
    def has_depth_to_space(self) -> bool:
        return self.op_census.get("DepthToSpace", 0) > 0

    def to_dict(self) -> dict:
        return {"path": str(self.path), "model": self.model, "scale": self.scale, "exporter": self.exporter,
                "requested_opset": self.requested_opset, "opset": self.opset, "dynamic": self.dynamic,
                "op_census": self.op_census, "depth_to_space": self.has_depth_to_space,
                "rewritten_depth_to_space": self.rewritten_depth_to_space,
                "inputs": [{"name": n, "shape": s} for n, s in self.inputs],
                "outputs": [{"name": n, "shape": s} for n, s in self.outputs]}


# ---------------------------------------------------------------- reading a graph
def graph_opset(model_proto) -> int:
    for entry in model_proto.opset_import:
        if entry.domain in DEFAULT_OPSET_DOMAIN:
            return int(entry.version)
    raise ExportError("the ONNX model has no default-domain opset_import")


def op_census(model_proto) -> dict[str, int]:
    counts = Counter(node.op_type for node in model_proto.graph.node)
    return dict(sorted(counts.items()))


def _value_shapes(values) -> list[tuple[str, list]]:
    out = []
    for v in values:
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in v.type.tensor_type.shape.dim]
        out.append((v.name, dims))
    return out


def graph_inputs(model_proto) -> list[tuple[str, list]]:
    initializers = {i.name for i in model_proto.graph.initializer}
    return _value_shapes([v for v in model_proto.graph.input if v.name not in initializers])


def graph_outputs(model_proto) -> list[tuple[str, list]]:
    return _value_shapes(model_proto.graph.output)


def check_graph(model_proto, *, opset: int | None = None, forbidden_ops=("DepthToSpace",)) -> list[str]:
    """Problems that stop a guide's toolchain: wrong opset, ops it cannot compile. Empty = fine."""
    problems = []
    actual = graph_opset(model_proto)
    if opset is not None and actual != opset:
        problems.append(f"opset is {actual}, expected {opset}")
    census = op_census(model_proto)
    for op in forbidden_ops:
        if census.get(op):
            problems.append(f"{census[op]} {op} node(s)")
    return problems


# ---------------------------------------------------------------- DepthToSpace -> Reshape/Transpose/Reshape
def rewrite_depth_to_space(model_proto):
    """Rewrite every DepthToSpace (DCR and CRD) into Reshape/Transpose/Reshape, in place; returns the proto.

    DepthToSpace(blocksize b) on N,C,H,W, with C' = C/b^2:
      DCR: reshape N,b,b,C',H,W -> transpose 0,3,4,1,5,2 -> reshape N,C',H*b,W*b
      CRD: reshape N,C',b,b,H,W -> transpose 0,1,4,2,5,3 -> reshape N,C',H*b,W*b
    Static input shapes give constant shape tensors (what the legacy opset-9 export has); dynamic
    ones get them computed with Shape/Gather/Div/Mul/Concat (all available since opset 1-9).
    """
    import onnx
    from onnx import helper, numpy_helper
    import numpy as np

    graph = model_proto.graph
    if not any(n.op_type == "DepthToSpace" for n in graph.node):
        return model_proto
    inferred = onnx.shape_inference.infer_shapes(model_proto)
    shapes = {name: dims for name, dims in _value_shapes(
        list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output))}
    taken = {n.name for n in graph.node} | {i.name for i in graph.initializer} | set(shapes)
    counter = [0]

    def fresh(stem: str) -> str:
        while True:
            counter[0] += 1
            name = f"d2s_rewrite_{counter[0]}_{stem}"
            if name not in taken:
                taken.add(name)
                return name

    def const(stem: str, values) -> str:
        name = fresh(stem)
        graph.initializer.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    new_nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type != "DepthToSpace":
            new_nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        b = int(attrs["blocksize"])
        mode = attrs.get("mode", b"DCR")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        x, y = node.input[0], node.output[0]
        dims = shapes.get(x)
        if dims and len(dims) == 4 and all(isinstance(d, int) and d > 0 for d in dims):
            n, c, h, w = dims
            if c % (b * b):
                raise ExportError(f"DepthToSpace {node.name}: {c} channels not divisible by {b}x{b}")
            cp = c // (b * b)
            first = const("shape6", [n, b, b, cp, h, w] if mode == "DCR" else [n, cp, b, b, h, w])
            last = const("shape4", [n, cp, h * b, w * b])
            shape_nodes = []
        else:  # shape computed at run time
            shape = fresh("shape")
            parts = {k: fresh(k) for k in ("n", "c", "h", "w", "cp", "hb", "wb")}
            bb, bsz = const("b", [b]), const("bb", [b * b])
            shape_nodes = [helper.make_node("Shape", [x], [shape])]
            for k, i in (("n", 0), ("c", 1), ("h", 2), ("w", 3)):
                shape_nodes.append(helper.make_node("Gather", [shape, const(f"i{i}", [i])], [parts[k]], axis=0))
            shape_nodes += [helper.make_node("Div", [parts["c"], bsz], [parts["cp"]]),
                            helper.make_node("Mul", [parts["h"], bb], [parts["hb"]]),
                            helper.make_node("Mul", [parts["w"], bb], [parts["wb"]])]
            order = ["n", bb, bb, "cp", "h", "w"] if mode == "DCR" else ["n", "cp", bb, bb, "h", "w"]
            first, last = fresh("shape6"), fresh("shape4")
            shape_nodes += [
                helper.make_node("Concat", [parts.get(k, k) for k in order], [first], axis=0),
                helper.make_node("Concat", [parts["n"], parts["cp"], parts["hb"], parts["wb"]], [last], axis=0)]
        perm = [0, 3, 4, 1, 5, 2] if mode == "DCR" else [0, 1, 4, 2, 5, 3]
        r6, t6 = fresh("reshaped"), fresh("transposed")
        new_nodes += shape_nodes + [
            helper.make_node("Reshape", [x, first], [r6], name=fresh(f"{node.name}_reshape")),
            helper.make_node("Transpose", [r6], [t6], perm=perm, name=fresh(f"{node.name}_transpose")),
            helper.make_node("Reshape", [t6, last], [y], name=fresh(f"{node.name}_reshape"))]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    model_proto.metadata_props.append(onnx.StringStringEntryProto(
        key="srharness.rewrite_depth_to_space", value=str(rewritten)))
    return model_proto


# ---------------------------------------------------------------- export
def _atomic_save(model_proto, out_path: Path) -> None:
    import onnx
    with atomic_path(out_path) as tmp:
        onnx.save(model_proto, str(tmp))


@contextlib.contextmanager
def _quiet_exporter():
    """The exporters print progress and deprecation warnings; our result says what happened."""
    loggers = [logging.getLogger(n) for n in ("onnxscript", "torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model_or_name, out_path, *, scale: int = 2, opset: int | None = None, exporter: str = "legacy",
                shape: tuple[int, int] | None = None, dynamic: bool = False, weights=None,
                input_name: str | None = None, output_name: str | None = None,
                rewrite: bool = False, in_channels: int | None = None) -> ExportResult:
    """Export a registry model (by name) or an nn.Module to ONNX and describe what was written.

    opset None = the guide's opset; shape (H, W) None = the spec's small test shape; dynamic=True
    gives dynamic batch, H and W axes; weights: a checkpoint path (None = deterministic random
    init); rewrite=True replaces DepthToSpace by Reshape/Transpose/Reshape after export.
    in_channels: an nn.Module's input channels when its first registered conv is not its input conv
    (default: that conv's in_channels, else 3).
    """
    import onnx

    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; use one of {', '.join(EXPORTERS)}")
    out_path = Path(out_path)
    if isinstance(model_or_name, str):
        spec = get_model_spec(model_or_name)
        if not spec.has_torch:
            raise ExportError(f"{spec.name} is an ONNX-only model: there is no torch code to export; "
                              f"its file is {spec.onnx}")
        if weights is not None:
            from srharness.checkpoints import load_into
            model = load_into(spec.name, scale, weights)
        else:
            model = build_model(spec.name, scale)
        name, channels = spec.name, spec.in_channels
        opset = spec.guide_opset if opset is None else opset
        shape = tuple(shape or spec.test_shape)
        input_name = input_name or spec.guide_input_name
        output_name = output_name or spec.guide_output_name
        if any(d % spec.input_multiple for d in shape):
            raise ExportError(f"{name}: H and W must be multiples of {spec.input_multiple}, got {shape[0]}x{shape[1]}")
    elif isinstance(model_or_name, nn.Module):
        if weights is not None:
            raise ExportError("weights= applies to a registry model name, not to an nn.Module")
        if opset is None or shape is None:
            raise ExportError("an nn.Module export needs opset= and shape=")
        model, name = model_or_name.eval(), None
        first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        channels = in_channels or (first_conv.in_channels if first_conv is not None else 3)
        input_name, output_name = input_name or "input", output_name or "output"
    else:
        raise ExportError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")

    from srharness.data.inputs import random_input   # the tracing example: seeded, from the one input maker
    example = torch.from_numpy(random_input((1, channels, *shape)))
    from srharness.fileio import check_destination, sweep_temporaries, temp_prefix
    check_destination(out_path)   # a folder or a path under a file: refused before the export runs
    if out_path.parent.is_dir():
        sweep_temporaries(out_path.parent, out_path.name)
    # named like fileio's temporaries (.<name>.<host>-<pid>.<random>.tmp) so a killed export's is swept
    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=temp_prefix(out_path), suffix=".tmp",
                                        dir=out_path.parent if out_path.parent.is_dir() else None))
    except OSError as exc:   # an unwritable folder: name the file asked for, not our temporary
        raise type(exc)(exc.errno, exc.strerror, str(out_path)) from None
    raw = tmp_dir / "model.onnx"
    try:
        with torch.no_grad(), _quiet_exporter():
            if exporter == "legacy":
                axes = {input_name: {0: "batch", 2: "height", 3: "width"},
                        output_name: {0: "batch", 2: "out_height", 3: "out_width"}} if dynamic else None
                torch.onnx.export(model, (example,), str(raw), opset_version=opset, dynamo=False,
                                  input_names=[input_name], output_names=[output_name], dynamic_axes=axes,
                                  do_constant_folding=True)
            else:
                dims = ({0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},) \
                    if dynamic else None
                torch.onnx.export(model, (example,), str(raw), opset_version=opset, dynamo=True,
                                  input_names=[input_name], output_names=[output_name], dynamic_shapes=dims,
                                  external_data=False, verbose=False)
        progress.step()
        proto = onnx.load(str(raw))
    except ExportError:
        raise
    except OSError as exc:    # a full disk or a read-only work folder: the file asked for, not our temporary
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(out_path)) from None
    except Exception as exc:  # the exporters raise many types; the message is what matters
        raise ExportError(f"{name or type(model).__name__}: {exporter} export at opset {opset} failed: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        for p in tmp_dir.iterdir():
            p.unlink()
        tmp_dir.rmdir()

    rewritten = 0
    if rewrite:
        before = op_census(proto).get("DepthToSpace", 0)
        rewrite_depth_to_space(proto)
        rewritten = before
    _atomic_save(proto, out_path)
    return describe_onnx(out_path, proto, requested_opset=opset, exporter=exporter, model=name, scale=scale,
                         dynamic=dynamic, rewritten=rewritten, shape=shape)


def describe_onnx(path, proto=None, *, requested_opset: int, exporter: str, model: str | None, scale: int | None,
                  dynamic: bool, rewritten: int = 0, shape=None) -> ExportResult:
    """The ExportResult of an ONNX file, read from the file itself."""
    import onnx
    proto = onnx.load(str(path), load_external_data=False) if proto is None else proto
    return ExportResult(path=Path(path), opset=graph_opset(proto), requested_opset=requested_opset,
                        exporter=exporter, op_census=op_census(proto), inputs=graph_inputs(proto),
                        outputs=graph_outputs(proto), model=model, scale=scale, dynamic=dynamic,
                        rewritten_depth_to_space=rewritten,
                        details={"torch": torch.__version__, "onnx": onnx.__version__,
                                 "shape": list(shape) if shape else None})
