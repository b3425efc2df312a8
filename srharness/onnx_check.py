"""Checks an ONNX file a user hands us (an ONNX-only model of a plugin) before anything runs it.

onnx and onnxruntime refuse much of what is hostile, but in tracebacks; some of it they run: a
`Loop` of 2^62 iterations, an `Expand` to 14 GB, a nested-`If` bomb, a first output that is not
the SR image. `check_onnx_model` refuses, each in one line naming the file and the fix:

- not a protobuf ModelProto, or larger than MAX_FILE_BYTES;
- external data that is not a plain relative file inside the model's folder (no `..`, no
  absolute path, no symlink, no second hard link), then onnx's own checker (its external-data
  security checks included);
- an opset onnx does not know, a node of a domain onnxruntime's CPU provider does not run;
- subgraphs nested deeper than MAX_SUBGRAPH_DEPTH, more than MAX_NODES nodes;
- not exactly one image input of rank 4 with the spec's channels; no SR output of rank 4 with the
  spec's channels (the output the spec names, `ModelSpec.sr_output`, or the only one);
- a tensor whose shape onnx infers (with data propagation) larger than MAX_TENSOR_BYTES.

Every onnxruntime run is bounded in time (srharness.runners.ort_runner: RUN_TIMEOUT_ENV).
"""
from __future__ import annotations

from pathlib import Path

from srharness.errors import InputError

MAX_FILE_BYTES = 4 << 30          # a 4 GiB .onnx (protobuf's own limit is 2 GiB; external data aside)
MAX_TENSOR_BYTES = 4 << 30        # one inferred intermediate tensor
MAX_SUBGRAPH_DEPTH = 4            # If/Loop/Scan bodies inside bodies
MAX_NODES = 200_000
KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}
_ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


class OnnxModelError(InputError):
    """An ONNX file we refuse to run: the message names it, what is wrong, and the fix."""


def _fail(path: Path, what: str, fix: str) -> OnnxModelError:
    return OnnxModelError(f"ONNX model {path}: {what}; {fix}", subject=str(path))


def _graphs(graph, depth: int = 0):
    """(graph, depth) for the graph and every subgraph in its nodes' attributes."""
    yield graph, depth
    for node in graph.node:
        for attr in node.attribute:
            subs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
            for sub in subs:
                yield from _graphs(sub, depth + 1)


def _external_locations(model) -> list[str]:
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data
    return [ExternalDataInfo(t).location for t in _get_all_tensors(model) if uses_external_data(t)]


def _check_external(path: Path, model) -> None:
    folder = path.parent.resolve()
    for loc in _external_locations(model):
        p = Path(loc)
        if not loc or p.is_absolute() or ".." in p.parts or loc.startswith(("/", "\\")) or "\\" in loc:
            raise _fail(path, f"external data {loc!r} is not a file inside the model's folder",
                        "keep the .onnx and its data side by side, referenced by a plain relative name")
        full = folder / p
        if full.is_symlink() or not full.resolve().is_relative_to(folder):
            raise _fail(path, f"external data {loc!r} is a symlink or leads outside {folder}",
                        "copy the data file itself next to the model")
        if not full.is_file():
            raise _fail(path, f"external data {loc!r} is missing or not a regular file", "copy it next to the model")
        if full.stat().st_nlink > 1:
            raise _fail(path, f"external data {loc!r} has {full.stat().st_nlink} hard links (it may be a file "
                        "from elsewhere)", "copy the data file next to the model instead of linking it")


def _dims(value_info) -> list:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]


def _check_io(path: Path, model, spec, output) -> None:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    channels = spec.in_channels if spec is not None else None
    if len(inputs) != 1:
        raise _fail(path, f"{len(inputs)} graph inputs ({', '.join(i.name for i in inputs)}), an SR model takes one "
                    "image", "export the model with a single NCHW input")
    dims = _dims(inputs[0])
    if len(dims) != 4:
        raise _fail(path, f"input {inputs[0].name!r} has rank {len(dims)} ({dims}), not NCHW",
                    "export it with a 4-D input (batch, channels, height, width)")
    if channels is not None and isinstance(dims[1], int) and dims[1] != channels:
        raise _fail(path, f"input {inputs[0].name!r} has {dims[1]} channel(s), the model's spec says {channels}",
                    "fix in_channels of its ModelSpec or the exported input")
    outs = list(model.graph.output)
    if output is None:
        if len(outs) != 1:
            raise _fail(path, f"{len(outs)} graph outputs ({', '.join(o.name for o in outs)}) and the spec does not "
                        "say which is the SR image", "register it with ModelSpec(sr_output=INDEX or NAME)")
        chosen = outs[0]
    elif isinstance(output, str):
        chosen = next((o for o in outs if o.name == output), None)
        if chosen is None:
            raise _fail(path, f"no output named {output!r} (outputs: {', '.join(o.name for o in outs)})",
                        "fix sr_output of its ModelSpec")
    else:
        if not -len(outs) <= output < len(outs):
            raise _fail(path, f"sr_output={output} but the graph has {len(outs)} output(s)", "fix sr_output")
        chosen = outs[output]
    odims = _dims(chosen)
    if odims and len(odims) != 4:
        raise _fail(path, f"output {chosen.name!r} has rank {len(odims)} ({odims}), not an NCHW image",
                    "name the SR image with ModelSpec(sr_output=...)")
    if channels is not None and len(odims) == 4 and isinstance(odims[1], int) and odims[1] != channels:
        raise _fail(path, f"output {chosen.name!r} has {odims[1]} channel(s), the SR image has {channels}",
                    "name the SR image with ModelSpec(sr_output=...)")


def _check_sizes(path: Path, model) -> None:
    import onnx
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:   # noqa: BLE001 - onnx's own message says what is inconsistent
        raise _fail(path, f"shape inference failed: {str(exc).splitlines()[0][:200]}",
                    "export a graph whose shapes are consistent") from None
    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = _dims(vi)
        if not dims or not all(isinstance(d, int) for d in dims):
            continue
        n = 1
        for d in dims:
            n *= d
        size = n * _ELEMENT_BYTES.get(vi.type.tensor_type.elem_type, 8)
        if size > MAX_TENSOR_BYTES:
            raise _fail(path, f"tensor {vi.name!r} would take {size / 2**30:.1f} GiB ({dims}; at most "
                        f"{MAX_TENSOR_BYTES >> 30} GiB)", "this is not an SR model of a sane input size")


_checked: dict[tuple, None] = {}


def check_onnx_model(path: str | Path, spec=None, output=None) -> None:
    """Refuse a hostile or mismatching ONNX file before it runs (see the module doc). `spec`: the
    ModelSpec (channels); `output`: the SR output (index or name), default spec.sr_output."""
    import onnx
    path = Path(path)
    output = output if output is not None else getattr(spec, "sr_output", None)
    try:
        st = path.stat()
    except OSError as exc:
        raise _fail(path, exc.strerror or "cannot be read", "check the path registered as onnx=") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, getattr(spec, "in_channels", None), output)
    if key in _checked:
        return
    if not path.is_file():
        raise _fail(path, "is not a regular file", "register the path of an .onnx file")
    if st.st_size > MAX_FILE_BYTES:
        raise _fail(path, f"is {st.st_size / 2**30:.1f} GiB (at most {MAX_FILE_BYTES >> 30} GiB)",
                    "keep the weights as external data next to it")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:   # noqa: BLE001 - protobuf's DecodeError and friends
        raise _fail(path, f"not an ONNX model ({type(exc).__name__}: {str(exc)[:120]})",
                    "give a file written by torch.onnx.export or onnx.save") from None
    if not model.HasField("graph") or not model.graph.node:
        raise _fail(path, "holds no graph (an empty or non-ONNX protobuf)", "give a file written by onnx.save")
    _check_external(path, model)
    known = onnx.defs.onnx_opset_version()
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx") and not 1 <= imp.version <= known:
            raise _fail(path, f"opset {imp.version} is not one onnx {onnx.__version__} knows (1..{known})",
                        "export at a released opset, e.g. opset_version=17")
    nodes = 0
    for graph, depth in _graphs(model.graph):
        if depth > MAX_SUBGRAPH_DEPTH:
            raise _fail(path, f"subgraphs nested {depth} deep (at most {MAX_SUBGRAPH_DEPTH})",
                        "an SR model needs no nested control flow; export without it")
        nodes += len(graph.node)
        if nodes > MAX_NODES:
            raise _fail(path, f"more than {MAX_NODES} nodes", "this is not an SR model")
        for node in graph.node:
            if node.domain not in KNOWN_DOMAINS:
                raise _fail(path, f"node {node.name or node.op_type!r} is {node.op_type} of custom domain "
                            f"{node.domain!r}, which onnxruntime's CPU provider does not run",
                            "export with standard ONNX ops only")
    try:
        onnx.checker.check_model(str(path), full_check=False)
    except Exception as exc:   # noqa: BLE001 - onnx.checker.ValidationError: its first line says what
        raise _fail(path, f"onnx's checker refuses it: {str(exc).strip().splitlines()[0][:200]}",
                    "re-export it with torch.onnx.export") from None
    _check_io(path, model, spec, output)
    _check_sizes(path, model)
    _checked[key] = None
