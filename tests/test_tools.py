"""Vendor command lines and files (atc, benchmark, vamc YAML, vdsp JSON, npz + datalist, vamp,
trtexec), the process wrapper's timeouts and failures, and the runners against the fake tools."""
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from srharness.tools import ascend, tensorrt, vacc
from srharness.tools.logs import LogParseError
from srharness.tools.process import ToolError, run_tool

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "fixtures" / "fake_tools"


@pytest.fixture
def fake_path(monkeypatch, tmp_path):
    """The fake tools first on PATH (and this interpreter for their shebang); their command log."""
    log = tmp_path / "commands.jsonl"
    monkeypatch.setenv("PATH", os.pathsep.join([str(FAKES), str(Path(sys.executable).parent), os.environ["PATH"]]))
    monkeypatch.setenv("SRHARNESS_FAKE_TOOL_LOG", str(log))
    return log


# ---------------------------------------------------------------- Ascend
def test_atc_argv_as_the_rdn_guide():
    cfg = ascend.AtcConfig(onnx=Path("rdn_x2.onnx"), output=Path("rdn_x2_bs1"), input_name="image",
                           input_shape=(1, 3, 114, 114), soc_version="Ascend310")
    assert ascend.atc_argv(cfg) == ["atc", "--framework=5", "--model=rdn_x2.onnx", "--output=rdn_x2_bs1",
                                    "--input_format=NCHW", "--input_shape=image:1,3,114,114", "--log=error",
                                    "--soc_version=Ascend310"]
    assert cfg.effective_precision_mode == "force_fp16"
    cfg.precision_mode = "allow_mix_precision"
    assert ascend.atc_argv(cfg)[-1] == "--precision_mode=allow_mix_precision"


def test_benchmark_argv_as_the_srcnn_guide():
    argv = ascend.benchmark_argv("benchmark", Path("./srcnn_x2.om"), Path("./srcnn_prep_bin.info"), 256, 256)
    assert argv == ["benchmark", "-model_type=vision", "-device_id=0", "-batch_size=1", "-om_path=srcnn_x2.om",
                    "-input_text_path=srcnn_prep_bin.info", "-input_width=256", "-input_height=256",
                    "-output_binary=False", "-useDvpp=False"]


def test_bin_and_info_files(tmp_path):
    xs = [np.full((1, 1, 4, 6), i, np.float32) for i in range(3)]
    bins = ascend.write_bin_inputs(xs, ["woman", "bird", "head"], tmp_path / "bin")
    assert np.fromfile(bins[1], np.float32).tolist() == [1.0] * 24
    info = ascend.write_info(bins, tmp_path / "x.info", 6, 4).read_text().splitlines()
    assert info[0] == f"0 {bins[0].resolve()} 6 4" and info[2].startswith("2 ") and len(info) == 3
    with pytest.raises(ValueError, match="must not contain '_'"):
        ascend.write_bin_inputs(xs[:1], ["baby_GT"], tmp_path / "bin")


def test_dump_outputs_matched_by_stem(tmp_path):
    dump = tmp_path / "result" / "dumpOutput_device0"
    dump.mkdir(parents=True)
    np.savetxt(dump / "bird_1.txt", np.arange(4).reshape(1, 4))
    np.savetxt(dump / "woman_1.txt", np.arange(4, 8).reshape(1, 4))
    a, b = ascend.read_dump_outputs(tmp_path, ["woman", "bird"], (1, 1, 2, 2))
    assert a.ravel().tolist() == [4, 5, 6, 7] and b.ravel().tolist() == [0, 1, 2, 3]
    with pytest.raises(LogParseError, match="expected one output head_<k>.txt"):
        ascend.read_dump_outputs(tmp_path, ["head"], (1, 1, 2, 2))
    with pytest.raises(LogParseError, match="4 values, expected 8"):
        ascend.read_dump_outputs(tmp_path, ["bird"], (1, 2, 2, 2))


# ---------------------------------------------------------------- VastAI
def test_vamc_yaml_int8_kl(tmp_path):
    cfg = vacc.VamcConfig(name="vdsr-int8", onnx=Path("/m/vdsr.onnx"), input_shape=[1, 1, 256, 256], dtype="int8",
                          calibrate_mode="kl_divergence", dataset_path=tmp_path, process_ops=vacc.process_ops_y(256, 256))
    doc = yaml.safe_load(vacc.write_yaml(vacc.vamc_yaml(cfg), tmp_path / "c.yaml").read_text())
    assert doc["frontend"] == {"shape": {"input": [1, 1, 256, 256]}, "type": "onnx", "checkpoint": "/m/vdsr.onnx", "dtype": "fp32"}
    # the vendor writes `norm_type: None` (the string) in official_vdsr.yaml, not YAML null
    assert {"type": "Normalize", "norm_type": "None"} in doc["dataset"]["process_ops"]
    assert "norm_type: None" in (tmp_path / "c.yaml").read_text()
    assert doc["backend"]["type"] == "tvm_vacc" and doc["backend"]["dtype"] == "int8"
    assert doc["backend"]["quantize"] == {"calibrate_mode": "kl_divergence", "quantize_per_channel": True}
    assert doc["dataset"]["sampler"] == {"suffix": "png", "get_data_num": 5}
    assert [op["type"] for op in doc["dataset"]["process_ops"]] == ["DecodeImage", "CvtColor", "Resize", "ChannelSplit",
                                                                    "Normalize", "ToTensor"]
    assert cfg.model_prefix == Path("deploy_weights/vdsr-int8/mod")


def test_vamc_yaml_fp16_has_no_dataset():
    doc = vacc.vamc_yaml(vacc.VamcConfig(name="r", onnx=Path("r.onnx"), input_shape=[1, 3, 1080, 1920]))
    assert "dataset" not in doc and "quantize" not in doc["backend"]


@pytest.mark.parametrize("kw, msg", [({"dtype": "int4"}, "dtype"), ({"dtype": "int8", "dataset_path": Path(".")},
                                      None), ({"dtype": "int8"}, "calibration"),
                                     ({"dtype": "int8", "calibrate_mode": "mse", "dataset_path": Path(".")}, "calibrate_mode")])
def test_vamc_config_validation(kw, msg):
    if msg is None:
        vacc.VamcConfig(name="x", onnx=Path("x.onnx"), input_shape=[1, 3, 8, 8], **kw)
        return
    with pytest.raises(ValueError, match=msg):
        vacc.VamcConfig(name="x", onnx=Path("x.onnx"), input_shape=[1, 3, 8, 8], **kw)


def test_npz_inputs_and_datalist_keep_one_order(tmp_path):
    names = ["woman", "baby", "head"]          # deliberately not sorted
    arrays = [np.full((3, 4, 4), i, np.uint8) for i in range(3)]
    paths = vacc.write_npz_inputs(arrays, names, tmp_path / "npz", tmp_path / "npz_datalist.txt")
    listed = (tmp_path / "npz_datalist.txt").read_text().splitlines()
    assert listed == [str(p) for p in paths] == sorted(listed)      # datalist order == sorted order
    assert np.load(listed[1])["input_0"].dtype == np.uint8 and np.load(listed[1])["input_0"][0, 0, 0] == 1
    with pytest.raises(ValueError, match="uint8 CHW"):
        vacc.write_npz_inputs([np.zeros((3, 4, 4), np.float32)], ["x"], tmp_path / "npz", tmp_path / "d.txt")


def test_npz_outputs_paired_by_name_not_order(tmp_path):
    inputs = [tmp_path / "000000-woman.npz", tmp_path / "000001-baby.npz"]
    out = tmp_path / "out"
    out.mkdir()
    np.savez(out / "000001-baby_output.npz", output_0=np.ones(2))
    np.savez(out / "000000-woman_output.npz", output_0=np.zeros(2))
    woman, baby = vacc.read_npz_outputs(out, inputs)
    assert woman.tolist() == [0, 0] and baby.tolist() == [1, 1]
    np.savez(out / "extra.npz", other=np.ones(1))
    with pytest.raises(LogParseError, match="expected one output for input 000002-head"):
        vacc.read_npz_outputs(out, [tmp_path / "000002-head.npz"])


def test_vamp_argv_perf_and_accuracy():
    perf = vacc.vamp_argv(Path("deploy_weights/rcan/mod"), Path("p.json"), [3, 1080, 1920], instances=8, processes=8)
    assert perf == ["vamp", "-m", "deploy_weights/rcan/mod", "--vdsp_params", "p.json", "-i", "8", "-p", "8",
                    "-b", "1", "-s", "[3,1080,1920]"]
    acc = vacc.vamp_argv(Path("m"), Path("p.json"), [3, 8, 8], datalist=Path("npz_datalist.txt"), path_output=Path("o"))
    assert acc[-4:] == ["--datalist", "npz_datalist.txt", "--path_output", "o"]
    with pytest.raises(ValueError):
        vacc.vamp_argv(Path("m"), Path("p.json"), [3, 8, 8], datalist=Path("d"))


def test_vdsp_params():
    op = vacc.vdsp_params(1920, 1080)
    assert op["OpType"] == "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR"
    assert op["OpConfig"]["IimageFormat"] == "RGB_PLANAR" and op["OpConfig"]["OimageHeight"] == 1080
    assert op["OpConfig"]["NormaType"] == "DIV255_MINUSMEAN_DIVSTD"
    assert vacc.vdsp_params(8, 8, div255=False)["OpConfig"]["NormaType"] == "MINUSMEAN_DIVSTD"


# ---------------------------------------------------------------- VastAI: against the vendor's own files
VENDOR = ROOT / "fixtures" / "vendor_specs" / "vastai"


def _structure(obj, path=""):
    """{key path: type name} of a JSON/YAML document (lists by their item type)."""
    if isinstance(obj, dict):
        out = {path: "object"}
        for k, v in obj.items():
            out.update(_structure(v, f"{path}/{k}"))
        return out
    if isinstance(obj, list):
        return {path: "list", **{p: t for item in obj[:1] for p, t in _structure(item, f"{path}[]").items()}}
    return {path: "number" if isinstance(obj, (int, float)) and not isinstance(obj, bool) else type(obj).__name__}


@pytest.mark.parametrize("vendor_file, width, height, div255", [
    ("official-vdsr-vdsp_params.json", 256, 256, True), ("basicsr-rcan-vdsp_params.json", 1920, 1080, True)])
def test_vdsp_params_has_the_vendors_shape(vendor_file, width, height, div255):
    """Structural diff against the vendor's own vdsp JSON: same keys, same order, same value types
    (today's wrapper {"vdsp_op": [...]} appears in none of VastModelZOO's 768 files)."""
    import jsonschema
    ours = vacc.vdsp_params(width, height, div255=div255)
    theirs = json.loads((VENDOR / vendor_file).read_text())
    assert _structure(ours) == _structure(theirs)
    assert list(ours["OpConfig"]) == list(theirs["OpConfig"])
    jsonschema.validate(ours, json.loads((VENDOR / "vdsp_params.schema.json").read_text()))


def test_vamc_yaml_has_the_vendors_shape(tmp_path):
    """Structural diff against official_vdsr.yaml, frontend.shape keyed by the model's input name."""
    import jsonschema
    cfg = vacc.VamcConfig(name="official_vdsr_int8", onnx=Path("/m/vdsr.onnx"), input_shape=[1, 1, 256, 256],
                          input_name="input.1", dtype="int8", calibrate_mode="kl_divergence", dataset_path=tmp_path,
                          process_ops=vacc.process_ops_y(256, 256))
    ours = yaml.safe_load(vacc.write_yaml(vacc.vamc_yaml(cfg), tmp_path / "c.yaml").read_text())
    theirs = yaml.safe_load((VENDOR / "official_vdsr.yaml").read_text())
    assert ours["frontend"]["shape"] == {"input.1": [1, 1, 256, 256]}
    ours["frontend"]["shape"] = {"input": ours["frontend"]["shape"]["input.1"]}   # the vendor's model names it so
    assert _structure(ours) == _structure(theirs)
    assert ours["dataset"]["process_ops"] == theirs["dataset"]["process_ops"]
    jsonschema.validate(ours, json.loads((VENDOR / "vamc.schema.json").read_text()))


def test_one_channel_inputs_are_stacked_to_three_planes(tmp_path):
    """As the vendor's image2npz.py: np.stack((y, y, y)); vamp's -s is [3,H,W]."""
    y = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
    (path,) = vacc.write_npz_inputs([y], ["baby"], tmp_path / "npz", tmp_path / "d.txt")
    planes = np.load(path)["input_0"]
    assert planes.shape == (3, 4, 4) and all(np.array_equal(p, y[0]) for p in planes)
    assert vacc.vamp_chw((1, 256, 256)) == (3, 256, 256) == vacc.vamp_chw((3, 256, 256))
    with pytest.raises(ValueError, match="4 input channels"):
        vacc.vamp_chw((4, 8, 8))


@pytest.fixture(scope="module")
def y256_onnx(tmp_path_factory):
    """A one-channel model at the vendor VDSR files' 256x256, its input named `input` as theirs."""
    from srharness.export import export_onnx
    return export_onnx("srcnn", tmp_path_factory.mktemp("onnx") / "y256.onnx", shape=(256, 256),
                       input_name="input").path


def _vendor_npz(tmp_path, images):
    """The vendor's own image2npz.py run on BMP files: 3 stacked Y planes, an absolute datalist."""
    import cv2
    src = tmp_path / "bmp"
    src.mkdir()
    for i, img in enumerate(images):
        cv2.imwrite(str(src / f"img{i}.bmp"), img)
    import subprocess
    subprocess.run([sys.executable, str(VENDOR / "image2npz.py"), "--dataset_path", str(src), "--target_path",
                    str(tmp_path / "npz"), "--text_path", str(tmp_path / "npz_datalist.txt")], check=True,
                   capture_output=True)
    return src, tmp_path / "npz_datalist.txt"


def _deploy(onnx_path, folder):
    import shutil
    folder.mkdir(parents=True)
    shutil.copyfile(onnx_path, folder / "mod.onnx")
    return folder / "mod"


def test_fake_vamp_runs_the_vendors_own_vdsr_files(fake_path, tmp_path, y256_onnx):
    """official-vdsr-vdsp_params.json unchanged (NormaType DIV255: /255, its ImageNet Mean/Std unused)
    and image2npz.py's npz: the fake feeds the model Y/255 and writes output_0."""
    images = [(np.random.default_rng(i).random((256, 256, 3)) * 255).astype(np.uint8) for i in range(2)]
    _, datalist = _vendor_npz(tmp_path, images)
    mod = _deploy(y256_onnx, tmp_path / "deploy_weights" / "official_vdsr_int8")
    run_tool(["vamp", "-m", str(mod), "--vdsp_params", str(VENDOR / "official-vdsr-vdsp_params.json"), "-i", "1",
              "-p", "1", "-b", "1", "-s", "[3,256,256]", "--datalist", str(datalist), "--path_output",
              str(tmp_path / "out")], log_dir=tmp_path, timeout=120)
    import cv2
    for line in datalist.read_text().splitlines():
        npz = Path(line)
        y_plane = np.load(npz)["input_0"][0]
        ref = cv2.cvtColor(cv2.imread(str(tmp_path / "bmp" / (npz.stem + ".bmp"))), cv2.COLOR_BGR2YCrCb)[..., 0]
        assert np.array_equal(y_plane, ref)
        out = np.load(tmp_path / "out" / f"{npz.stem}_output.npz")["output_0"]
        np.testing.assert_allclose(out, _torch_y256(y_plane.astype(np.float32)[None, None] / 255), atol=1e-5)


def _torch_y256(x):
    import torch

    from srharness.models import build_model
    with torch.inference_mode():
        return build_model("srcnn", 2)(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("edit, message", [
    (lambda d: {"vdsp_op": [d]}, "OpType. is a required"),                      # today's invented wrapper
    (lambda d: {**d, "OpConfig": {**d["OpConfig"], "IimageFormat": "GRAY"}}, "GRAY"),
    (lambda d: {**d, "OpConfig": {**d["OpConfig"], "NormaType": "DIV256"}}, "DIV256"),
    (lambda d: {**d, "OpConfig": {**d["OpConfig"], "OimageWidthPitch": 256}}, "OimageWidthPitch"),
    (lambda d: {"OpType": d["OpType"]}, "OpConfig"),
])
def test_fake_vamp_refuses_a_malformed_vdsp_json(fake_path, tmp_path, y256_onnx, edit, message):
    vendor = json.loads((VENDOR / "official-vdsr-vdsp_params.json").read_text())
    bad = tmp_path / "bad-vdsp_params.json"
    bad.write_text(json.dumps(edit(vendor)))
    mod = _deploy(y256_onnx, tmp_path / "d" / "m")
    with pytest.raises(ToolError, match=rf"(?s)vamp: exited with status 1.*{bad.name}: invalid.*{message}"):
        run_tool(["vamp", "-m", str(mod), "--vdsp_params", str(bad), "-i", "1", "-p", "1", "-b", "1",
                  "-s", "[3,256,256]"], log_dir=tmp_path, timeout=60)


def test_fake_vamp_refuses_one_plane_for_rgb_planar(fake_path, tmp_path, y256_onnx):
    mod = _deploy(y256_onnx, tmp_path / "d" / "m")
    with pytest.raises(ToolError, match="RGB_PLANAR takes 3 planes"):
        run_tool(["vamp", "-m", str(mod), "--vdsp_params", str(VENDOR / "official-vdsr-vdsp_params.json"),
                  "-i", "1", "-p", "1", "-b", "1", "-s", "[1,256,256]"], log_dir=tmp_path, timeout=60)


def _vendor_yaml(tmp_path, onnx_path, images_dir, **changes):
    """official_vdsr.yaml with only its /path/to placeholders pointed at real files."""
    text = (VENDOR / "official_vdsr.yaml").read_text()
    text = text.replace("/path/to/vdsr-256.onnx", str(onnx_path)).replace("/path/to/sr/Set5_BMP/scale_4",
                                                                          str(images_dir))
    for old, new in changes.items():
        text = text.replace(old, new)
    path = tmp_path / "official_vdsr.yaml"
    path.write_text(text)
    return path


def test_fake_vamc_builds_the_vendors_own_vdsr_yaml(fake_path, tmp_path, y256_onnx):
    images = [(np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8) for i in range(2)]
    src, _ = _vendor_npz(tmp_path, images)
    path = _vendor_yaml(tmp_path, y256_onnx, src)
    run_tool(["vamc", "compile", path.name], log_dir=tmp_path, timeout=300, cwd=tmp_path)
    assert (tmp_path / "deploy_weights" / "official_vdsr_int8" / "mod.onnx").is_file()


@pytest.mark.parametrize("old, new, message", [
    ("    input:\n", "    image:\n", "frontend.shape keys ['image'] are not the model's input names"),
    ("calibrate_mode: kl_divergence", "calibrate_mode: entropy", "entropy"),
    ("type: tvm_vacc", "type: tvm", "tvm_vacc"),
    ("- type: ChannelSplit", "- type: ChannelPick", "ChannelPick"),
])
def test_fake_vamc_refuses_a_malformed_yaml(fake_path, tmp_path, y256_onnx, old, new, message):
    path = _vendor_yaml(tmp_path, y256_onnx, tmp_path, **{old.replace("\\n", "\n"): new.replace("\\n", "\n")})
    assert new.strip() in path.read_text()
    with pytest.raises(ToolError, match=re.escape(message)):
        run_tool(["vamc", "compile", path.name], log_dir=tmp_path, timeout=120, cwd=tmp_path)


# ---------------------------------------------------------------- TensorRT
def test_trtexec_argv_as_the_guides():
    argv = tensorrt.trtexec_build_argv(Path("rdn_x2.onnx"), Path("rdn.engine"), precision="fp16", input_name="image",
                                       input_shape=(1, 3, 114, 114), dynamic=True)
    assert argv == ["trtexec", "--onnx=rdn_x2.onnx", "--fp16", "--shapes=image:1x3x114x114", "--saveEngine=rdn.engine"]
    static = tensorrt.trtexec_build_argv(Path("s.onnx"), Path("s.engine"), precision="fp32", input_name="input.1",
                                         input_shape=(1, 1, 256, 256), dynamic=False)
    assert static == ["trtexec", "--onnx=s.onnx", "--noTF32", "--saveEngine=s.engine"]   # TF32 is on by default


TRT_SPECS = ROOT / "fixtures" / "vendor_specs"


@pytest.mark.parametrize("version", ["8.6", "10.16", "11.1"])
def test_every_trtexec_flag_srharness_sends_is_an_option_of_that_version(version):
    """The command lines, checked against the options sampleOptions.cpp parses at that tag."""
    spec = yaml.safe_load((TRT_SPECS / f"trtexec-{version}.yaml").read_text())
    v = tuple(int(d) for d in spec["version"].split("."))
    assert tensorrt.parse_version(spec["banner"]) == v
    options = set(spec["options"])
    for precision in ("fp32", "fp16"):
        argv = tensorrt.trtexec_build_argv(Path("m.onnx"), Path("m.engine"), precision=precision, input_name="x",
                                           input_shape=(1, 3, 8, 8), dynamic=True, version=v)
        argv += tensorrt.trtexec_infer_argv(Path("m.engine"), input_name="x", input_shape=(1, 3, 8, 8), dynamic=True,
                                            input_file=Path("i.bin"), output_json=Path("o.json"))[1:]
        assert {a.partition("=")[0] for a in argv[1:]} <= options, argv
        assert ("--noTF32" in argv) == (precision == "fp32")
    assert ("--fp16" in options) == (v < (11, 0))
    if v >= (11, 0):
        with pytest.raises(ValueError, match="no --int8: engines are strongly typed"):
            tensorrt.precision_flags("int8", v)
        assert tensorrt.timing_mode(v) == {"cuda_graph": True, "spin_wait": True, "data_transfers": False}
    else:
        assert tensorrt.timing_mode(v) == {"cuda_graph": False, "spin_wait": False, "data_transfers": True}


@pytest.mark.parametrize("banner, version", [("&&&& RUNNING TensorRT.trtexec [TensorRT v7203] # trtexec", (7, 2, 3)),
                                             ("[TensorRT v8601]", (8, 6, 1)), ("[TensorRT v101600] [b72]", (10, 16, 0)),
                                             ("[TensorRT v110100] [b106]", (11, 1, 0)), ("no banner", None)])
def test_trtexec_banner_version(banner, version):
    assert tensorrt.parse_version(banner) == version


def test_fake_trtexec_11_refuses_fp16_as_the_real_one(fake_path, tmp_path, srcnn_onnx, monkeypatch):
    monkeypatch.setenv("SRHARNESS_FAKE_TRTEXEC_VERSION", "11.1")
    with pytest.raises(ToolError, match=r"(?s)exited with status 1.*\[E\] Unknown option: --fp16"):
        run_tool(["trtexec", f"--onnx={srcnn_onnx}", "--fp16"], log_dir=tmp_path, timeout=60)
    monkeypatch.setenv("SRHARNESS_FAKE_TRTEXEC_VERSION", "10.16")
    assert "TensorRT v101600" in run_tool(["trtexec", f"--onnx={srcnn_onnx}", "--fp16"], log_dir=tmp_path,
                                          timeout=60).output


# ---------------------------------------------------------------- process
def test_run_tool_keeps_the_full_log(tmp_path):
    r = run_tool([sys.executable, "-c", "print('hello'); import sys; print('warn', file=sys.stderr)"],
                 log_dir=tmp_path, timeout=30, log_name="py")
    assert "hello" in r.output and "warn" in r.output
    assert r.log_path == tmp_path / "py.log" and r.log_path.read_text().startswith("$ ")
    r2 = run_tool([sys.executable, "-c", "pass"], log_dir=tmp_path, timeout=30, log_name="py")
    assert r2.log_path == tmp_path / "py.2.log"          # no log is overwritten


def test_run_tool_failure_carries_the_last_lines(tmp_path):
    script = "import sys\nfor i in range(50): print('line', i)\nsys.exit(3)"
    with pytest.raises(ToolError) as err:
        run_tool([sys.executable, "-c", script], log_dir=tmp_path, timeout=30)
    msg = str(err.value)
    assert "exited with status 3" in msg and "line 49" in msg and "line 5\n" not in msg
    assert "command:" in msg and err.value.log_path.is_file()


def test_run_tool_timeout(tmp_path):
    with pytest.raises(ToolError, match=r"timed out after 0.5 s") as err:
        run_tool([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"],
                 log_dir=tmp_path, timeout=0.5)
    assert "started" in err.value.tail


def test_run_tool_missing(tmp_path):
    with pytest.raises(ToolError, match="atc-that-does-not-exist: not found on PATH"):
        run_tool(["atc-that-does-not-exist"], log_dir=tmp_path, timeout=5)


# ---------------------------------------------------------------- runners against the fake tools
@pytest.fixture(scope="module")
def srcnn_onnx(tmp_path_factory):
    from srharness.export import export_onnx
    return export_onnx("srcnn", tmp_path_factory.mktemp("onnx") / "srcnn_x2.onnx", shape=(16, 16)).path


def _torch(x):
    import torch

    from srharness.models import build_model
    with torch.inference_mode():
        return build_model("srcnn", 2)(torch.from_numpy(x)).numpy()


def test_ascend_runner_with_fakes(fake_path, tmp_path, srcnn_onnx):
    from srharness.runners.ascend import AscendRunner
    x = np.random.default_rng(0).random((1, 1, 16, 16), dtype=np.float32)
    r = AscendRunner(srcnn_onnx, input_name="input.1", input_shape=(1, 1, 16, 16), output_shape=(1, 1, 16, 16),
                     workdir=tmp_path / "w", use_ais_bench=False)
    y = r.run(x)
    np.testing.assert_allclose(y, _torch(x), atol=1e-5)
    info = r.describe()
    assert info.details["soc_version"] == "Ascend310P3" and info.details["precision_mode"] == "force_fp16"
    assert r.last_perf.interface_throughput == 348.038
    assert [c.split()[0] for c in info.details["commands"]] == ["npu-smi", "atc", "benchmark"]


def test_ascend_runner_reports_tool_failure(fake_path, tmp_path, srcnn_onnx, monkeypatch):
    from srharness.runners.ascend import AscendRunner
    monkeypatch.setenv("SRHARNESS_FAKE_FAIL", "atc")
    r = AscendRunner(srcnn_onnx, input_name="input.1", input_shape=(1, 1, 16, 16), output_shape=(1, 1, 16, 16),
                     workdir=tmp_path / "w", use_ais_bench=False)
    with pytest.raises(ToolError, match=r"(?s)atc: exited with status 1.*--framework=5.*simulated failure"):
        r.build()


def test_vacc_runner_with_fakes(fake_path, tmp_path, srcnn_onnx):
    from srharness.runners.vacc import VaccRunner
    x = (np.random.default_rng(1).random((1, 1, 16, 16)) * 255).round().astype(np.uint8)
    r = VaccRunner(srcnn_onnx, name="srcnn-int8", input_shape=(1, 1, 16, 16), output_shape=(1, 1, 16, 16),
                   workdir=tmp_path / "w", input_range=1.0, dtype="int8", calibrate_mode="kl_divergence",
                   calibration_images=[x[0, 0]])
    y = r.run(x)
    ref = _torch(x.astype(np.float32) / 255)
    # The fake vamc really quantizes (onnxruntime QDQ, KL calibration): int8 agrees with torch
    # within an int8 agreement floor, and is not the fp32 output (the quantizer did run).
    from srharness.metrics import psnr
    assert psnr(y[0, 0].astype(np.float64), ref[0, 0].astype(np.float64), data_range=1.0) > 25.0
    assert np.abs(y - ref).max() > 1e-5
    assert r.perf().throughput_qps == 36.1415
    cfg = yaml.safe_load((tmp_path / "w" / "srcnn-int8.yaml").read_text())
    assert cfg["backend"]["quantize"]["calibrate_mode"] == "kl_divergence"
    assert len(list((tmp_path / "w" / "calibration").glob("*.png"))) == 1
    cmds = [json.loads(l)["command"] for l in fake_path.read_text().splitlines()]
    assert cmds[0] == "vamc compile srcnn-int8.yaml" and "--datalist" in cmds[1] and "--datalist" not in cmds[2]


@pytest.mark.parametrize("version", ["8.6", "10.16", "11.1"])
def test_tensorrt_runner_with_fakes(fake_path, tmp_path, srcnn_onnx, monkeypatch, version):
    """The strict fake of each TensorRT: the runner asks the version and sends what it accepts;
    the version and the flags come back with the figure."""
    from srharness.runners.tensorrt import TensorRTRunner
    monkeypatch.setenv("SRHARNESS_FAKE_TRTEXEC_VERSION", version)
    x = np.random.default_rng(2).random((1, 1, 16, 16), dtype=np.float32)
    r = TensorRTRunner(srcnn_onnx, input_name="input.1", input_shape=(1, 1, 16, 16), workdir=tmp_path / "w")
    y = r.run(x)
    np.testing.assert_allclose(y, _torch(x), atol=1e-5 if version != "11.1" else 2e-2)   # 11: the fp16 ONNX
    assert r.build_perf.gpu_compute_ms["mean"] == 0.859765 and r.build_perf.total_compute_s == 2.98597
    assert r.perf().fps(1) == pytest.approx(1163.108, abs=1e-3)
    info = r.describe().details
    cmds = info["commands"]
    assert cmds[0].startswith("trtexec --onnx=") and "--shapes" not in cmds[0]  # static input
    if version == "11.1":
        assert "--fp16" not in cmds[0] and ".fp16.onnx" in cmds[0] and info["trtexec_flags"] == []
        assert info["timing_mode"]["cuda_graph"] and not info["timing_mode"]["data_transfers"]
    else:
        assert "--fp16" in cmds[0] and info["trtexec_flags"] == ["--fp16"]
    assert info["tensorrt"] == {"8.6": "8.6.1", "10.16": "10.16.0", "11.1": "11.1.0"}[version]
    assert "--loadInputs=input.1:" in cmds[1] and "--exportOutput=" in cmds[1]


# ---------------------------------------------------------------- Ascend against CANN's own rules (issue 18)
@pytest.mark.parametrize("bad", ["/data/my model.onnx", "/data/x+y.onnx", "/home/~u/m.onnx"])
def test_atc_paths_outside_ges_charset_are_refused_before_atc(bad):
    from srharness.errors import UsageError
    cfg = ascend.AtcConfig(onnx=Path(bad), output=Path("/w/out"), input_name="x", input_shape=(1, 3, 8, 8),
                           soc_version="Ascend310P3")
    with pytest.raises(UsageError, match=r"atc --model=.*accepts only a-z A-Z 0-9 - \. _ /"):
        ascend.atc_argv(cfg)
    ok = ascend.AtcConfig(onnx=Path("/data/模型_v1-2.onnx"), output=Path("/w/out"), input_name="x",
                          input_shape=(1, 3, 8, 8), soc_version="Ascend310P3")
    assert ascend.atc_argv(ok)[2] == "--model=/data/模型_v1-2.onnx"


def test_fake_atc_refuses_such_a_path_as_ge_does(fake_path, tmp_path, srcnn_onnx):
    import shutil
    odd = tmp_path / "a b"
    odd.mkdir()
    shutil.copyfile(srcnn_onnx, odd / "m.onnx")
    with pytest.raises(ToolError, match="E10001"):
        run_tool(["atc", "--framework=5", f"--model={odd / 'm.onnx'}", f"--output={tmp_path / 'o'}",
                  "--input_format=NCHW", "--input_shape=input.1:1,1,16,16", "--soc_version=Ascend310P3"],
                 log_dir=tmp_path, timeout=60)


def test_ascend_runner_finds_the_linux_arch_om(fake_path, tmp_path, srcnn_onnx, monkeypatch):
    """CANN may write <output>_linux_<arch>.om; the runner takes it (today: 'wrote no .om')."""
    from srharness.runners.ascend import AscendRunner
    monkeypatch.setenv("SRHARNESS_FAKE_ATC_OM_SUFFIX", "1")
    r = AscendRunner(srcnn_onnx, input_name="input.1", input_shape=(1, 1, 16, 16), output_shape=(1, 1, 16, 16),
                     workdir=tmp_path / "w", use_ais_bench=False)
    x = np.random.default_rng(0).random((1, 1, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(r.run(x), _torch(x), atol=1e-5)
    assert r.om_path.name.startswith("srcnn_x2_linux_") and r.om_path.suffix == ".om"


def test_benchmark_binary_prefers_the_ascend_tool_over_a_bare_mindspore_benchmark(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lite = bin_dir / "benchmark"      # MindSpore Lite's usage: --modelFile, no -om_path
    lite.write_text("#!/bin/sh\necho 'Usage: benchmark --modelFile=<file> --inDataFile=<file>'\n")
    lite.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert ascend.find_benchmark_binary() is None
    import platform
    arch = bin_dir / f"benchmark.{platform.machine()}"
    arch.write_text("#!/bin/sh\nexit 0\n")
    arch.chmod(0o755)
    assert ascend.find_benchmark_binary() == arch.name


def test_force_fp32_is_not_labelled_fp32(tmp_path):
    from srharness.runners.ascend import AscendRunner
    label = lambda mode: AscendRunner(Path("m.onnx"), input_name="x", input_shape=(1, 1, 8, 8),
                                      output_shape=(1, 1, 8, 8), workdir=tmp_path, soc_version="Ascend310P3",
                                      precision_mode=mode, use_ais_bench=False).precision
    assert label("force_fp32") == "fp32-cube-fp16"
    assert label("must_keep_origin_dtype") == "fp32" and label(None) == "fp16"
