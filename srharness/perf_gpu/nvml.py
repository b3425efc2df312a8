"""The GPU's state around a measurement, read through NVML (nvidia-ml-py, `pip install
'srharness[gpu]'`): name, driver, clocks, power, temperature and the other processes on the GPU;
recorded with every figure, never raised when NVML cannot be read."""
from __future__ import annotations

import os
from typing import Any


def gpu_environment(index: int = 0) -> dict[str, Any]:
    """Name, driver, clocks, power, temperature and the other processes on GPU `index`, from
    nvidia-ml-py; {"nvml": "unavailable: <reason>"} where it cannot be read."""
    try:
        import pynvml
    except ImportError as exc:
        return {"nvml": f"unavailable: nvidia-ml-py is not installed ({exc}); pip install 'srharness[gpu]'"}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"nvml": f"unavailable: {exc}"}
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(index)

        def read(name, *args, scale=1.0):
            try:
                v = getattr(pynvml, name)(*args)
                return v / scale if scale != 1.0 else (v.decode() if isinstance(v, bytes) else v)
            except (pynvml.NVMLError, AttributeError) as exc:   # a call this driver / binding lacks
                return f"unavailable: {exc}"
        procs = []
        for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                procs += [(p.pid, p.usedGpuMemory) for p in getattr(pynvml, fn)(h)]
            except pynvml.NVMLError:
                pass
        others = sorted({pid for pid, _ in procs if pid != os.getpid()})
        return {
            "nvml": "ok", "index": index, "name": read("nvmlDeviceGetName", h),
            "driver": read("nvmlSystemGetDriverVersion"),
            "sm_clock_mhz": read("nvmlDeviceGetClockInfo", h, pynvml.NVML_CLOCK_SM),
            "sm_clock_max_mhz": read("nvmlDeviceGetMaxClockInfo", h, pynvml.NVML_CLOCK_SM),
            "mem_clock_mhz": read("nvmlDeviceGetClockInfo", h, pynvml.NVML_CLOCK_MEM),
            "power_w": read("nvmlDeviceGetPowerUsage", h, scale=1000.0),
            "power_limit_w": read("nvmlDeviceGetEnforcedPowerLimit", h, scale=1000.0),
            "temperature_c": read("nvmlDeviceGetTemperature", h, pynvml.NVML_TEMPERATURE_GPU),
            "throttle_reasons": read("nvmlDeviceGetCurrentClocksThrottleReasons", h),
            "other_processes": others,
        }
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def environment_conditions(before: dict, after: dict) -> dict:
    """The NVML snapshots around a measurement, and whether another process used the GPU."""
    if before.get("nvml") != "ok":
        return {"gpu_state": before, "other_process_used_gpu": "unknown: " + str(before.get("nvml"))}
    others = sorted(set(before.get("other_processes", [])) | set(after.get("other_processes", [])))
    return {"gpu_state_before": before, "gpu_state_after": after, "other_process_used_gpu": bool(others),
            "other_pids": others}


def torch_cuda_info() -> dict[str, Any]:
    import torch
    info = {"torch": torch.__version__, "torch.version.cuda": torch.version.cuda}
    if torch.cuda.is_available():
        info.update(device=torch.cuda.get_device_name(0), capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                    cudnn=torch.backends.cudnn.version())
    return info

