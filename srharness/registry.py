"""The public registration API: one registry per kind (models, protocols, backends, hardware).

A user's package joins the conformance matrix without editing srharness:

    # my_project/srharness_plugin.py
    from srharness.registry import ModelSpec, register_model

    def srharness_register(api):          # api is this module
        api.register_model(ModelSpec(name="my-espcn", builder=lambda s: ESPCN(s), scales=(2, 3, 4), ...))

and is found in one of three ways (all three end in the same `register_*` calls):
- an entry point in the `srharness.plugins` group of its pyproject.toml, loaded by both the
  pytest plugin and the `srharness` CLI (srharness's own models come in this way: `srharness.builtin`);
- `--sr-plugin MODULE` (pytest option and CLI global option; env `SRHARNESS_PLUGINS`, comma-separated):
  a module name importable from the current folder, or a path to a .py file;
- a `pytest_srharness_register(registry)` hook in a conftest.py or pytest plugin.

A plugin module either registers at import time or defines `srharness_register(api)`.
Registries are filled on first use (`MODELS["vdsr"]` loads the plugins).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator
from srharness import settings
from srharness.errors import InputError, SrHarnessError

ENTRY_POINT_GROUP = "srharness.plugins"
PLUGINS_ENV = "SRHARNESS_PLUGINS"
BUILTIN_PLUGIN = "srharness.builtin"
INPUT_KINDS = ("y-hr", "y-lr", "rgb")


class RegistryError(InputError):
    """A registration that cannot be accepted, or a name that is not registered."""


class UnknownName(RegistryError, KeyError):
    """`get` of a name nobody registered. A KeyError too, so `except KeyError` callers keep working."""

    def __str__(self) -> str:       # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------- the registries
TABLES: list["Registry"] = []       # every Registry, in creation order (models first)
# kind -> the register function of the module that owns that kind's table (backends, hardware,
# protocols), handed in by that module at import (`provide`): they sit above this module, which
# must never import them.
_PROVIDERS: dict[str, Callable] = {}


def provide(kind: str, register: Callable) -> None:
    _PROVIDERS[kind] = register


def _provider(kind: str) -> Callable:
    if kind not in _PROVIDERS:
        load_plugins()          # srharness.builtin imports every owning module
    try:
        return _PROVIDERS[kind]
    except KeyError:
        raise RegistryError(f"no {kind} table was provided: srharness.builtin (which imports it) did not load") from None


class Registry(MutableMapping):
    """Name -> entry for one kind. Reading loads the plugins first; registering an existing name
    from a different module is refused (two packages claiming one name), the same module may
    register again (a reloaded plugin, an in-process pytester run)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._origins: dict[str, str] = {}
        self.replaced: dict[str, tuple[str, str]] = {}   # name -> (old origin, new origin): announced
        TABLES.append(self)     # every table announces itself: replacements() needs no import of its owner

    def add(self, name: str, entry: Any, origin: str, replace_existing: bool = False) -> Any:
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")
        from srharness.fileio import path_component
        try:    # names become file names (the model's ONNX under --work-dir, report folders)
            path_component(name, f"{self.kind} name registered by {origin}")
        except InputError as exc:
            raise RegistryError(str(exc)) from None
        old = self._origins.get(name)
        if old is not None and old != origin and not replace_existing:
            raise RegistryError(f"{self.kind} {name!r} is already registered by {old}; {origin} cannot register it "
                                "again (pick another name, or pass replace=True to override on purpose)")
        if old is not None and old != origin:
            self.replaced[name] = (self.replaced.get(name, (old,))[0], origin)
        self._entries[name] = entry
        self._origins[name] = origin
        return entry

    def origin(self, name: str) -> str:
        load_plugins()
        return self._origins[name]

    def get_entry(self, name: str):
        load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {', '.join(self._entries) or 'none'}") from None

    # Mapping protocol (read paths load the plugins)
    def __getitem__(self, name):
        return self.get_entry(name)

    def __setitem__(self, name, entry):      # tests monkeypatch entries in
        self._entries[name] = entry
        self._origins.setdefault(name, "assignment")

    def __delitem__(self, name):
        del self._entries[name]
        self._origins.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        load_plugins()
        return iter(list(self._entries))

    def __len__(self) -> int:
        load_plugins()
        return len(self._entries)

    def __contains__(self, name) -> bool:
        load_plugins()
        return name in self._entries

    def __repr__(self) -> str:
        return f"<{self.kind} registry: {', '.join(self._entries)}>"


MODELS = Registry("model")


# ---------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelSpec:
    """Every per-model fact the checks, CLI and runners need; nothing about a model lives elsewhere.

    builder(scale) -> nn.Module, or None for an ONNX-only model (then `onnx` names the file and
    onnxruntime fp32 is the reference: torch-only checks skip with the reason).
    """
    name: str
    builder: Callable[[int], Any] | None
    scales: tuple[int, ...]
    reference: str                 # upstream repository whose state_dict layout we match (or "user model")
    in_channels: int               # 1 = Y channel, 3 = RGB
    input_range: float             # 1.0 for [0,1] inputs, 255.0 for [0,255]
    upsamples: bool                # False: works at HR size on a bicubic-upscaled input
    guide_input_shape: tuple[int, ...]  # NCHW on the guide's accelerator
    guide_opset: int               # opset the guide exports at
    guide_input_name: str = "input"
    guide_output_name: str = "output"
    guide_protocol: str = "benchmark"   # the protocol of the model's guide (`srharness eval` default)
    input_multiple: int = 1        # H and W must be multiples of this (SR4K's stride-2 head)
    test_shape: tuple[int, int] = (32, 32)  # small H x W for fast weight-independent checks
    param_count: dict[int, int] = field(default_factory=dict)  # scale -> parameters (incl. buffers-as-params)
    # `--weights auto`: file names tried under <weights dir>/<weights_subdir or name>/, formatted with
    # {name} {stem} (name with '-' -> '_') and {scale}; the first that exists wins.
    weight_patterns: tuple[str, ...] = ("{stem}_x{scale}.pth", "{stem}_x{scale}.pt", "{name}_x{scale}.pth")
    weights_subdir: str | None = None
    # a folder shipped with the model's package, searched (same patterns) after the weights dir;
    # relative to the registering module's folder
    bundled_weights: str | None = None
    # a spec made from one checkpoint file (srharness.zoo): `--weights auto` is that file, wherever the
    # weights dir is (the spec's builder already holds its weights; this makes every check say so)
    weights_file: str | None = None
    cpu_perf_shape: tuple[int, int] | None = None   # CPU perf checks: H x W when the guide's is too slow here
    int8_cpu_check: bool = True    # False: the CPU suite skips int8 calibration of this model (too slow)
    graph_partition: bool = False  # vamc needs its graph partition (the RCAN family)
    onnx: str | None = None        # ONNX-only model: the file (absolute, or relative to the registering module)
    source_files: tuple[str, ...] = ()  # extra files whose content is part of the export cache key
    # a model with several outputs (a progressive network returning x2 and x4): which one is the SR
    # image, an index into the tuple `forward` returns (or the ONNX file's outputs), or a key of the
    # dict it returns (or an ONNX output name). torch, export and onnxruntime all use this one.
    sr_output: int | str | None = None
    registered_by: str = ""        # module that registered the spec (filled in by register_model)
    # state_dict of a checkpoint file -> the builder's keys (a spec detected from a checkpoint: spandrel
    # renames the keys of old layouts, e.g. the original ESRGAN's); None: the file's keys are the model's
    convert_state_dict: Callable[[dict], dict] | None = None

    def __post_init__(self):
        if self.builder is None and not self.onnx:
            raise RegistryError(f"model {self.name!r}: give a builder (torch) or onnx= (an ONNX-only model)")
        if self.in_channels not in (1, 3):
            raise RegistryError(f"model {self.name!r}: in_channels must be 1 (Y) or 3 (RGB), not {self.in_channels}")
        if not self.scales or any(int(s) < 1 for s in self.scales):
            raise RegistryError(f"model {self.name!r}: scales must be positive integers, got {self.scales}")
        if self.sr_output is not None and not isinstance(self.sr_output, (int, str)):
            raise RegistryError(f"model {self.name!r}: sr_output must be an output index or name, "
                                f"not {self.sr_output!r}")
        if len(self.guide_input_shape) != 4:
            raise RegistryError(f"model {self.name!r}: guide_input_shape must be NCHW, got {self.guide_input_shape}")

    @property
    def input_kind(self) -> str:
        """y-hr: Y channel at HR size (SRCNN, VDSR); y-lr: Y channel, upsamples itself (ESPCN);
        rgb: RGB, upsamples itself (RDN, RCAN)."""
        if self.in_channels == 1:
            return "y-lr" if self.upsamples else "y-hr"
        return "rgb"

    @property
    def has_torch(self) -> bool:
        return self.builder is not None

    @property
    def onnx_path(self) -> Path | None:
        return Path(self.onnx) if self.onnx else None

    def build(self, scale: int):
        if scale not in self.scales:
            raise ValueError(f"{self.name} is defined for scales {list(self.scales)}, not x{scale}")
        if self.builder is None:
            raise TorchUnavailable(f"{self.name} is an ONNX-only model ({self.onnx}): it has no torch code")
        return self.builder(scale)

    def output_shape(self, scale: int, h: int, w: int) -> tuple[int, int]:
        return (h * scale, w * scale) if self.upsamples else (h, w)

    def weight_candidates(self, weights_dir, scale: int) -> list[Path]:
        """Files `--weights auto` tries, in order: the weights dir's, then the bundled folder's."""
        if self.weights_file:
            return [Path(self.weights_file)]
        stem = self.name.replace("-", "_")
        out = []
        for root in (weights_dir, self.bundled_weights):
            if root is not None:
                base = Path(root) / (self.weights_subdir or self.name)
                out += [base / p.format(name=self.name, stem=stem, scale=scale) for p in self.weight_patterns]
        return out


class TorchUnavailable(SrHarnessError, RuntimeError):
    """Something needs the model's torch code and the model has none (an ONNX-only model)."""


def _caller_module(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return frame.f_globals.get("__name__", "?")


def register_model(spec: ModelSpec, *, replace_existing: bool = False) -> ModelSpec:
    """Add a model to the matrix. ONNX-only specs with a relative `onnx` path are resolved against
    the registering module's folder."""
    if not isinstance(spec, ModelSpec):
        raise RegistryError(f"register_model takes a srharness.registry.ModelSpec, got {type(spec).__name__}")
    origin = _caller_module()
    module = sys.modules.get(origin)
    base = Path(module.__file__).parent if getattr(module, "__file__", None) else Path.cwd()
    for attr in ("onnx", "bundled_weights"):
        value = getattr(spec, attr)
        if value and not Path(value).is_absolute():
            spec = replace(spec, **{attr: str((base / value).resolve())})
    if spec.onnx and not Path(spec.onnx).is_file():
        raise RegistryError(f"model {spec.name!r}: ONNX file {spec.onnx} does not exist")
    spec = replace(spec, registered_by=spec.registered_by or origin)
    return MODELS.add(spec.name, spec, origin, replace_existing)


def get_model(name: str) -> ModelSpec:
    return MODELS.get_entry(name)


def register_checkpoint(path, **kwargs):
    """(ModelSpec, what was detected) of a checkpoint with no model code: srharness.zoo's
    register_checkpoint, handed in with `provide` (a golden naming its `weights` comes here without
    importing the zoo, which sits above it)."""
    return _provider("checkpoint")(path, **kwargs)


# ---------------------------------------------------------------- protocols, backends, hardware
def register_protocol(protocol, *, replace_existing: bool = False):
    """A `srharness.protocols.Protocol`, or a protocol YAML file (relative paths are taken from the
    registering module's folder); see srharness.protocols for the fields."""
    if isinstance(protocol, (str, Path)):
        path = Path(protocol)
        if not path.is_absolute():
            module = sys.modules.get(_caller_module())
            base = Path(module.__file__).parent if getattr(module, "__file__", None) else Path.cwd()
            path = base / path
        protocol = path
    return _provider("protocol")(protocol, replace=replace_existing)


def register_backend(name: str, builder: Callable, *, hardware: str, precision: str, needs: tuple[str, ...] = (),
                     description: str = "", timing=None, replace_existing: bool = False):
    """A runner builder: `builder(**kwargs) -> srharness.runners.base.Runner`; `timing`: how GPU
    timing runs it (a srharness.backends.Timing); see srharness.backends."""
    return _provider("backend")(name, builder, hardware=hardware, precision=precision, needs=tuple(needs),
                                description=description, timing=timing, origin=_caller_module(),
                                replace_existing=replace_existing)


def register_hardware(name: str, detector: Callable, *, marker: str, tools: tuple[str, ...] = (),
                      devices_per_card: int = 1, replace_existing: bool = False):
    """A hardware kind: its pytest marker (with description), its detector (-> hardware.Detection),
    the vendor tools it drives, and how many devices one card holds."""
    return _provider("hardware")(name, detector, marker=marker, tools=tuple(tools), devices_per_card=devices_per_card,
                                 origin=_caller_module(), replace_existing=replace_existing)


# ---------------------------------------------------------------- plugin loading
_loaded: list[str] = []             # plugin names in load order (for doctor / tests)
_lock = threading.RLock()
_loading = False
_entry_points_done = False


def loaded_plugins() -> list[str]:
    return list(_loaded)


def replacements() -> list[str]:
    """One line per registered name a plugin took over from another module (a built-in model
    replaced with replace_existing=True changes every figure of that name): announced by the CLI,
    its --json, `doctor` and the summary."""
    lines = []
    for reg in TABLES:
        for name, (old, new) in reg.replaced.items():
            what = "built-in " if old.startswith("srharness.") else ""
            lines.append(f"{what}{reg.kind} {name!r} of {old} is REPLACED by {new}")
    return lines


def _call_register(obj, label: str) -> None:
    import types
    register = getattr(obj, "srharness_register", None)
    if callable(register):
        register(sys.modules[__name__])
    elif isinstance(obj, (types.BuiltinFunctionType, type)):
        raise RegistryError(f"srharness plugin {label}: {getattr(obj, '__qualname__', obj)!r} is not a register "
                            "function; name a module, or module:function taking the registry (srharness.registry)")
    elif callable(obj) and not isinstance(obj, type(sys)):
        obj(sys.modules[__name__])


def _plugin_frame(exc: BaseException) -> str:
    """The innermost frame of the traceback that is not srharness's or importlib's: the plugin's own."""
    import traceback
    here = Path(__file__).resolve().parent
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.startswith("<frozen")
              and not Path(f.filename).resolve().is_relative_to(here)]
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {f.filename}:{f.lineno} in {f.name})"


def _plugin_failed(target: str, stage: str, exc: BaseException) -> RegistryError:
    if isinstance(exc, RegistryError) and target in str(exc):
        return exc
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return RegistryError(f"srharness plugin {target} failed {stage}: {type(exc).__name__}: {first}"
                         f"{_plugin_frame(exc)}; fix the plugin or drop it from --sr-plugin / {PLUGINS_ENV}")


def _import_plugin(target: str, search_dir: Path | None = None):
    """A module by name (tried from `search_dir` / the current folder too) or a .py file path."""
    path = Path(target)
    if target.endswith(".py") or os.sep in target:
        if not path.is_file():
            raise RegistryError(f"srharness plugin {target}: no such file")
        name = f"srharness_user_plugin_{path.stem}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name.split(".")[0]:
            raise
        for folder in (search_dir, Path.cwd()):
            if folder is not None and str(folder) not in sys.path and (
                    (folder / f"{module_name.split('.')[0]}.py").is_file() or (folder / module_name.split(".")[0]).is_dir()):
                sys.path.insert(0, str(folder))
                module = importlib.import_module(module_name)
                break
        else:
            raise RegistryError(f"srharness plugin {module_name!r}: no such module (not installed, and not in "
                                f"{search_dir or Path.cwd()}); give an importable module name or a path to a .py file") from None
    return getattr(module, attr) if attr else module


def load_plugin(target: str, search_dir: Path | None = None) -> None:
    """Load one plugin (module name, module:function, or .py path) once per process."""
    with _lock:
        if target in _loaded:
            return
        try:
            obj = _import_plugin(target, search_dir)
        except RegistryError:
            raise
        except Exception as exc:   # the plugin's own code raised at import: one line naming it
            raise _plugin_failed(target, "to import", exc) from exc
        _loaded.append(target)
        try:
            _call_register(obj, target)
        except BaseException as exc:
            _loaded.remove(target)
            if isinstance(exc, Exception):
                raise _plugin_failed(target, "in its register function", exc) from exc
            raise


def _entry_points():
    from importlib.metadata import entry_points
    return list(entry_points(group=ENTRY_POINT_GROUP))


def load_plugins(extra: tuple[str, ...] | list[str] = (), search_dir: Path | None = None) -> None:
    """srharness's own plugin, every installed `srharness.plugins` entry point, SRHARNESS_PLUGINS,
    and `extra` (the --sr-plugin values). Idempotent; later calls add only what is new."""
    global _loading, _entry_points_done
    with _lock:
        if _loading:            # a plugin reading a registry while it registers
            return
        _loading = True
        try:
            if not _entry_points_done:
                # srharness's own plugin first. It is also an entry point of the group; loading it
                # by name covers a source tree whose installed metadata predates the entry point.
                load_plugin(BUILTIN_PLUGIN)
                for ep in _entry_points():
                    try:
                        load_plugin(ep.value)
                    except RegistryError:
                        raise
                    except Exception as exc:
                        raise RegistryError(f"srharness plugin {ep.name} = {ep.value} (entry point of "
                                            f"{ENTRY_POINT_GROUP}) failed to load: {type(exc).__name__}: {exc}") from exc
                _entry_points_done = True
            env = [p.strip() for p in settings.env(PLUGINS_ENV, "").split(",") if p.strip()]
            for target in [*env, *extra]:
                load_plugin(target, search_dir)
        finally:
            _loading = False
