"""Every CPU gemm micro-kernel this processor can run, not only the widest one: PYCNN_GEMM_ISA picks
the kernel for a subprocess, which runs the conv2d, conv2d_prepared and linear tests (forward and
backward against torch float64, and the gemm paths against the plain reference) on it, the
max_pool2d tests (the inference plan's values-only pool picks its vector width the same way) and the
channel-block tests (a block is one vector of channels). The portable kernel is the one non-x86
machines (aarch64) use, so it is checked here on x86 too."""
import subprocess
import sys
from pathlib import Path

import pytest

import pycnn
from helpers.subprocess_env import subprocess_env

TESTS = Path(__file__).resolve().parent


def isa_runs(isa):
    """Whether this processor runs `isa` (pycnn refuses an ISA it cannot run)."""
    probe = subprocess.run([sys.executable, "-c", "import pycnn; print(pycnn._C.gemm_isa())"],
                           env=dict(subprocess_env(), PYCNN_GEMM_ISA=isa), capture_output=True,
                           text=True, cwd=TESTS.parent.parent, timeout=120)
    return probe.returncode == 0 and probe.stdout.strip() == isa


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_conv2d_and_linear_on_each_gemm_kernel(isa):
    if isa == pycnn._C.gemm_isa():
        pytest.skip(f"{isa} is the kernel every other test already runs on")
    if not isa_runs(isa):
        pytest.skip(f"this processor does not run {isa}")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not cuda",
         str(TESTS / "test_conv2d.py"), str(TESTS / "test_linear.py"),
         str(TESTS / "test_conv2d_prepared.py"), str(TESTS / "test_max_pool2d.py"),
         str(TESTS / "test_channel_blocks.py")],
        env=dict(subprocess_env(), PYCNN_GEMM_ISA=isa), capture_output=True, text=True,
        cwd=TESTS.parent.parent, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_unknown_gemm_isa_is_refused():
    probe = subprocess.run([sys.executable, "-c", "import pycnn; pycnn._C.gemm_isa()"],
                           env=dict(subprocess_env(), PYCNN_GEMM_ISA="sse9"), capture_output=True,
                           text=True, cwd=TESTS.parent.parent, timeout=120)
    assert probe.returncode != 0
    assert "PYCNN_GEMM_ISA=sse9: expected one this processor supports:" in probe.stderr
    assert "portable" in probe.stderr
