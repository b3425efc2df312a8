"""Hardware op profiles (op_profiles/*.yaml, data): per hardware, the opset its guide exports at and
the ONNX ops known not to compile there, each with its source; optionally the vendor's list of
supported ONNX operators (`supported_ops`), where an op it does not name is marked. `will_not_compile` judges a model
from its op census at that opset before any card is used."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from srharness.errors import InputError


@lru_cache(maxsize=1)
def profiles() -> dict[str, dict]:
    out = {}
    folder = resources.files("srharness.zoo").joinpath("op_profiles")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
        where = f"srharness/zoo/op_profiles/{entry.name}"
        if not isinstance(doc, dict) or not {"hardware", "guide_opset", "guide_opset_source", "ops"} <= set(doc):
            raise InputError(f"{where}: needs hardware, guide_opset, guide_opset_source, ops")
        for op in doc["ops"] or []:
            if not isinstance(op, dict) or not {"op", "why", "source"} <= set(op):
                raise InputError(f"{where}: each op needs op, why, source (got {op!r})")
        listed = doc.get("supported_ops")
        if listed is not None and (not isinstance(listed, dict) or not str(listed.get("source") or "").strip()
                                   or not isinstance(listed.get("ops"), list) or not listed["ops"]):
            raise InputError(f"{where}: supported_ops needs source and a non-empty ops list")
        out[doc["hardware"]] = doc
    return out


def will_not_compile(censuses: dict[int, dict], failed: dict[int, str] | None = None) -> dict[str, str]:
    """hardware -> why a model will not compile there, from its op census at each opset exported
    (censuses: opset -> {op: count}); failed: opset -> the export failure. The graph judged is the
    one at the hardware's guide opset, else the highest exported opset below it."""
    failed = failed or {}
    out = {}
    for hw, prof in profiles().items():
        guide = int(prof["guide_opset"])
        usable = [op for op in censuses if op <= guide]
        if not usable:
            why = failed.get(guide) or next((v for k, v in sorted(failed.items()) if k <= guide), "no export")
            out[hw] = f"no graph at opset <= {guide} ({why})"
            continue
        opset = max(usable)
        census = censuses[opset]
        bad = [f"{o['op']} at opset {opset} ({o['why']}; {o['source']})" for o in prof["ops"] or [] if census.get(o["op"])]
        listed = prof.get("supported_ops")
        if listed:   # an allow-list: an op the vendor's list of supported operators does not name
            known = {str(o).lower() for o in listed["ops"]}
            bad += [f"{op} at opset {opset} (not in the supported ONNX operator list; {listed['source']})"
                    for op in sorted(census) if census[op] and op.lower() not in known]
        if bad:
            out[hw] = ", ".join(bad)
    return out
