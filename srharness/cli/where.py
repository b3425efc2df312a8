"""srharness where WHAT: the path of something srharness ships beside its code (goldens, built-in
suites, fake vendor tools, recorded logs), the same from a clone and from an installed wheel
(srharness.resources says where they are).

    pytest "$(srharness where suites)/rcan" -m vacc       # a built-in suite
"""
from __future__ import annotations

WHERE = {   # name -> (resources function, what it is)
    "suites": ("suites_dir", "the built-in pytest suites: pytest \"$(srharness where suites)/rcan\" -m vacc"),
    "golden": ("golden_dir", "the published figures (golden YAML)"),
    "fixtures": ("fixtures_dir", "fake_tools/, logs/, msit/, protocol_figures/"),
    "fake-tools": ("fake_tools_dir", "the fake vendor tools (see `srharness fakes`)"),
    "logs": ("logs_dir", "recorded vendor-tool logs: srharness parse-log \"$(srharness where logs)/...\""),
    "tolerances": ("tolerances_file", "srharness's own floors and tolerances"),
}


def arguments(p):
    p.add_argument("what", choices=list(WHERE), help="; ".join(f"{k}: {v[1]}" for k, v in WHERE.items()))


def run(args) -> int:
    from srharness import resources
    print(getattr(resources, WHERE[args.what][0])())
    return 0
