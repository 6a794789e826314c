"""A source checkout without a built core: `import pycnn` there says what is going on, and the tools run
the installed pycnn instead of failing on the checkout's (issue 17)."""
import os
import shutil
import subprocess
import sys

import pycnn
from helpers.subprocess_env import PYCNN_PARENT, subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _unbuilt_checkout(tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(os.path.dirname(pycnn.__file__), root / "pycnn",
                    ignore=shutil.ignore_patterns("_C.*", "__pycache__"))
    shutil.copytree(os.path.join(ROOT, "tools"), root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_import_from_an_unbuilt_source_tree_says_so(tmp_path):
    root = _unbuilt_checkout(tmp_path)
    done = subprocess.run([sys.executable, "-c", "import pycnn"], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=""), timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: pycnn is being imported from its source tree ({root / 'pycnn'}), which "
                           f"has no compiled core (_C): run Python from another folder"), last
    assert "circular import" not in done.stderr


def test_tools_use_the_installed_pycnn_when_the_checkout_is_unbuilt(tmp_path):
    root = _unbuilt_checkout(tmp_path)
    for tool in ("bench.py", "bench_conv.py"):
        done = subprocess.run([sys.executable, str(root / "tools" / tool), "--help"], cwd=root,
                              capture_output=True, text=True, env=subprocess_env(), timeout=120)
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout
    probe = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root / 'tools')!r}); "
                            "import _checkout; print(_checkout.use_checkout()); import pycnn; print(pycnn.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert probe.returncode == 0, probe.stderr
    used, where = probe.stdout.split()
    assert used == "False" and where.startswith(PYCNN_PARENT)
