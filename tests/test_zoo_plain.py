"""srharness.zoo without the extra: clear errors naming it; the op profiles (data) and the
"will not compile on" rule, which need no spandrel."""
from __future__ import annotations

from pathlib import Path

import pytest

from srharness.zoo import available
from srharness.zoo.profiles import profiles, will_not_compile


def test_every_profile_op_has_a_source():
    found = profiles()
    assert {"ascend", "vacc", "tensorrt-8.4", "tensorrt-8.5", "tensorrt-10.0"} <= set(found)
    for hw, prof in found.items():
        assert prof["guide_opset_source"].strip(), hw
        for op in prof["ops"]:
            assert op["source"].strip() and op["why"].strip(), (hw, op)
    assert any(o["op"] == "DepthToSpace" for o in found["ascend"]["ops"])


def test_will_not_compile_reads_the_census_at_the_guide_opset():
    # PixelShuffle: Reshape/Transpose at opset 9, DepthToSpace from 11 (SPEC.md)
    censuses = {9: {"Conv": 3, "Reshape": 2, "Transpose": 1}, 11: {"Conv": 3, "DepthToSpace": 1},
                13: {"Conv": 3, "DepthToSpace": 1, "Mod": 1}}
    got = will_not_compile(censuses)
    assert "ascend" not in got            # the guide's opset-9 graph has no DepthToSpace
    assert "Mod at opset 13" in got["tensorrt-8.4"]      # TensorRT 8.4's matrix: Mod N, up to opset 13
    assert "tensorrt-10.0" not in got
    # TensorRT 8.5 parses opset 17 but marks LayerNormalization N (torch's opset-17 layer_norm); 8.6 and 10.0 do not
    got = will_not_compile({17: {"MatMul": 4, "LayerNormalization": 2}})
    assert "LayerNormalization at opset 17" in got["tensorrt-8.5"] and "7029da028fcd" in got["tensorrt-8.5"]
    assert "tensorrt-10.0" not in got and got["tensorrt-8.4"].startswith("no graph at opset <= 13")
    got = will_not_compile({11: {"DepthToSpace": 1}}, failed={9: "fails: Pad"})
    assert got["ascend"] == "no graph at opset <= 9 (fails: Pad)"
    assert got["vacc"].startswith("no graph at opset <= 9")
    # a DepthToSpace graph at the guide's opset itself is named with its source
    assert "DepthToSpace at opset 9" in will_not_compile({9: {"DepthToSpace": 1}})["ascend"]


@pytest.mark.skipif(available()[0], reason="the srharness[zoo] extra is installed here")
@pytest.mark.parametrize("argv", [["eval", "--weights", "w.pth"], ["deployability", "--only", "Compact"],
                                  ["export", "--weights", "w.pth", "-o", "x.onnx"]])
def test_without_the_extra_the_error_names_it(tmp_path, capsys, monkeypatch, argv):
    import torch

    from srharness.cli import main
    monkeypatch.chdir(tmp_path)
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "w.pth")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "srharness[zoo]" in err and "Traceback" not in err


def test_no_model_and_no_weights_is_a_usage_error(capsys):
    from srharness.cli import main
    assert main(["eval"]) == 2
    assert "give a MODEL name, or --weights CHECKPOINT" in capsys.readouterr().err


def _segfaulting_row(argv, log_file):
    """A row's process as judge runs it: writes its step to --stage-file, then dies of SIGSEGV."""
    import os
    import signal
    from pathlib import Path
    Path(argv[argv.index("--stage-file") + 1]).write_text("ONNX export at opset 9 (torch.jit trace)")
    os.kill(os.getpid(), signal.SIGSEGV)


def test_a_row_whose_process_crashes_is_not_judged_naming_its_step(tmp_path, monkeypatch):
    """A segfault in a row's process (GRL's tracer crash, before MIN_SIDE) ends that row only, as
    'not judged: <the step it had reached> crashed with SIGSEGV', from the stage file judge writes."""
    from srharness.zoo import table
    # the forked row unpickles this module's function by name: its sys.path (the parent's) needs the
    # clone's root, which pytest's importlib mode leaves out
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    row = table._run_row("GRL", None, tmp_path / "work", timeout=60, target=_segfaulting_row)
    assert row["verdict"] == "not judged"
    assert row["reason"].startswith("ONNX export at opset 9 (torch.jit trace) crashed with SIGSEGV"), row["reason"]


def test_an_op_outside_the_vendors_supported_list_is_marked_with_the_document():
    """ascend.yaml carries CANN 5.0.4.6's list of supported ONNX operators: an op of the guide-opset
    graph it does not name is marked (Einsum, Upsample), a listed one is not (names case-insensitive)."""
    got = will_not_compile({9: {"Conv": 2, "Relu": 1, "HardMax": 1, "Einsum": 1, "Upsample": 1}})
    assert "Einsum at opset 9 (not in the supported ONNX operator list" in got["ascend"]
    assert "Upsample at opset 9" in got["ascend"] and "canncommercial/5046" in got["ascend"]
    assert "Conv" not in got["ascend"] and "HardMax" not in got["ascend"]
    assert "ascend" not in will_not_compile({9: {"Conv": 2, "Relu": 1, "Reshape": 1, "Transpose": 1}})


def test_the_slowest_rows_start_first_and_rows_come_back_in_catalogue_order(monkeypatch, tmp_path):
    import srharness.zoo as zoo
    from srharness.zoo import table
    from srharness.zoo.catalogue import CATALOGUE, SLOWEST_FIRST
    started = []
    monkeypatch.setattr(zoo, "require_spandrel", lambda: None)
    monkeypatch.setattr(table, "_run_row", lambda name, *a: started.append(name) or {"arch": name})
    rows = table.build_table(None, workers=1, work_dir=tmp_path)
    assert tuple(started[:len(SLOWEST_FIRST)]) == SLOWEST_FIRST
    assert [r["arch"] for r in rows] == [e[0] for e in CATALOGUE]
