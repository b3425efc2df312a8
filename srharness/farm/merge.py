"""`srharness merge SHARD_DIRS... -o OUT`: shards from any number of hosts -> one Allure results folder
(+ the HTML report when a generator is installed), one summary.json, one exit code.

A shard folder that is missing, never finished (its shard.json still says "running": the run was
killed or its host died), timed out, or was marked lost by the farm becomes a failed result naming
the shard and the reason; whatever results it did leave are kept.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from srharness.farm.shard import FINISHED, read_state, tag_results, tag_summary, write_json
from srharness.hardware import HARDWARE
from srharness.records import Verdict
from srharness.errors import InputError

RESULT_FILE = re.compile(r"^[0-9a-f-]{36}-(result|container|attachment)\.\w+$")
# What a merge (or farm) output folder may hold; anything else means -o points at someone's folder.
OUT_ENTRIES = {"allure-results", "conformance-matrix.html", "allure-report", "history", "summary.json", "logs", "shards", "superseded",
               "farm.json", ".allurerc.json"}
LOST_PREFIX = "farm shard"   # matched by the "Shard lost" Allure category


class MergeError(InputError):
    pass


def _regular(path: Path) -> bool:
    """A regular file, not a symlink: a shard comes from another host, and a symlink in it could
    pull any local file (or a FIFO that blocks forever) into the report."""
    return path.is_file() and not path.is_symlink()


def verdict_from(d: dict[str, Any]) -> Verdict:
    """A Verdict from a merged summary row (which adds host and card)."""
    known = set(Verdict.__dataclass_fields__)
    return Verdict.from_dict({k: v for k, v in d.items() if k in known})


def _shard_record(path: Path) -> dict[str, Any]:
    """What a shard folder holds and whether it is complete: status ok | failed | incomplete | lost | missing."""
    from srharness.fileio import path_component
    state = read_state(path) if path.is_dir() else None
    where = f"shard {path / 'shard.json'}"
    # names from another host become file names (logs/NAME.pytest-output.txt): one path component each
    name = path_component((state or {}).get("name") or path.resolve().name, f"{where}: \"name\"")
    hw = path_component((state or {}).get("hardware") or name.split("@", 1)[0], f"{where}: \"hardware\"")
    host = path_component((state or {}).get("host") or (name.split("@", 1)[1] if "@" in name else "unknown-host"),
                          f"{where}: \"host\"")
    identity = (state or {}).get("identity") or {"host": host, "hardware": hw, "card": "unknown"}
    if not isinstance(identity, dict):
        raise MergeError(f"{where}: \"identity\" is {type(identity).__name__}, not an object; the shard.json "
                         "was not written by srharness nightly --shard (re-run that shard)")
    rec = {"name": name, "dir": str(path), "hardware": hw, "host": host, "identity": identity,
           "exit_code": (state or {}).get("exit_code"), "reason": (state or {}).get("reason")}
    if not path.is_dir():
        rec.update(status="missing", reason=f"no shard folder {path}")
    elif state is None:
        rec.update(status="incomplete", reason=f"{path} has no readable shard.json (not a shard, or its run never started)")
    elif state.get("status") == FINISHED:
        rec["status"] = "ok" if state.get("exit_code") == 0 else "failed"
    elif state.get("status") == "running":
        rec.update(status="incomplete", reason=rec["reason"] or
                   f"the shard never finished (started {state.get('started')}; its run was killed or its host died)")
    else:
        rec.update(status="lost" if state.get("status") == "lost" else "incomplete",
                   reason=rec["reason"] or f"shard status {state.get('status')!r}")
    return rec


def prepare_out_dir(out: Path, shard_dirs: list[Path]) -> None:
    out = out.resolve()
    for d in shard_dirs:
        if d.resolve() == out:
            raise MergeError(f"-o {out} is one of the shard folders; merge into a folder of its own")
    if out.is_dir():
        strangers = sorted(p.name for p in out.iterdir() if p.name not in OUT_ENTRIES)
        if strangers:
            raise MergeError(f"{out} holds files that are not a merge output ({', '.join(strangers[:5])}); "
                             "point -o at a folder of its own")
    out.mkdir(parents=True, exist_ok=True)


def merge_shards(shard_dirs: list[Path], out: Path, generate: bool = True, report_name: str = "srharness farm",
                 single_file: bool = True) -> int:
    """Merge `shard_dirs` into `out`; returns 0 only when every shard finished and passed."""
    from srharness import nightly

    if not shard_dirs:
        raise MergeError("no shard folders given")
    out = Path(out).resolve()
    shard_dirs = [Path(d) for d in shard_dirs]
    records = [_shard_record(d) for d in shard_dirs]   # a hostile shard is refused before anything is written
    prepare_out_dir(out, shard_dirs)
    cfg = nightly.NightlyConfig(path=out / "merge", suites=[], require=[], out_dir=out, single_file=single_file,
                                report_name=report_name)
    nightly.prepare_results_dir(cfg.results_dir)
    logs = out / "logs"
    if logs.is_dir():
        shutil.rmtree(logs)
    logs.mkdir()

    names = [r["name"] for r in records]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise MergeError(f"shard(s) {', '.join(dupes)} given twice; one folder per (hardware, host)")

    tests: dict[str, int] = {}
    skipped: list[dict[str, Any]] = []
    verdict_rows: list[dict[str, Any]] = []
    failures: list[str] = []
    hosts: dict[str, dict[str, Any]] = {}
    env: dict[str, str] = {}
    for rec in records:
        src = Path(rec["dir"])
        copied: list[Path] = []
        results = src / "allure-results"
        if results.is_dir():
            for f in results.iterdir():
                if RESULT_FILE.match(f.name) and _regular(f):
                    shutil.copy2(f, cfg.results_dir / f.name)
                    copied.append(cfg.results_dir / f.name)
            if _regular(results / "pytest-output.txt"):
                shutil.copy2(results / "pytest-output.txt", logs / f"{rec['name']}.pytest-output.txt")
        if _regular(src / "nightly-output.txt"):
            shutil.copy2(src / "nightly-output.txt", logs / f"{rec['name']}.nightly-output.txt")
        # Results a killed run left untagged get their shard's host now (tagging is idempotent).
        kept_results = [f for f in copied if f.name.endswith("-result.json")]
        tag_results(cfg.results_dir, rec["identity"], kept_results)
        kept = len(kept_results)
        rec["results"] = kept
        summary = {}
        if _regular(src / "summary.json"):
            try:
                summary = tag_summary(json.loads((src / "summary.json").read_text(encoding="utf-8")), rec["identity"])
            except ValueError:
                summary = {}
        for k, n in (summary.get("tests") or {}).items():
            tests[k] = tests.get(k, 0) + int(n)
        verdict_rows += summary.get("verdicts", [])
        skipped += [{**t, "host": rec["host"]} for t in summary.get("skipped_tests", [])]
        for f in (summary.get("nightly") or {}).get("failures", []):
            failures.append(f"{rec['name']}: {f}")
        hosts.setdefault(rec["host"], {})[rec["hardware"]] = rec["identity"]
        env[f"shard.{rec['name']}"] = f"{rec['status']} ({rec['identity'].get('card', '?')}, " \
                                       f"srharness {rec['identity'].get('srharness', '?')}, git {rec['identity'].get('git', '?')})"
        if rec["status"] in ("missing", "incomplete", "lost"):
            message = (f"{LOST_PREFIX} {rec['name']} {'lost' if rec['status'] != 'incomplete' else 'incomplete'}: "
                       f"{rec['reason']}. Partial results kept: {kept}. Re-run it with `srharness farm --rerun-missing` "
                       f"or `srharness nightly --shard {rec['hardware']}` on {rec['host']}.")
            nightly.write_failed_result(
                cfg.results_dir, f"Shard lost: {rec['name']}", message,
                labels={"suite": "farm shards", "hardware": rec["hardware"], "host": rec["host"], "tag": "shard-lost"})
            failures.append(message)
        elif rec["status"] == "failed" and not (summary.get("nightly") or {}).get("failures"):
            failures.append(f"{rec['name']}: shard exit code {rec['exit_code']}")

    from srharness.report import matrix
    verdicts = [verdict_from(v) for v in verdict_rows]
    required = [h for h in HARDWARE if h in {r["hardware"] for r in records}]
    by_host: dict[str, list[Verdict]] = {}
    for row, v in zip(verdict_rows, verdicts):
        by_host.setdefault(row.get("host", "unknown-host"), []).append(v)
    gits = sorted({str(r["identity"].get("git")) for r in records if r["identity"].get("git")})
    identity = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "host": "farm: " + ", ".join(sorted(hosts)), "hosts": sorted(hosts),
                "hardware_key": "+".join(required), "git": gits[0] if len(gits) == 1 else f"mixed: {', '.join(gits)}",
                "shards": [r["name"] for r in records]}
    # The report side's summary document over the verdicts of every host (matrix, cells, coverage account),
    # then each figure's row with its host and card, and the shards.
    merged = matrix.summary_document(verdicts, tests, 0, identity=identity, skipped=skipped)
    merged.update({
        "verdicts": [{**row, "figure_key": matrix.figure_key(v)} for row, v in zip(verdict_rows, verdicts)],
        "matrix_by_host": {h: matrix.summary_matrix(vs) for h, vs in sorted(by_host.items())},
        "hosts": hosts,
        "shards": [{k: r[k] for k in ("name", "hardware", "host", "status", "reason", "exit_code", "results", "dir")}
                   for r in records],
    })
    figures = merged["figures"]
    if figures.get("fail") and not any("figure(s) failed" in f for f in failures):
        failures.append(f"{figures['fail']} figure(s) failed their golden rule")
    if figures.get("xpass") and not any("XPASS" in f for f in failures):
        failures.append(f"{figures['xpass']} figure(s) passed where the guide's own figure fails (XPASS)")
    merged["failures"] = failures     # the first page lists them

    nightly.write_categories(cfg.results_dir)
    nightly.write_environment(cfg.results_dir, {"hosts": ", ".join(sorted(hosts)), "shards": str(len(records)),
                                                "required": ",".join(required), **env})
    merged["nightly"] = {"required": required, "results_dir": str(cfg.results_dir), "report_dir": None,
                         "shards_lost": [r["name"] for r in records if r["status"] in ("missing", "incomplete", "lost")],
                         "failures": failures}
    nightly.write_matrix_page(cfg, merged)    # the first page: the matrix and coverage across all hosts
    if generate:
        gen = nightly.find_generator()
        if gen is None:
            print(f"srharness merge: no Allure generator found; results are in {cfg.results_dir}.\n  To get the "
                  f"HTML report, {nightly.INSTALL_HINT}", flush=True)
        else:
            try:
                nightly.generate_report(cfg, gen)
                merged["nightly"]["report_dir"] = str(cfg.report_dir)
                print(f"srharness merge: report in {cfg.report_dir}", flush=True)
            except (RuntimeError, OSError) as exc:
                failures.append(f"report generation failed: {exc}")
    merged["exitstatus"] = 1 if failures else 0
    write_json(out / "summary.json", merged)
    print(f"srharness merge: {len(records)} shard(s) from {len(hosts)} host(s) -> {out}", flush=True)
    for r in records:
        print(f"  {r['name']:<32} {r['status']:<10} {r['results']} result(s)" + (f"  ({r['reason']})" if r['reason'] and r['status'] != 'ok' else ""), flush=True)
    if failures:
        print("srharness merge: FAILED:\n" + "\n".join(f"  - {f}" for f in failures), flush=True)
        return 1
    print("srharness merge: all passed", flush=True)
    return 0
