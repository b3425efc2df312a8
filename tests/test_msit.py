"""Ascend msit/ait `debug compare` result CSVs read into srharness.diagnose's per-node table.
Fixtures are written from the documented format (fixtures/msit/README.md)."""
import math
from pathlib import Path

import pytest

from srharness.diagnose.msit import read_compare_csv
from srharness.tools.msit import MsitCsvError, read_rows

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "msit"


def test_documented_columns_and_the_two_datatypes():
    rows = read_rows(FIXTURES / "vdsr_om_vs_onnx.csv")
    conv = next(r for r in rows if r["TensorIndex"] == "Conv_4Relu_5:output:0")
    assert conv["DataType"] == "float16" and conv["GroundTruthDataType"] == "float32"
    assert conv["GroundTruth"] == "Conv_4,Relu_5" and conv["OverFlow"] == "YES"


def test_table_first_divergent_node_and_attribution():
    r = read_compare_csv(FIXTURES / "vdsr_om_vs_onnx.csv")
    first = r["first_divergent_node"]
    assert first["node"] == "Conv_4Relu_5" and first["cosine"] == pytest.approx(0.9712)
    assert first["extra"]["ground_truth"] == ["Conv_4", "Relu_5"]
    assert first["sqnr_db"] == pytest.approx(-20 * math.log10(0.241))          # from RelativeEuclideanDistance
    assert first["relative_l2"] == pytest.approx(0.241) and first["max_abs_error"] == pytest.approx(65504.0)
    assert first["fp16_overflow_count"] == 1
    # its input row (RED 0.0013) says the error is introduced here; the next operator inherits it
    assert first["origin"] == "introduced" and first["gain_db"] == pytest.approx(
        -20 * math.log10(0.0013) + 20 * math.log10(0.241))
    nodes = {n["node"]: n for n in r["nodes"]}
    assert nodes["Conv_6Relu_7"]["origin"] == "inherited"
    assert nodes["trans_TransData_7"]["cosine"] is None and not nodes["trans_TransData_7"]["diverged"]
    assert nodes["trans_TransData_7"]["extra"]["compare_fail_reason"] == "GroundTruth is not found"
    assert all(n["source"] == "msit" for n in r["nodes"])
    assert r["error_pattern"]["kind"] == "accumulates"
    assert r["keep_dtype_candidates"] == ["Add_9", "Conv_4", "Conv_6", "Conv_8", "Relu_5", "Relu_7"]


def test_first_row_over_each_msit_monitor():
    r = read_compare_csv(FIXTURES / "vdsr_om_vs_onnx.csv")
    fo = r["first_over"]
    assert fo["CosineSimilarity"]["node"] == "Conv_4Relu_5"
    assert fo["KullbackLeiblerDivergence"]["node"] == "Conv_4Relu_5"          # 0.0103 > 0.005
    assert fo["RootMeanSquareError"]["node"] == "Conv_4Relu_5"                # 1.18 > 1.0
    assert fo["MeanRelativeError"] is None                                   # never > 1.0


def test_optional_opsequence_column_without_overflow():
    r = read_compare_csv(FIXTURES / "with_opsequence.csv")
    assert [n["node"] for n in r["nodes"]] == ["Conv_12", "Add_13"]
    assert r["first_divergent_node"] is None and r["error_pattern"]["kind"] == "none"


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(MsitCsvError, match="missing column.*CosineSimilarity"):
        read_compare_csv(FIXTURES / "missing_column.csv")
    with pytest.raises(MsitCsvError, match="no such file"):
        read_compare_csv(tmp_path / "nope.csv")
    header = (FIXTURES / "vdsr_om_vs_onnx.csv").read_text().splitlines()[0]
    short = tmp_path / "short.csv"
    short.write_text(header + "\n1,Conv2D,Conv_0\n")
    with pytest.raises(MsitCsvError, match=r"short.csv:2: 3 fields"):
        read_compare_csv(short)
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\n1,Conv2D,C,float16,NaN,C,float32,C:output:0,[1],NO,abc,0,0,0,0,x,0,0,0,0,\n")
    with pytest.raises(MsitCsvError, match="CosineSimilarity.*'abc' is not a number"):
        read_compare_csv(bad)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MsitCsvError, match="not UTF-8"):
        read_compare_csv(binary)


def test_cli_prints_the_card_table(capsys):
    from srharness.cli import main
    assert main(["diagnose", "--msit-csv", str(FIXTURES / "vdsr_om_vs_onnx.csv")]) == 0
    out = capsys.readouterr().out
    assert "Conv_4Relu_5" in out and "<== first divergent" in out
    assert main(["diagnose", "--msit-csv", str(FIXTURES / "missing_column.csv")]) == 2


# ---------------------------------------------------------------- Node_Output row, msprobe (issues 18, 21)
def test_node_output_row_is_not_an_operator():
    """msit and msprobe end with a `Node_Output` row of dump file paths: never a node, never a
    keep-dtype candidate (today the output file's path was one)."""
    r = read_compare_csv(FIXTURES / "vdsr_om_vs_onnx_node_output.csv")
    assert "Node_Output" not in {n["node"] for n in r["nodes"]}
    assert r["keep_dtype_candidates"] == ["Add_9", "Conv_4", "Conv_6", "Conv_8", "Relu_5", "Relu_7"]
    assert r["tool"] == "msit"


def test_msprobe_offline_model_gives_the_same_table():
    msit = read_compare_csv(FIXTURES / "vdsr_om_vs_onnx.csv")
    probe = read_compare_csv(FIXTURES / "vdsr_msprobe_offline_model.csv")
    assert probe["tool"] == "msprobe" and "IsOutputNode" in probe["format"]
    strip = lambda nodes: [{k: v for k, v in n.items() if k != "extra"} for n in nodes]
    assert strip(probe["nodes"]) == strip(msit["nodes"])
    assert probe["keep_dtype_candidates"] == msit["keep_dtype_candidates"]
    out = [n for n in probe["nodes"] if n["extra"].get("graph_output")]
    assert [n["node"] for n in out] == ["Add_9"] and out[0]["extra"]["is_output_node"]


def test_reader_columns_are_the_specs():
    import yaml

    from srharness.tools import msit
    spec = yaml.safe_load((FIXTURES.parent / "vendor_specs" / "compare_csv.yaml").read_text())
    assert tuple(spec["msit"]["required"]) == msit.REQUIRED
    assert set(msit.METRICS) <= set(spec["msit"]["columns"])
    assert tuple(spec["msprobe"]["adds"]) == msit.MSPROBE_COLUMNS
    assert spec["output_files_row"]["NPUDump"] == msit.OUTPUT_FILES_ROW
