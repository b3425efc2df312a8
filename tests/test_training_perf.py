"""Training throughput options (issue 11) on the CPU: sampling with replacement so any batch runs on
any dataset, one DataLoader for the whole run, the no-per-step-sync path reading the same losses,
the profiler output, synthetic batches, and the CLI benchmark. Tiny models, few steps."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srharness.cli import main as cli_main
from srharness.training import TrainConfig, TrainingDataError, run_training
from srharness.training import trainer
from srharness.training.distributed import DistContext

TINY = dict(groups=1, blocks=1, features=16, batch=2, threads=1, device="cpu", warmup=1, log_every=2)


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):      # 1 x 3 tiles of 96 each: 6 tiles in all
        Image.fromarray(rng.integers(0, 256, (150, 300, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _ctx(rank=0, world=1):
    import torch
    return DistContext(rank=rank, local_rank=rank, world_size=world, device=torch.device("cpu"), backend="gloo")


def test_epoch_batches_of_one_loader_are_the_per_epoch_batches():
    ctx = _ctx()
    per_epoch = [b for e in range(3) for b in
                 [[(e, i) for i in batch] for batch in trainer.epoch_batches(10, e, ctx, 3, seed=5)]]
    assert list(trainer.StepBatches("epoch", 10, ctx, 3, 5, 0, 9)) == per_epoch
    assert list(trainer.StepBatches("epoch", 10, ctx, 3, 5, 4, 8)) == per_epoch[4:8]     # a resumed run


def test_replacement_sampling_any_batch_keyed_by_step_and_rank():
    ctx = _ctx()
    run = list(trainer.StepBatches("replacement", 6, ctx, 160, 0, 0, 5))
    assert len(run) == 5 and all(len(b) == 160 for b in run)
    assert all(0 <= i < 6 and key == step for step, b in enumerate(run) for key, i in b)
    assert list(trainer.StepBatches("replacement", 6, ctx, 160, 0, 3, 5)) == run[3:]
    other_rank = list(trainer.StepBatches("replacement", 6, _ctx(1, 2), 160, 0, 0, 5))
    assert other_rank != run


def test_batch_larger_than_the_dataset_needs_replacement(image_dir, tmp_path):
    with pytest.raises(TrainingDataError, match="--sampling replacement"):
        run_training(TrainConfig(out_dir=str(tmp_path / "a"), data_dir=str(image_dir), steps=1, **{**TINY, "batch": 16}))
    result = run_training(TrainConfig(out_dir=str(tmp_path / "b"), data_dir=str(image_dir), steps=3,
                                      sampling="replacement", **{**TINY, "batch": 16}))
    assert result.step == 3 and result.conditions["global_batch"] == 16 and result.conditions["training_tiles"] == 6


def test_no_step_sync_reads_the_same_losses_and_times_a_window(image_dir, tmp_path):
    common = dict(data_dir=str(image_dir), steps=5, sampling="replacement", **TINY)
    synced = run_training(TrainConfig(out_dir=str(tmp_path / "a"), **common))
    unsynced = run_training(TrainConfig(out_dir=str(tmp_path / "b"), step_sync=False, **common))
    assert unsynced.losses == synced.losses and len(unsynced.losses) == 5
    t = unsynced.throughput
    assert t["timed_steps"] == 4 and t["images_per_s"] > 0 and "one device sync" in t["timing"]


def test_profile_and_synthetic_batches(tmp_path):
    result = run_training(TrainConfig(out_dir=str(tmp_path), steps=4, sampling="synthetic", profile_steps=2,
                                      channels_last=True, fused_adam=True, cudnn_benchmark=True, **TINY))
    assert result.step == 4 and all(np.isfinite(result.losses))
    table = (Path(tmp_path) / trainer.PROFILE_FILE).read_text()
    assert "convolution" in table and (Path(tmp_path) / trainer.PROFILE_TRACE).is_file()
    summary = result.conditions["profile_summary"]
    assert summary["steps"] == 2 and summary["host_ms_per_step"] > 0 and summary["bound"].startswith("no device")


def test_profile_summary_says_what_bounds_a_step():
    class E:
        def __init__(self, key, cpu_us, dev_us, count=1):
            self.key, self.self_cpu_time_total, self.self_device_time_total, self.count = key, cpu_us, dev_us, count
    host_bound = [E("aten::convolution", 9000, 0), E("cudaLaunchKernel", 3000, 0, 400), E("sm90_conv_kernel", 0, 4000),
                  E("aten::_local_scalar_dense", 10, 0, 2)]
    s = trainer.profile_summary(host_bound, steps=2)
    assert s["host_ms_per_step"] == pytest.approx(6.005) and s["device_ms_per_step"] == pytest.approx(2.0)
    assert s["kernel_launches_per_step"] == 200 and s["host_syncs_per_step"] == 1
    assert s["bound"] == "host (op launch) bound" and s["top_device_ops"][0]["op"] == "sm90_conv_kernel"
    assert trainer.profile_summary([E("k", 100, 5000)], 1)["bound"] == "device (kernel) bound"


def test_bad_sampling_is_refused_before_training(tmp_path):
    with pytest.raises(trainer.TrainingError, match="--sampling 'shuffle'"):
        run_training(TrainConfig(out_dir=str(tmp_path), steps=1, sampling="shuffle", **TINY))


def test_cli_benchmark_prints_images_per_second(image_dir, tmp_path, capsys):
    rc = cli_main(["train", "--perf", "--data-dir", str(image_dir), "--batch", "12", "--steps", "8", "--groups", "1",
                   "--blocks", "1", "--features", "16", "--device", "cpu", "--threads", "1",
                   "--out", str(tmp_path / "run"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["throughput"]["images_per_s"] > 0 and out["conditions"]["sampling"] == "replacement"
    assert out["conditions"]["channels_last"] and out["config"]["step_sync"] is False
