"""The accelerator suites end to end against the fake vendor tools (fixtures/fake_tools), in a
subprocess, as CI runs them: they pass, and the command lines they built are the guides' ones
(printed, so CI logs show them). Without the fakes they skip with reasons; with --sr-require
they fail."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srharness.hardware import detect

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "fixtures" / "fake_tools"


def run_suite(args, tmp_path, *, fakes: bool, extra_env=None):
    log = tmp_path / "commands.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_XDIST"))}
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    if fakes:
        path.insert(0, str(FAKES))
        # The fakes compute outputs with onnxruntime on this host: compile at the models' small test shapes.
        env.update(SRHARNESS_HW_SHAPE="test", SRHARNESS_FAKE_TOOL_LOG=str(log))
    env["PATH"] = os.pathsep.join(path)
    env["SRHARNESS_LOCK_DIR"] = str(tmp_path / "locks")
    # One torch thread: on a shared 2-core CI box, torch's OpenMP spin-waits make RDN's forward
    # ~14x slower with 2 threads than with 1 (0.68 s vs 9.4 s at 24x24, load average 9).
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
                           "--basetemp", str(tmp_path / "basetemp"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    commands = [json.loads(l)["command"] for l in log.read_text().splitlines()] if log.exists() else []
    print(f"$ pytest {' '.join(args)}  (fakes: {fakes}) -> exit {proc.returncode}")
    print(proc.stdout[-4000:])
    print("command lines built:\n  " + "\n  ".join(commands))
    return proc, commands


@pytest.mark.parametrize("cann", ["7", "8"])
def test_ascend_rdn_with_fake_tools(tmp_path, cann):
    """Once per CANN generation: 8's atc may write <output>_linux_<arch>.om."""
    proc, commands = run_suite(["-m", "ascend", "suites/rdn"], tmp_path, fakes=True,
                               extra_env={"SRHARNESS_FAKE_ATC_OM_SUFFIX": "1" if cann == "8" else "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    # the run's identity (srharness.report.history) probes every card at the end: not the suite's
    commands = [c for c in commands if not c.startswith("nvidia-smi")]
    tools = [c.split()[0] for c in commands]
    assert tools[-3:] == ["npu-smi", "atc", "benchmark"]
    atc, bench = commands[-2], commands[-1]
    for part in ("--framework=5", "/rdn_x2.onnx", "--input_format=NCHW", "--input_shape=image:1,3,24,24",
                 "--soc_version=Ascend310P3"):
        assert part in atc
    om = "/rdn_x2.om" if cann == "7" else "/rdn_x2_linux_"     # the .om atc wrote, whichever its name
    for part in ("-model_type=vision", "-device_id=0", "-batch_size=1", om, "-input_text_path=",
                 "-input_width=24", "-input_height=24", "-output_binary=False", "-useDvpp=False"):
        assert part in bench
    # The guide's floor, judged on the replayed seed perf file: 7.39423 x 4 = 29.577 > 25.393.
    assert "29.5769" in proc.stdout and "25.393" in proc.stdout


def test_vacc_rcan_with_fake_tools(tmp_path):
    proc, commands = run_suite(["-m", "vacc", "suites/rcan"], tmp_path, fakes=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
    commands = [c for c in commands if c.startswith(("vamc", "vamp"))]   # not the identity's card probes
    assert [c.split()[:2] for c in commands] == [["vamc", "compile"], ["vamp", "-m"], ["vamp", "-m"]] * 2
    sr4k_acc, sr4k_perf = commands[1], commands[2]
    assert "-i 1 -p 1 -b 1 -s '[3,32,32]' --datalist" in sr4k_acc and "--path_output" in sr4k_acc
    assert sr4k_perf.endswith("-i 8 -p 8 -b 1 -s '[3,32,32]'")      # the guide's 8-instance run
    assert "20.9133" in proc.stdout and "36.1415" in proc.stdout


def _shared_data() -> Path | None:
    value = os.environ.get("SRHARNESS_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    return Path(value) if (Path(value) / "weights" / "vdsr").is_dir() else None


@pytest.mark.slow
def test_vacc_vdsr_task_accuracy_with_fake_tools(tmp_path):
    """`pytest -m vacc suites/vdsr` with the official weights and Set5: beside the agreement and
    perf checks, vamp's fp16 and int8 (kl_divergence) task accuracy under the guide's protocol
    (vdsr-vacc, 1x1x256x256) judged against the guide's 30.956 / 30.219 with its 1% rule."""
    data = _shared_data()
    if data is None:
        pytest.skip("needs the shared data with the official VDSR weights (SRHARNESS_DATA_DIR)")
    summary = tmp_path / "summary.json"
    proc, commands = run_suite(["-m", "vacc", "suites/vdsr", "--sr-summary-json", str(summary)], tmp_path,
                               fakes=True, extra_env={"SRHARNESS_DATA_DIR": str(data)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = {v["golden_id"]: v for v in json.loads(summary.read_text())["verdicts"] if v.get("golden_id")}
    fp16, int8 = verdicts["vdsr/x4/set5/psnr/vacc-fp16"], verdicts["vdsr/x4/set5/psnr/vacc-int8-kl"]
    for v in (fp16, int8):
        print(f"{v['golden_id']}: {v['measured']:.4f} dB vs {v['golden']} -> {v['verdict']} ({v['notes']})")
        assert v["protocol"] == "vdsr-vacc" and v["conditions"]["shape"] == [1, 1, 256, 256]
        assert len(v["conditions"]["per_image"]) == 5
    assert fp16["verdict"] == "pass" and 30.6 < fp16["measured"] < 31.2
    # int8 is calibrated for real (the fake vamc quantizes with onnxruntime, TVM's KL search):
    # it lands within the guide's rule of the card's own 30.219 here.
    assert int8["verdict"] in ("pass", "expected-fail") and 29.5 < int8["measured"] < 31.2
    # the vsx runstream figures name a runtime srharness does not drive: not judged, with the reason
    assert verdicts["vdsr/x4/set5/psnr/vsx-runstream-fp16"]["verdict"] == "not-judged"
    builds = [c for c in commands if c.startswith("vamc compile")]
    assert len(builds) == 4          # agreement fp16/int8 at the test shape, figures fp16/int8 at 256x256
    # a one-channel model is fed 3 stacked Y planes, as the vendor's image2npz.py (vsx asserts c == 3)
    accuracy_runs = [c for c in commands if "-s '[3,256,256]' --datalist" in c]
    assert len(accuracy_runs) == 2


@pytest.mark.parametrize("trt", ["8.6", "10.16", "11.1"])
def test_cuda_srcnn_with_fake_trtexec(tmp_path, trt):
    """No GPU here: the fake nvidia-smi makes the cuda marker run, trtexec is the strict fake of one
    TensorRT version (its options from that tag's sampleOptions.cpp), and the torch-cuda check skips
    because torch.cuda is not available. The T4 figure records the version, the flags and the
    timing mode."""
    summary = tmp_path / "summary.json"
    proc, commands = run_suite(["-m", "cuda", "suites/srcnn", "--sr-summary-json", str(summary)], tmp_path,
                               fakes=True, extra_env={"SRHARNESS_FAKE_TRTEXEC_VERSION": trt})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 1 torch-cuda check of CudaChecks + the 17 GPU checks of srharness.checks.gpu skip without torch.cuda
    assert "2 passed, 18 skipped" in proc.stdout and "torch.cuda is not available" in proc.stdout
    build = next(c for c in commands if c.startswith("trtexec --onnx="))
    infer = next(c for c in commands if c.startswith("trtexec --loadEngine=") and "--loadInputs" in c)
    if trt == "11.1":    # no --fp16 in TensorRT 11: the fp16 ONNX (float32 IO kept) carries the precision
        assert "/srcnn_x2.fp16.onnx --saveEngine=" in build and "--fp16" not in build
    else:
        assert "/srcnn_x2.onnx --fp16 --saveEngine=" in build
    assert "--shapes" not in build          # a static-shape ONNX takes no --shapes
    assert "--loadInputs=input.1:" in infer and "--exportOutput=" in infer
    fps = next(v for v in json.loads(summary.read_text())["verdicts"]
               if v["metric"] == "fps" and v["backend"] == "tensorrt")
    cond = fps["conditions"]
    assert cond["tensorrt"] == {"8.6": "8.6.1", "10.16": "10.16.0", "11.1": "11.1.0"}[trt]
    assert cond["trtexec_flags"] == ([] if trt == "11.1" else ["--fp16"])
    assert cond["timing_mode"]["cuda_graph"] is (trt == "11.1")


# Both accelerators in one pytest run per check (each run is ~5 CPU-s of start-up and collection).
NO_TOOLS = {"ascend": "suites/rdn", "vacc": "suites/rcan"}


def absent_hardware():
    absent = {m: s for m, s in NO_TOOLS.items() if not detect(m).present}
    if not absent:
        pytest.skip(f"{', '.join(NO_TOOLS)} hardware present on this machine")
    return absent


def test_without_tools_the_suites_skip_with_reasons(tmp_path):
    absent = absent_hardware()
    proc, _ = run_suite(["-m", " or ".join(absent), *absent.values()], tmp_path, fakes=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped" in proc.stdout and "passed" not in proc.stdout
    for marker in absent:                   # each hardware's tests skip, naming it
        assert f"{marker} hardware not found (looked for" in proc.stdout, marker


def test_required_hardware_missing_fails(tmp_path):
    absent = absent_hardware()
    proc, _ = run_suite(["-m", " or ".join(absent), *absent.values(), "--sr-require", ",".join(absent)],
                        tmp_path, fakes=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "required hardware missing" in out
    for marker in absent:                   # every missing one is named, not only the first
        assert f"{marker} hardware not found" in out, (marker, out)
