"""The one YAML reader of srharness: every YAML file the project reads (goldens, nightly and farm
configs, protocol files, tolerances) goes through `load_yaml`, a SafeLoader that refuses duplicate
keys, aliases (an alias bomb expands a small file into gigabytes), nesting deeper than MAX_DEPTH,
more than MAX_NODES nodes, numbers longer than MAX_NUMBER_CHARS characters, files over their size
bound, files that are not UTF-8, and anything that is not a regular file (a FIFO or a symlink to
/dev/zero never ends). Errors are the caller's error type, naming the file and the fix.
"""
from __future__ import annotations

from pathlib import Path

import yaml

MAX_FILE_BYTES = 1 << 20      # every YAML of the project is a few KB
MAX_DEPTH = 32                # the deepest (a golden) nests 4 levels
MAX_NODES = 200_000
MAX_NUMBER_CHARS = 40         # 5000-digit ints cost quadratic time


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, aliases, deep nesting, too many nodes, huge numbers."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, f"alias *{event.anchor} refused: srharness YAML files (goldens, configs, protocols) do not use "
                "anchors/aliases "
                "(an alias can expand a small file into gigabytes); write the values out", event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise yaml.constructor.ConstructorError(None, None, f"more than {MAX_NODES} YAML nodes",
                                                    self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                        self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}",
                                                        key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1}); "
                    "YAML would keep only the last one", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(None, None, f"a number of {len(node.value)} characters",
                                                    node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        if len(node.value) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(None, None, f"a number of {len(node.value)} characters",
                                                    node.start_mark)
        return super().construct_yaml_float(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_yaml_map)



def load_yaml(path: str | Path, *, what: str, error: type[Exception], max_bytes: int = MAX_FILE_BYTES,
              example: str | None = None):
    """The YAML document of `path` (a `what`: "nightly config", "protocol file"...), read with every
    bound above; `error(message)` names the file and the fix."""
    path = Path(path)
    fix = f" (copy {example} and edit it)" if example else ""
    try:
        if path.exists() and not path.is_file() and not path.is_dir():   # a FIFO, /dev/zero, a socket
            raise error(f"{path}: not a regular file; give a {what} (.yaml)")
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {size} bytes, more than {max_bytes}: not a {what}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}{fix}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder; give a {what} (.yaml)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:   # a file that grew while we looked
        raise error(f"{path}: more than {max_bytes} bytes: not a {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                    "save the file as UTF-8") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be a {what}") from None
