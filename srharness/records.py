"""The verdict record: the single thing the report side reads (ARCHITECTURE.md).

Every check that compares a figure with a golden, or reports a figure worth seeing, makes one
`Verdict` and hands it to the `sr_record` fixture (srharness.plugin). The terminal summary, the
summary JSON and the Allure report are built from these records only.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Metrics where lower is better when no rule says (latencies, errors, times): the one declaration.
LOWER_IS_BETTER = re.compile(r"(latency|_ms$|^ms$|max_abs_diff|error|seconds|time)")

# The user property a test's verdicts travel in, from the worker to the report (pytest layer, report).
VERDICT_PROPERTY = "sr_verdict"


@dataclass
class Verdict:
    model: str                       # registry name, e.g. "rdn"
    check: str                       # export | accuracy | perf | training
    metric: str                      # psnr | ssim | fps | max_abs_diff | opset | ...
    measured: float | None
    hardware: str = "cpu"            # cpu | cuda | ascend | vacc
    backend: str = "torch"           # torch | ort | ort-fp16 | ort-int8 | ascend-om | vacc | tensorrt ...
    precision: str = "fp32"
    scale: int | None = None
    protocol: str | None = None
    dataset: str | None = None
    image: str | None = None         # None for a mean over the dataset
    golden: float | None = None      # the figure compared against
    golden_id: str | None = None
    rule: str | None = None          # human text of the rule, e.g. ">= -1% (relative, one-sided)"
    passed: bool | None = None       # None: informational figure, no rule applied
    expected: str | None = None      # "fail" where the guide's own figure fails the same rule
    unit: str = ""
    conditions: dict[str, Any] = field(default_factory=dict)  # shape, batch, warm-up, tool versions...
    notes: str = ""
    # Set (to the reason, e.g. "no official RDN weights in the weights dir") when a selected
    # golden figure could not be measured in this run; measured/passed are then None. Every
    # selected figure ends in exactly one verdict, so coverage is counted, not guessed.
    not_judged: str | None = None
    # Which way is better: the golden rule's `better` where a rule judged the figure (set by who
    # makes the verdict), else the metric's own direction (LOWER_IS_BETTER). The report's history
    # reads it from here.
    better: str | None = None

    def __post_init__(self):
        if self.better is None:
            lower = LOWER_IS_BETTER.search(self.metric or "") or LOWER_IS_BETTER.search(self.unit or "")
            self.better = "lower" if lower else "higher"

    @property
    def verdict(self) -> str:
        """pass | fail | info | expected-fail | xpass | not-judged, with pytest's xfail semantics. A figure
        that fails its rule exactly as the guide's own figure did (VDSR int8 kl_divergence: -2.4%)
        reproduces the guide and is no regression (expected-fail, pytest's XFAIL); one that passes
        where the guide's failed is a changed finding (xpass, pytest's strict XPASS): it makes the run red."""
        if self.not_judged:
            return "not-judged"
        if self.expected == "fail" and self.passed is not None:
            return "xpass" if self.passed else "expected-fail"
        return {True: "pass", False: "fail", None: "info"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        d = dict(d)
        d.pop("verdict", None)
        # Keys this version does not know (a merged farm summary adds host and card) travel in
        # conditions instead of breaking the reader.
        known = {f.name for f in fields(cls)}
        extra = {k: d.pop(k) for k in list(d) if k not in known}
        if extra:
            d["conditions"] = {**(d.get("conditions") or {}), **extra}
        return cls(**d)
