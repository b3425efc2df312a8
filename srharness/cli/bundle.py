"""srharness where / fakes / example: the one way to reach what srharness ships beside its code
(goldens, built-in suites, fake vendor tools, recorded logs, example configs), the same from a clone
and from an installed wheel (srharness.resources says where they are).

    pytest "$(srharness where suites)/rcan" -m vacc       # a built-in suite
    eval "$(srharness fakes)"                             # the fake vendor tools on PATH
    srharness example nightly > nightly.yaml              # a nightly config to edit
"""
from __future__ import annotations

import re

WHERE = {   # name -> (resources function, what it is)
    "suites": ("suites_dir", "the built-in pytest suites: pytest \"$(srharness where suites)/rcan\" -m vacc"),
    "golden": ("golden_dir", "the published figures (golden YAML)"),
    "fixtures": ("fixtures_dir", "fake_tools/, logs/, msit/, protocol_figures/"),
    "fake-tools": ("fake_tools_dir", "the fake vendor tools (see `srharness fakes`)"),
    "logs": ("logs_dir", "recorded vendor-tool logs: srharness parse-log \"$(srharness where logs)/...\""),
    "tolerances": ("tolerances_file", "srharness's own floors and tolerances"),
}


def add_parser(sub):
    w = sub.add_parser("where", help="print the path of something srharness ships (suites, golden, logs, ...)",
                       description="Print the path of a folder or file srharness ships, from a clone or a wheel. "
                                   + "; ".join(f"{k}: {v[1]}" for k, v in WHERE.items()))
    w.add_argument("what", choices=list(WHERE))
    w.set_defaults(func=_where)
    f = sub.add_parser("fakes", help="print the shell lines that put the fake vendor tools on PATH",
                       description="Print shell lines putting the fake vendor tools (atc, benchmark, npu-smi, vamc, "
                                   "vamp, trtexec, nvidia-smi) first on PATH: eval \"$(srharness fakes)\". They are "
                                   "as strict as the real tools and compute outputs with onnxruntime on this host.")
    f.set_defaults(func=_fakes)
    e = sub.add_parser("example", help="print an example config (nightly, farm) ready to save and edit",
                       description="Print an example config: srharness example nightly > nightly.yaml. Paths "
                                   "to what srharness ships (the built-in suites) are made absolute, so the file "
                                   "works wherever it is saved.")
    e.add_argument("name", choices=["nightly", "farm"])
    e.set_defaults(func=_example)


def _where(args) -> int:
    from srharness import resources
    print(getattr(resources, WHERE[args.what][0])())
    return 0


def _fakes(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from srharness import resources
    # The fakes are `#!/usr/bin/env python3` scripts that compute outputs with onnxruntime: this
    # environment's python3 (the venv srharness is installed in) comes next on PATH.
    dirs = [resources.fake_tools_dir(), Path(sys.executable).parent]
    print(f"export PATH={':'.join(shlex.quote(str(d)) for d in dirs)}:\"$PATH\"")
    # the fakes run the compiled models on this host's CPU: the small test shapes keep that quick
    print("export SRHARNESS_HW_SHAPE=test")
    return 0


# (pattern, replacement builder) per example: each must match exactly once, so a changed example
# file fails its test instead of printing a config that points nowhere.
def _rewrites(name: str):
    from srharness import resources
    if name == "nightly":
        return [(r"^suites: \[suites\]", lambda: f"suites: [{resources.suites_dir()}]")]
    return [(r"^nightly: nightly\.example\.yaml(\s*)#.*$",
             lambda: "nightly: nightly.yaml                # write it: srharness example nightly > nightly.yaml")]


def _example(args) -> int:
    from srharness import resources
    text = resources.example_config(args.name).read_text(encoding="utf-8")
    for pattern, replacement in _rewrites(args.name):
        text, n = re.subn(pattern, lambda m, r=replacement: r(), text, count=1, flags=re.M)
        if n != 1:   # a bug of ours, not the user's: the shipped example changed under this command
            raise RuntimeError(f"{resources.example_config(args.name)}: no line matching {pattern!r} to rewrite")
    print(text, end="")
    return 0
