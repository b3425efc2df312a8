"""srharness example NAME: an example config (nightly, farm) ready to save and edit. Paths to what
srharness ships (the built-in suites) are made absolute, so the file works wherever it is saved.

    srharness example nightly > nightly.yaml
"""
from __future__ import annotations

import re


def arguments(p):
    p.add_argument("name", choices=["nightly", "farm"])


# (pattern, replacement builder) per example: each must match exactly once, so a changed example
# file fails its test instead of printing a config that points nowhere.
def _rewrites(name: str):
    from srharness import resources
    if name == "nightly":
        return [(r"^suites: \[suites\]", lambda: f"suites: [{resources.suites_dir()}]")]
    return [(r"^nightly: nightly\.example\.yaml(\s*)#.*$",
             lambda: "nightly: nightly.yaml                # write it: srharness example nightly > nightly.yaml")]


def run(args) -> int:
    from srharness import resources
    text = resources.example_config(args.name).read_text(encoding="utf-8")
    for pattern, replacement in _rewrites(args.name):
        text, n = re.subn(pattern, lambda m, r=replacement: r(), text, count=1, flags=re.M)
        if n != 1:   # a bug of ours, not the user's: the shipped example changed under this command
            raise RuntimeError(f"{resources.example_config(args.name)}: no line matching {pattern!r} to rewrite")
    print(text, end="")
    return 0
