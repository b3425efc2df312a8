"""Protocols declared in YAML, and registering a protocol (object or YAML file)."""

from __future__ import annotations

from pathlib import Path

from srharness.registry import provide

from .catalogue import BUILTIN_PROTOCOLS, PROTOCOLS
from .fields import ProtocolError, ProtocolFieldError, _coerce, _did_you_mean
from .protocol import FIELD_NAMES, Protocol

# ------------------------------------------------------------------ protocols from YAML
YAML_KEYS = ("extends",) + FIELD_NAMES


def protocol_from_dict(data: dict, where: str = "<dict>") -> Protocol:
    """A protocol from a mapping of fields (the YAML form); errors name `where`, the key and the allowed values."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: a protocol is a mapping of fields, got {type(data).__name__}")
    unknown = [k for k in data if k not in YAML_KEYS]
    if unknown:
        k = unknown[0]
        raise ProtocolError(f"{where}: unknown key {k!r}{_did_you_mean(k, YAML_KEYS)}; keys: {', '.join(YAML_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError(f"{where}: key 'name' is required (a non-empty string)")
    where = f"{where}: protocol {name!r}"
    fields = {k: _coerce(k, v) for k, v in data.items() if k not in ("extends", "name")}
    base = data.get("extends")
    if base is not None and not isinstance(base, str):
        raise ProtocolError(f"{where}: key 'extends' names ONE protocol (text), got {base!r:.80}; "
                            "derive from one and set the fields that differ")
    if name in BUILTIN_PROTOCOLS and base != name:
        # a file named like a built-in would print "protocol: benchmark, deviations: []" with other rules
        raise ProtocolError(f"{where}: {name!r} is a built-in protocol's name; give yours another name "
                            f"(extends: {name} keeps its fields and lists what you change)")
    if "guide" not in fields:             # not the base's guide: this file is the source
        fields["guide"] = f"{where.split(': protocol')[0]}" + (f" (extends {base})" if base else "")
    if base is not None and base not in PROTOCOLS:
        raise ProtocolError(f"{where}: key 'extends': unknown protocol {base!r}"
                            f"{_did_you_mean(base, list(PROTOCOLS))}; known: {', '.join(PROTOCOLS)}")
    try:
        return PROTOCOLS[base].derive(name, **fields) if base is not None else Protocol(name=name, **fields)
    except ProtocolFieldError as exc:
        raise ProtocolError(f"{where}: " + "; ".join(f"key {f!r}: {m}" for f, m in exc.problems)) from None


def load_protocols(path: str | Path) -> list[Protocol]:
    """Every protocol in a YAML file (one mapping with `name`, or `protocols: [...]`); not registered."""
    from srharness.yamlio import load_yaml
    path = Path(path)
    data = load_yaml(path, what="protocol file", error=ProtocolError)
    if isinstance(data, dict) and "protocols" in data:
        extra = sorted(set(data) - {"protocols"})
        if extra:
            raise ProtocolError(f"{path}: unknown top-level key(s) {extra}; a file holds `protocols: [...]` "
                                "or the fields of one protocol")
        items = data["protocols"]
        if not isinstance(items, list) or not items:
            raise ProtocolError(f"{path}: 'protocols' must be a non-empty list of protocol mappings")
        return [protocol_from_dict(d, f"{path}: protocols[{i}]") for i, d in enumerate(items)]
    if data is None:
        raise ProtocolError(f"{path}: the file is empty; give a protocol (see srharness.protocols for the fields)")
    return [protocol_from_dict(data, str(path))]


def load_protocol(path: str | Path) -> Protocol:
    """The one protocol of a YAML file (not registered; `register_protocol` does that)."""
    found = load_protocols(path)
    if len(found) != 1:
        raise ProtocolError(f"{path}: holds {len(found)} protocols ({', '.join(p.name for p in found)}); "
                            "give one, or register them all with register_protocol(path)")
    return found[0]


def register_protocol(protocol: "Protocol | str | Path", replace: bool = False):
    """Add a protocol (or every protocol of a YAML file) to PROTOCOLS. Re-registering an equal
    protocol is a no-op; a different one under a taken name needs replace=True (never a built-in)."""
    if isinstance(protocol, (str, Path)):
        return [register_protocol(p, replace=replace) for p in load_protocols(protocol)]
    if not isinstance(protocol, Protocol):
        raise ProtocolError(f"register_protocol takes a srharness.protocols.Protocol or a YAML path, "
                            f"got {type(protocol).__name__}")
    existing = PROTOCOLS.get(protocol.name)
    if existing is not None and existing != protocol:
        if protocol.name in BUILTIN_PROTOCOLS:
            raise ProtocolError(f"protocol {protocol.name!r} is built in; give yours another name "
                                f"(extends: {protocol.name} keeps its fields)")
        if not replace:
            raise ProtocolError(f"protocol {protocol.name!r} is already registered with other fields; "
                                "pick another name or pass replace=True")
    PROTOCOLS[protocol.name] = protocol
    return protocol


def get_protocol(name: str) -> Protocol:
    """A registered protocol by name, or a protocol YAML file (one protocol) by path."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        pass
    if str(name).endswith((".yaml", ".yml")):
        return load_protocol(name)
    raise ProtocolError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}"
                        f"{_did_you_mean(name, list(PROTOCOLS))}; or give a protocol YAML file") from None


# srharness.registry.register_protocol (the plugin API) lands here; the registry sits below this
# package and never imports it
provide("protocol", register_protocol)
