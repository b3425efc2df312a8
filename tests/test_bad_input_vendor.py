"""Hostile vendor files, one case per kind (issue 20's msit/msprobe compare CSV items and the parser
leftovers): each ends in the reader's own error (an srharness InputError) whose one-line message
names the file and the value, never a traceback, never a figure accepted.

The msit reader is also fuzzed (hypothesis): whatever the cells hold, the reader returns a table of
finite, in-range figures or raises MsitCsvError."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srharness.errors import InputError
from srharness.diagnose.msit import read_compare_csv
from srharness.tools.msit import MsitCsvError

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "fixtures" / "logs"
MSIT = ROOT / "fixtures" / "msit" / "vdsr_om_vs_onnx.csv"


def cli(argv, capsys) -> tuple[int, str]:
    from srharness.cli import main
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# ---------------------------------------------------------------- vendor logs through `srharness parse-log`
OPSTAT = (LOGS / "op_statistic_0_1_rdn_before_fix.csv").read_text()
OPSTAT_ROW = OPSTAT.splitlines()[1]
AIS = (LOGS / "ais_infer_centroids_reid_early_throughput.txt").read_text()   # has H2D/D2H blocks


def _opstat_row(**cells) -> str:
    header = OPSTAT.splitlines()[0].split(",")
    row = next(csv.reader([OPSTAT_ROW]))
    for k, v in cells.items():
        row[header.index(k)] = v
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return OPSTAT.replace(OPSTAT_ROW + "\n", out.getvalue(), 1)


def _ais_block(name: str, key: str, value: str) -> str:
    line = next(l for l in AIS.splitlines() if f"{name} (ms)" in l)
    pairs = [p.strip() for p in line.split("(ms):", 1)[1].split(",")]
    new = [f"{key} = {value}" if p.split("=")[0].strip() == key else p for p in pairs]
    return AIS.replace(line, line.split("(ms):", 1)[0] + "(ms): " + ", ".join(new))


LOG_CASES = {
    # issue 20: a row with total time 0 but a 44.25% share was reported as a 0.0 us hotspot
    "opstat-share-of-zero-total": ("op_statistic", lambda: _opstat_row(**{"Total Time(us)": "0", "Min Time(us)": "0",
                                                                           "Avg Time(us)": "0", "Max Time(us)": "0",
                                                                           "Ratio(%)": "44.25"}),
                                   ("Ratio(%) 44.25", "Total Time(us) of 0")),
    "opstat-count-1e20": ("op_statistic", lambda: _opstat_row(Count="1e20"), ("Count is '1e20'", "whole number")),
    "ais-p99-zero": ("ais_bench", lambda: _ais_block("NPU_compute_time", "percentile(99%)", "0"), ("percentile(99%)", "0")),
    "ais-p99-minus-zero": ("ais_bench", lambda: _ais_block("NPU_compute_time", "percentile(99%)", "-0"), ("percentile(99%)", "-0")),
    "ais-negative-h2d": ("ais_bench", lambda: _ais_block("H2D_latency", "mean", "-0.5"), ("H2D_latency mean", "-0.5")),
    "ais-json-negative-d2h": ("ais_bench", lambda: json.dumps({
        "NPU_compute_time": {"min": 1.0, "max": 2.0, "mean": 1.5, "median": 1.5}, "throughput": 666.6,
        "batchsize": 1, "D2H_latency": {"mean": -3.0}}), ("D2H_latency.mean", "-3.0")),
}


@pytest.mark.parametrize("case", sorted(LOG_CASES))
def test_hostile_vendor_log_is_a_clear_error(case, tmp_path, capsys):
    tool, make, names = LOG_CASES[case]
    path = tmp_path / f"{case}.txt"
    path.write_text(make())
    code, out = cli(["parse-log", tool, str(path)], capsys)
    assert code == 2, out
    assert "Traceback" not in out and str(path) in out, out
    for name in names:
        assert name in out, (name, out)


# ---------------------------------------------------------------- msit / msprobe compare CSV
def _msit_edit(tmp_path: Path, name: str, edit) -> Path:
    rows = list(csv.reader(io.StringIO(MSIT.read_text())))
    header = rows[0]
    edit(header, rows[1:])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / f"{name}.csv"
    path.write_text(out.getvalue())
    return path


def _set(column, value, where=lambda r, h: True):
    def edit(header, rows):
        for r in rows:
            if r and where(r, header):
                r[header.index(column)] = value
    return edit


METRICS = ("CosineSimilarity", "MaxAbsoluteError", "AccumulatedRelativeError", "RelativeEuclideanDistance",
           "KullbackLeiblerDivergence", "MeanAbsoluteError", "RootMeanSquareError", "MaxRelativeError",
           "MeanRelativeError")


def _all_nan(header, rows):
    for column in METRICS:
        _set(column, "NaN")(header, rows)


def _conv4(r, h):
    return r[h.index("TensorIndex")] == "Conv_4Relu_5:output:0"


MSIT_CASES = {
    "all-nan-metrics": (_all_nan, ("no output row has a computable metric",)),
    "cosine-5": (_set("CosineSimilarity", "5.0", _conv4), ("CosineSimilarity", "5.0", "[-1, 1]")),
    "relative-distance-minus-5": (_set("RelativeEuclideanDistance", "-5", _conv4),
                                  ("RelativeEuclideanDistance", "-5.0", "negative")),
    "index-1e400": (_set("Index", "1e400", _conv4), ("Index '1e400'",)),
    "field-128k": (_set("GroundTruth", "x" * (128 * 1024), _conv4), ("a field longer than",)),
    "inf-metric": (_set("MaxAbsoluteError", "inf", _conv4), ("MaxAbsoluteError", "'inf'")),
}


@pytest.mark.parametrize("case", sorted(MSIT_CASES))
def test_hostile_msit_csv_is_a_clear_error(case, tmp_path):
    edit, names = MSIT_CASES[case]
    path = _msit_edit(tmp_path, case, edit)
    with pytest.raises(MsitCsvError) as err:
        read_compare_csv(path)
    assert isinstance(err.value, InputError)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for name in names:
        assert name in message, (name, message)


def test_hostile_msit_csv_through_the_cli(tmp_path, capsys):
    path = _msit_edit(tmp_path, "cosine", _set("CosineSimilarity", "5.0", _conv4))
    code, out = cli(["diagnose", "--msit-csv", str(path)], capsys)
    assert code == 2 and "Traceback" not in out and str(path) in out and "[-1, 1]" in out, out


# ---------------------------------------------------------------- fuzz
HOSTILE_CELLS = st.one_of(
    st.sampled_from(["NaN", "nan", "inf", "-inf", "1e400", "-5", "5.0", "", "-0", "1e-400", "0x10", "None",
                     "TRUE", "Node_Output", "a,b", '"', "\x00", "1" * 40]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=30))


def _finite(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), HOSTILE_CELLS), min_size=1, max_size=6))
def test_fuzz_msit_reader(tmp_path_factory, edits):
    rows = list(csv.reader(io.StringIO(MSIT.read_text())))
    for r, c, value in edits:
        row = rows[1 + r % (len(rows) - 1)]
        row[c % len(row)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path_factory.mktemp("fuzz") / "result.csv"
    path.write_text(out.getvalue(), encoding="utf-8", errors="surrogatepass")
    try:
        table = read_compare_csv(path)
    except MsitCsvError:
        return
    for node in table["nodes"]:
        for key in ("cosine", "sqnr_db", "relative_l2", "max_abs_error", "mean_abs_error", "gain_db", "input_sqnr_db"):
            assert _finite(node.get(key)), (key, node.get(key))
        assert node["cosine"] is None or -1.0 - 1e-6 <= node["cosine"] <= 1.0 + 1e-6
        assert node["relative_l2"] is None or node["relative_l2"] >= 0
