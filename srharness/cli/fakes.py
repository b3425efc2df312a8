"""srharness fakes: shell lines putting the fake vendor tools (atc, benchmark, npu-smi, vamc, vamp,
trtexec, nvidia-smi) first on PATH. They are as strict as the real tools and compute outputs with
onnxruntime on this host.

    eval "$(srharness fakes)"
"""
from __future__ import annotations


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from srharness import resources
    # The fakes are `#!/usr/bin/env python3` scripts that compute outputs with onnxruntime: this
    # environment's python3 (the venv srharness is installed in) comes next on PATH.
    dirs = [resources.fake_tools_dir(), Path(sys.executable).parent]
    print(f"export PATH={':'.join(shlex.quote(str(d)) for d in dirs)}:\"$PATH\"")
    # the fakes run the compiled models on this host's CPU: the small test shapes keep that quick
    print("export SRHARNESS_HW_SHAPE=test")
    return 0
